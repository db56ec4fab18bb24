"""Request bodies of the alarm actions."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    crew_id: int


class CloseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str | None = Field(None, max_length=500, description="what happened (or: false alarm)")
