"""HTTP routes of the crews domain."""

from __future__ import annotations

from fastapi import APIRouter

from emergency.auth.dependencies import Operator, Reader, SessionDep
from emergency.crews import service as crew_service
from emergency.crews.schemas import (
    CrewIn,
    CrewPublic,
    CrewStatusIn,
    StandbyResult,
    TaskIn,
    TaskPublic,
)
from emergency.field.dependencies import ZonesDep

router = APIRouter(prefix="/api/v1/crews", tags=["crews"])


@router.get("", response_model=list[CrewPublic])
def list_crews(user: Reader, session: SessionDep):
    return [crew_service.public(session, c) for c in crew_service.list_crews(session)]


@router.get("/totals")
def crew_totals(user: Reader, session: SessionDep) -> dict:
    """Crews and people by status (what the wall screen shows)."""
    return crew_service.totals(session)


@router.post("", response_model=CrewPublic, status_code=201)
def create_crew(body: CrewIn, user: Operator, session: SessionDep, zones: ZonesDep):
    crew = crew_service.create_crew(session, actor=user.name, zones=zones, **body.model_dump())
    return crew_service.public(session, crew)


@router.post("/standby", response_model=StandbyResult)
def all_standby(user: Operator, session: SessionDep):
    """Every resting or released crew to standby; deployed crews keep their tasks."""
    changed = crew_service.set_all_standby(session, actor=user.name, origin="operator")
    return StandbyResult(changed=[crew_service.public(session, c) for c in changed])


@router.post("/{crew_id}/status", response_model=CrewPublic)
def set_crew_status(crew_id: int, body: CrewStatusIn, user: Operator, session: SessionDep):
    crew_service.set_status(
        session,
        crew_id=crew_id,
        status=body.status,
        actor=user.name,
        origin="operator",
        headcount=body.headcount,
        note=body.note,
    )
    return crew_service.public(session, crew_service.get_crew(session, crew_id=crew_id))


@router.post("/{crew_id}/tasks", response_model=TaskPublic, status_code=201)
def add_task(crew_id: int, body: TaskIn, user: Operator, session: SessionDep):
    """A task for a crew: a hazard to deal with, a request for help, or anything else."""
    from emergency.field import flows as field_flows

    task = field_flows.assign_crew_task(
        session,
        crew_id=crew_id,
        actor=user.name,
        description=body.description,
        hazard_id=body.hazard_id,
        help_request_id=body.help_request_id,
    )
    return crew_service.task_public(task)


@router.post("/tasks/{task_id}/done", response_model=TaskPublic)
def task_done(task_id: int, user: Operator, session: SessionDep):
    return crew_service.task_public(
        crew_service.end_task(session, task_id=task_id, actor=user.name)
    )


@router.post("/tasks/{task_id}/cancel", response_model=TaskPublic)
def task_cancel(task_id: int, user: Operator, session: SessionDep):
    return crew_service.task_public(
        crew_service.end_task(session, task_id=task_id, actor=user.name, done=False)
    )
