"""Raising, acknowledging, assigning, closing and escalating alarms.

An alarm is raised in the same unit of work as the record it is about (a request for help, a
hazard reported critical), so it reaches every screen with the record's own events, and a
rolled-back report raises nothing. The record's own changes (a crew assigned to the request,
the hazard rectified) move its alarm along (`follow_source`), so the desk never has to close
the same thing twice.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from alerts.templates import EXERCISE_MARK
from emergency.alarms.config import duty_config
from emergency.alarms.models import ACTIVE, Alarm, AlarmSource, AlarmStatus
from emergency.audit import service as audit_service
from emergency.catalogue import LANGUAGES
from emergency.clock import local_iso
from emergency.crews.models import Crew
from emergency.db import get_or_404, newest_first, savepoint, stored_id, utcnow
from emergency.events import service as event_service
from emergency.exceptions import Conflict
from emergency.field.models import Hazard, HelpRequest
from geo.zones import ZoneSet

if TYPE_CHECKING:
    from emergency.runtime import Runtime

log = logging.getLogger(__name__)

RAISED, UPDATED = "alarm.raised", "alarm.updated"


# --- raising -----------------------------------------------------------------------------------


def raise_for_help_request(session: Session, request: HelpRequest) -> Alarm:
    """Every request for help raises an alarm."""
    return _raise(
        session,
        Alarm(
            source=AlarmSource.help_request,
            source_id=stored_id(request),
            kind="help",
            severity=str(request.urgency),
            people=request.people,
            note=request.note,
            zone_id=request.zone_id,
            place=None,
            lat=request.lat,
            lon=request.lon,
            exercise=request.exercise,
            raised_by=request.created_by,
        ),
    )


def raise_for_hazard(session: Session, hazard: Hazard) -> Alarm | None:
    """A hazard reported critical raises an alarm; a lesser one does not."""
    if str(hazard.severity) != "critical":
        return None
    return _raise(
        session,
        Alarm(
            source=AlarmSource.hazard,
            source_id=stored_id(hazard),
            kind=str(hazard.kind),
            severity=str(hazard.severity),
            people=None,
            note=hazard.description,
            zone_id=hazard.zone_id,
            place=hazard.place,
            lat=hazard.lat,
            lon=hazard.lon,
            exercise=hazard.exercise,
            raised_by=hazard.reported_by,
        ),
    )


def _raise(session: Session, alarm: Alarm) -> Alarm:
    """`alarm` stored, audited and sent to the screens; the one its source raised already,
    if any (raising is idempotent)."""
    existing = session.exec(
        select(Alarm).where(Alarm.source == alarm.source, Alarm.source_id == alarm.source_id)
    ).first()
    if existing is not None:
        return existing
    audit_service.record_write(
        session,
        alarm,
        actor=alarm.raised_by,
        action="alarm.raised",
        target_type="alarm",
        after={"source": alarm.source, "source_id": alarm.source_id, "kind": alarm.kind},
    )
    _emit(session, RAISED, alarm, "raised")
    return alarm


# --- reading -----------------------------------------------------------------------------------


def get(session: Session, *, alarm_id: int, lock: bool = False) -> Alarm:
    return get_or_404(session, Alarm, alarm_id, "alarm", code="alarm_not_found", lock=lock)


def list_alarms(
    session: Session,
    *,
    statuses: list[str] | None = None,
    limit: int = 200,
    exercise: bool | None = None,
) -> list[Alarm]:
    query = newest_first(Alarm, limit=limit, exercise=exercise)
    if statuses:
        query = query.where(col(Alarm.status).in_(statuses))
    return list(session.exec(query))


def public(session: Session, alarm: Alarm) -> dict[str, Any]:
    crew = session.get(Crew, alarm.crew_id) if alarm.crew_id else None
    return {
        "id": alarm.id,
        "source": alarm.source,
        "source_id": alarm.source_id,
        "status": alarm.status,
        "kind": alarm.kind,
        "severity": alarm.severity,
        "people": alarm.people,
        "note": alarm.note,
        "zone_id": alarm.zone_id,
        "place": alarm.place,
        "lat": alarm.lat,
        "lon": alarm.lon,
        "exercise": alarm.exercise,
        "raised_at": alarm.raised_at.isoformat(),
        "raised_at_local": local_iso(alarm.raised_at),
        "raised_by": alarm.raised_by,
        "acknowledged_at": alarm.acknowledged_at.isoformat() if alarm.acknowledged_at else None,
        "acknowledged_by": alarm.acknowledged_by,
        "crew_id": alarm.crew_id,
        "crew_name": crew.name if crew else None,
        "assigned_at": alarm.assigned_at.isoformat() if alarm.assigned_at else None,
        "assigned_by": alarm.assigned_by,
        "closed_at": alarm.closed_at.isoformat() if alarm.closed_at else None,
        "closed_by": alarm.closed_by,
        "close_note": alarm.close_note,
        "escalated_at": alarm.escalated_at.isoformat() if alarm.escalated_at else None,
    }


def totals(session: Session, exercise: bool = False) -> dict[str, int]:
    counts = dict(
        session.exec(
            select(Alarm.status, func.count())
            .where(col(Alarm.status).in_([s.value for s in ACTIVE]), Alarm.exercise == exercise)
            .group_by(Alarm.status)
        ).all()
    )
    by = {s.value: int(counts.get(s.value, 0)) for s in ACTIVE}
    return {**by, "active": sum(by.values()), "unacknowledged": by[AlarmStatus.open.value]}


def summary(session: Session, exercise: bool = False) -> dict[str, Any]:
    """The situation's `alarms` section: every alarm not closed, newest first (real ones, or
    the drills')."""
    active = list_alarms(session, statuses=[s.value for s in ACTIVE], exercise=exercise)
    return {"items": [public(session, a) for a in active], "totals": totals(session, exercise)}


