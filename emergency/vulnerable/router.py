"""HTTP routes of vulnerable residents (names for the roles in service.can_see_names). Lists
and counts are of real residents; `?exercise=true` (or a drill user's token) the drill's."""

from __future__ import annotations

from fastapi import APIRouter

from emergency.auth.dependencies import CurrentUser, Operator, Reader, SessionDep
from emergency.drills import actions
from emergency.drills import service as drill_service
from emergency.drills.dependencies import DrillView
from emergency.field.dependencies import ZonesDep
from emergency.idempotency import IdempotentDep
from emergency.vulnerable import service as vulnerable_service
from emergency.vulnerable.schemas import (
    CheckIn,
    ResetResult,
    ResidentIn,
    ResidentPublic,
    VulnerableTotals,
)

router = APIRouter(prefix="/api/v1/vulnerable", tags=["vulnerable residents"])
_new_residents = actions.Creates(vulnerable_service.public)


@router.get("/summary")
def summary(user: Reader, session: SessionDep, exercise: DrillView) -> VulnerableTotals:
    """Counts by check-in state and community: for every role."""
    return VulnerableTotals.model_validate(vulnerable_service.totals(session, exercise))


@router.get("/residents", response_model=list[ResidentPublic])
def list_residents(
    user: CurrentUser, session: SessionDep, exercise: DrillView
) -> list[ResidentPublic]:
    """Names and addresses: admins and operators see all, a field user the residents it
    follows; other roles get 403 (they see /summary)."""
    return [
        vulnerable_service.public(session, r)
        for r in vulnerable_service.list_for(session, user=user, exercise=exercise)
    ]


@router.post("/residents", response_model=ResidentPublic, status_code=201)
def create_resident(
    body: ResidentIn, user: Operator, zones: ZonesDep, once: IdempotentDep
) -> ResidentPublic:
    """A resident to follow; an `Idempotency-Key` makes a retry answer the first record."""
    return _new_residents(once, vulnerable_service.create_resident, body, zones=zones)


@router.post("/residents/{resident_id}/check", response_model=ResidentPublic)
def check(
    resident_id: int, body: CheckIn, user: CurrentUser, session: SessionDep, once: IdempotentDep
) -> ResidentPublic:
    """Record a check-in: operators for anyone, a social worker for the residents it follows."""

    def record() -> ResidentPublic:
        resident = vulnerable_service.record_check(
            session,
            resident_id=resident_id,
            state=body.state,
            user=user,
            note=body.note,
            drill=drill_service.is_drill(session, user, body.exercise),
        )
        return ResidentPublic.model_validate(vulnerable_service.public(session, resident))

    return once.run(record)


@router.post("/reset")
def reset(
    user: Operator, session: SessionDep, once: IdempotentDep, exercise: DrillView
) -> ResetResult:
    """A new storm: every resident back to `unknown` (`?exercise=true`: the drill's)."""
    return once.run(
        lambda: ResetResult(
            reset=vulnerable_service.reset_for_storm(session, actor=user.name, exercise=exercise)
        )
    )
