"""Inspection groups and patrol trips, hazards and their rectification, requests for help,
and the field accounts that tie a field token to a team.

Trips count themselves: a check-in opens a trip with the group's persons and vehicles (a
person-trip per inspector, a vehicle-trip per vehicle), a check-out closes it. Hazards go
open → assigned → rectified → verified (HAZARD_TRANSITIONS), each with a deadline from its
severity unless an operator sets one; past it and not rectified, a hazard is overdue.
Changes emit `inspection.updated` (groups, trips, hazards) or `help_request.updated`.

Every record carries `exercise` (emergency.drills decides it): a drill's groups, trips,
hazards and requests for help are counted apart, and their events say `"exercise": true` and
carry the drill's totals. A drill's trips may be made by a real group (a team training).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BindParameter, ColumnElement, bindparam, func, text
from sqlalchemy import select as sa_select
from sqlalchemy.orm import Mapped
from sqlmodel import Session, col, select

from emergency import journal_writer
from emergency.alarms import service as alarm_service
from emergency.alarms.models import AlarmSource
from emergency.audit import service as audit_service
from emergency.auth import service as auth_service
from emergency.auth.models import ApiToken, Role, User
from emergency.clock import local_iso
from emergency.crews import service as crew_service
from emergency.crews.models import CrewTask, TaskStatus
from emergency.db import (
    JSONType,
    connection,
    get_or_404,
    insert_row,
    new_row,
    stored_id,
    to_public,
    utcnow,
)
from emergency.drills import service as drill_service
from emergency.events import service as event_service
from emergency.exceptions import Conflict, Forbidden, InvalidInput, NotFound
from emergency.field import photos as photo_service
from emergency.field import totals as field_totals
from emergency.field.common import check_location, newest, zone_at
from emergency.field.models import (
    HAZARD_TRANSITIONS,
    FieldAccount,
    FieldReport,
    Hazard,
    HazardKind,
    HazardStatus,
    HelpRequest,
    HelpStatus,
    InspectionGroup,
    PatrolTrip,
    Severity,
    TripStatus,
)
from emergency.field.schemas import GroupPublic, HazardPublic, HelpPublic, TripPublic
from geo.zones import ZoneSet

EVENT = "inspection.updated"
HELP_EVENT = "help_request.updated"
DEADLINES = {
    Severity.critical: timedelta(hours=2),
    Severity.high: timedelta(hours=6),
    Severity.medium: timedelta(hours=24),
    Severity.low: timedelta(hours=72),
}
_CELL = re.compile(r"^[A-Za-z0-9_-]{1,20}$")


def _check_zones(zone_ids: list[str], zones: ZoneSet | None) -> None:
    if zones is not None:
        unknown = [z for z in zone_ids if z not in zones]
        if unknown:
            raise InvalidInput(
                f"zone_ids: unknown zone(s) {', '.join(unknown)}", code="unknown_zone"
            )


# --- groups and trips ----------------------------------------------------------------------


def create_group(
    session: Session,
    *,
    name: str,
    actor: str,
    leader: str | None = None,
    members: Sequence[str] = (),
    vehicles: Sequence[str] = (),
    zone_ids: Sequence[str] = (),
    grid_cells: Sequence[str] = (),
    zones: ZoneSet | None = None,
    exercise: bool = False,
) -> InspectionGroup:
    name = name.strip()
    if not name:
        raise InvalidInput("name: must not be empty")
    _check_zones(list(zone_ids), zones)
    bad = [c for c in grid_cells if not _CELL.match(c)]
    if bad:
        raise InvalidInput(f"grid_cells: bad cell id(s) {', '.join(bad)}")
    if session.exec(select(InspectionGroup).where(InspectionGroup.name == name)).first():
        raise Conflict(f"inspection group {name!r} already exists", code="group_exists")
    group = InspectionGroup(
        name=name,
        leader=leader,
        members=[m.strip() for m in members],
        vehicles=[v.strip() for v in vehicles],
        zone_ids=list(zone_ids),
        grid_cells=list(grid_cells),
        created_by=actor,
        exercise=exercise,
    )
    audit_service.record_write(
        session,
        group,
        actor=actor,
        action="inspection_group.created",
        target_type="inspection_group",
        after={"name": name, "members": len(group.members), "vehicles": len(group.vehicles)},
        exercise=exercise,
    )
    field_totals.change(session, exercise, "inspections", {"groups": 1})
    _emit(session, "group", "created", exercise, group=group_public(session, group, exercise))
    return group


def get_group(session: Session, *, group_id: int, lock: bool = False) -> InspectionGroup:
    return get_or_404(
        session, InspectionGroup, group_id, "inspection group", code="group_not_found", lock=lock
    )


def list_groups(session: Session, *, exercise: bool = False) -> list[InspectionGroup]:
    """The groups of reality, or of the drills (`exercise`)."""
    return list(
        session.exec(
            select(InspectionGroup)
            .where(InspectionGroup.exercise == exercise)
            .order_by(col(InspectionGroup.id))
        )
    )


def open_trip(session: Session, *, group_id: int, exercise: bool = False) -> PatrolTrip | None:
    """The group's patrol under way, real or in a drill (a group may be out in both)."""
    return session.exec(
        select(PatrolTrip).where(
            PatrolTrip.group_id == group_id,
            PatrolTrip.status == TripStatus.open,
            PatrolTrip.exercise == exercise,
        )
    ).first()


