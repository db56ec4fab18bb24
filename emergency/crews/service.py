"""Crews: create, change status (checked against TRANSITIONS), tasks, and totals.

For rules: `set_all_standby(session, *, actor, origin)` puts every crew that is resting or
released on standby (deployed crews stay on their task); idempotent. Every change emits
`crew.updated` with the totals the screens show.

A drill's crews are exercise crews (`exercise`), with their own status and tasks: a drill
never changes a real crew (emergency.drills), and their events carry the drill's totals.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from emergency.audit import service as audit_service
from emergency.clock import local_iso
from emergency.crews.models import TRANSITIONS, Crew, CrewStatus, CrewTask, TaskStatus
from emergency.crews.schemas import CrewPublic, TaskPublic
from emergency.db import get_or_404, stored_id, to_public, utcnow
from emergency.drills import service as drill_service
from emergency.events import service as event_service
from emergency.exceptions import Conflict, InvalidInput
from emergency.field.common import check_location, check_origin, zone_at
from geo.zones import ZoneSet

EVENT = "crew.updated"


def create_crew(
    session: Session,
    *,
    name: str,
    headcount: int,
    actor: str,
    unit: str | None = None,
    station: str | None = None,
    lat: float | None = None,
    lon: float | None = None,
    status: CrewStatus | str = CrewStatus.standby,
    zones: ZoneSet | None = None,
    exercise: bool = False,
) -> Crew:
    name = name.strip()
    if not name:
        raise InvalidInput("name: must not be empty")
    if headcount < 0:
        raise InvalidInput("headcount: must be ≥ 0")
    check_location(lat, lon)
    if session.exec(select(Crew).where(Crew.name == name)).first():
        raise Conflict(f"crew {name!r} already exists", code="crew_exists")
    zone_id = zone_at(zones, lat, lon)
    crew = Crew(
        name=name,
        unit=unit,
        headcount=headcount,
        station=station,
        lat=lat,
        lon=lon,
        zone_id=zone_id,
        status=CrewStatus(status),
        updated_by=actor,
        exercise=exercise,
    )
    audit_service.record_write(
        session,
        crew,
        actor=actor,
        action="crew.created",
        target_type="crew",
        after={"name": name, "headcount": headcount, "status": crew.status},
        exercise=exercise,
    )
    _emit(session, crew, action="created")
    return crew


def get_crew(session: Session, *, crew_id: int, lock: bool = False) -> Crew:
    return get_or_404(session, Crew, crew_id, "crew", code="crew_not_found", lock=lock)


def list_crews(session: Session, *, exercise: bool = False) -> list[Crew]:
    return list(session.exec(select(Crew).where(Crew.exercise == exercise).order_by(col(Crew.id))))


def set_status(
    session: Session,
    *,
    crew_id: int,
    status: CrewStatus | str,
    actor: str,
    origin: str,
    headcount: int | None = None,
    note: str | None = None,
    drill: bool = False,
) -> Crew | None:
    """Change a crew's status (and headcount); None when nothing changed; 409 when the
    change is not allowed (TRANSITIONS), or when a drill names a real crew."""
    origin = check_origin(origin)
    try:
        status = CrewStatus(status)
    except ValueError:
        raise InvalidInput(
            f"status: {status!r} must be one of {', '.join(s.value for s in CrewStatus)}"
        ) from None
    crew = get_crew(session, crew_id=crew_id, lock=True)
    drill_service.follow(crew.exercise, drill=drill, what=f"crew {crew.id}")
    same_count = headcount is None or headcount == crew.headcount
    if crew.status == status and same_count:
        return None
    if crew.status != status and status not in TRANSITIONS[CrewStatus(crew.status)]:
        raise Conflict(
            f"crew {crew.id} is {crew.status}: it cannot go to {status} "
            f"(allowed: {', '.join(sorted(TRANSITIONS[CrewStatus(crew.status)]))})",
            code="illegal_transition",
        )
    before = {"status": crew.status, "headcount": crew.headcount}
    if crew.status != status:
        crew.status, crew.status_at = status, utcnow()
    if headcount is not None:
        crew.headcount = headcount
    crew.updated_by, crew.note = actor, note if note is not None else crew.note
    audit_service.record_write(
        session,
        crew,
        actor=actor,
        action="crew.status_changed",
        target_type="crew",
        before=before,
        after={"status": crew.status, "headcount": crew.headcount, "origin": origin, "note": note},
        exercise=crew.exercise,
    )
    _emit(session, crew, action="status")
    return crew


def set_all_standby(
    session: Session, *, actor: str, origin: str, exercise: bool = False
) -> list[Crew]:
    """Every resting or released crew to standby (deployed crews keep working); returns the
    crews that changed, [] when all already were on standby or deployed. `exercise`: the
    drill's crews (a drill's call-out never touches the real ones)."""
    origin = check_origin(origin)
    crews = session.exec(
        select(Crew)
        .where(
            col(Crew.status).in_([CrewStatus.resting, CrewStatus.released]),
            Crew.exercise == exercise,
        )
        .order_by(col(Crew.id))
        .with_for_update()
    ).all()
    changed = []
    for crew in crews:
        result = set_status(
            session,
            crew_id=stored_id(crew),
            status=CrewStatus.standby,
            actor=actor,
            origin=origin,
            drill=exercise,
        )
        if result is not None:
            changed.append(result)
    return changed


def add_task(
    session: Session,
    *,
    crew_id: int,
    description: str,
    actor: str,
    hazard_id: int | None = None,
    help_request_id: int | None = None,
    drill: bool = False,
) -> CrewTask:
    """Give a crew a task; a crew on standby is deployed, a resting or released one refused.
    A drill's task goes to a drill's crew only."""
    crew = get_crew(session, crew_id=crew_id, lock=True)
    exercise = drill_service.follow(crew.exercise, drill=drill, what=f"crew {crew.id}")
    if crew.status not in (CrewStatus.standby, CrewStatus.deployed):
        raise Conflict(
            f"crew {crew.id} is {crew.status}: put it on standby before giving it a task",
            code="crew_unavailable",
        )
    task = CrewTask(
        crew_id=stored_id(crew),
        hazard_id=hazard_id,
        help_request_id=help_request_id,
        description=description,
        assigned_by=actor,
        exercise=exercise,
    )
    _task_stored(session, task, "assigned", actor=actor, exercise=exercise)
    to = None if crew.status == CrewStatus.deployed else CrewStatus.deployed
    _crew_follows(session, crew, to, actor=actor, exercise=exercise, origin="operator")
    return task


def end_task(
    session: Session, *, task_id: int, actor: str, done: bool = True, drill: bool = False
) -> CrewTask:
    """Mark a task done (or cancelled). A deployed crew with no task left stands by again."""
    task = get_or_404(session, CrewTask, task_id, "task", code="task_not_found")
    exercise = drill_service.follow(task.exercise, drill=drill, what=f"task {task_id}")
    if task.status != TaskStatus.assigned:
        raise Conflict(f"task {task_id} is already {task.status}", code="illegal_transition")
    task.status = TaskStatus.done if done else TaskStatus.cancelled
    task.ended_at, task.ended_by = utcnow(), actor
    _task_stored(session, task, task.status, actor=actor, exercise=exercise)
    crew = get_crew(session, crew_id=task.crew_id, lock=True)
    idle = crew.status == CrewStatus.deployed and not open_tasks(session, crew_id=crew.id)
    to = CrewStatus.standby if idle else None
    _crew_follows(
        session, crew, to, actor=actor, exercise=exercise, origin="system", note="no task left"
    )
    return task


def _task_stored(
    session: Session,
    task: CrewTask,
    action: str,
    *,
    actor: str,
    exercise: bool,
) -> None:
    """The task written and audited against its crew (`crew.task_<action>`; a new task with
    what it is for)."""
    session.add(task)
    session.flush()
    after: dict[str, Any] = {"task_id": task.id}
    if action == "assigned":
        after |= {"hazard_id": task.hazard_id, "help_request_id": task.help_request_id}
    audit_service.record(
        session,
        actor=actor,
        action=f"crew.task_{action}",
        target_type="crew",
        target_id=task.crew_id,
        after=after,
        exercise=exercise,
    )


def _crew_follows(
    session: Session,
    crew: Crew,
    to: CrewStatus | None,
    *,
    actor: str,
    exercise: bool,
    origin: str,
    note: str | None = None,
) -> None:
    """A crew's tasks changed: it goes `to` another status (deployed with a first task, on
    standby with none left), or, staying as it is, its event says so."""
    if to is None:
        _emit(session, crew, action="task")
        return
    set_status(
        session,
        crew_id=stored_id(crew),
        status=to,
        actor=actor,
        origin=origin,
        note=note,
        drill=exercise,
    )


def open_tasks(
    session: Session, *, crew_id: int | None = None, exercise: bool = False
) -> list[CrewTask]:
    """A crew's open tasks; without a crew, every open task of reality (or of the drills)."""
    query = (
        select(CrewTask).where(CrewTask.status == TaskStatus.assigned).order_by(col(CrewTask.id))
    )
    if crew_id is not None:
        query = query.where(CrewTask.crew_id == crew_id)
    else:
        query = query.where(CrewTask.exercise == exercise)
    return list(session.exec(query))


