"""What the facilities API accepts and returns."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class FacilityStatusIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: str = Field(min_length=1, max_length=40, examples=["closed"])
    note: str | None = Field(default=None, max_length=500)


class StatusOption(BaseModel):
    id: str
    level: str
    name: dict[str, str]


class FacilityPublic(BaseModel):
    id: str
    kind: str
    name: dict[str, str]
    status: str
    status_name: dict[str, str]
    level: str
    statuses: list[StatusOption]
    lat: float | None
    lon: float | None
    changed_at: datetime | None
    changed_at_local: str | None
    changed_by: str | None
    origin: str | None


class FacilityChangePublic(BaseModel):
    id: int
    facility_id: str
    previous_status: str | None
    status: str
    at: datetime
    at_local: str
    actor: str
    origin: str
    note: str | None


class FacilityStatusResult(BaseModel):
    changed: bool
    change: FacilityChangePublic | None
    facility: FacilityPublic


class FacilitiesSummary(BaseModel):
    """The situation's `facilities` section: each facility, and how many are not ok."""

    items: list[FacilityPublic]
    not_ok: int
    total: int