def _trip_mode(group: InspectionGroup, drill: bool) -> bool:
    """A drill's trip, or a real one: a drill-made group has drill trips only."""
    return drill or group.exercise


def check_in(
    session: Session,
    *,
    group_id: int,
    actor: str,
    persons: int | None = None,
    vehicles: int | None = None,
    lat: float | None = None,
    lon: float | None = None,
    note: str | None = None,
    zones: ZoneSet | None = None,
    drill: bool = False,
) -> PatrolTrip:
    """Start a patrol trip (409 when the group is already out)."""
    check_location(lat, lon)
    group = get_group(session, group_id=group_id, lock=True)
    exercise = _trip_mode(group, drill)
    current = open_trip(session, group_id=stored_id(group), exercise=exercise)
    if current is not None:
        raise Conflict(
            f"group {group.id} is already on patrol since "
            f"{local_iso(current.checked_in_at)}: check out first",
            code="already_checked_in",
        )
    trip = PatrolTrip(
        group_id=stored_id(group),
        persons=len(group.members) if persons is None else persons,
        vehicles=len(group.vehicles) if vehicles is None else vehicles,
        zone_id=zone_at(zones, lat, lon, kinds=None),
        checked_in_by=actor,
        in_lat=lat,
        in_lon=lon,
        note=note,
        exercise=exercise,
    )
    if trip.persons < 1:
        raise InvalidInput("persons: a patrol needs at least one inspector")
    field_totals.change(
        session,
        exercise,
        "inspections",
        {"trips": 1, "on_patrol": 1, "person_trips": trip.persons, "vehicle_trips": trip.vehicles},
    )
    return _trip_stored(session, group, trip, "checked_in", actor=actor, exercise=exercise)


def check_out(
    session: Session,
    *,
    group_id: int,
    actor: str,
    persons: int | None = None,
    vehicles: int | None = None,
    lat: float | None = None,
    lon: float | None = None,
    note: str | None = None,
    drill: bool = False,
) -> PatrolTrip:
    """End the open patrol trip (409 when there is none); counts may be corrected."""
    check_location(lat, lon)
    group = get_group(session, group_id=group_id, lock=True)
    exercise = _trip_mode(group, drill)
    trip = open_trip(session, group_id=stored_id(group), exercise=exercise)
    if trip is None:
        raise Conflict(f"group {group.id} is not on patrol: check in first", code="not_checked_in")
    trip.status, trip.checked_out_at, trip.checked_out_by = TripStatus.closed, utcnow(), actor
    trip.out_lat, trip.out_lon = lat, lon
    counted = trip.persons, trip.vehicles
    if persons is not None:
        trip.persons = persons
    if vehicles is not None:
        trip.vehicles = vehicles
    field_totals.change(
        session,
        exercise,
        "inspections",
        {
            "on_patrol": -1,
            "person_trips": trip.persons - counted[0],
            "vehicle_trips": trip.vehicles - counted[1],
        },
    )
    if note:
        trip.note = note
    return _trip_stored(session, group, trip, "checked_out", actor=actor, exercise=exercise)


