"""What the vulnerable-residents API accepts and returns."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from emergency.drills.schemas import DrillChange
from emergency.vulnerable.models import CheckState


class ResidentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=120)
    address: str = Field(min_length=1, max_length=300)
    phone: str | None = Field(default=None, max_length=30)
    community: str | None = Field(default=None, max_length=64, examples=["xiaohengqin"])
    needs: str | None = Field(default=None, max_length=300)
    social_worker: str | None = Field(default=None, max_length=120)
    followed_by: str | None = Field(
        default=None, max_length=80, description="user name of the social worker's field account"
    )
    lat: float | None = None
    lon: float | None = None
    exercise: bool = Field(default=False, description="a drill's resident (e.g. the replay's)")


class CheckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: CheckState
    note: str | None = Field(default=None, max_length=500)
    exercise: DrillChange = False


class ResidentPublic(BaseModel):
    """Full record: only for admins, operators and the social worker who follows them."""

    id: int
    name: str
    address: str
    phone: str | None
    community: str | None
    needs: str | None
    social_worker: str | None
    followed_by: str | None
    state: str
    state_at: datetime | None
    state_at_local: str | None
    state_by: str | None
    note: str | None
    exercise: bool = False


class VulnerableTotals(BaseModel):
    """Counts only (for every role and the live stream): by check-in state, and by community
    (`unknown` for residents without one)."""

    total: int
    by_state: dict[CheckState, int]
    by_community: dict[str, dict[CheckState, int]]


class ResetResult(BaseModel):
    reset: int = Field(description="how many residents went back to `unknown`")
