"""What the evacuation and shelter API accepts and returns."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from emergency.evacuation.models import OrderLevel

Channel = Literal["sms", "push"]


def _every_channel() -> list[Channel]:
    return ["sms", "push"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _exercise(what: str) -> Any:
    return Field(default=False, description=what)


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
    exercise: bool = Field(default=False, description="the drill's state of the shelter")


class NearestShelter(BaseModel):
    shelter: ShelterPublic
    distance_m: float


class ShelterOpenIn(_In):
    open: bool
    note: str | None = Field(default=None, max_length=500)
    exercise: bool = _exercise("the shelter's drill state (a drill never opens a real one)")


class OccupancyIn(_In):
    occupancy: int = Field(ge=0, le=100_000)
    note: str | None = Field(default=None, max_length=500)
    exercise: bool = _exercise("the shelter's drill occupancy")


class _Zones(_In):
    zone_id: str | None = Field(
        default=None, min_length=1, max_length=64, examples=["north_shore_works"]
    )
    zone_ids: list[str] = Field(
        default_factory=list, max_length=100, examples=[["north_shore_works", "xiaohengqin"]]
    )

    @model_validator(mode="after")
    def _some_zone(self) -> Self:
        if not self.zone_id and not self.zone_ids:
            raise ValueError("give zone_id or zone_ids")
        if any(not z or len(z) > 64 for z in self.zone_ids):
            raise ValueError("zone_ids: each a zone id of 1 to 64 characters")
        return self

    def zones(self) -> list[str]:
        """The zones named, in order, once each."""
        return list(dict.fromkeys([*([self.zone_id] if self.zone_id else []), *self.zone_ids]))


class OrderIn(_Zones):
    """One evacuation order: its zones, level and shelters; its broadcast (the template
    `evacuation_order`, to the zones) is drafted with it."""

    level: OrderLevel
    shelter_ids: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="the shelters to go to (open ones); none: the nearest open shelter",
    )
    channels: list[Channel] = Field(default_factory=_every_channel)
    note: str | None = Field(default=None, max_length=500)
    exercise: bool = _exercise("a drill's order: its broadcast goes to the exercise list")


class LiftIn(_Zones):
    """Lift the orders in force for these zones; the lift message (template
    `evacuation_lifted`) is drafted with it."""

    channels: list[Channel] = Field(default_factory=_every_channel)
    note: str | None = Field(default=None, max_length=500)
    exercise: bool = _exercise("the drill's orders")


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
    shelter_ids: list[str] = []
    broadcast_id: int | None = None
    lift_broadcast_id: int | None = None
    exercise: bool = False


class BroadcastRef(BaseModel):
    """The broadcast drafted with an order (or its lifting): GET /api/v1/broadcasts/{id}."""

    id: int
    status: str
    recipients: int
    needs_approval: bool
    exercise: bool


class OrderResult(BaseModel):
    changed: bool
    order: OrderPublic | None = Field(
        default=None, description="the first zone's order (one zone: the order)"
    )
    orders: list[OrderPublic] = Field(default_factory=list, description="one per zone changed")
    broadcast: BroadcastRef | None = None


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
    exercise: bool = _exercise("a drill's movement: it fills the shelters' drill state")


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
    exercise: bool = False


class EvacuationTotals(BaseModel):
    orders_active: int
    orders_mandatory: int
    orders_advised: int
    orders_issued: int = Field(description="every order issued, zone by zone, in force or not")
    people_evacuated: int
    people_to_shelters: int
    movements: int


class ShelterTotals(BaseModel):
    shelters: int
    open: int
    capacity_open: int
    occupancy: int
    room_open: int


class EvacuationSummary(EvacuationTotals):
    """GET /api/v1/evacuation/totals and the situation's `evacuation` section: the totals, the
    orders in force and every shelter."""

    orders: list[OrderPublic]
    shelters: ShelterTotals
    shelter_list: list[ShelterPublic]
