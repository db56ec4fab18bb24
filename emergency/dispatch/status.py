"""Which dispatch workers are sending without Redis right now (issue 20 item 7), kept in the
database: a screen opened during an outage reads it from the situation snapshot, which it
could not from Redis (down) nor from an event it was not open for.

A row per worker while it is degraded (reading the outbox itself, at its local share of the
SMS rate); the worker renews `seen_at` every few seconds and deletes the row when Redis answers
again or when it stops. A worker that died degraded stops being listed after STALE seconds,
and the scheduler's sweep (`sweep_gone`) deletes its row and says so to the open screens.
Times are the database's clock on PostgreSQL (workers' hosts may disagree), else this host's.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, insert, select, update
from sqlmodel import Field, Session, SQLModel, col

from alerts.sqltypes import UTCDateTime, utcnow
from emergency.clock import local_iso
from emergency.events import service as event_service

STALE = 30.0  # seconds without renewal after which a degraded worker is taken for gone
RENEW_EVERY = 10.0  # seconds between renewals of a degraded worker's row


class DispatchDegraded(SQLModel, table=True):
    """A worker sending without Redis (its row exists only while it does)."""

    __tablename__ = "dispatch_degraded"

    worker_id: str = Field(primary_key=True, max_length=80)
    without_redis: str = Field(max_length=40)  # what it does without: "queue", "rate" (comma)
    sms_rate: float | None = None  # its local share of the SMS rate (segments/s)
    since: datetime = Field(sa_type=UTCDateTime)
    seen_at: datetime = Field(sa_type=UTCDateTime)


def _now(session: Session) -> Any:
    return func.now() if session.get_bind().dialect.name == "postgresql" else utcnow()


def mark_degraded(
    session: Session, *, worker_id: str, without_redis: list[str], sms_rate: float | None
) -> bool:
    """Record (or renew) that `worker_id` sends without Redis; True when it was not already."""
    now = _now(session)
    values = {"without_redis": ",".join(without_redis), "sms_rate": sms_rate, "seen_at": now}
    renewed = session.execute(
        update(DispatchDegraded)
        .where(col(DispatchDegraded.worker_id) == worker_id)
        .values(**values)
    )
    if cast("CursorResult[Any]", renewed).rowcount:
        return False
    session.execute(insert(DispatchDegraded).values(worker_id=worker_id, since=now, **values))
    return True


def clear(session: Session, *, worker_id: str) -> bool:
    """`worker_id` sends through Redis again (or stops); True when it was degraded."""
    gone = session.execute(
        delete(DispatchDegraded).where(col(DispatchDegraded.worker_id) == worker_id)
    )
    return bool(cast("CursorResult[Any]", gone).rowcount)


def record(
    session: Session, *, worker_id: str, without_redis: list[str], sms_rate: float | None
) -> None:
    """What a worker's heartbeat says: degraded (`without_redis` not empty; the row renewed)
    or not. A change is said on the live stream, `dispatch.degraded` / `dispatch.recovered`,
    with the whole list of degraded workers (a screen replaces what it shows with it)."""
    if without_redis:
        changed = mark_degraded(
            session, worker_id=worker_id, without_redis=without_redis, sms_rate=sms_rate
        )
    else:
        changed = clear(session, worker_id=worker_id)
    if changed:
        event_service.emit(
            session,
            "dispatch.degraded" if without_redis else "dispatch.recovered",
            {
                "worker": worker_id,
                "degraded": bool(without_redis),
                "without_redis": without_redis,
                "sms_rate": sms_rate,
                "degraded_workers": degraded_workers(session),
            },
        )


def sweep_gone(session: Session) -> list[str]:
    """Workers that died degraded (not heard of for STALE seconds): their rows deleted, and
    `dispatch.recovered` (`gone`) said for each, so open screens drop them too."""
    gone = list(
        session.execute(
            delete(DispatchDegraded)
            .where(col(DispatchDegraded.seen_at) < _now(session) - timedelta(seconds=STALE))
            .returning(col(DispatchDegraded.worker_id))
        ).scalars()
    )
    for worker_id in gone:
        event_service.emit(
            session,
            "dispatch.recovered",
            {
                "worker": worker_id,
                "degraded": False,
                "gone": True,
                "without_redis": [],
                "sms_rate": None,
                "degraded_workers": degraded_workers(session),
            },
        )
    return gone


def degraded_workers(session: Session) -> list[dict[str, Any]]:
    """The workers sending without Redis now (renewed within STALE seconds), oldest first."""
    now = _now(session)
    rows = session.execute(
        select(DispatchDegraded)
        .where(col(DispatchDegraded.seen_at) >= now - timedelta(seconds=STALE))
        .order_by(col(DispatchDegraded.since), col(DispatchDegraded.worker_id))
    ).scalars()
    return [
        {
            "worker": row.worker_id,
            "without_redis": row.without_redis.split(",") if row.without_redis else [],
            "sms_rate": row.sms_rate,
            "since": row.since.isoformat(),
            "since_local": local_iso(row.since),
        }
        for row in rows
    ]


def summary(session: Session) -> dict[str, Any]:
    """The situation snapshot's `dispatch` section."""
    return {"degraded_workers": degraded_workers(session)}
