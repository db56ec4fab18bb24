"""Emitting events: collected during a unit of work, numbered and stored just before commit,
published on the bus just after it. A rolled-back unit of work emits nothing."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert
from sqlmodel import Session, col, select

from alerts.sqltypes import utcnow
from emergency.encoding import json_safe
from emergency.events.models import Event
from emergency.sequences import current_number, take_numbers

log = logging.getLogger(__name__)

# the unit of work's events, written just before its commit (emergency.db)
PENDING = "typhoon_pending_events"
_COMMITTED = "typhoon_committed_events"
SEQ = "event_seq"
# Every viewer of /ws/live sees every event and the event table keeps them: a key with one
# of these names (a liaison ack link, a link token) is dropped at any depth, whoever emits it.
SECRET_KEYS = frozenset({"token", "ack_token", "ack_url", "secret", "password", "auth_token"})


def emit(session: Session, type: str, data: dict[str, Any]) -> dict[str, Any]:
    """Record that something happened; it reaches /ws/live once the unit of work commits.
    Returns the data as it will be written (emergency.field.totals adds to it then)."""
    stored: dict[str, Any] = json_safe(data, drop=SECRET_KEYS)
    session.info.setdefault(PENDING, []).append((type, stored, utcnow()))
    return stored


def pop_pending(session: Session) -> list[tuple[str, dict[str, Any], datetime]]:
    """The events emitted in this unit of work, taken out to be written."""
    pending: list[tuple[str, dict[str, Any], datetime]] = session.info.pop(PENDING, None) or []
    return pending


def numbered(
    pending: list[tuple[str, dict[str, Any], datetime]], first: int
) -> list[dict[str, Any]]:
    """The rows of `pending`, numbered from `first`."""
    return [
        {"seq": first + i, "type": type, "at": at, "data": data}
        for i, (type, data, at) in enumerate(pending)
    ]


def committing(session: Session, rows: list[dict[str, Any]]) -> None:
    """`rows` are written in this unit of work: published once it commits."""
    session.info.setdefault(_COMMITTED, []).extend(
        {"type": r["type"], "at": r["at"].isoformat(), "seq": r["seq"], "data": r["data"]}
        for r in rows
    )


def write_pending(session: Session) -> None:
    """Write this unit of work's events now (the journal does it just before commit)."""
    pending = pop_pending(session)
    if not pending:
        return
    conn = session.connection()
    rows = numbered(pending, take_numbers(conn, SEQ, len(pending)))
    conn.execute(insert(Event), rows)
    committing(session, rows)


def publish_committed(session: Session) -> None:
    messages = session.info.pop(_COMMITTED, None)
    if not messages:
        return
    db = session.info["db"]
    for listener in db.committed_listeners:  # this process's live hub
        listener(messages)
    bus = db.bus
    if bus is None:
        return
    # One wake-up per unit of work, naming its last seq: listeners read the events from the
    # table (emergency.live.hub), so nothing else needs to travel through Redis.
    last = messages[-1]["seq"]
    try:
        bus.publish({"seq": last})
    except Exception:  # stored already: screens resync by seq, so never fail the request
        log.exception("event publish failed", extra={"seq": last})


def forget_pending(session: Session) -> None:
    session.info.pop(PENDING, None)
    session.info.pop(_COMMITTED, None)


def events_since(session: Session, since: int, *, limit: int = 10_000) -> list[dict[str, Any]]:
    """The stored events after `since`, as live-stream messages. Every API process reads each
    event once it is woken for it: a Core statement built once, no ORM objects."""
    rows = session.connection().execute(_SINCE, {"since": since, "limit": limit})
    return [
        {"type": type, "at": at.isoformat(), "seq": seq, "data": data}
        for seq, type, at, data in rows
    ]


_SINCE = (
    select(col(Event.seq), col(Event.type), col(Event.at), col(Event.data))
    .where(col(Event.seq) > bindparam("since"))
    .order_by(col(Event.seq))
    .limit(bindparam("limit"))
)


def last_seq(session: Session) -> int:
    return current_number(session, SEQ)