def _trip_stored(
    session: Session,
    group: InspectionGroup,
    trip: PatrolTrip,
    action: str,
    *,
    actor: str,
    exercise: bool,
) -> PatrolTrip:
    """A patrol trip's check-in or check-out written, audited (`patrol.<action>`) and sent to
    the screens with the group as it is now."""
    session.add(trip)
    session.flush()
    audit_service.record(
        session,
        actor=actor,
        action=f"patrol.{action}",
        target_type="inspection_group",
        target_id=stored_id(group),
        after={"trip_id": trip.id, "persons": trip.persons, "vehicles": trip.vehicles},
        exercise=exercise,
    )
    _emit(
        session,
        "trip",
        action,
        exercise,
        trip=trip_public(trip),
        group=group_public(session, group, exercise),
    )
    return trip


def list_trips(
    session: Session, *, group_id: int | None = None, limit: int = 500, exercise: bool = False
) -> list[PatrolTrip]:
    query = newest(PatrolTrip, exercise=exercise, limit=limit)
    if group_id is not None:
        query = query.where(PatrolTrip.group_id == group_id)
    return list(session.exec(query))


def trip_public(t: PatrolTrip) -> TripPublic:
    return to_public(TripPublic, t, checked_in_at_local=local_iso(t.checked_in_at))


def group_public(session: Session, g: InspectionGroup, exercise: bool = False) -> GroupPublic:
    """The group with its trips of reality, or of the drills (`exercise`)."""
    exercise = exercise or g.exercise
    trips, persons, vehicles = session.exec(
        select(
            func.count(),
            func.coalesce(func.sum(PatrolTrip.persons), 0),
            func.coalesce(func.sum(PatrolTrip.vehicles), 0),
        ).where(PatrolTrip.group_id == g.id, PatrolTrip.exercise == exercise)
    ).one()
    current = open_trip(session, group_id=stored_id(g), exercise=exercise)
    return to_public(
        GroupPublic,
        g,
        trips=int(trips),
        person_trips=int(persons),
        vehicle_trips=int(vehicles),
        open_trip=trip_public(current) if current else None,
    )


def inspection_totals(session: Session, exercise: bool = False) -> dict[str, int]:
    groups = (
        select(func.count())
        .select_from(InspectionGroup)
        .where(InspectionGroup.exercise == exercise)
        .scalar_subquery()
    )
    trips, persons, vehicles, on_patrol, group_count = session.execute(
        sa_select(
            func.count(),
            func.coalesce(func.sum(PatrolTrip.persons), 0),
            func.coalesce(func.sum(PatrolTrip.vehicles), 0),
            func.count().filter(col(PatrolTrip.status) == TripStatus.open),
            groups,
        )
        .select_from(PatrolTrip)
        .where(col(PatrolTrip.exercise) == exercise)
    ).one()
    return {
        "groups": int(group_count),
        "on_patrol": int(on_patrol),
        "trips": int(trips),
        "person_trips": int(persons),
        "vehicle_trips": int(vehicles),
    }


# --- hazards -------------------------------------------------------------------------------


def report_hazard(
    session: Session,
    *,
    kind: HazardKind | str,
    severity: Severity | str,
    actor: str,
    lat: float | None = None,
    lon: float | None = None,
    place: str | None = None,
    description: str | None = None,
    photo_id: str | None = None,
    group_id: int | None = None,
    field_report_id: int | None = None,
    due_at: datetime | None = None,
    zones: ZoneSet | None = None,
    exercise: bool = False,
) -> Hazard:
    try:
        kind, severity = HazardKind(kind), Severity(severity)
    except ValueError as exc:
        raise InvalidInput(f"hazard: {exc}") from None
    check_location(lat, lon)
    if lat is None and not (place and place.strip()):
        raise InvalidInput("lat/lon or place: say where the hazard is", code="missing_location")
    photo_service.require(session, photo_id)
    if group_id is not None and not exercise and get_group(session, group_id=group_id).exercise:
        exercise = True  # reported for a drill's group: part of the drill
    now = utcnow()
    hazard = new_row(  # checked above, so no model constructor (see emergency.db.new_row)
        Hazard,
        kind=kind,
        severity=severity,
        lat=lat,
        lon=lon,
        zone_id=zone_at(zones, lat, lon, kinds=None),
        place=place,
        description=description,
        photo_id=photo_id,
        reported_at=now,
        reported_by=actor,
        group_id=group_id,
        field_report_id=field_report_id,
        due_at=_aware(due_at) or now + DEADLINES[severity],
        exercise=exercise,
    )
    insert_row(session, hazard)
    field_totals.change(session, exercise, "hazards", {hazard.status: 1})
    after = {"kind": kind, "severity": severity, "zone_id": hazard.zone_id}
    _hazard_changed(session, hazard, "reported", actor=actor, exercise=exercise, after=after)
    alarm_service.raise_for_hazard(session, hazard)  # critical ones only
    return hazard