def task_public(t: CrewTask) -> TaskPublic:
    return to_public(TaskPublic, t)


def public(session: Session, crew: Crew) -> CrewPublic:
    return to_public(
        CrewPublic,
        crew,
        status_at_local=local_iso(crew.status_at),
        open_tasks=[task_public(t) for t in open_tasks(session, crew_id=crew.id)],
    )


def totals(session: Session, exercise: bool = False) -> dict[str, Any]:
    crews = list_crews(session, exercise=exercise)
    by_status = {s.value: {"crews": 0, "people": 0} for s in CrewStatus}
    for c in crews:
        by_status[c.status]["crews"] += 1
        by_status[c.status]["people"] += c.headcount
    on_island = [c for c in crews if c.status != CrewStatus.released]
    return {
        "crews": len(crews),
        "people": sum(c.headcount for c in crews),
        "on_duty_crews": len(on_island),
        "on_duty_people": sum(c.headcount for c in on_island),
        "by_status": by_status,
        "open_tasks": len(open_tasks(session, exercise=exercise)),
    }


def summary(session: Session, exercise: bool = False) -> dict[str, Any]:
    """The situation's `crews` section (of reality, or of the drills)."""
    return {
        **totals(session, exercise),
        "items": [
            public(session, c).model_dump(mode="json")
            for c in list_crews(session, exercise=exercise)
        ],
    }


def _emit(session: Session, crew: Crew, *, action: str) -> None:
    event_service.emit(
        session,
        EVENT,
        {
            "action": action,
            "exercise": crew.exercise,
            "crew": public(session, crew).model_dump(mode="json"),
            "totals": totals(session, crew.exercise),
        },
    )
