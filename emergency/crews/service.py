"""Crews: create, change status (checked against TRANSITIONS), tasks, and totals.

For rules: `set_all_standby(session, *, actor, origin)` puts every crew that is resting or
released on standby (deployed crews stay on their task); idempotent. Every change emits
`crew.updated` with the totals the screens show.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from emergency.audit import service as audit_service
from emergency.clock import local_iso
from emergency.crews.models import TRANSITIONS, Crew, CrewStatus, CrewTask, TaskStatus
from emergency.crews.schemas import CrewPublic, TaskPublic
from emergency.db import utcnow
from emergency.events import service as event_service
from emergency.exceptions import Conflict, InvalidInput, NotFound
from emergency.field.common import check_location, check_origin

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
    zones=None,
) -> Crew:
    name = name.strip()
    if not name:
        raise InvalidInput("name: must not be empty")
    if headcount < 0:
        raise InvalidInput("headcount: must be ≥ 0")
    check_location(lat, lon)
    if session.exec(select(Crew).where(Crew.name == name)).first():
        raise Conflict(f"crew {name!r} already exists", code="crew_exists")
    zone_id = zones.zone_of(lon, lat) if zones is not None and lat is not None else None
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
    )
    session.add(crew)
    session.flush()
    audit_service.record(
        session,
        actor=actor,
        action="crew.created",
        target_type="crew",
        target_id=crew.id,
        after={"name": name, "headcount": headcount, "status": crew.status},
    )
    _emit(session, crew, action="created")
    return crew


def get_crew(session: Session, *, crew_id: int, lock: bool = False) -> Crew:
    query = select(Crew).where(Crew.id == crew_id)
    crew = session.exec(query.with_for_update() if lock else query).first()
    if crew is None:
        raise NotFound(f"crew {crew_id} not found", code="crew_not_found")
    return crew


def list_crews(session: Session) -> list[Crew]:
    return list(session.exec(select(Crew).order_by(col(Crew.id))))


def set_status(
    session: Session,
    *,
    crew_id: int,
    status: CrewStatus | str,
    actor: str,
    origin: str,
    headcount: int | None = None,
    note: str | None = None,
) -> Crew | None:
    """Change a crew's status (and headcount); None when nothing changed; 409 when the
    change is not allowed (TRANSITIONS)."""
    origin = check_origin(origin)
    try:
        status = CrewStatus(status)
    except ValueError:
        raise InvalidInput(
            f"status: {status!r} must be one of {', '.join(s.value for s in CrewStatus)}"
        ) from None
    crew = get_crew(session, crew_id=crew_id, lock=True)
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
    session.add(crew)
    session.flush()
    audit_service.record(
        session,
        actor=actor,
        action="crew.status_changed",
        target_type="crew",
        target_id=crew.id,
        before=before,
        after={"status": crew.status, "headcount": crew.headcount, "origin": origin, "note": note},
    )
    _emit(session, crew, action="status")
    return crew


def set_all_standby(session: Session, *, actor: str, origin: str) -> list[Crew]:
    """Every resting or released crew to standby (deployed crews keep working); returns the
    crews that changed, [] when all already were on standby or deployed."""
    origin = check_origin(origin)
    crews = session.exec(
        select(Crew)
        .where(col(Crew.status).in_([CrewStatus.resting, CrewStatus.released]))
        .order_by(col(Crew.id))
        .with_for_update()
    ).all()
    changed = []
    for crew in crews:
        result = set_status(
            session, crew_id=crew.id, status=CrewStatus.standby, actor=actor, origin=origin
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
) -> CrewTask:
    """Give a crew a task; a crew on standby is deployed, a resting or released one refused."""
    crew = get_crew(session, crew_id=crew_id, lock=True)
    if crew.status not in (CrewStatus.standby, CrewStatus.deployed):
        raise Conflict(
            f"crew {crew.id} is {crew.status}: put it on standby before giving it a task",
            code="crew_unavailable",
        )
    task = CrewTask(
        crew_id=crew.id,
        hazard_id=hazard_id,
        help_request_id=help_request_id,
        description=description,
        assigned_by=actor,
    )
    session.add(task)
    session.flush()
    audit_service.record(
        session,
        actor=actor,
        action="crew.task_assigned",
        target_type="crew",
        target_id=crew.id,
        after={"task_id": task.id, "hazard_id": hazard_id, "help_request_id": help_request_id},
    )
    if crew.status != CrewStatus.deployed:
        set_status(
            session, crew_id=crew.id, status=CrewStatus.deployed, actor=actor, origin="operator"
        )
    else:
        _emit(session, crew, action="task")
    return task


def end_task(session: Session, *, task_id: int, actor: str, done: bool = True) -> CrewTask:
    """Mark a task done (or cancelled). A deployed crew with no task left stands by again."""
    task = session.get(CrewTask, task_id)
    if task is None:
        raise NotFound(f"task {task_id} not found", code="task_not_found")
    if task.status != TaskStatus.assigned:
        raise Conflict(f"task {task_id} is already {task.status}", code="illegal_transition")
    task.status = TaskStatus.done if done else TaskStatus.cancelled
    task.ended_at, task.ended_by = utcnow(), actor
    session.add(task)
    session.flush()
    audit_service.record(
        session,
        actor=actor,
        action=f"crew.task_{task.status}",
        target_type="crew",
        target_id=task.crew_id,
        after={"task_id": task.id},
    )
    crew = get_crew(session, crew_id=task.crew_id, lock=True)
    if crew.status == CrewStatus.deployed and not open_tasks(session, crew_id=crew.id):
        set_status(
            session,
            crew_id=crew.id,
            status=CrewStatus.standby,
            actor=actor,
            origin="system",
            note="no task left",
        )
    else:
        _emit(session, crew, action="task")
    return task


def open_tasks(session: Session, *, crew_id: int | None = None) -> list[CrewTask]:
    query = (
        select(CrewTask).where(CrewTask.status == TaskStatus.assigned).order_by(col(CrewTask.id))
    )
    if crew_id is not None:
        query = query.where(CrewTask.crew_id == crew_id)
    return list(session.exec(query))


def task_public(t: CrewTask) -> TaskPublic:
    return TaskPublic(
        id=t.id,
        crew_id=t.crew_id,
        hazard_id=t.hazard_id,
        help_request_id=t.help_request_id,
        description=t.description,
        status=t.status,
        assigned_at=t.assigned_at,
        assigned_by=t.assigned_by,
        ended_at=t.ended_at,
    )


def public(session: Session, crew: Crew) -> CrewPublic:
    return CrewPublic(
        id=crew.id,
        name=crew.name,
        unit=crew.unit,
        headcount=crew.headcount,
        station=crew.station,
        lat=crew.lat,
        lon=crew.lon,
        zone_id=crew.zone_id,
        status=crew.status,
        status_at=crew.status_at,
        status_at_local=local_iso(crew.status_at),
        note=crew.note,
        open_tasks=[task_public(t) for t in open_tasks(session, crew_id=crew.id)],
    )


def totals(session: Session) -> dict:
    crews = list_crews(session)
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
        "open_tasks": len(open_tasks(session)),
    }


def summary(session: Session) -> dict:
    """The situation's `crews` section."""
    return {
        **totals(session),
        "items": [public(session, c).model_dump(mode="json") for c in list_crews(session)],
    }


def _emit(session: Session, crew: Crew, *, action: str) -> None:
    event_service.emit(
        session,
        EVENT,
        {
            "action": action,
            "crew": public(session, crew).model_dump(mode="json"),
            "totals": totals(session),
        },
    )