# --- the desk's actions ---------------------------------------------------------------------------


def acknowledge(session: Session, *, alarm_id: int, actor: str) -> Alarm:
    """Someone at the desk has seen it (who, when). Again: no change."""
    alarm = get(session, alarm_id=alarm_id, lock=True)
    if alarm.acknowledged_at is not None or alarm.status == AlarmStatus.closed:
        return alarm
    _acknowledged(alarm, actor)
    _changed(session, alarm, actor, "acknowledged", before="open")
    return alarm


def _acknowledged(alarm: Alarm, actor: str) -> None:
    alarm.acknowledged_at, alarm.acknowledged_by = utcnow(), actor
    if alarm.status == AlarmStatus.open:
        alarm.status = AlarmStatus.acknowledged


def close(session: Session, *, alarm_id: int, actor: str, note: str | None = None) -> Alarm:
    """Done with (the people are safe, the hazard is dealt with, or a false alarm: the note
    says which). Closing a closed alarm changes nothing."""
    alarm = get(session, alarm_id=alarm_id, lock=True)
    if alarm.status == AlarmStatus.closed:
        return alarm
    before = str(alarm.status)
    if alarm.acknowledged_at is None:
        _acknowledged(alarm, actor)
    alarm.status, alarm.closed_at, alarm.closed_by = AlarmStatus.closed, utcnow(), actor
    alarm.close_note = (note or "").strip()[:500] or None
    _changed(session, alarm, actor, "closed", before=before)
    return alarm


def follow_source(
    session: Session,
    *,
    source: AlarmSource,
    source_id: int,
    actor: str,
    crew_id: int | None = None,
    closed: bool = False,
) -> Alarm | None:
    """The record behind an alarm moved on: a crew was given it (assigned), or it was dealt
    with (closed). The alarm follows; someone acting on it has acknowledged it."""
    alarm = session.exec(
        select(Alarm).where(Alarm.source == source, Alarm.source_id == source_id).with_for_update()
    ).first()
    if alarm is None or alarm.status == AlarmStatus.closed:
        return alarm
    before = str(alarm.status)
    if alarm.acknowledged_at is None:
        _acknowledged(alarm, actor)
    if closed:
        alarm.status, alarm.closed_at, alarm.closed_by = AlarmStatus.closed, utcnow(), actor
        action = "closed"
    else:
        if crew_id is not None and alarm.crew_id == crew_id and alarm.status == "assigned":
            return alarm
        alarm.status, alarm.crew_id = AlarmStatus.assigned, crew_id
        alarm.assigned_at, alarm.assigned_by = utcnow(), actor
        action = "assigned"
    _changed(session, alarm, actor, action, before=before)
    return alarm


def _changed(session: Session, alarm: Alarm, actor: str, action: str, *, before: str) -> None:
    audit_service.record_write(
        session,
        alarm,
        actor=actor,
        action=f"alarm.{action}",
        target_type="alarm",
        before={"status": before},
        after={"status": str(alarm.status), "crew_id": alarm.crew_id, "note": alarm.close_note},
    )
    _emit(session, UPDATED, alarm, action)


def _emit(session: Session, event: str, alarm: Alarm, action: str) -> None:
    event_service.emit(
        session,
        event,
        {
            "action": action,
            "exercise": alarm.exercise,
            "alarm": public(session, alarm),
            "totals": totals(session, alarm.exercise),
        },
    )


