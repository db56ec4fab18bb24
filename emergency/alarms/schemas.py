"""What the alarms API accepts and returns."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from emergency.alarms.models import AlarmSource, AlarmStatus


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    crew_id: int


class CloseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str | None = Field(None, max_length=500, description="what happened (or: false alarm)")


class AlarmPublic(BaseModel):
    """An alarm. Times are ISO 8601 in UTC (`…+00:00`), `raised_at_local` in Macau time. One
    raised by a request for help shows `note` and `raised_by` to operators only (null for
    other roles: emergency.visibility)."""

    id: int
    source: AlarmSource
    source_id: int
    status: AlarmStatus
    kind: str = Field(description="`help`, or the hazard's kind")
    severity: str
    people: int | None
    note: str | None
    zone_id: str | None
    place: str | None
    lat: float | None
    lon: float | None
    exercise: bool
    raised_at: str
    raised_at_local: str
    raised_by: str | None
    acknowledged_at: str | None
    acknowledged_by: str | None
    crew_id: int | None
    crew_name: str | None
    assigned_at: str | None
    assigned_by: str | None
    closed_at: str | None
    closed_by: str | None
    close_note: str | None
    escalated_at: str | None


class AlarmTotals(BaseModel):
    """Alarms not closed, by status; `unacknowledged` is `open`."""

    open: int
    acknowledged: int
    assigned: int
    active: int
    unacknowledged: int


class AlarmSummary(BaseModel):
    """The situation's `alarms` section: every alarm not closed, newest first."""

    items: list[AlarmPublic]
    totals: AlarmTotals