def _aware(dt: datetime | None) -> datetime | None:
    if dt is not None and dt.tzinfo is None:
        raise InvalidInput("due_at: give a time zone (e.g. +08:00)")
    return dt


def get_hazard(session: Session, *, hazard_id: int, lock: bool = False) -> Hazard:
    return get_or_404(session, Hazard, hazard_id, "hazard", code="hazard_not_found", lock=lock)


def _move(session: Session, hazard: Hazard, to: HazardStatus) -> HazardStatus:
    current = HazardStatus(hazard.status)
    if to not in HAZARD_TRANSITIONS[current]:
        allowed = ", ".join(sorted(HAZARD_TRANSITIONS[current])) or "nothing: it is closed"
        raise Conflict(
            f"hazard {hazard.id} is {current}: it cannot become {to} (next: {allowed})",
            code="illegal_transition",
        )
    hazard.status = to
    field_totals.moved(session, hazard.exercise, "hazards", current, to)
    return current


def assign_hazard(
    session: Session,
    *,
    hazard_id: int,
    actor: str,
    group_id: int | None = None,
    crew_id: int | None = None,
    due_at: datetime | None = None,
    note: str | None = None,
    drill: bool = False,
) -> Hazard:
    """Give a hazard to an inspection group or a crew (a crew gets a task); also sends a
    rectified hazard back when the verifier is not satisfied."""
    if (group_id is None) == (crew_id is None):
        raise InvalidInput("group_id or crew_id: give exactly one")
    hazard = get_hazard(session, hazard_id=hazard_id, lock=True)
    exercise = drill_service.follow(hazard.exercise, drill=drill, what=f"hazard {hazard.id}")
    if group_id is not None and get_group(session, group_id=group_id).exercise and not exercise:
        drill_service.same(False, True, what=f"hazard {hazard.id}", other=f"group {group_id}")
    if crew_id is not None:  # before the hazard points at it: an unknown crew is a 404
        crew = crew_service.get_crew(session, crew_id=crew_id)
        drill_service.same(
            exercise, crew.exercise, what=f"hazard {hazard.id}", other=f"crew {crew_id}"
        )
    before = _move(session, hazard, HazardStatus.assigned)
    hazard.assigned_group_id, hazard.assigned_crew_id = group_id, crew_id
    hazard.assigned_at, hazard.assigned_by = utcnow(), actor
    if due_at is not None:
        hazard.due_at = _aware(due_at)
    session.add(hazard)
    session.flush()
    if crew_id is not None:
        crew_service.add_task(
            session,
            crew_id=crew_id,
            actor=actor,
            drill=exercise,
            hazard_id=hazard.id,
            description=note
            or f"hazard {hazard.id}: {hazard.kind}"
            + (f" at {hazard.place}" if hazard.place else ""),
        )
    after = {"status": hazard.status, "group_id": group_id, "crew_id": crew_id, "note": note}
    _hazard_changed(
        session, hazard, "assigned", actor=actor, exercise=exercise, before=before, after=after
    )
    _follow_alarm(session, AlarmSource.hazard, hazard, actor=actor, crew_id=crew_id)
    return hazard


def check_team_owns(session: Session, hazard: Hazard, user: User) -> None:
    """A field user acts only on its own team's hazards (and so their crew tasks): those
    assigned to its group or crew, or, while unassigned, reported by its group. Operators
    and admins act on any."""
    if user.role != Role.field:
        return
    account = account_of(session, user)
    group = account.group_id if account else None
    crew = account.crew_id if account else None
    assigned = hazard.assigned_group_id is not None or hazard.assigned_crew_id is not None
    owns = (
        (group is not None and hazard.assigned_group_id == group)
        or (crew is not None and hazard.assigned_crew_id == crew)
        or (not assigned and group is not None and hazard.group_id == group)
    )
    if not owns:
        raise Forbidden(
            f"hazard {hazard.id} is another team's: this field token acts on its own "
            "group's or crew's hazards only",
            code="not_your_team",
        )


