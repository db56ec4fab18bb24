"""Subscriber changes with their audit entries (never a phone number or a name in them)."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from alerts.models import Subscriber
from alerts.subscribers import fields
from alerts.subscribers import service as subscriber_service
from alerts.subscribers.service import OptOutChange
from emergency.audit import service as audit_service
from emergency.db import stored_id
from emergency.exceptions import Conflict, InvalidInput
from emergency.subscribers.schemas import SubscriberPublic
from geo.zones import ZoneSet


def mask(phone: str | None) -> str:
    if not phone:
        return ""
    return phone[:4] + "*" * max(0, len(phone) - 8) + phone[-4:]


def public(subscriber: Subscriber) -> SubscriberPublic:
    return SubscriberPublic(
        id=stored_id(subscriber),
        phone=mask(subscriber.phone),
        language=subscriber.language,
        zone_id=subscriber.zone_id,
        has_location=subscriber.lat is not None,
        channels=[c for c in subscriber.channels.split(",") if c],
        tags=[t for t in (subscriber.tags or "").split(",") if t],
        exercise_list=subscriber.exercise_list,
        opted_out=subscriber.opted_out,
    )


def add_subscriber(
    session: Session, *, zones: ZoneSet, values: dict[str, Any], actor: str
) -> Subscriber:
    try:
        subscriber = subscriber_service.add_subscriber(session, zones=zones, values=values)
    except fields.FieldProblem as problem:
        raise InvalidInput(str(problem), code=f"invalid_{problem.field}") from None
    except subscriber_service.SubscriberExists as exc:
        raise Conflict(str(exc), code="subscriber_exists") from None
    audit_service.record(
        session,
        actor=actor,
        action="subscriber.created",
        target_type="subscriber",
        target_id=stored_id(subscriber),
        after={
            "language": subscriber.language,
            "zone_id": subscriber.zone_id,
            "channels": subscriber.channels,
            "exercise_list": subscriber.exercise_list,
        },
    )
    return subscriber


def record_opt_out(session: Session, change: OptOutChange | None, *, actor: str, via: str) -> None:
    """Audit an opt-out change (nothing when nothing changed)."""
    if change is None or not change.changed:
        return
    audit_service.record(
        session,
        actor=actor,
        action="subscriber.opted_out" if change.after else "subscriber.opted_in",
        target_type="subscriber",
        target_id=change.subscriber_id,
        before={"opted_out": change.before},
        after={"opted_out": change.after, "via": via, "new_record": change.created},
    )


def set_opt_out(
    session: Session, *, phone: str, opted_out: bool, actor: str, via: str
) -> OptOutChange | None:
    try:
        e164 = fields.phone(phone)
    except fields.FieldProblem as problem:
        raise InvalidInput(str(problem), code="invalid_phone") from None
    change = subscriber_service.set_opt_out(session, phone=e164, opted_out=opted_out)
    record_opt_out(session, change, actor=actor, via=via)
    return change
