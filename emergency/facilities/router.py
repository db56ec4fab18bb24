"""HTTP routes of the facilities domain."""

from __future__ import annotations

from fastapi import APIRouter

from emergency.auth.dependencies import Operator, Reader, SessionDep
from emergency.drills import service as drill_service
from emergency.facilities import service as facility_service
from emergency.facilities.schemas import (
    FacilityChangePublic,
    FacilityPublic,
    FacilityStatusIn,
    FacilityStatusResult,
)
from emergency.field.dependencies import RowLimit
from emergency.idempotency import IdempotentDep

router = APIRouter(prefix="/api/v1/facilities", tags=["facilities"])


@router.get("", response_model=list[FacilityPublic])
def list_facilities(user: Reader, session: SessionDep) -> list[FacilityPublic]:
    """Every key facility with its status in force."""
    return [facility_service.public(f) for f in facility_service.list_facilities(session)]


@router.post("/{facility_id}/status", response_model=FacilityStatusResult)
def set_status(
    facility_id: str,
    body: FacilityStatusIn,
    user: Operator,
    session: SessionDep,
    once: IdempotentDep,
) -> FacilityStatusResult:
    """Set a facility's status (an operator's decision). The status in force again is a no-op."""

    def set_it() -> FacilityStatusResult:
        # a facility has no drill status: a drill user's change would be a real one (409)
        drill_service.follow(
            False,
            drill=drill_service.is_drill_user(session, user),
            what=f"facility {facility_id}",
        )
        change = facility_service.set_status(
            session,
            facility_id=facility_id,
            actor=user.name,
            origin="operator",
            **body.model_dump(),
        )
        facility = facility_service.get(session, facility_id=facility_id)
        return FacilityStatusResult(
            changed=change is not None,
            change=facility_service.change_public(change) if change else None,
            facility=facility_service.public(facility),
        )

    return once.run(set_it)


@router.get("/history", response_model=list[FacilityChangePublic])
def all_history(
    user: Reader, session: SessionDep, limit: RowLimit = 200
) -> list[FacilityChangePublic]:
    return [
        facility_service.change_public(c) for c in facility_service.history(session, limit=limit)
    ]


@router.get("/{facility_id}/history", response_model=list[FacilityChangePublic])
def facility_history(
    facility_id: str, user: Reader, session: SessionDep, limit: RowLimit = 200
) -> list[FacilityChangePublic]:
    changes = facility_service.history(session, facility_id=facility_id, limit=limit)
    return [facility_service.change_public(c) for c in changes]