def rectify_hazard(
    session: Session,
    *,
    hazard_id: int,
    actor: str,
    user: User,
    note: str | None = None,
    photo_id: str | None = None,
    drill: bool = False,
) -> Hazard:
    hazard = get_hazard(session, hazard_id=hazard_id, lock=True)
    check_team_owns(session, hazard, user)
    exercise = drill_service.follow(hazard.exercise, drill=drill, what=f"hazard {hazard.id}")
    photo_service.require(session, photo_id, reader=user)
    before = _move(session, hazard, HazardStatus.rectified)
    hazard.rectified_at, hazard.rectified_by = utcnow(), actor
    hazard.rectification_note, hazard.rectification_photo_id = note, photo_id
    _store_ending_tasks(session, hazard, col(CrewTask.hazard_id), actor=actor, exercise=exercise)
    after = {"status": hazard.status, "note": note, "photo_id": photo_id}
    _hazard_changed(
        session, hazard, "rectified", actor=actor, exercise=exercise, before=before, after=after
    )
    _follow_alarm(session, AlarmSource.hazard, hazard, actor=actor, closed=True)
    return hazard


def verify_hazard(
    session: Session, *, hazard_id: int, actor: str, note: str | None = None, drill: bool = False
) -> Hazard:
    hazard = get_hazard(session, hazard_id=hazard_id, lock=True)
    exercise = drill_service.follow(hazard.exercise, drill=drill, what=f"hazard {hazard.id}")
    before = _move(session, hazard, HazardStatus.verified)
    hazard.verified_at, hazard.verified_by = utcnow(), actor
    session.add(hazard)
    session.flush()
    after = {"status": hazard.status, "note": note}
    _hazard_changed(
        session, hazard, "verified", actor=actor, exercise=exercise, before=before, after=after
    )
    return hazard


def _hazard_changed(
    session: Session,
    hazard: Hazard,
    action: str,
    *,
    actor: str,
    exercise: bool,
    before: HazardStatus | None = None,
    after: dict[str, Any],
) -> None:
    """The hazard's change audited (`hazard.<action>`, with the status it had `before`) and
    sent to the screens."""
    audit_service.record(
        session,
        actor=actor,
        action=f"hazard.{action}",
        target_type="hazard",
        target_id=stored_id(hazard),
        before=None if before is None else {"status": before},
        after=after,
        exercise=exercise,
    )
    _emit(session, "hazard", action, exercise, hazard=hazard_public(hazard))


def _follow_alarm(
    session: Session,
    source: AlarmSource,
    record: Hazard | HelpRequest,
    *,
    actor: str,
    crew_id: int | None = None,
    closed: bool = False,
) -> None:
    """The alarm raised for `record` (if any) follows it: to the crew given it, or closed."""
    alarm_service.follow_source(
        session,
        source=source,
        source_id=stored_id(record),
        actor=actor,
        crew_id=crew_id,
        closed=closed,
    )


def _overdue_clause(now: datetime | BindParameter[datetime]) -> ColumnElement[bool]:
    return (
        col(Hazard.status).in_([HazardStatus.open, HazardStatus.assigned])
        & col(Hazard.due_at).is_not(None)
        & (col(Hazard.due_at) < now)
    )


def list_hazards(
    session: Session,
    *,
    status: str | None = None,
    overdue: bool | None = None,
    group_id: int | None = None,
    crew_id: int | None = None,
    limit: int = 500,
    exercise: bool = False,
) -> list[Hazard]:
    query = newest(Hazard, exercise=exercise, limit=limit)
    if status:
        query = query.where(col(Hazard.status).in_(status.split(",")))
    if overdue:
        query = query.where(_overdue_clause(utcnow()))
    if group_id is not None:
        query = query.where((Hazard.assigned_group_id == group_id) | (Hazard.group_id == group_id))
    if crew_id is not None:
        query = query.where(Hazard.assigned_crew_id == crew_id)
    return list(session.exec(query))


def is_overdue(h: Hazard, now: datetime | None = None) -> bool:
    now = now or utcnow()
    return (
        h.status in (HazardStatus.open, HazardStatus.assigned)
        and h.due_at is not None
        and h.due_at < now
    )


