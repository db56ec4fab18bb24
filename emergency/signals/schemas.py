"""What the signals API accepts and returns."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from emergency.clock import check_api_time


class SignalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(min_length=1, max_length=20, examples=["SMG"])
    kind: str = Field(min_length=1, max_length=40, examples=["tropical_cyclone"])
    level: str | None = Field(max_length=20, examples=["8NE"], description="null lowers it")
    note: str | None = Field(default=None, max_length=500)
    exercise: bool = Field(
        default=False, description="a drill: changes the exercise levels only, never the real ones"
    )
    expires_at: Annotated[AwareDatetime, AfterValidator(check_api_time)] | None = Field(
        default=None,
        description="valid until: the signal is lowered by itself at this time (with a "
        "timezone, in the future; like a CAP alert's <expires>). None: until lowered",
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
    expires_at: datetime | None = None  # lowered by itself then (signals-expire job)
    expires_at_local: str | None = None


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
    expires_at: datetime | None = None


class SignalChangeResult(BaseModel):
    changed: bool
    change: SignalChangePublic | None
    active: list[ActiveSignalPublic]
    actions: list[dict[str, Any]] = []  # the rule actions the change ran
    published: list[str] = []  # identifiers of our CAP alerts for the change(s)
    notices: list[int] = []  # liaison notices sent
