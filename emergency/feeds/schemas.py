"""The feeds API's answers."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class FeedPolled(BaseModel):
    feed_id: str
    ok: bool
    status: int | None  # the HTTP status of the feed's answer (None: no answer)
    new_alerts: int
    errors: list[str]


class PollAnswer(BaseModel):
    polled: list[FeedPolled]


class FeedPublic(BaseModel):
    """A configured feed and its health (GET /api/v1/feeds, the situation's `feeds`)."""

    id: str
    name: str
    kind: Literal["rss", "atom", "cap", "auto"]
    url: str
    enabled: bool
    status: Literal["disabled", "never", "stale", "ok", "failing"]
    interval_seconds: float
    failures: int = Field(description="polls failed in a row")
    last_ok_at_local: str | None
    last_polled_at_local: str | None
    last_new_at_local: str | None = Field(description="when it last brought a new alert")
    next_poll_at_local: str | None
    last_status: int | None = Field(description="HTTP status of the last answer")
    last_error: str | None
    alerts_ingested: int
