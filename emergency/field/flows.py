"""Use cases across the field-operation domains: a field report and what it sets off, a crew
task from a hazard or a request for help, and what the field form shows a team.

A field report is stored once per Idempotency-Key: the same key and body again answers the
stored report (the phone's retry after a lost answer); the same key with another body, or
from another user, is a 409. The report row is inserted first and flushed: a retry (or two
racing ones) meets the unique key there, before any effect, and the unit of work is rolled
back to answer the stored report. A retry is rare, so no lookup is spent on every report.
"""

from __future__ import annotations

import hashlib
import json
import re

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from emergency.audit import service as audit_service
from emergency.auth.models import Role, User
from emergency.clock import local_iso
from emergency.crews import service as crew_service
from emergency.db import utcnow
from emergency.evacuation import service as evacuation_service
from emergency.events import service as event_service
from emergency.exceptions import Conflict, Forbidden, InvalidInput
from emergency.field import photos as photo_service
from emergency.field import service as field_service
from emergency.field.common import check_location
from emergency.field.models import FieldReport
from emergency.field.schemas import FieldContext, FieldReportIn, FieldReportPublic
from emergency.vulnerable import service as vulnerable_service

EVENT = "field_report.created"
_KEY = re.compile(r"^[A-Za-z0-9_.:-]{8,100}$")


def assign_crew_task(
    session: Session,
    *,
    crew_id: int,
    actor: str,
    description: str,
    hazard_id: int | None = None,
    help_request_id: int | None = None,
):
    """A task for a crew; a hazard or request for help named by it is assigned too."""
    if hazard_id is not None:
        field_service.assign_hazard(
            session, hazard_id=hazard_id, actor=actor, crew_id=crew_id, note=description
        )
        return crew_service.open_tasks(session, crew_id=crew_id)[-1]
    if help_request_id is not None:
        field_service.assign_help_request(
            session, help_request_id=help_request_id, crew_id=crew_id, actor=actor
        )
        return crew_service.open_tasks(session, crew_id=crew_id)[-1]
    return crew_service.add_task(session, crew_id=crew_id, actor=actor, description=description)


def body_hash(body: FieldReportIn) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


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
    zones=None,
) -> tuple[FieldReport, bool]:
    """Store a field report and apply it; (report, True) when new, (stored, False) on replay."""
    key = check_key(key)
    digest = body_hash(body)
    check_location(body.lat, body.lon)
    group_id, crew_id, label = _team(session, user, body)
    photo_service.require(session, body.photo_id)
    data = body.model_dump(
        mode="json",
        exclude_none=True,
        exclude={
            "kind",
            "lat",
            "lon",
            "accuracy_m",
            "note",
            "observed_at",
            "photo_id",
            "group_id",
            "crew_id",
        },
    )
    report = FieldReport(
        idempotency_key=key,
        body_hash=digest,
        user_id=user.id,
        actor=user.name,
        kind=body.kind,
        lat=body.lat,
        lon=body.lon,
        accuracy_m=body.accuracy_m,
        zone_id=zones.zone_of(body.lon, body.lat, kinds=None)
        if zones is not None and body.lat is not None
        else None,
        note=body.note,
        data=data,
        photo_id=body.photo_id,
        group_id=group_id,
        crew_id=crew_id,
        observed_at=body.observed_at if body.observed_at and body.observed_at.tzinfo else None,
    )
    session.add(report)
    try:
        session.flush()  # the unique key: a retry fails here, before any effect
    except IntegrityError:
        session.rollback()
        existing = stored_report(session, key=key, user=user, digest=digest)
        if existing is None:
            raise
        return existing, False
    actor = user.name if not label else f"{user.name} ({label})"
    report.result = _apply(
        session,
        report=report,
        body=body,
        user=user,
        actor=actor,
        group_id=group_id,
        crew_id=crew_id,
        zones=zones,
    )
    session.add(report)
    session.flush()
    audit_service.record(
        session,
        actor=user.name,
        action="field_report.created",
        target_type="field_report",
        target_id=report.id,
        after={"kind": report.kind, "result": report.result},
    )
    event_service.emit(
        session,
        EVENT,
        {"report": public_for_stream(report), "totals": field_service.report_totals(session)},
    )
    return report, True


