"""What the poller remembers of each feed between polls (and across restarts)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from emergency.db import UTCDateTime


class FeedState(SQLModel, table=True):
    __tablename__ = "feed_state"

    feed_id: str = Field(primary_key=True, max_length=60)
    url: str = Field(max_length=1000)
    etag: str | None = Field(default=None, max_length=300)
    last_modified: str | None = Field(default=None, max_length=100)
    first_polled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_polled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_ok_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_new_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # last new alert
    last_status: int | None = None  # HTTP status of the last answer
    last_error: str | None = Field(default=None, max_length=500)
    failures: int = 0  # in a row
    next_poll_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    alerts_ingested: int = 0
    stale: bool = False  # as last reported (feed.stale / feed.recovered on a change)