def hazard_public(h: Hazard) -> HazardPublic:
    return to_public(
        HazardPublic,
        h,
        overdue=is_overdue(h),
        reported_at_local=local_iso(h.reported_at),
        due_at_local=local_iso(h.due_at),
    )


def hazard_totals(session: Session, exercise: bool = False) -> dict[str, int]:
    return _hazard_totals(
        connection(session).execute(_HAZARD_COUNTS, {"now": utcnow(), "exercise": exercise}).all()
    )


def _hazard_totals(rows: Sequence[Sequence[Any]]) -> dict[str, int]:
    """The totals from (status, count, overdue) rows (a status may come more than once)."""
    counts: dict[str, int] = {}
    for status, n, _ in rows:
        counts[status] = counts.get(status, 0) + int(n)
    by_status = {s.value: counts.get(s.value, 0) for s in HazardStatus}
    return {
        **by_status,
        "total": sum(by_status.values()),
        "overdue": sum(int(overdue) for _, _, overdue in rows),
        "unresolved": by_status["open"] + by_status["assigned"],
    }


# Built once: on every hazard's event (a Core statement, no ORM loading, its cache key made
# once).
_HAZARD_COUNTS = (
    sa_select(
        col(Hazard.status),
        func.count(),
        func.count().filter(_overdue_clause(bindparam("now"))),
    )
    .where(col(Hazard.exercise) == bindparam("exercise"))
    .group_by(col(Hazard.status))
)


# --- requests for help ---------------------------------------------------------------------


def create_help_request(
    session: Session,
    *,
    actor: str,
    people: int = 1,
    urgency: Severity | str = Severity.high,
    lat: float | None = None,
    lon: float | None = None,
    note: str | None = None,
    photo_id: str | None = None,
    field_report_id: int | None = None,
    zones: ZoneSet | None = None,
    exercise: bool = False,
) -> HelpRequest:
    check_location(lat, lon)
    photo_service.require(session, photo_id)
    request = HelpRequest(
        people=people,
        urgency=Severity(urgency),
        lat=lat,
        lon=lon,
        zone_id=zone_at(zones, lat, lon, kinds=None),
        note=note,
        photo_id=photo_id,
        field_report_id=field_report_id,
        created_by=actor,
        exercise=exercise,
    )
    session.add(request)
    session.flush()
    field_totals.change(session, exercise, "help_requests", {request.status: 1})
    after = {"people": people, "urgency": request.urgency}
    _help_changed(session, request, "created", actor=actor, exercise=exercise, after=after)
    alarm_service.raise_for_help_request(session, request)
    return request


