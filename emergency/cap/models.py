"""The CAP alerts we received (POST /api/v1/cap, feed poller) and the ones we published.

(The database tables; a parsed alert's values are `emergency.cap.alert`'s dataclasses.)

A received alert is kept whole with what it did: `raw` holds the bytes exactly as they came
(encoding, declaration, comments, signature: a signed alert can still be verified), `raw_xml`
the same document as text for reading and searching. A duplicate is recognised by (sender,
identifier), a later Cancel can find the alerts it references, and an operator can see why an
alert changed nothing.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import LargeBinary, String, Text, UniqueConstraint
from sqlmodel import Column, Field, SQLModel

from emergency.db import JSONType, UTCDateTime, utcnow


class Outcome(StrEnum):
    applied = "applied"  # at least one signal changed
    no_change = "no_change"  # the signals it asserts were already in force, or skipped
    nothing_mapped = "nothing_mapped"  # it names no signal we know (or is Ack/Error)
    not_actual = "not_actual"  # Test, Draft or System: stored and acknowledged, never acted on
    untrusted = "untrusted"  # it names a source's signal, but its sender is not trusted for it
    conflict = "conflict"  # its infos disagree on a signal: stored, the operator decides


class CapReceived(SQLModel, table=True):
    __tablename__ = "cap_received"
    __table_args__ = (UniqueConstraint("sender", "identifier"),)

    id: int | None = Field(default=None, primary_key=True)
    identifier: str = Field(max_length=200)
    sender: str = Field(max_length=200)
    sent: datetime = Field(sa_type=UTCDateTime)
    status: str = Field(max_length=12)  # Actual, Exercise, System, Test, Draft
    msg_type: str = Field(max_length=12)  # Alert, Update, Cancel, Ack, Error
    references: str | None = Field(default=None, sa_column=Column(Text))
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    origin: str = Field(max_length=12)  # cap (posted) or feed (polled)
    feed_id: str | None = Field(default=None, max_length=60)
    source_url: str | None = Field(default=None, max_length=1000, index=True)
    posted_by: str = Field(max_length=120)  # the user who posted it, or feed:<id>
    size: int
    raw_xml: str = Field(sa_column=Column(Text, nullable=False))
    raw: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    outcome: Outcome = Field(sa_type=String(16))
    result: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))


class CapPublished(SQLModel, table=True):
    """One alert of ours: a signal change or a public broadcast, never edited (an update is a
    new alert that references it)."""

    __tablename__ = "cap_published"

    id: int | None = Field(default=None, primary_key=True)
    identifier: str = Field(max_length=200, unique=True)
    sender: str = Field(max_length=200)
    sent: datetime = Field(sa_type=UTCDateTime, index=True)
    status: str = Field(max_length=12)  # Actual or Exercise
    msg_type: str = Field(max_length=12)
    references: str | None = Field(default=None, sa_column=Column(Text))
    # What it is about: a signal (source, kind, level; level None for a Cancel) or a broadcast.
    source: str | None = Field(default=None, max_length=20)
    kind: str | None = Field(default=None, max_length=40)
    level: str | None = Field(default=None, max_length=20)
    signal_change_id: int | None = Field(default=None, foreign_key="signal_change.id")
    broadcast_id: int | None = Field(default=None, index=True)
    xml: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
