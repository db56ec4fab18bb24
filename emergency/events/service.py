"""Emitting events: collected during a unit of work, numbered and stored just before commit,
published on the bus just after it. A rolled-back unit of work emits nothing."""

from __future__ import annotations

import logging
from typing import Any

from fastapi.encoders import jsonable_encoder
from sqlmodel import Session, col, select

from emergency.db import current_number, take_numbers, utcnow
from emergency.events.models import Event

log = logging.getLogger(__name__)

_PENDING = "typhoon_pending_events"
_COMMITTED = "typhoon_committed_events"
SEQ = "event_seq"
# Every viewer of /ws/live sees every event and the event table keeps them: a key with one
# of these names (a liaison ack link, a link token) is dropped at any depth, whoever emits it.
SECRET_KEYS = frozenset({"token", "ack_token", "ack_url", "secret", "password", "auth_token"})


def emit(session: Session, type: str, data: dict[str, Any]) -> None:
    """Record that something happened; it reaches /ws/live once the unit of work commits."""
    session.info.setdefault(_PENDING, []).append(
        (type, _without_secrets(jsonable_encoder(data)), utcnow())
    )


def _without_secrets(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_secrets(v) for k, v in value.items() if k not in SECRET_KEYS}
    if isinstance(value, list):
        return [_without_secrets(v) for v in value]
    return value


def write_pending(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    first = take_numbers(session, SEQ, len(pending))
    events = [
        Event(seq=first + i, type=type, at=at, data=data)
        for i, (type, data, at) in enumerate(pending)
    ]
    session.add_all(events)
    session.flush()
    session.info.setdefault(_COMMITTED, []).extend(e.message() for e in events)


def publish_committed(session: Session) -> None:
    messages = session.info.pop(_COMMITTED, None)
    if not messages:
        return
    bus = session.info["db"].bus
    if bus is None:
        return
    for message in messages:
        try:
            bus.publish(message)
        except Exception:  # stored already: screens resync by seq, so never fail the request
            log.exception("event publish failed", extra={"seq": message["seq"]})


def forget_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)
    session.info.pop(_COMMITTED, None)


def events_since(session: Session, since: int, *, limit: int = 10_000) -> list[dict[str, Any]]:
    rows = session.exec(
        select(Event).where(col(Event.seq) > since).order_by(col(Event.seq)).limit(limit)
    ).all()
    return [e.message() for e in rows]


def last_seq(session: Session) -> int:
    return current_number(session, SEQ)
