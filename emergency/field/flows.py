"""Use cases across the field-operation domains: a field report and what it sets off, a crew
task from a hazard or a request for help, and what the field form shows a team.

A field report is stored once per Idempotency-Key: the same key and body again answers the
stored report (the phone's retry after a lost answer); the same key with another body, or
from another user, is a 409. The report row is inserted first and flushed: a retry (or two
racing ones) meets the unique key there, before any effect, and the unit of work is rolled
back to answer the stored report. A retry is rare, so no lookup is spent on every report.

A report is a drill's when it says `"exercise": true` or comes through a field link issued for
a drill (emergency.drills): what it makes is an exercise record, and it may change exercise
records only. A report that changes a drill's record (a real team rectifying a drill's hazard)
is a drill's report too.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from emergency.audit import service as audit_service
from emergency.auth import service as auth_service
from emergency.auth.models import Role, User
from emergency.clock import local_iso
from emergency.crews import service as crew_service
from emergency.crews.models import CrewTask
from emergency.db import connection, insert_row, new_row, stored_id, utcnow
from emergency.drills import service as drill_service
from emergency.evacuation import service as evacuation_service
from emergency.events import service as event_service
from emergency.exceptions import Conflict, Forbidden, InvalidInput
from emergency.field import photos as photo_service
from emergency.field import service as field_service
from emergency.field import totals as field_totals
from emergency.field.common import check_location, newest, zone_at
from emergency.field.models import FieldReport
from emergency.field.schemas import FieldContext, FieldReportIn, FieldReportPublic
from emergency.vulnerable import service as vulnerable_service
from geo.zones import ZoneSet

EVENT = "field_report.created"
T = TypeVar("T")
_KEY = re.compile(r"^[A-Za-z0-9_.:-]{8,100}$")


def assign_crew_task(
    session: Session,
    *,
    crew_id: int,
    actor: str,
    description: str,
    hazard_id: int | None = None,
    help_request_id: int | None = None,
    drill: bool = False,
) -> CrewTask:
    """A task for a crew; a hazard or request for help named by it is assigned too."""
    if hazard_id is not None:
        field_service.assign_hazard(
            session,
            hazard_id=hazard_id,
            actor=actor,
            crew_id=crew_id,
            note=description,
            drill=drill,
        )
        return crew_service.open_tasks(session, crew_id=crew_id)[-1]
    if help_request_id is not None:
        field_service.assign_help_request(
            session, help_request_id=help_request_id, crew_id=crew_id, actor=actor, drill=drill
        )
        return crew_service.open_tasks(session, crew_id=crew_id)[-1]
    return crew_service.add_task(
        session, crew_id=crew_id, actor=actor, description=description, drill=drill
    )


def body_hash(body: FieldReportIn) -> str:
    return _digest(body.model_dump(mode="json"))


def _digest(fields: dict[str, Any]) -> str:
    if not fields["exercise"]:  # the hash of a real report is what it was before drills
        fields = {k: v for k, v in fields.items() if k != "exercise"}
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


# The report's own columns; every other field it was sent with is kept in `data`.
_COLUMNS = frozenset(
    {
        "kind",
        "lat",
        "lon",
        "accuracy_m",
        "note",
        "observed_at",
        "photo_id",
        "group_id",
        "crew_id",
        "exercise",
    }
)


def check_key(key: str | None) -> str:
    if not key:
        raise InvalidInput(
            "Idempotency-Key header: required (a UUID made when the report is written)",
            code="missing_idempotency_key",
        )
    if not _KEY.match(key):
        raise InvalidInput(
            "Idempotency-Key header: 8 to 100 characters of A-Z a-z 0-9 _ . : -",
            code="invalid_idempotency_key",
        )
    return key


def stored_report(session: Session, *, key: str, user: User, digest: str) -> FieldReport | None:
    """The report already stored under `key`, if any (409 when it is not the same report)."""
    existing = session.exec(select(FieldReport).where(FieldReport.idempotency_key == key)).first()
    if existing is None:
        return None
    if existing.user_id != user.id or existing.body_hash != digest:
        raise Conflict(
            "Idempotency-Key already used for another report", code="idempotency_key_reused"
        )
    return existing


def submit_report(
    session: Session,
    *,
    user: User,
    key: str | None,
    body: FieldReportIn,
    zones: ZoneSet | None = None,
) -> tuple[FieldReport, bool]:
    """Store a field report and apply it; (report, True) when new, (stored, False) on replay.

    The hot write path (issue 18): the body is dumped once (for its hash and its `data`),
    the team and the drill mark are read in one query, and the report row is inserted in
    one Core statement (and later updated in one), not flushed by the unit of work."""
    key = check_key(key)
    fields = body.model_dump(mode="json")
    digest = _digest(fields)
    check_location(body.lat, body.lon)
    group_id, crew_id, label, drill_user = _team(session, user, body)
    photo_service.require(session, body.photo_id, reader=user)
    data = {k: v for k, v in fields.items() if k not in _COLUMNS and v is not None}
    drill = bool(body.exercise) or drill_user
    report = new_row(  # the body is validated: no model constructor (emergency.db.new_row)
        FieldReport,
        idempotency_key=key,
        body_hash=digest,
        user_id=user.id,
        actor=user.name,
        kind=body.kind,
        lat=body.lat,
        lon=body.lon,
        accuracy_m=body.accuracy_m,
        zone_id=zone_at(zones, body.lat, body.lon, kinds=None),
        note=body.note,
        data=data,
        photo_id=body.photo_id,
        group_id=group_id,
        crew_id=crew_id,
        observed_at=body.observed_at if body.observed_at and body.observed_at.tzinfo else None,
        exercise=drill,
    )
    try:
        insert_row(session, report, attach=False)  # the unique key: a retry fails here
    except IntegrityError:
        session.rollback()
        existing = stored_report(session, key=key, user=user, digest=digest)
        if existing is None:
            raise
        return existing, False
    actor = user.name if not label else f"{user.name} ({label})"
    report.result, report.exercise = _apply(
        session,
        report=report,
        body=body,
        user=user,
        actor=actor,
        group_id=group_id,
        crew_id=crew_id,
        zones=zones,
        drill=drill,
    )
    field_service.settle_report(session, report)
    audit_service.record(
        session,
        actor=user.name,
        action="field_report.created",
        target_type="field_report",
        target_id=stored_id(report),
        after={"kind": report.kind, "result": report.result},
        exercise=report.exercise,
    )
    stored = event_service.emit(
        session, EVENT, {"exercise": report.exercise, "report": public_for_stream(report)}
    )
    field_totals.carry(session, stored, "reports", report.exercise)
    return report, True


def _team(
    session: Session, user: User, body: FieldReportIn
) -> tuple[int | None, int | None, str | None, bool]:
    """The group or crew a report speaks for (a field user's account decides; an operator
    names it in the body), the account's label, and whether the user is a drill's: one
    query."""
    team = auth_service.known_team(session, user)  # read with the token, as a rule
    if team is None:
        row = connection(session).execute(_TEAM, {"user_id": user.id}).one()
        drill_service.remember(session, user, drill=bool(row.drill))
        team = auth_service.Team(row.group_id, row.crew_id, row.label)
    drill = drill_service.is_drill_user(session, user)
    if user.role == Role.field:
        has_account = team.label is not None
        for name, given, own in (
            ("group_id", body.group_id, team.group_id if has_account else None),
            ("crew_id", body.crew_id, team.crew_id if has_account else None),
        ):
            if given is not None and given != own:
                raise Forbidden(f"{name}: this field token reports for its own team only")
        if has_account:
            return team.group_id, team.crew_id, team.label, drill
        return None, None, None, drill
    return body.group_id, body.crew_id, None, drill


_TEAM = text(
    "SELECT a.group_id, a.crew_id, a.label, "
    "EXISTS (SELECT 1 FROM drill_user AS d WHERE d.user_id = :user_id) AS drill "
    "FROM (SELECT 1 AS one) AS one LEFT JOIN field_account AS a ON a.user_id = :user_id"
)


def _need(value: T | None, name: str, kind: str) -> T:
    if value is None:
        raise InvalidInput(f"{name}: required for a {kind} report")
    return value


def _apply(
    session: Session,
    *,
    report: FieldReport,
    body: FieldReportIn,
    user: User,
    actor: str,
    group_id: int | None,
    crew_id: int | None,
    zones: ZoneSet | None,
    drill: bool,
) -> tuple[dict[str, Any], bool]:
    """What the report does; and whether that was a drill's (its record is an exercise)."""
    kind = body.kind
    if kind in ("check_in", "check_out"):
        group_id = _need(group_id, "group_id", kind)
        call = field_service.check_in if kind == "check_in" else field_service.check_out
        extra = {"zones": zones} if kind == "check_in" else {}
        trip = call(
            session,
            drill=drill,
            group_id=group_id,
            actor=actor,
            persons=body.persons,
            vehicles=body.vehicles,
            lat=body.lat,
            lon=body.lon,
            note=body.note,
            **extra,
        )
        return {
            "trip_id": trip.id,
            "persons": trip.persons,
            "vehicles": trip.vehicles,
        }, trip.exercise
    if kind == "hazard":
        hazard = field_service.report_hazard(
            session,
            kind=_need(body.hazard_kind, "hazard_kind", kind),
            severity=_need(body.severity, "severity", kind),
            actor=actor,
            lat=body.lat,
            lon=body.lon,
            place=body.place,
            description=body.note,
            photo_id=body.photo_id,
            group_id=group_id,
            field_report_id=report.id,
            zones=zones,
            exercise=drill,
        )
        return {"hazard_id": hazard.id, "due_at_local": local_iso(hazard.due_at)}, hazard.exercise
    if kind == "rectified":
        hazard = field_service.rectify_hazard(
            session,
            hazard_id=_need(body.hazard_id, "hazard_id", kind),
            actor=actor,
            user=user,
            note=body.note,
            photo_id=body.photo_id,
            drill=drill,
        )
        return {"hazard_id": hazard.id, "status": hazard.status}, hazard.exercise
    if kind == "evacuated":
        movement = evacuation_service.record_movement(
            session,
            people=_need(body.people, "people", kind),
            actor=actor,
            shelter_id=body.shelter_id,
            to_place=body.to_place,
            from_place=body.from_place,
            lat=body.lat,
            lon=body.lon,
            note=body.note,
            field_report_id=report.id,
            zones=zones,
            exercise=drill,
        )
        return {
            "movement_id": movement.id,
            "people": movement.people,
            "shelter_id": movement.shelter_id,
        }, movement.exercise
    if kind == "crew_status":
        crew_id = _need(crew_id, "crew_id", kind)
        crew_service.set_status(
            session,
            crew_id=crew_id,
            status=_need(body.crew_status, "crew_status", kind),
            actor=actor,
            origin="field",
            headcount=body.headcount,
            note=body.note,
            drill=drill,
        )
        crew = crew_service.get_crew(session, crew_id=crew_id)
        return {
            "crew_id": crew.id,
            "status": crew.status,
            "headcount": crew.headcount,
        }, crew.exercise
    if kind == "help":
        request = field_service.create_help_request(
            session,
            actor=actor,
            people=body.people or 1,
            urgency=body.urgency or "high",
            lat=body.lat,
            lon=body.lon,
            note=body.note,
            photo_id=body.photo_id,
            field_report_id=report.id,
            zones=zones,
            exercise=drill,
        )
        return {"help_request_id": request.id}, request.exercise
    if kind == "resident_check":
        resident = vulnerable_service.record_check(
            session,
            resident_id=_need(body.resident_id, "resident_id", kind),
            state=_need(body.resident_state, "resident_state", kind),
            user=user,
            note=body.note,
            field_report_id=report.id,
            drill=drill,
        )
        return {"resident_id": resident.id, "state": resident.state}, resident.exercise
    raise InvalidInput(f"kind: {kind!r} is not a report kind")  # pragma: no cover (schema)


