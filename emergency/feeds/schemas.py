"""The feeds API's answers."""

from __future__ import annotations

from pydantic import BaseModel


class FeedPolled(BaseModel):
    feed_id: str
    ok: bool
    status: int | None  # the HTTP status of the feed's answer (None: no answer)
    new_alerts: int
    errors: list[str]


class PollAnswer(BaseModel):
    polled: list[FeedPolled]