def get_help_request(session: Session, *, help_request_id: int, lock: bool = False) -> HelpRequest:
    """`lock`: the row locked to the commit and read afresh (populate_existing), for a
    change whose totals are worked out from its status: two closes at once must not both
    move it from "open" (the second waits, then sees it closed: 409)."""
    query = select(HelpRequest).where(HelpRequest.id == help_request_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    request = session.exec(query).first()
    if request is None:
        raise NotFound(f"help request {help_request_id} not found", code="help_request_not_found")
    return request


def assign_help_request(
    session: Session, *, help_request_id: int, crew_id: int, actor: str, drill: bool = False
) -> HelpRequest:
    request = get_help_request(session, help_request_id=help_request_id, lock=True)
    what = f"help request {request.id}"
    exercise = drill_service.follow(request.exercise, drill=drill, what=what)
    if request.status == HelpStatus.closed:
        raise Conflict(f"help request {request.id} is closed", code="illegal_transition")
    crew = crew_service.get_crew(session, crew_id=crew_id)
    drill_service.same(exercise, crew.exercise, what=what, other=f"crew {crew_id}")
    crew_service.add_task(
        session,
        crew_id=crew_id,
        actor=actor,
        drill=exercise,
        help_request_id=request.id,
        description=f"help request {request.id}: {request.people} people"
        + (f" — {request.note}" if request.note else ""),
    )
    field_totals.moved(session, request.exercise, "help_requests", request.status, "assigned")
    request.status, request.crew_id = HelpStatus.assigned, crew_id
    session.add(request)
    session.flush()
    after = {"crew_id": crew_id}
    _help_changed(session, request, "assigned", actor=actor, exercise=exercise, after=after)
    _follow_alarm(session, AlarmSource.help_request, request, actor=actor, crew_id=crew_id)
    return request


def _store_ending_tasks(
    session: Session,
    record: Hazard | HelpRequest,
    task_column: Mapped[int | None],
    *,
    actor: str,
    exercise: bool,
) -> None:
    """`record` (rectified or closed) written, and the crew tasks still assigned for it
    (`task_column`: CrewTask's column naming it) ended."""
    session.add(record)
    session.flush()
    for task in session.exec(
        select(CrewTask).where(task_column == record.id, CrewTask.status == TaskStatus.assigned)
    ):
        crew_service.end_task(session, task_id=stored_id(task), actor=actor, drill=exercise)


def close_help_request(
    session: Session, *, help_request_id: int, actor: str, drill: bool = False
) -> HelpRequest:
    request = get_help_request(session, help_request_id=help_request_id, lock=True)
    exercise = drill_service.follow(
        request.exercise, drill=drill, what=f"help request {request.id}"
    )
    if request.status == HelpStatus.closed:
        raise Conflict(f"help request {request.id} is already closed", code="illegal_transition")
    field_totals.moved(session, request.exercise, "help_requests", request.status, "closed")
    request.status, request.closed_at, request.closed_by = HelpStatus.closed, utcnow(), actor
    _store_ending_tasks(
        session, request, col(CrewTask.help_request_id), actor=actor, exercise=exercise
    )
    _help_changed(session, request, "closed", actor=actor, exercise=exercise)
    _follow_alarm(session, AlarmSource.help_request, request, actor=actor, closed=True)
    return request


def list_help_requests(
    session: Session, *, status: str | None = None, limit: int = 500, exercise: bool = False
) -> list[HelpRequest]:
    query = newest(HelpRequest, exercise=exercise, limit=limit)
    if status:
        query = query.where(col(HelpRequest.status).in_(status.split(",")))
    return list(session.exec(query))


def help_public(r: HelpRequest) -> HelpPublic:
    return to_public(HelpPublic, r, created_at_local=local_iso(r.created_at))


def help_totals(session: Session, exercise: bool = False) -> dict[str, int]:
    counts = dict(
        session.exec(
            select(HelpRequest.status, func.count())
            .where(HelpRequest.exercise == exercise)
            .group_by(HelpRequest.status)
        ).all()
    )
    return {s.value: int(counts.get(s.value, 0)) for s in HelpStatus}


# --- field accounts --------------------------------------------------------------------------


def create_field_link(
    session: Session,
    *,
    label: str,
    actor: str,
    public_url: str,
    group_id: int | None = None,
    crew_id: int | None = None,
    exercise: bool = False,
    expires_at: datetime | None = None,
) -> tuple[User, str, str]:
    """A field user for a team's phone, and the link that carries its token in the fragment
    (`/field#token=…`: a fragment never reaches a server's logs); the token stops working at
    `expires_at` (none: when revoked). A link issued for a drill (`exercise`) makes a drill
    user: everything reported through it is an exercise record; it may report for a real
    group (a team training), but only for a drill's crew."""
    if group_id is not None and get_group(session, group_id=group_id).exercise and not exercise:
        drill_service.same(False, True, what="a real team's link", other=f"group {group_id}")
    if crew_id is not None:
        crew = crew_service.get_crew(session, crew_id=crew_id)
        drill_service.same(
            exercise,
            crew.exercise,
            what="the link" if exercise else "a real team's link",
            other=f"crew {crew_id}",
        )
    slug = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")[:50] or "team"
    user, token = auth_service.create_user(
        session,
        name=f"field-{slug}-{secrets.token_hex(3)}",
        role=Role.field,
        actor=actor,
        expires_at=expires_at,
    )
    session.add(
        FieldAccount(user_id=stored_id(user), label=label, group_id=group_id, crew_id=crew_id)
    )
    session.flush()
    if exercise:
        drill_service.mark_drill_user(session, user=user, actor=actor, label=label)
    return user, token, f"{public_url.rstrip('/')}/field#token={token}"


def list_field_links(session: Session) -> list[tuple[FieldAccount, User]]:
    """Every team phone's field account with its user, newest first."""
    rows = session.exec(
        select(FieldAccount, User)
        .join(User, col(User.id) == FieldAccount.user_id)
        .order_by(col(FieldAccount.created_at).desc())
    )
    return list(rows.all())


def revoke_field_link(session: Session, *, user_id: int, actor: str) -> tuple[FieldAccount, User]:
    """A lost or handed-back phone: its field user is disabled and its tokens revoked, so the
    link stops working at once. Revoking again changes nothing."""
    account = session.get(FieldAccount, user_id)
    user = session.get(User, user_id)
    if account is None or user is None:
        raise NotFound(f"field link of user {user_id} not found", code="field_link_not_found")
    if not user.active:
        return account, user
    user.active = False
    now = utcnow()
    for token in session.exec(
        select(ApiToken).where(ApiToken.user_id == user_id, col(ApiToken.revoked_at).is_(None))
    ):
        token.revoked_at = now
        session.add(token)
    audit_service.record_write(
        session,
        user,
        actor=actor,
        action="field_link.revoked",
        target_type="user",
        after={"label": account.label},
    )
    return account, user


def account_of(session: Session, user: User) -> FieldAccount | None:
    return session.get(FieldAccount, user.id)


def report_totals(session: Session, exercise: bool = False) -> dict[str, Any]:
    """Field reports by kind (what a `field_report.created` event carries: each report's own
    domain event carries that domain's totals)."""
    return _report_totals(
        dict(connection(session).execute(_REPORT_COUNTS, {"exercise": exercise}).all())
    )


def _report_totals(reports: dict[str, int]) -> dict[str, Any]:
    return {
        "reports": {k: int(v) for k, v in reports.items()},
        "reports_total": int(sum(reports.values())),
    }


def settle_report(session: Session, report: FieldReport) -> None:
    """Store what a new report did (its `result`, and `exercise` when that made it a drill's)
    and count it (the totals its event carries: emergency.field.totals). Nothing reads the
    row again in this unit of work: the UPDATE rides with the journal (one round trip less)."""
    values = {"report_id": report.id, "new_result": report.result, "new_exercise": report.exercise}
    journal_writer.defer(session, _SETTLE, values)
    field_totals.change(session, report.exercise, "reports", {report.kind: 1})


_REPORT_COUNTS = (
    select(col(FieldReport.kind), func.count())
    .where(col(FieldReport.exercise) == bindparam("exercise"))
    .group_by(col(FieldReport.kind))
)
_SETTLE = text(
    "UPDATE field_report SET result = :new_result, exercise = :new_exercise WHERE id = :report_id"
).bindparams(bindparam("new_result", type_=JSONType))


def summary(session: Session, exercise: bool = False) -> dict[str, Any]:
    """The situation's `field` section: inspections, hazards, requests for help, reports
    (of reality, or of the drills)."""
    return {
        "inspections": inspection_totals(session, exercise),
        "hazards": hazard_totals(session, exercise),
        "help_requests": help_totals(session, exercise),
        **report_totals(session, exercise),
    }


# The totals an `inspection.updated` event carries: only those of what changed (a screen
# replaces them, so totals that did not change need not be sent again on every report).
_SECTIONS = {"group": "inspections", "trip": "inspections", "hazard": "hazards"}


def _emit(session: Session, entity: str, action: str, exercise: bool, **data: Any) -> None:
    """The entity's event, with its section's totals as of the commit (the drill's, for a
    drill's record)."""
    payload = {"entity": entity, "action": action, "exercise": exercise}
    for key, value in data.items():
        payload[key] = value.model_dump(mode="json") if hasattr(value, "model_dump") else value
    stored = event_service.emit(session, EVENT, payload)
    field_totals.carry(session, stored, _SECTIONS[entity], exercise)


def _help_changed(
    session: Session,
    request: HelpRequest,
    action: str,
    *,
    actor: str,
    exercise: bool,
    after: dict[str, Any] | None = None,
) -> None:
    """The request's change audited (`help_request.<action>`) and sent to the screens."""
    audit_service.record(
        session,
        actor=actor,
        action=f"help_request.{action}",
        target_type="help_request",
        target_id=stored_id(request),
        after=after,
        exercise=exercise,
    )
    stored = event_service.emit(
        session,
        HELP_EVENT,
        {
            "action": action,
            "exercise": request.exercise,
            "help_request": help_public(request).model_dump(mode="json"),
        },
    )
    field_totals.carry(session, stored, "help_requests", request.exercise)
