"""HTTP routes of vulnerable residents (names for the roles in service.can_see_names)."""

from __future__ import annotations

from fastapi import APIRouter

from emergency.auth.dependencies import CurrentUser, Operator, Reader, SessionDep
from emergency.field.dependencies import ZonesDep
from emergency.vulnerable import service as vulnerable_service
from emergency.vulnerable.schemas import CheckIn, ResidentIn, ResidentPublic

router = APIRouter(prefix="/api/v1/vulnerable", tags=["vulnerable residents"])


@router.get("/summary")
def summary(user: Reader, session: SessionDep) -> dict:
    """Counts by check-in state and community: for every role."""
    return vulnerable_service.totals(session)


@router.get("/residents", response_model=list[ResidentPublic])
def list_residents(user: CurrentUser, session: SessionDep):
    """Names and addresses: admins and operators see all, a field user the residents it
    follows; other roles get 403 (they see /summary)."""
    return [
        vulnerable_service.public(session, r)
        for r in vulnerable_service.list_for(session, user=user)
    ]


@router.post("/residents", response_model=ResidentPublic, status_code=201)
def create_resident(body: ResidentIn, user: Operator, session: SessionDep, zones: ZonesDep):
    resident = vulnerable_service.create_resident(
        session, actor=user.name, zones=zones, **body.model_dump()
    )
    return vulnerable_service.public(session, resident)


@router.post("/residents/{resident_id}/check", response_model=ResidentPublic)
def check(resident_id: int, body: CheckIn, user: CurrentUser, session: SessionDep):
    """Record a check-in: operators for anyone, a social worker for the residents it follows."""
    resident = vulnerable_service.record_check(
        session, resident_id=resident_id, state=body.state, user=user, note=body.note
    )
    return vulnerable_service.public(session, resident)


@router.post("/reset")
def reset(user: Operator, session: SessionDep) -> dict:
    """A new storm: every resident back to `unknown`."""
    return {"reset": vulnerable_service.reset_for_storm(session, actor=user.name)}
