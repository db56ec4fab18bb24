"""HTTP routes of the crews domain. Lists show real crews; `?exercise=true` (or a drill
user's token) the drill's; `"exercise": true` in a body makes the change a drill's."""

from __future__ import annotations

from fastapi import APIRouter

from emergency import visibility
from emergency.auth.dependencies import Operator, Reader, SessionDep
from emergency.crews import service as crew_service
from emergency.crews.schemas import (
    CrewIn,
    CrewPublic,
    CrewStatusIn,
    CrewTotals,
    StandbyResult,
    TaskIn,
    TaskPublic,
)
from emergency.drills import actions
from emergency.drills import service as drill_service
from emergency.drills.dependencies import DrillView
from emergency.field.dependencies import ZonesDep
from emergency.idempotency import IdempotentDep

router = APIRouter(prefix="/api/v1/crews", tags=["crews"])
_task_steps = actions.Steps(crew_service.task_public)
_new_crews = actions.Creates(crew_service.public)


@router.get("", response_model=list[CrewPublic])
def list_crews(user: Reader, session: SessionDep, exercise: DrillView) -> list[CrewPublic]:
    """Crews and their open tasks (a task for a request for help: its note for operators)."""
    return [
        CrewPublic.model_validate(
            visibility.crew(crew_service.public(session, c).model_dump(), user.role)
        )
        for c in crew_service.list_crews(session, exercise=exercise)
    ]


@router.get("/totals")
def crew_totals(user: Reader, session: SessionDep, exercise: DrillView) -> CrewTotals:
    """Crews and people by status (what the wall screen shows)."""
    return CrewTotals.model_validate(crew_service.totals(session, exercise))


@router.post("", response_model=CrewPublic, status_code=201)
def create_crew(body: CrewIn, user: Operator, zones: ZonesDep, once: IdempotentDep) -> CrewPublic:
    """A crew (an `Idempotency-Key` makes a retry answer the first crew, not a 409)."""
    return _new_crews(once, crew_service.create_crew, body, zones=zones)


@router.post("/standby", response_model=StandbyResult)
def all_standby(
    user: Operator, session: SessionDep, once: IdempotentDep, exercise: DrillView
) -> StandbyResult:
    """Every resting or released crew to standby; deployed crews keep their tasks
    (`?exercise=true`: the drill's crews)."""

    def standby() -> StandbyResult:
        changed = crew_service.set_all_standby(
            session,
            actor=user.name,
            origin="operator",
            exercise=exercise,
        )
        return StandbyResult(changed=[crew_service.public(session, c) for c in changed])

    return once.run(standby)


@router.post("/{crew_id}/status", response_model=CrewPublic)
def set_crew_status(
    crew_id: int, body: CrewStatusIn, user: Operator, session: SessionDep, once: IdempotentDep
) -> CrewPublic:
    def set_it() -> CrewPublic:
        crew_service.set_status(
            session,
            crew_id=crew_id,
            actor=user.name,
            origin="operator",
            drill=drill_service.is_drill(session, user, body.exercise),
            **body.model_dump(exclude={"exercise"}),
        )
        return crew_service.public(session, crew_service.get_crew(session, crew_id=crew_id))

    return once.run(set_it)


@router.post("/{crew_id}/tasks", response_model=TaskPublic, status_code=201)
def add_task(crew_id: int, body: TaskIn, user: Operator, once: IdempotentDep) -> TaskPublic:
    """A task for a crew: a hazard to deal with, a request for help, or anything else (an
    `Idempotency-Key` makes a retry answer the first task, never a second one)."""
    from emergency.field import flows as field_flows

    return _task_steps(once, field_flows.assign_crew_task, body, crew_id=crew_id, status_code=201)


@router.post("/tasks/{task_id}/done", response_model=TaskPublic)
def task_done(task_id: int, user: Operator, once: IdempotentDep) -> TaskPublic:
    return _task_steps(once, crew_service.end_task, task_id=task_id)


@router.post("/tasks/{task_id}/cancel", response_model=TaskPublic)
def task_cancel(task_id: int, user: Operator, once: IdempotentDep) -> TaskPublic:
    return _task_steps(once, crew_service.end_task, task_id=task_id, done=False)
