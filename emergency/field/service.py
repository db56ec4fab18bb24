"""Inspection groups and patrol trips, hazards and their rectification, requests for help,
and the field accounts that tie a field token to a team.

Trips count themselves: a check-in opens a trip with the group's persons and vehicles (a
person-trip per inspector, a vehicle-trip per vehicle), a check-out closes it. Hazards go
open → assigned → rectified → verified (HAZARD_TRANSITIONS), each with a deadline from its
severity unless an operator sets one; past it and not rectified, a hazard is overdue.
Changes emit `inspection.updated` (groups, trips, hazards) or `help_request.updated`.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from emergency.audit import service as audit_service
from emergency.auth import service as auth_service
from emergency.auth.models import Role, User
from emergency.clock import local_iso
from emergency.crews import service as crew_service
from emergency.crews.models import CrewTask, TaskStatus
from emergency.db import utcnow
from emergency.events import service as event_service
from emergency.exceptions import Conflict, InvalidInput, NotFound
from emergency.field import photos as photo_service
from emergency.field.common import check_location
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

EVENT = "inspection.updated"
HELP_EVENT = "help_request.updated"
DEADLINES = {
    Severity.critical: timedelta(hours=2),
    Severity.high: timedelta(hours=6),
    Severity.medium: timedelta(hours=24),
    Severity.low: timedelta(hours=72),
}
_CELL = re.compile(r"^[A-Za-z0-9_-]{1,20}$")


def _zone(zones, lat, lon) -> str | None:
    if zones is None or lat is None or lon is None:
        return None
    return zones.zone_of(lon, lat, kinds=None)


def _check_zones(zone_ids: list[str], zones) -> None:
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
    members: list[str] = (),
    vehicles: list[str] = (),
    zone_ids: list[str] = (),
    grid_cells: list[str] = (),
    zones=None,
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
    )
    session.add(group)
    session.flush()
    audit_service.record(
        session,
        actor=actor,
        action="inspection_group.created",
        target_type="inspection_group",
        target_id=group.id,
        after={"name": name, "members": len(group.members), "vehicles": len(group.vehicles)},
    )
    _emit(session, "group", "created", group=group_public(session, group))
    return group


def get_group(session: Session, *, group_id: int, lock: bool = False) -> InspectionGroup:
    query = select(InspectionGroup).where(InspectionGroup.id == group_id)
    group = session.exec(query.with_for_update() if lock else query).first()
    if group is None:
        raise NotFound(f"inspection group {group_id} not found", code="group_not_found")
    return group


def list_groups(session: Session) -> list[InspectionGroup]:
    return list(session.exec(select(InspectionGroup).order_by(col(InspectionGroup.id))))


def open_trip(session: Session, *, group_id: int) -> PatrolTrip | None:
    return session.exec(
        select(PatrolTrip).where(
            PatrolTrip.group_id == group_id, PatrolTrip.status == TripStatus.open
        )
    ).first()


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
    zones=None,
) -> PatrolTrip:
    """Start a patrol trip (409 when the group is already out)."""
    check_location(lat, lon)
    group = get_group(session, group_id=group_id, lock=True)
    current = open_trip(session, group_id=group.id)
    if current is not None:
        raise Conflict(
            f"group {group.id} is already on patrol since "
            f"{local_iso(current.checked_in_at)}: check out first",
            code="already_checked_in",
        )
    trip = PatrolTrip(
        group_id=group.id,
        persons=len(group.members) if persons is None else persons,
        vehicles=len(group.vehicles) if vehicles is None else vehicles,
        zone_id=_zone(zones, lat, lon),
        checked_in_by=actor,
        in_lat=lat,
        in_lon=lon,
        note=note,
    )
    if trip.persons < 1:
        raise InvalidInput("persons: a patrol needs at least one inspector")
    session.add(trip)
    session.flush()
    audit_service.record(
        session,
        actor=actor,
        action="patrol.checked_in",
        target_type="inspection_group",
        target_id=group.id,
        after={"trip_id": trip.id, "persons": trip.persons, "vehicles": trip.vehicles},
    )
    _emit(session, "trip", "checked_in", trip=trip_public(trip), group=group_public(session, group))
    return trip


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
) -> PatrolTrip:
    """End the open patrol trip (409 when there is none); counts may be corrected."""
    check_location(lat, lon)
    group = get_group(session, group_id=group_id, lock=True)
    trip = open_trip(session, group_id=group.id)
    if trip is None:
        raise Conflict(f"group {group.id} is not on patrol: check in first", code="not_checked_in")
    trip.status, trip.checked_out_at, trip.checked_out_by = TripStatus.closed, utcnow(), actor
    trip.out_lat, trip.out_lon = lat, lon
    if persons is not None:
        trip.persons = persons
    if vehicles is not None:
        trip.vehicles = vehicles
    if note:
        trip.note = note
    session.add(trip)
    session.flush()
    audit_service.record(
        session,
        actor=actor,
        action="patrol.checked_out",
        target_type="inspection_group",
        target_id=group.id,
        after={"trip_id": trip.id, "persons": trip.persons, "vehicles": trip.vehicles},
    )
    _emit(
        session, "trip", "checked_out", trip=trip_public(trip), group=group_public(session, group)
    )
    return trip


def list_trips(
    session: Session, *, group_id: int | None = None, limit: int = 500
) -> list[PatrolTrip]:
    query = select(PatrolTrip).order_by(col(PatrolTrip.id).desc()).limit(limit)
    if group_id is not None:
        query = query.where(PatrolTrip.group_id == group_id)
    return list(session.exec(query))


def trip_public(t: PatrolTrip) -> TripPublic:
    return TripPublic(
        id=t.id,
        group_id=t.group_id,
        status=t.status,
        persons=t.persons,
        vehicles=t.vehicles,
        zone_id=t.zone_id,
        checked_in_at=t.checked_in_at,
        checked_in_at_local=local_iso(t.checked_in_at),
        checked_in_by=t.checked_in_by,
        checked_out_at=t.checked_out_at,
        checked_out_by=t.checked_out_by,
        in_lat=t.in_lat,
        in_lon=t.in_lon,
        out_lat=t.out_lat,
        out_lon=t.out_lon,
    )


def group_public(session: Session, g: InspectionGroup) -> GroupPublic:
    trips, persons, vehicles = session.exec(
        select(
            func.count(),
            func.coalesce(func.sum(PatrolTrip.persons), 0),
            func.coalesce(func.sum(PatrolTrip.vehicles), 0),
        ).where(PatrolTrip.group_id == g.id)
    ).one()
    current = open_trip(session, group_id=g.id)
    return GroupPublic(
        id=g.id,
        name=g.name,
        leader=g.leader,
        members=g.members,
        vehicles=g.vehicles,
        zone_ids=g.zone_ids,
        grid_cells=g.grid_cells,
        trips=int(trips),
        person_trips=int(persons),
        vehicle_trips=int(vehicles),
        open_trip=trip_public(current) if current else None,
    )


def inspection_totals(session: Session) -> dict[str, int]:
    groups = select(func.count()).select_from(InspectionGroup).scalar_subquery()
    trips, persons, vehicles, on_patrol, group_count = session.exec(
        select(
            func.count(),
            func.coalesce(func.sum(PatrolTrip.persons), 0),
            func.coalesce(func.sum(PatrolTrip.vehicles), 0),
            func.count().filter(PatrolTrip.status == TripStatus.open),
            groups,
        ).select_from(PatrolTrip)
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
    zones=None,
) -> Hazard:
    try:
        kind, severity = HazardKind(kind), Severity(severity)
    except ValueError as exc:
        raise InvalidInput(f"hazard: {exc}") from None
    check_location(lat, lon)
    if lat is None and not (place and place.strip()):
        raise InvalidInput("lat/lon or place: say where the hazard is", code="missing_location")
    photo_service.require(session, photo_id)
    now = utcnow()
    hazard = Hazard(
        kind=kind,
        severity=severity,
        lat=lat,
        lon=lon,
        zone_id=_zone(zones, lat, lon),
        place=place,
        description=description,
        photo_id=photo_id,
        reported_at=now,
        reported_by=actor,
        group_id=group_id,
        field_report_id=field_report_id,
        due_at=_aware(due_at) or now + DEADLINES[severity],
    )
    session.add(hazard)
    session.flush()
    audit_service.record(
        session,
        actor=actor,
        action="hazard.reported",
        target_type="hazard",
        target_id=hazard.id,
        after={"kind": kind, "severity": severity, "zone_id": hazard.zone_id},
    )
    _emit(session, "hazard", "reported", hazard=hazard_public(hazard))
    return hazard


def _aware(dt: datetime | None) -> datetime | None:
    if dt is not None and dt.tzinfo is None:
        raise InvalidInput("due_at: give a time zone (e.g. +08:00)")
    return dt


def get_hazard(session: Session, *, hazard_id: int, lock: bool = False) -> Hazard:
    query = select(Hazard).where(Hazard.id == hazard_id)
    hazard = session.exec(query.with_for_update() if lock else query).first()
    if hazard is None:
        raise NotFound(f"hazard {hazard_id} not found", code="hazard_not_found")
    return hazard


def _move(hazard: Hazard, to: HazardStatus) -> HazardStatus:
    current = HazardStatus(hazard.status)
    if to not in HAZARD_TRANSITIONS[current]:
        allowed = ", ".join(sorted(HAZARD_TRANSITIONS[current])) or "nothing: it is closed"
        raise Conflict(
            f"hazard {hazard.id} is {current}: it cannot become {to} (next: {allowed})",
            code="illegal_transition",
        )
    hazard.status = to
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
) -> Hazard:
    """Give a hazard to an inspection group or a crew (a crew gets a task); also sends a
    rectified hazard back when the verifier is not satisfied."""
    if (group_id is None) == (crew_id is None):
        raise InvalidInput("group_id or crew_id: give exactly one")
    hazard = get_hazard(session, hazard_id=hazard_id, lock=True)
    if group_id is not None:
        get_group(session, group_id=group_id)
    if crew_id is not None:  # before the hazard points at it: an unknown crew is a 404
        crew_service.get_crew(session, crew_id=crew_id)
    before = _move(hazard, HazardStatus.assigned)
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
            hazard_id=hazard.id,
            description=note
            or f"hazard {hazard.id}: {hazard.kind}"
            + (f" at {hazard.place}" if hazard.place else ""),
        )
    audit_service.record(
        session,
        actor=actor,
        action="hazard.assigned",
        target_type="hazard",
        target_id=hazard.id,
        before={"status": before},
        after={"status": hazard.status, "group_id": group_id, "crew_id": crew_id, "note": note},
    )
    _emit(session, "hazard", "assigned", hazard=hazard_public(hazard))
    return hazard


def rectify_hazard(
    session: Session,
    *,
    hazard_id: int,
    actor: str,
    note: str | None = None,
    photo_id: str | None = None,
) -> Hazard:
    hazard = get_hazard(session, hazard_id=hazard_id, lock=True)
    photo_service.require(session, photo_id)
    before = _move(hazard, HazardStatus.rectified)
    hazard.rectified_at, hazard.rectified_by = utcnow(), actor
    hazard.rectification_note, hazard.rectification_photo_id = note, photo_id
    session.add(hazard)
    session.flush()
    for task in session.exec(
        select(CrewTask).where(
            CrewTask.hazard_id == hazard.id, CrewTask.status == TaskStatus.assigned
        )
    ):
        crew_service.end_task(session, task_id=task.id, actor=actor)
    audit_service.record(
        session,
        actor=actor,
        action="hazard.rectified",
        target_type="hazard",
        target_id=hazard.id,
        before={"status": before},
        after={"status": hazard.status, "note": note, "photo_id": photo_id},
    )
    _emit(session, "hazard", "rectified", hazard=hazard_public(hazard))
    return hazard


def verify_hazard(
    session: Session, *, hazard_id: int, actor: str, note: str | None = None
) -> Hazard:
    hazard = get_hazard(session, hazard_id=hazard_id, lock=True)
    before = _move(hazard, HazardStatus.verified)
    hazard.verified_at, hazard.verified_by = utcnow(), actor
    session.add(hazard)
    session.flush()
    audit_service.record(
        session,
        actor=actor,
        action="hazard.verified",
        target_type="hazard",
        target_id=hazard.id,
        before={"status": before},
        after={"status": hazard.status, "note": note},
    )
    _emit(session, "hazard", "verified", hazard=hazard_public(hazard))
    return hazard


def _overdue_clause(now: datetime):
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
) -> list[Hazard]:
    query = select(Hazard).order_by(col(Hazard.id).desc()).limit(limit)
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
    return HazardPublic(
        id=h.id,
        kind=h.kind,
        severity=h.severity,
        status=h.status,
        overdue=is_overdue(h),
        lat=h.lat,
        lon=h.lon,
        zone_id=h.zone_id,
        place=h.place,
        description=h.description,
        photo_id=h.photo_id,
        reported_at=h.reported_at,
        reported_at_local=local_iso(h.reported_at),
        reported_by=h.reported_by,
        group_id=h.group_id,
        due_at=h.due_at,
        due_at_local=local_iso(h.due_at),
        assigned_group_id=h.assigned_group_id,
        assigned_crew_id=h.assigned_crew_id,
        assigned_at=h.assigned_at,
        rectified_at=h.rectified_at,
        rectified_by=h.rectified_by,
        rectification_note=h.rectification_note,
        rectification_photo_id=h.rectification_photo_id,
        verified_at=h.verified_at,
        verified_by=h.verified_by,
    )


def hazard_totals(session: Session) -> dict[str, int]:
    rows = session.exec(
        select(
            Hazard.status, func.count(), func.count().filter(_overdue_clause(utcnow()))
        ).group_by(Hazard.status)
    ).all()
    counts = {status: int(n) for status, n, _ in rows}
    by_status = {s.value: counts.get(s.value, 0) for s in HazardStatus}
    return {
        **by_status,
        "total": sum(by_status.values()),
        "overdue": sum(int(overdue) for _, _, overdue in rows),
        "unresolved": by_status["open"] + by_status["assigned"],
    }


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
    zones=None,
) -> HelpRequest:
    check_location(lat, lon)
    photo_service.require(session, photo_id)
    request = HelpRequest(
        people=people,
        urgency=Severity(urgency),
        lat=lat,
        lon=lon,
        zone_id=_zone(zones, lat, lon),
        note=note,
        photo_id=photo_id,
        field_report_id=field_report_id,
        created_by=actor,
    )
    session.add(request)
    session.flush()
    audit_service.record(
        session,
        actor=actor,
        action="help_request.created",
        target_type="help_request",
        target_id=request.id,
        after={"people": people, "urgency": request.urgency},
    )
    _emit_help(session, request, "created")
    return request


def get_help_request(session: Session, *, help_request_id: int) -> HelpRequest:
    request = session.get(HelpRequest, help_request_id)
    if request is None:
        raise NotFound(f"help request {help_request_id} not found", code="help_request_not_found")
    return request


def assign_help_request(
    session: Session, *, help_request_id: int, crew_id: int, actor: str
) -> HelpRequest:
    request = get_help_request(session, help_request_id=help_request_id)
    if request.status == HelpStatus.closed:
        raise Conflict(f"help request {request.id} is closed", code="illegal_transition")
    crew_service.add_task(
        session,
        crew_id=crew_id,
        actor=actor,
        help_request_id=request.id,
        description=f"help request {request.id}: {request.people} people"
        + (f" — {request.note}" if request.note else ""),
    )
    request.status, request.crew_id = HelpStatus.assigned, crew_id
    session.add(request)
    session.flush()
    audit_service.record(
        session,
        actor=actor,
        action="help_request.assigned",
        target_type="help_request",
        target_id=request.id,
        after={"crew_id": crew_id},
    )
    _emit_help(session, request, "assigned")
    return request


def close_help_request(session: Session, *, help_request_id: int, actor: str) -> HelpRequest:
    request = get_help_request(session, help_request_id=help_request_id)
    if request.status == HelpStatus.closed:
        raise Conflict(f"help request {request.id} is already closed", code="illegal_transition")
    request.status, request.closed_at, request.closed_by = HelpStatus.closed, utcnow(), actor
    session.add(request)
    session.flush()
    for task in session.exec(
        select(CrewTask).where(
            CrewTask.help_request_id == request.id, CrewTask.status == TaskStatus.assigned
        )
    ):
        crew_service.end_task(session, task_id=task.id, actor=actor)
    audit_service.record(
        session,
        actor=actor,
        action="help_request.closed",
        target_type="help_request",
        target_id=request.id,
    )
    _emit_help(session, request, "closed")
    return request


def list_help_requests(
    session: Session, *, status: str | None = None, limit: int = 500
) -> list[HelpRequest]:
    query = select(HelpRequest).order_by(col(HelpRequest.id).desc()).limit(limit)
    if status:
        query = query.where(col(HelpRequest.status).in_(status.split(",")))
    return list(session.exec(query))


def help_public(r: HelpRequest) -> HelpPublic:
    return HelpPublic(
        id=r.id,
        status=r.status,
        urgency=r.urgency,
        people=r.people,
        lat=r.lat,
        lon=r.lon,
        zone_id=r.zone_id,
        note=r.note,
        photo_id=r.photo_id,
        created_at=r.created_at,
        created_at_local=local_iso(r.created_at),
        created_by=r.created_by,
        crew_id=r.crew_id,
        closed_at=r.closed_at,
    )


def help_totals(session: Session) -> dict[str, int]:
    counts = dict(
        session.exec(select(HelpRequest.status, func.count()).group_by(HelpRequest.status)).all()
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
) -> tuple[User, str, str]:
    """A field user for a team's phone, and the link that carries its token in the fragment
    (`/field#token=…`: a fragment never reaches a server's logs)."""
    if group_id is not None:
        get_group(session, group_id=group_id)
    if crew_id is not None:
        crew_service.get_crew(session, crew_id=crew_id)
    slug = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")[:50] or "team"
    user, token = auth_service.create_user(
        session, name=f"field-{slug}-{secrets.token_hex(3)}", role=Role.field, actor=actor
    )
    session.add(FieldAccount(user_id=user.id, label=label, group_id=group_id, crew_id=crew_id))
    session.flush()
    return user, token, f"{public_url.rstrip('/')}/field#token={token}"


def account_of(session: Session, user: User) -> FieldAccount | None:
    return session.get(FieldAccount, user.id)


def report_totals(session: Session) -> dict:
    """Field reports by kind (what a `field_report.created` event carries: each report's own
    domain event carries that domain's totals)."""
    reports = dict(
        session.exec(select(FieldReport.kind, func.count()).group_by(FieldReport.kind)).all()
    )
    return {
        "reports": {k: int(v) for k, v in reports.items()},
        "reports_total": int(sum(reports.values())),
    }


def summary(session: Session) -> dict:
    """The situation's `field` section: inspections, hazards, requests for help, reports."""
    return {
        "inspections": inspection_totals(session),
        "hazards": hazard_totals(session),
        "help_requests": help_totals(session),
        **report_totals(session),
    }


# The totals an `inspection.updated` event carries: only those of what changed (a screen
# replaces them, so totals that did not change need not be counted again on every report).
_TOTALS = {"group": "inspections", "trip": "inspections", "hazard": "hazards"}


def _emit(session: Session, entity: str, action: str, **data) -> None:
    payload = {"entity": entity, "action": action}
    for key, value in data.items():
        payload[key] = value.model_dump(mode="json") if hasattr(value, "model_dump") else value
    section = _TOTALS[entity]
    count = inspection_totals if section == "inspections" else hazard_totals
    payload["totals"] = {section: count(session)}
    event_service.emit(session, EVENT, payload)


def _emit_help(session: Session, request: HelpRequest, action: str) -> None:
    event_service.emit(
        session,
        HELP_EVENT,
        {
            "action": action,
            "help_request": help_public(request).model_dump(mode="json"),
            "totals": help_totals(session),
        },
    )