def public(report: FieldReport) -> FieldReportPublic:
    return FieldReportPublic.model_construct(**_public_fields(report))


def _public_fields(report: FieldReport) -> dict[str, Any]:
    return dict(
        id=report.id,
        idempotency_key=report.idempotency_key,
        kind=report.kind,
        actor=report.actor,
        lat=report.lat,
        lon=report.lon,
        zone_id=report.zone_id,
        note=report.note,
        photo_id=report.photo_id,
        group_id=report.group_id,
        crew_id=report.crew_id,
        observed_at=report.observed_at,
        created_at=report.created_at,
        created_at_local=local_iso(report.created_at),
        data=report.data,
        result=report.result,
        exercise=report.exercise,
    )


def public_json(report: FieldReport) -> dict[str, Any]:
    """FieldReportPublic as JSON values (what its model_dump(mode="json") gives)."""
    data: dict[str, Any] = public(report).model_dump(mode="json")
    return data


def public_for_stream(report: FieldReport) -> dict[str, Any]:
    """What every screen may see: a resident check's note may name people, so it is left out."""
    data = public_json(report)
    if report.kind == "resident_check":
        data["note"] = None
    return data


def list_reports(
    session: Session, *, kind: str | None = None, limit: int = 200, exercise: bool = False
) -> list[FieldReport]:
    query = newest(FieldReport, exercise=exercise, limit=limit)
    if kind:
        query = query.where(FieldReport.kind == kind)
    return list(session.exec(query))


