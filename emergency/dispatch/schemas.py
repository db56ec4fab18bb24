"""What the dispatch status shows (the situation's `dispatch` section)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class DegradedWorker(BaseModel):
    """A worker sending without Redis now."""

    worker: str
    without_redis: list[str] = Field(description="what it does without: queue, rate")
    sms_rate: float | None = Field(description="its local share of the SMS rate (segments/s)")
    since: str
    since_local: str


class DispatchSummary(BaseModel):
    degraded_workers: list[DegradedWorker] = Field(description="oldest first")
