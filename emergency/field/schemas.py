"""What the field-operation API accepts and returns (inspections, hazards, reports, photos)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from emergency.clock import ApiTime
from emergency.crews.models import CrewStatus
from emergency.drills.schemas import DrillChange, DrillRecord
from emergency.field.models import HazardKind, Severity
from emergency.vulnerable.models import CheckState

GridCell = Field(pattern=r"^[A-Za-z0-9_-]{1,20}$")


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- inspection groups and trips -------------------------------------------------------------


class GroupIn(_In):
    name: str = Field(min_length=1, max_length=120, examples=["Inspection group 17"])
    leader: str | None = Field(default=None, max_length=120)
    members: list[str] = Field(default_factory=list, max_length=100)
    vehicles: list[str] = Field(
        default_factory=list, max_length=20, description="plates or call signs"
    )
    zone_ids: list[str] = Field(default_factory=list, max_length=50)
    grid_cells: list[str] = Field(
        default_factory=list, max_length=200, examples=[["HQ-C3", "HQ-C4"]]
    )
    exercise: DrillRecord = False


class TripPublic(BaseModel):
    id: int
    group_id: int
    status: str
    persons: int
    vehicles: int
    zone_id: str | None
    checked_in_at: datetime
    checked_in_at_local: str
    checked_in_by: str
    checked_out_at: datetime | None
    checked_out_by: str | None
    in_lat: float | None
    in_lon: float | None
    out_lat: float | None
    out_lon: float | None
    exercise: bool = False


class GroupPublic(BaseModel):
    id: int
    name: str
    leader: str | None
    members: list[str]
    vehicles: list[str]
    zone_ids: list[str]
    grid_cells: list[str]
    trips: int
    person_trips: int
    vehicle_trips: int
    open_trip: TripPublic | None
    exercise: bool = False


class FieldLinkIn(_In):
    label: str = Field(min_length=1, max_length=60, examples=["Inspection group 17 phone"])
    group_id: int | None = None
    crew_id: int | None = None
    expires_in_hours: int | None = Field(
        default=None,
        ge=1,
        le=24 * 366,
        description="the token stops working this many hours from now (none: until revoked)",
    )
    exercise: bool = Field(
        default=False,
        description="a link for a drill: everything reported through it is an exercise record",
    )


class FieldLinkListed(BaseModel):
    user_id: int
    user: str
    label: str
    group_id: int | None
    crew_id: int | None
    created_at: datetime
    active: bool


class FieldLinkPublic(BaseModel):
    user: str
    token: str
    url: str
    expires_at: datetime | None = None
    qr_png: str = Field(
        description="the link as a QR code: a PNG data URI, for printing or a screen"
    )


# --- hazards and help --------------------------------------------------------------------


class HazardIn(_In):
    kind: HazardKind
    severity: Severity
    lat: float | None = None
    lon: float | None = None
    place: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=1000)
    photo_id: str | None = Field(default=None, max_length=64)
    due_at: ApiTime | None = None
    exercise: DrillRecord = False


class AssignIn(_In):
    group_id: int | None = None
    crew_id: int | None = None
    due_at: ApiTime | None = None
    note: str | None = Field(default=None, max_length=500)
    exercise: DrillChange = False


class RectifyIn(_In):
    note: str | None = Field(default=None, max_length=1000)
    photo_id: str | None = Field(default=None, max_length=64)
    exercise: DrillChange = False


class VerifyIn(_In):
    note: str | None = Field(default=None, max_length=1000)
    exercise: DrillChange = False


class HazardPublic(BaseModel):
    id: int
    kind: str
    severity: str
    status: str
    overdue: bool
    lat: float | None
    lon: float | None
    zone_id: str | None
    place: str | None
    description: str | None
    photo_id: str | None
    reported_at: datetime
    reported_at_local: str
    reported_by: str
    group_id: int | None
    due_at: datetime | None
    due_at_local: str | None
    assigned_group_id: int | None
    assigned_crew_id: int | None
    assigned_at: datetime | None
    rectified_at: datetime | None
    rectified_by: str | None
    rectification_note: str | None
    rectification_photo_id: str | None
    verified_at: datetime | None
    verified_by: str | None
    exercise: bool = False


class HelpAssignIn(_In):
    crew_id: int
    exercise: DrillChange = False


class HelpPublic(BaseModel):
    id: int
    status: str
    urgency: str
    people: int
    lat: float | None
    lon: float | None
    zone_id: str | None
    note: str | None
    photo_id: str | None
    created_at: datetime
    created_at_local: str
    created_by: str | None = Field(default=None, description="who reported it (operators only)")
    crew_id: int | None
    closed_at: datetime | None
    exercise: bool = False


class PhotoPublic(BaseModel):
    id: str
    url: str
    content_type: str
    size: int
    width: int
    height: int


# --- field reports -----------------------------------------------------------------------

ReportKind = Literal[
    "check_in",
    "check_out",
    "hazard",
    "rectified",
    "evacuated",
    "crew_status",
    "help",
    "resident_check",
]


class FieldReportIn(_In):
    """One report from a phone. Common fields, then the fields of each kind:

    - `check_in` / `check_out`: `persons`, `vehicles` (default: the group's members, vehicles)
    - `hazard`: `hazard_kind`, `severity`, `place`, `photo_id`
    - `rectified`: `hazard_id`, `photo_id`
    - `evacuated`: `people`, `shelter_id` or `to_place`, `from_place`
    - `crew_status`: `crew_status`, `headcount`
    - `help`: `people`, `urgency`
    - `resident_check`: `resident_id`, `resident_state`
    """

    kind: ReportKind
    lat: float | None = Field(default=None, examples=[22.1301])
    lon: float | None = Field(default=None, examples=[113.5402])
    accuracy_m: float | None = Field(default=None, ge=0, le=100_000)
    note: str | None = Field(default=None, max_length=1000)
    observed_at: ApiTime | None = Field(default=None, description="when the phone wrote it")
    photo_id: str | None = Field(default=None, max_length=64)
    group_id: int | None = Field(default=None, description="operators only: on whose behalf")
    crew_id: int | None = Field(default=None, description="operators only: on whose behalf")
    persons: int | None = Field(default=None, ge=0, le=1000)
    vehicles: int | None = Field(default=None, ge=0, le=100)
    hazard_kind: HazardKind | None = None
    severity: Severity | None = None
    place: str | None = Field(default=None, max_length=200)
    hazard_id: int | None = None
    people: int | None = Field(default=None, ge=0, le=5000)
    shelter_id: str | None = Field(default=None, max_length=64)
    to_place: str | None = Field(default=None, max_length=200)
    from_place: str | None = Field(default=None, max_length=200)
    crew_status: CrewStatus | None = None
    headcount: int | None = Field(default=None, ge=0, le=10_000)
    urgency: Severity | None = None
    resident_id: int | None = None
    resident_state: CheckState | None = None
    exercise: bool = Field(
        default=False,
        description="a drill's report: its records are exercise records (a field link issued "
        "for a drill makes every report an exercise)",
    )


class FieldReportPublic(BaseModel):
    id: int
    idempotency_key: str
    kind: str
    actor: str
    lat: float | None
    lon: float | None
    zone_id: str | None
    note: str | None
    photo_id: str | None
    group_id: int | None
    crew_id: int | None
    observed_at: datetime | None
    created_at: datetime
    created_at_local: str
    data: dict[str, Any]
    result: dict[str, Any]
    exercise: bool = False


class FieldContext(BaseModel):
    """What the field form needs to show a team (cached on the phone for offline use)."""

    user: str
    role: str
    label: str | None
    group: GroupPublic | None
    crew: dict[str, Any] | None
    hazards: list[HazardPublic]
    shelters: list[dict[str, Any]]
    residents: list[dict[str, Any]]
    server_time: datetime
    exercise: bool = Field(default=False, description="this link is a drill's")


# --- totals (GET /api/v1/inspections/totals, the situation's `field`, the events' `totals`) ---


class InspectionTotals(BaseModel):
    groups: int
    on_patrol: int = Field(description="trips checked in and not yet out")
    trips: int
    person_trips: int
    vehicle_trips: int


class HazardTotals(BaseModel):
    """Hazards by status, and `unresolved` (open + assigned), `overdue` (past due_at)."""

    open: int
    assigned: int
    rectified: int
    verified: int
    total: int
    overdue: int
    unresolved: int


class HelpTotals(BaseModel):
    """Requests for help by status."""

    open: int
    assigned: int
    closed: int


class FieldTotals(BaseModel):
    inspections: InspectionTotals
    hazards: HazardTotals
    help_requests: HelpTotals
    reports: dict[str, int] = Field(description="field reports by kind (kinds with none: absent)")
    reports_total: int
