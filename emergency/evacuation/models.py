"""Shelters, evacuation orders and movements of people."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import String, false, text
from sqlmodel import Column, Field, SQLModel

from emergency.db import JSONType, UTCDateTime, utcnow
from emergency.drills.models import exercise_field


class OrderLevel(StrEnum):
    advised = "advised"
    mandatory = "mandatory"


class OrderStatus(StrEnum):
    active = "active"
    superseded = "superseded"  # replaced by an order of another level for the same zone
    lifted = "lifted"


class Shelter(SQLModel, table=True):
    """A shelter; created from config/zones/shelters.geojson, its occupancy and open flag
    live here (geo.shelters.Shelter is the same thing as a value, for nearest-shelter).

    A drill has a state of its own for every shelter (`exercise_is_open`,
    `exercise_occupancy`): a drill opens and fills shelters without touching the real state."""

    __tablename__ = "shelter"

    id: str = Field(primary_key=True, max_length=64)
    name: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    lat: float
    lon: float
    capacity: int = Field(ge=0)
    occupancy: int = 0
    is_open: bool = False
    zone_id: str | None = Field(default=None, max_length=64)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_by: str | None = Field(default=None, max_length=120)
    exercise_is_open: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    exercise_occupancy: int = Field(default=0, sa_column_kwargs={"server_default": text("0")})


class EvacuationOrder(SQLModel, table=True):
    """An order for one zone; at most one `active` per zone and mode, real or exercise (the
    service keeps it so). The zones ordered in one action share its shelters and the broadcast
    drafted with it (`broadcast_id`); lifting drafts the lift message (`lift_broadcast_id`)."""

    __tablename__ = "evacuation_order"

    id: int | None = Field(default=None, primary_key=True)
    zone_id: str = Field(max_length=64, index=True)
    level: OrderLevel = Field(sa_type=String(12))
    status: OrderStatus = Field(default=OrderStatus.active, sa_type=String(12), index=True)
    issued_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    issued_by: str = Field(max_length=120)
    origin: str = Field(max_length=80)
    note: str | None = Field(default=None, max_length=500)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    ended_by: str | None = Field(default=None, max_length=120)
    ended_origin: str | None = Field(default=None, max_length=80)
    shelter_ids: list[str] = Field(
        default_factory=list, sa_column=Column(JSONType, nullable=False, server_default="[]")
    )
    broadcast_id: int | None = Field(default=None, index=True)
    lift_broadcast_id: int | None = None
    exercise: bool = exercise_field(index=True)


class Movement(SQLModel, table=True):
    """People moved from a place to a shelter (or another safe place), with a count."""

    __tablename__ = "evacuation_movement"

    id: int | None = Field(default=None, primary_key=True)
    people: int = Field(ge=1)
    from_zone_id: str | None = Field(default=None, max_length=64)
    from_place: str | None = Field(default=None, max_length=200)
    lat: float | None = None
    lon: float | None = None
    shelter_id: str | None = Field(
        default=None, foreign_key="shelter.id", max_length=64, index=True
    )
    to_place: str | None = Field(default=None, max_length=200)
    order_id: int | None = Field(default=None, foreign_key="evacuation_order.id")
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    reported_by: str = Field(max_length=120)
    field_report_id: int | None = Field(default=None, index=True)
    note: str | None = Field(default=None, max_length=500)
    exercise: bool = exercise_field(index=True)
