"""Facilities and the history of their status."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Column, Field, SQLModel

from emergency.db import JSONType, UTCDateTime, utcnow


class Facility(SQLModel, table=True):
    """One facility; `statuses` is copied from config/facilities.yaml at start-up, so any
    caller (a rule, the API) can check a status with nothing but a session."""

    __tablename__ = "facility"

    id: str = Field(primary_key=True, max_length=60)
    kind: str = Field(max_length=40)
    name: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    # [{"id", "level", "name": {lang: text}}], in order
    statuses: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSONType, nullable=False)
    )
    status: str = Field(max_length=40)
    lat: float | None = None
    lon: float | None = None
    sort: int = 0
    changed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    changed_by: str | None = Field(default=None, max_length=120)
    origin: str | None = Field(default=None, max_length=80)


class FacilityChange(SQLModel, table=True):
    """One change of a facility's status; never edited."""

    __tablename__ = "facility_change"

    id: int | None = Field(default=None, primary_key=True)
    facility_id: str = Field(foreign_key="facility.id", index=True, max_length=60)
    previous_status: str | None = Field(default=None, max_length=40)
    status: str = Field(max_length=40)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    actor: str = Field(max_length=120)
    origin: str = Field(max_length=80)  # "operator" or "rule:<id>"
    note: str | None = Field(default=None, max_length=500)
