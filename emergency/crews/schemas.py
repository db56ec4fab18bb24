"""What the crews API accepts and returns."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from emergency.crews.models import CrewStatus
from emergency.drills.schemas import DrillChange, DrillRecord


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CrewIn(_In):
    name: str = Field(min_length=1, max_length=120, examples=["Rescue team 3"])
    unit: str | None = Field(default=None, max_length=120)
    headcount: int = Field(ge=0, le=10_000)
    station: str | None = Field(default=None, max_length=200)
    lat: float | None = None
    lon: float | None = None
    status: CrewStatus = CrewStatus.standby
    exercise: DrillRecord = False


class CrewStatusIn(_In):
    status: CrewStatus
    headcount: int | None = Field(default=None, ge=0, le=10_000)
    note: str | None = Field(default=None, max_length=500)
    exercise: DrillChange = False


class TaskIn(_In):
    description: str = Field(min_length=1, max_length=500)
    hazard_id: int | None = None
    help_request_id: int | None = None
    exercise: bool = Field(default=False, description="a drill's task: for a drill's crew only")


class TaskPublic(BaseModel):
    id: int
    crew_id: int
    hazard_id: int | None
    help_request_id: int | None
    description: str
    status: str
    assigned_at: datetime
    assigned_by: str
    ended_at: datetime | None
    exercise: bool = False


class CrewPublic(BaseModel):
    id: int
    name: str
    unit: str | None
    headcount: int
    station: str | None
    lat: float | None
    lon: float | None
    zone_id: str | None
    status: str
    status_at: datetime
    status_at_local: str
    note: str | None
    open_tasks: list[TaskPublic] = []
    exercise: bool = False


class StandbyResult(BaseModel):
    changed: list[CrewPublic]


class CrewCount(BaseModel):
    crews: int
    people: int


class CrewTotals(BaseModel):
    """GET /api/v1/crews/totals: crews and people, on duty (not released) and by status."""

    crews: int
    people: int
    on_duty_crews: int
    on_duty_people: int
    by_status: dict[CrewStatus, CrewCount]
    open_tasks: int


class CrewSummary(CrewTotals):
    """The situation's `crews` section: the totals and every crew."""

    items: list[CrewPublic]
