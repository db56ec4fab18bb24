"""Which scheduler is active and alive: the database's lease (`SchedulerLease`, which decides)
and the Redis keys (under TYPHOON_REDIS_PREFIX) that mirror it for people and tools, and the
heartbeat `typhoon health scheduler` checks.

A leaf module: the scheduler, its heartbeat job and the health check all use it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, func, insert, or_, select, update
from sqlmodel import Field, Session, SQLModel, col

from alerts.sqltypes import UTCDateTime, utcnow

LEADER_KEY = "scheduler:leader"  # who is active: the lease's mirror (set by the leader, with a TTL)
HEARTBEAT_KEY = "scheduler:heartbeat"  # "the active one is alive" (expires after 30 s)
LEASE = "scheduler"  # the lease row's name


class SchedulerLease(SQLModel, table=True):
    """Which scheduler is active: the one whose lease has not expired (database clock)."""

    __tablename__ = "scheduler_lease"

    name: str = Field(primary_key=True, max_length=40)
    holder: str = Field(max_length=120)  # a scheduler's node id (Scheduler.node_id)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    renewed_at: datetime = Field(sa_type=UTCDateTime)


def _now(session: Session) -> Any:
    return func.now() if session.get_bind().dialect.name == "postgresql" else utcnow()


def hold_lease(session: Session, *, node_id: str, ttl: float) -> tuple[str, str | None]:
    """Take the lease for `node_id` when it is free or expired, or renew it when it is ours.
    Returns (the holder now, the holder before). Times are the database's (PostgreSQL's
    now(), else this host's: SQLite has one host), never the callers' own clocks."""
    now = _now(session)
    expires = now + timedelta(seconds=ttl)
    holder = select(col(SchedulerLease.holder)).where(col(SchedulerLease.name) == LEASE)
    before = session.execute(holder).scalar()
    if before is None:
        session.execute(
            insert(SchedulerLease).values(
                name=LEASE, holder=node_id, expires_at=expires, renewed_at=now
            )
        )  # two at once: one gets an IntegrityError and tries again next round
        return node_id, None
    taken = session.execute(
        update(SchedulerLease)
        .where(
            col(SchedulerLease.name) == LEASE,
            or_(col(SchedulerLease.holder) == node_id, col(SchedulerLease.expires_at) < now),
        )
        .values(holder=node_id, expires_at=expires, renewed_at=now)
    )
    if cast("CursorResult[Any]", taken).rowcount:
        return node_id, before
    return session.execute(holder).scalar_one(), before


def lease_holder(session: Session) -> str | None:
    """The active scheduler's node id: the holder of an unexpired lease (database clock)."""
    return session.execute(
        select(col(SchedulerLease.holder)).where(
            col(SchedulerLease.name) == LEASE, col(SchedulerLease.expires_at) >= _now(session)
        )
    ).scalar()


def release_lease(session: Session, *, node_id: str) -> None:
    """Let a standby take over at once (a stopping leader)."""
    session.execute(
        update(SchedulerLease)
        .where(col(SchedulerLease.name) == LEASE, col(SchedulerLease.holder) == node_id)
        .values(expires_at=_now(session))
    )