def context(session: Session, *, user: User) -> FieldContext:
    """What the form shows; a drill's link sees its drill (hazards, shelters, residents)."""
    exercise = drill_service.is_drill_user(session, user)
    account = field_service.account_of(session, user)
    group = crew = None
    hazards = []
    if account and account.group_id:
        group = field_service.group_public(
            session, field_service.get_group(session, group_id=account.group_id), exercise
        )
        hazards = field_service.list_hazards(
            session,
            status="open,assigned",
            group_id=account.group_id,
            limit=50,
            exercise=exercise,
        )
    if account and account.crew_id:
        crew_row = crew_service.get_crew(session, crew_id=account.crew_id)
        crew = crew_service.public(session, crew_row).model_dump(mode="json")
        hazards += field_service.list_hazards(
            session,
            status="open,assigned",
            crew_id=account.crew_id,
            limit=50,
            exercise=exercise,
        )
    if user.role != Role.field:
        hazards = field_service.list_hazards(
            session, status="open,assigned", limit=50, exercise=exercise
        )
    shelters = []
    for s in evacuation_service.list_shelters(session):
        is_open, occupancy = evacuation_service.shelter_state(s, exercise)
        shelters.append(
            {
                "id": s.id,
                "name": s.name,
                "lat": s.lat,
                "lon": s.lon,
                "room": max(s.capacity - occupancy, 0),
                "is_open": is_open,
            }
        )
    residents = []
    if user.role == Role.field:
        residents = [
            {"id": r.id, "name": r.name, "address": r.address, "state": r.state}
            for r in vulnerable_service.list_for(session, user=user, exercise=exercise)
        ]
    return FieldContext(
        user=user.name,
        role=user.role,
        label=account.label if account else None,
        group=group,
        crew=crew,
        hazards=[field_service.hazard_public(h) for h in hazards],
        shelters=shelters,
        residents=residents,
        server_time=utcnow(),
        exercise=exercise,
    )