def _team(
    session: Session, user: User, body: FieldReportIn
) -> tuple[int | None, int | None, str | None]:
    """The group or crew a report speaks for: a field user's account decides; an operator
    names it in the body."""
    if user.role == Role.field:
        account = field_service.account_of(session, user)
        for name, given, own in (
            ("group_id", body.group_id, account and account.group_id),
            ("crew_id", body.crew_id, account and account.crew_id),
        ):
            if given is not None and given != own:
                raise Forbidden(f"{name}: this field token reports for its own team only")
        return (account.group_id, account.crew_id, account.label) if account else (None, None, None)
    return body.group_id, body.crew_id, None


def _need(value, name: str, kind: str):
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
    group_id,
    crew_id,
    zones,
) -> dict:
    kind = body.kind
    if kind in ("check_in", "check_out"):
        group_id = _need(group_id, "group_id", kind)
        call = field_service.check_in if kind == "check_in" else field_service.check_out
        extra = {"zones": zones} if kind == "check_in" else {}
        trip = call(
            session,
            group_id=group_id,
            actor=actor,
            persons=body.persons,
            vehicles=body.vehicles,
            lat=body.lat,
            lon=body.lon,
            note=body.note,
            **extra,
        )
        return {"trip_id": trip.id, "persons": trip.persons, "vehicles": trip.vehicles}
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
        )
        return {"hazard_id": hazard.id, "due_at_local": local_iso(hazard.due_at)}
    if kind == "rectified":
        hazard = field_service.rectify_hazard(
            session,
            hazard_id=_need(body.hazard_id, "hazard_id", kind),
            actor=actor,
            note=body.note,
            photo_id=body.photo_id,
        )
        return {"hazard_id": hazard.id, "status": hazard.status}
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
        )
        return {
            "movement_id": movement.id,
            "people": movement.people,
            "shelter_id": movement.shelter_id,
        }
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
        )
        crew = crew_service.get_crew(session, crew_id=crew_id)
        return {"crew_id": crew.id, "status": crew.status, "headcount": crew.headcount}
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
        )
        return {"help_request_id": request.id}
    if kind == "resident_check":
        resident = vulnerable_service.record_check(
            session,
            resident_id=_need(body.resident_id, "resident_id", kind),
            state=_need(body.resident_state, "resident_state", kind),
            user=user,
            note=body.note,
            field_report_id=report.id,
        )
        return {"resident_id": resident.id, "state": resident.state}
    raise InvalidInput(f"kind: {kind!r} is not a report kind")  # pragma: no cover (schema)


def public(report: FieldReport) -> FieldReportPublic:
    return FieldReportPublic(
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
    )


def public_for_stream(report: FieldReport) -> dict:
    """What every screen may see: a resident check's note may name people, so it is left out."""
    data = public(report).model_dump(mode="json")
    if report.kind == "resident_check":
        data["note"] = None
    return data


def list_reports(
    session: Session, *, kind: str | None = None, limit: int = 200
) -> list[FieldReport]:
    from sqlmodel import col

    query = select(FieldReport).order_by(col(FieldReport.id).desc()).limit(limit)
    if kind:
        query = query.where(FieldReport.kind == kind)
    return list(session.exec(query))


def context(session: Session, *, user: User) -> FieldContext:
    account = field_service.account_of(session, user)
    group = crew = None
    hazards = []
    if account and account.group_id:
        group = field_service.group_public(
            session, field_service.get_group(session, group_id=account.group_id)
        )
        hazards = field_service.list_hazards(
            session, status="open,assigned", group_id=account.group_id, limit=50
        )
    if account and account.crew_id:
        crew_row = crew_service.get_crew(session, crew_id=account.crew_id)
        crew = crew_service.public(session, crew_row).model_dump(mode="json")
        hazards += field_service.list_hazards(
            session, status="open,assigned", crew_id=account.crew_id, limit=50
        )
    if user.role != Role.field:
        hazards = field_service.list_hazards(session, status="open,assigned", limit=50)
    shelters = [
        {
            "id": s.id,
            "name": s.name,
            "lat": s.lat,
            "lon": s.lon,
            "room": max(s.capacity - s.occupancy, 0),
            "is_open": s.is_open,
        }
        for s in evacuation_service.list_shelters(session)
    ]
    residents = []
    if user.role == Role.field:
        residents = [
            {"id": r.id, "name": r.name, "address": r.address, "state": r.state}
            for r in vulnerable_service.list_for(session, user=user)
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
    )
