"""Alarms: what must not be missed on a storm night (a request for help, a hazard reported
critical). One alarm per such record, with its own life: raised → acknowledged (who, when) →
assigned (a crew) → closed; escalated by SMS to the duty leads when nobody acknowledges it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import String, UniqueConstraint
from sqlmodel import Field, SQLModel

from emergency.db import UTCDateTime, utcnow


class AlarmSource(StrEnum):
    help_request = "help_request"
    hazard = "hazard"


class AlarmStatus(StrEnum):
    open = "open"  # nobody has acknowledged it yet
    acknowledged = "acknowledged"
    assigned = "assigned"  # a crew is on it
    closed = "closed"


ACTIVE = (AlarmStatus.open, AlarmStatus.acknowledged, AlarmStatus.assigned)


class Alarm(SQLModel, table=True):
    __tablename__ = "alarm"
    __table_args__ = (UniqueConstraint("source", "source_id", name="uq_alarm_source"),)

    id: int | None = Field(default=None, primary_key=True)
    source: AlarmSource = Field(sa_type=String(16))
    source_id: int
    status: AlarmStatus = Field(default=AlarmStatus.open, sa_type=String(16), index=True)
    # what: "help" or the hazard's kind, how many people, how bad, the reporter's words
    kind: str = Field(max_length=24)
    severity: str = Field(max_length=10)
    people: int | None = None
    note: str | None = Field(default=None, max_length=1000)
    # where
    zone_id: str | None = Field(default=None, max_length=64)
    place: str | None = Field(default=None, max_length=200)
    lat: float | None = None
    lon: float | None = None
    exercise: bool = False
    raised_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    raised_by: str = Field(max_length=120)
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    acknowledged_by: str | None = Field(default=None, max_length=120)
    crew_id: int | None = Field(default=None, foreign_key="crew.id")
    assigned_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    assigned_by: str | None = Field(default=None, max_length=120)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_by: str | None = Field(default=None, max_length=120)
    close_note: str | None = Field(default=None, max_length=500)
    escalated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    escalation_broadcast_id: int | None = None
