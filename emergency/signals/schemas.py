"""What the signals API accepts and returns."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class SignalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(min_length=1, max_length=20, examples=["SMG"])
    kind: str = Field(min_length=1, max_length=40, examples=["tropical_cyclone"])
    level: str | None = Field(max_length=20, examples=["8NE"], description="null lowers it")
    note: str | None = Field(default=None, max_length=500)
    exercise: bool = Field(
        default=False, description="a drill: changes the exercise levels only, never the real ones"
    )


class ActiveSignalPublic(BaseModel):
    source: str
    kind: str
    level: str
    rank: int
    names: dict[str, str]
    in_force_since: datetime
    in_force_since_local: str
    changed_at: datetime


class SignalChangePublic(BaseModel):
    id: int
    source: str
    kind: str
    previous_level: str | None
    level: str | None
    change: str
    at: datetime
    at_local: str
    actor: str
    origin: str
    cap_identifier: str | None
    cap_sender: str | None = None
    note: str | None
    exercise: bool = False


class SignalChangeResult(BaseModel):
    changed: bool
    change: SignalChangePublic | None
    active: list[ActiveSignalPublic]
    actions: list[dict[str, Any]] = []  # the rule actions the change ran
    published: list[str] = []  # identifiers of our CAP alerts for the change(s)
    notices: list[int] = []  # liaison notices sent
