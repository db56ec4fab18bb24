"""Warning signals: the level in force per source and kind, and the full history of changes."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import String, UniqueConstraint
from sqlmodel import Field, SQLModel

from emergency.db import UTCDateTime, utcnow


class Origin(StrEnum):
    operator = "operator"
    cap = "cap"
    feed = "feed"
    replay = "replay"
    rule = "rule"
    expiry = "expiry"  # the signal's own expiry time passed (signals-expire job)


class ActiveSignal(SQLModel, table=True):
    """The level in force for one source+kind (a lowered signal has no row).

    A drill (a CAP with status Exercise, or an operator's exercise) keeps its own rows
    (`exercise` true): it never changes the real level in force.
    """

    __tablename__ = "active_signal"
    __table_args__ = (UniqueConstraint("source", "kind", "exercise"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=20)
    kind: str = Field(max_length=40)
    level: str = Field(max_length=20)
    in_force_since: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    changed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    change_id: int = Field(foreign_key="signal_change.id")
    exercise: bool = False
    # When it ends by itself (a CAP alert's <expires>, an operator's valid-until): the
    # `signals-expire` job lowers it then. None: in force until lowered.
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)


class SignalChange(SQLModel, table=True):
    """One raise, upgrade, downgrade, change or lowering; never edited."""

    __tablename__ = "signal_change"

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=20, index=True)
    kind: str = Field(max_length=40)
    previous_level: str | None = Field(default=None, max_length=20)
    level: str | None = Field(default=None, max_length=20)
    change: str = Field(max_length=12)  # raise, upgrade, downgrade, change, lower
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    actor: str = Field(max_length=200)  # user name, or the feed / CAP sender
    origin: Origin = Field(sa_type=String(12))
    # The CAP alert that made the change (origin cap or feed): sender, identifier and sent
    # say which alert a later Cancel must reference, and which alert is newer.
    cap_identifier: str | None = Field(default=None, max_length=200)
    cap_sender: str | None = Field(default=None, max_length=200)
    cap_sent: datetime | None = Field(default=None, sa_type=UTCDateTime)
    note: str | None = Field(default=None, max_length=500)
    exercise: bool = False
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # as given with it
