"""Inspection groups, patrol trips, hazards, requests for help, field reports, photos, and the
field accounts that tie a field token to a team."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Index, String, text
from sqlmodel import Column, Field, SQLModel

from emergency.db import JSONType, UTCDateTime, utcnow
from emergency.drills.models import exercise_field


class HazardKind(StrEnum):
    fallen_tree = "fallen_tree"
    flooding = "flooding"
    loose_object = "loose_object"  # billboards, scaffolding, roof sheets
    damaged_structure = "damaged_structure"
    power_line = "power_line"
    landslide = "landslide"
    blocked_road = "blocked_road"
    construction_site = "construction_site"
    other = "other"


class Severity(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"


class HazardStatus(StrEnum):
    open = "open"
    assigned = "assigned"
    rectified = "rectified"
    verified = "verified"


# open → assigned → rectified → verified. A team may rectify on the spot what it found
# (open → rectified); a verifier who is not satisfied sends it back (rectified → assigned).
HAZARD_TRANSITIONS: dict[HazardStatus, set[HazardStatus]] = {
    HazardStatus.open: {HazardStatus.assigned, HazardStatus.rectified},
    HazardStatus.assigned: {HazardStatus.assigned, HazardStatus.rectified},
    HazardStatus.rectified: {HazardStatus.verified, HazardStatus.assigned},
    HazardStatus.verified: set(),
}


class TripStatus(StrEnum):
    open = "open"
    closed = "closed"


class HelpStatus(StrEnum):
    open = "open"
    assigned = "assigned"
    closed = "closed"


class FieldAccount(SQLModel, table=True):
    """Which team a field user (one token per team's phone link) reports for."""

    __tablename__ = "field_account"

    user_id: int = Field(
        primary_key=True, foreign_key="user_account.id", sa_column_kwargs={"autoincrement": False}
    )
    label: str = Field(max_length=120)
    group_id: int | None = Field(default=None, foreign_key="inspection_group.id")
    crew_id: int | None = Field(default=None, foreign_key="crew.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class InspectionGroup(SQLModel, table=True):
    __tablename__ = "inspection_group"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120, unique=True)
    leader: str | None = Field(default=None, max_length=120)
    members: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    vehicles: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    zone_ids: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    grid_cells: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    created_by: str = Field(max_length=120)
    exercise: bool = exercise_field()


class PatrolTrip(SQLModel, table=True):
    """One sweep, from check-in to check-out: `persons` inspector person-trips and `vehicles`
    vehicle-trips (counted at check-in, corrected at check-out)."""

    __tablename__ = "patrol_trip"

    id: int | None = Field(default=None, primary_key=True)
    group_id: int = Field(foreign_key="inspection_group.id", index=True)
    status: TripStatus = Field(default=TripStatus.open, sa_type=String(8), index=True)
    persons: int = Field(ge=0)
    vehicles: int = Field(ge=0)
    zone_id: str | None = Field(default=None, max_length=64)
    checked_in_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    checked_in_by: str = Field(max_length=120)
    in_lat: float | None = None
    in_lon: float | None = None
    checked_out_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    checked_out_by: str | None = Field(default=None, max_length=120)
    out_lat: float | None = None
    out_lon: float | None = None
    note: str | None = Field(default=None, max_length=500)
    exercise: bool = exercise_field(index=True)


class Photo(SQLModel, table=True):
    """A checked, metadata-free image stored under TYPHOON_DATA_DIR, named by its SHA-256."""

    __tablename__ = "photo"

    id: str = Field(primary_key=True, max_length=64)
    content_type: str = Field(max_length=20)
    size: int
    width: int
    height: int
    uploaded_by: str = Field(max_length=120)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # The file was removed (retention, TYPHOON_RETAIN_PHOTOS_DAYS); the row stays for the
    # records that name it, and GET answers 410.
    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Hazard(SQLModel, table=True):
    __tablename__ = "hazard"

    id: int | None = Field(default=None, primary_key=True)
    kind: HazardKind = Field(sa_type=String(24))
    severity: Severity = Field(sa_type=String(10))
    status: HazardStatus = Field(default=HazardStatus.open, sa_type=String(10), index=True)
    lat: float | None = None
    lon: float | None = None
    zone_id: str | None = Field(default=None, max_length=64, index=True)
    place: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=1000)
    photo_id: str | None = Field(default=None, foreign_key="photo.id", max_length=64)
    reported_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    reported_by: str = Field(max_length=120)
    group_id: int | None = Field(default=None, foreign_key="inspection_group.id")
    field_report_id: int | None = Field(default=None)
    due_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    assigned_group_id: int | None = Field(default=None, foreign_key="inspection_group.id")
    assigned_crew_id: int | None = Field(default=None, foreign_key="crew.id")
    assigned_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    assigned_by: str | None = Field(default=None, max_length=120)
    rectified_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    rectified_by: str | None = Field(default=None, max_length=120)
    rectification_note: str | None = Field(default=None, max_length=1000)
    rectification_photo_id: str | None = Field(default=None, foreign_key="photo.id", max_length=64)
    verified_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    verified_by: str | None = Field(default=None, max_length=120)
    exercise: bool = exercise_field(index=True)

    # The overdue count an event carries (emergency.field.totals): unresolved hazards only.
    __table_args__ = (
        Index(
            "ix_hazard_unresolved_due",
            "exercise",
            "due_at",
            postgresql_where=text("status IN ('open', 'assigned')"),
            sqlite_where=text("status IN ('open', 'assigned')"),
        ),
    )


class HelpRequest(SQLModel, table=True):
    __tablename__ = "help_request"

    id: int | None = Field(default=None, primary_key=True)
    status: HelpStatus = Field(default=HelpStatus.open, sa_type=String(10), index=True)
    urgency: Severity = Field(default=Severity.high, sa_type=String(10))
    people: int = Field(default=1, ge=0)
    lat: float | None = None
    lon: float | None = None
    zone_id: str | None = Field(default=None, max_length=64)
    note: str | None = Field(default=None, max_length=1000)
    photo_id: str | None = Field(default=None, foreign_key="photo.id", max_length=64)
    field_report_id: int | None = Field(default=None)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    created_by: str = Field(max_length=120)
    crew_id: int | None = Field(default=None, foreign_key="crew.id")
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_by: str | None = Field(default=None, max_length=120)
    exercise: bool = exercise_field(index=True)


class FieldReport(SQLModel, table=True):
    """What a phone sent, once per idempotency key; `result` names what it created."""

    __tablename__ = "field_report"

    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(max_length=100, unique=True)
    body_hash: str = Field(max_length=64)
    user_id: int = Field(foreign_key="user_account.id", index=True)
    actor: str = Field(max_length=120)
    kind: str = Field(max_length=24, index=True)
    lat: float | None = None
    lon: float | None = None
    accuracy_m: float | None = None
    zone_id: str | None = Field(default=None, max_length=64)
    note: str | None = Field(default=None, max_length=1000)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    photo_id: str | None = Field(default=None, foreign_key="photo.id", max_length=64)
    group_id: int | None = Field(default=None, foreign_key="inspection_group.id")
    crew_id: int | None = Field(default=None, foreign_key="crew.id")
    observed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    result: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    exercise: bool = exercise_field(index=True)


class FieldTotal(SQLModel, table=True):
    """A running total of the field domains (emergency.field.totals): `section` is an event's
    totals section (reports, hazards, help_requests, inspections), `name` one of its figures."""

    __tablename__ = "field_total"

    exercise: bool = Field(primary_key=True)
    section: str = Field(primary_key=True, max_length=20)
    name: str = Field(primary_key=True, max_length=24)
    value: int = 0
