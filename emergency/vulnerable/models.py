"""Vulnerable residents and the history of their check-ins."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import String
from sqlmodel import Field, SQLModel

from emergency.db import UTCDateTime, utcnow
from emergency.drills.models import exercise_field


class CheckState(StrEnum):
    unknown = "unknown"  # not yet reached in this storm
    reached = "reached"  # safe, talked to
    not_reached = "not_reached"  # tried, no answer: try again, or send someone
    needs_help = "needs_help"


class VulnerableResident(SQLModel, table=True):
    __tablename__ = "vulnerable_resident"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120)
    address: str = Field(max_length=300)
    phone: str | None = Field(default=None, max_length=30)
    community: str | None = Field(default=None, max_length=64, index=True)  # zone id
    needs: str | None = Field(default=None, max_length=300)  # e.g. wheelchair, oxygen
    social_worker: str | None = Field(default=None, max_length=120)
    followed_by_user_id: int | None = Field(default=None, foreign_key="user_account.id", index=True)
    lat: float | None = None
    lon: float | None = None
    state: CheckState = Field(default=CheckState.unknown, sa_type=String(12), index=True)
    state_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    state_by: str | None = Field(default=None, max_length=120)
    note: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    exercise: bool = exercise_field(index=True)


class ResidentCheck(SQLModel, table=True):
    __tablename__ = "resident_check"

    id: int | None = Field(default=None, primary_key=True)
    resident_id: int = Field(foreign_key="vulnerable_resident.id", index=True)
    state: CheckState = Field(sa_type=String(12))
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    by: str = Field(max_length=120)
    note: str | None = Field(default=None, max_length=500)
    field_report_id: int | None = None
    exercise: bool = exercise_field(index=True)