def require_open(alarm: Alarm) -> None:
    if alarm.status == AlarmStatus.closed:
        raise Conflict(f"alarm {alarm.id} is closed", code="alarm_closed")


# --- escalation ---------------------------------------------------------------------------------


def escalate_due(session: Session, *, runtime: Runtime, now: datetime | None = None) -> list[Alarm]:
    """SMS the duty leads, once, about every alarm nobody acknowledged in time."""
    now = now or utcnow()
    minutes = runtime.settings.alarm_escalate_minutes
    due = list(
        session.exec(
            select(Alarm)
            .where(
                Alarm.status == AlarmStatus.open,
                col(Alarm.escalated_at).is_(None),
                col(Alarm.raised_at) <= now - timedelta(minutes=minutes),
            )
            .order_by(col(Alarm.id))
            .with_for_update()
        )
    )
    for alarm in due:
        alarm.escalated_at = now
        alarm.escalation_broadcast_id = _sms_duty_leads(session, runtime=runtime, alarm=alarm)
        audit_service.record_write(
            session,
            alarm,
            actor="system",
            action="alarm.escalated",
            target_type="alarm",
            after={"minutes": minutes, "broadcast_id": alarm.escalation_broadcast_id},
        )
        _emit(session, UPDATED, alarm, "escalated")
    return due


WHAT = {
    "help": {"zh-Hans": "求助", "zh-Hant": "求助", "pt": "pedido de socorro", "en": "help request"},
    "hazard": {
        "zh-Hans": "危急险情",
        "zh-Hant": "危急險情",
        "pt": "perigo crítico",
        "en": "critical hazard",
    },
}
TEXT = {
    "zh-Hans": "【横琴三防】警报#{id}（{what}{people}，{where}）{m}分钟无人确认，请立即处理。{note}",
    "zh-Hant": "【橫琴三防】警報#{id}（{what}{people}，{where}）{m}分鐘無人確認，請立即處理。{note}",
    "pt": "[Hengqin] Alarme n.º {id} ({what}{people}, {where}) sem confirmação há {m} min: "
    "actue já. {note}",
    "en": "[Hengqin command post] Alarm #{id} ({what}{people}, {where}) unacknowledged for "
    "{m} min: act now. {note}",
}
PEOPLE = {"zh-Hans": " {n}人", "zh-Hant": " {n}人", "pt": ", {n} pessoas", "en": ", {n} people"}


def escalation_texts(
    alarm: Alarm, *, minutes: float, zones: ZoneSet | None = None
) -> dict[str, str]:
    texts: dict[str, str] = {}
    for lang in LANGUAGES:
        zone = zones.get(alarm.zone_id) if zones is not None and alarm.zone_id else None
        where = alarm.place or (zone.label(lang) if zone else None) or alarm.zone_id
        if where is None and alarm.lat is not None:
            where = f"{alarm.lat:.4f},{alarm.lon:.4f}"
        text = (
            TEXT[lang]
            .format(
                id=alarm.id,
                what=WHAT["help" if alarm.kind == "help" else "hazard"][lang],
                people=PEOPLE[lang].format(n=alarm.people) if alarm.people else "",
                where=where or "?",
                m=f"{minutes:g}",
                note=(alarm.note or "")[:120],
            )
            .strip()
        )
        texts[lang] = (EXERCISE_MARK[lang] if alarm.exercise else "") + text
    return texts


def _sms_duty_leads(session: Session, *, runtime: Runtime, alarm: Alarm) -> int | None:
    """Through the outbox like every message, keyed on the alarm so it goes once; in its own
    savepoint, so a failure to queue never loses the escalation itself (the dashboard shows it)."""
    from alerts.broadcasts.service import DirectRecipient
    from emergency.broadcasts import service as broadcast_service

    leads = duty_config(runtime).leads
    if not leads:
        log.warning("alarm %s: no duty leads in config/duty.yaml to escalate to", alarm.id)
        return None
    texts = escalation_texts(
        alarm, minutes=runtime.settings.alarm_escalate_minutes, zones=runtime.zones
    )
    people = [
        DirectRecipient(phone=lead.phone, language=lead.language, body=texts[lead.language])
        for lead in leads
    ]
    try:
        with savepoint(session):
            broadcast = broadcast_service.send_to_people(
                session,
                actor="system",
                messages=texts,
                recipients=people,
                idempotency_key=f"alarm-escalation:{alarm.id}",
                title=f"Alarm #{alarm.id} escalated",
                origin="alarm",
                exercise=alarm.exercise,
                runtime=runtime,
            )
    except Exception:
        log.exception("alarm %s: escalation SMS not queued", alarm.id)
        return None
    return broadcast.id
