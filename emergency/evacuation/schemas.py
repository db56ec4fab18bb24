"""What the evacuation and shelter API accepts and returns."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from emergency.evacuation.models import OrderLevel


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ShelterPublic(BaseModel):
    id: str
    name: dict[str, str]
    lat: float
    lon: float
    capacity: int
    occupancy: int
    room: int
    is_open: bool
    over_capacity: bool
    zone_id: str | None
    updated_at: datetime
    updated_at_local: str


class NearestShelter(BaseModel):
    shelter: ShelterPublic
    distance_m: float


class ShelterOpenIn(_In):
    open: bool
    note: str | None = Field(default=None, max_length=500)


class OccupancyIn(_In):
    occupancy: int = Field(ge=0, le=100_000)
    note: str | None = Field(default=None, max_length=500)


class OrderIn(_In):
    zone_id: str = Field(min_length=1, max_length=64, examples=["north_shore_works"])
    level: OrderLevel
    note: str | None = Field(default=None, max_length=500)


class LiftIn(_In):
    zone_id: str = Field(min_length=1, max_length=64)
    note: str | None = Field(default=None, max_length=500)


class OrderPublic(BaseModel):
    id: int
    zone_id: str
    zone_name: dict[str, str] | None = None
    level: str
    status: str
    issued_at: datetime
    issued_at_local: str
    issued_by: str
    origin: str
    note: str | None
    ended_at: datetime | None
    ended_by: str | None


class OrderResult(BaseModel):
    changed: bool
    order: OrderPublic | None


class MovementIn(_In):
    people: int = Field(ge=1, le=5000)
    from_zone_id: str | None = Field(default=None, max_length=64)
    from_place: str | None = Field(default=None, max_length=200)
    lat: float | None = Field(default=None, description="where the people were moved from")
    lon: float | None = None
    shelter_id: str | None = Field(default=None, max_length=64)
    to_place: str | None = Field(
        default=None, max_length=200, description="a safe place that is not a shelter"
    )
    note: str | None = Field(default=None, max_length=500)


class MovementPublic(BaseModel):
    id: int
    people: int
    from_zone_id: str | None
    from_place: str | None
    lat: float | None
    lon: float | None
    shelter_id: str | None
    to_place: str | None
    order_id: int | None
    at: datetime
    at_local: str
    reported_by: str
    field_report_id: int | None
    note: str | None
