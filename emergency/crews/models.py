"""Rescue crews and their tasks."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import String
from sqlmodel import Field, SQLModel

from emergency.db import UTCDateTime, utcnow
from emergency.drills.models import exercise_field


class CrewStatus(StrEnum):
    standby = "standby"
    deployed = "deployed"
    resting = "resting"
    released = "released"


# What a crew may go to from each status. A resting crew stands by before it deploys (rest
# is protected), a released one is called back to standby first.
TRANSITIONS: dict[CrewStatus, set[CrewStatus]] = {
    CrewStatus.standby: {CrewStatus.deployed, CrewStatus.resting, CrewStatus.released},
    CrewStatus.deployed: {CrewStatus.standby, CrewStatus.resting, CrewStatus.released},
    CrewStatus.resting: {CrewStatus.standby, CrewStatus.released},
    CrewStatus.released: {CrewStatus.standby},
}


class TaskStatus(StrEnum):
    assigned = "assigned"
    done = "done"
    cancelled = "cancelled"


class Crew(SQLModel, table=True):
    __tablename__ = "crew"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120, unique=True)
    unit: str | None = Field(default=None, max_length=120)  # the agency or company
    headcount: int = Field(ge=0)
    station: str | None = Field(default=None, max_length=200)
    lat: float | None = None
    lon: float | None = None
    zone_id: str | None = Field(default=None, max_length=64)
    status: CrewStatus = Field(default=CrewStatus.released, sa_type=String(12), index=True)
    status_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_by: str | None = Field(default=None, max_length=120)
    note: str | None = Field(default=None, max_length=500)
    exercise: bool = exercise_field(index=True)


class CrewTask(SQLModel, table=True):
    """Work given to a crew: a hazard to rectify or a request for help to answer."""

    __tablename__ = "crew_task"

    id: int | None = Field(default=None, primary_key=True)
    crew_id: int = Field(foreign_key="crew.id", index=True)
    hazard_id: int | None = Field(default=None, foreign_key="hazard.id")
    help_request_id: int | None = Field(default=None, foreign_key="help_request.id")
    description: str = Field(max_length=500)
    status: TaskStatus = Field(default=TaskStatus.assigned, sa_type=String(12), index=True)
    assigned_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    assigned_by: str = Field(max_length=120)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    ended_by: str | None = Field(default=None, max_length=120)
    exercise: bool = exercise_field(index=True)
