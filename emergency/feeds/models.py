"""What the poller remembers of each feed between polls (and across restarts)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint, true
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


class FeedLink(SQLModel, table=True):
    """A CAP document an item of a feed links to, as last fetched: an agency may rewrite one
    URL per warning type, so a link is fetched again each poll (conditionally: ETag,
    Last-Modified) and its content ingested when it changed (else by its SHA-256)."""

    __tablename__ = "feed_link"
    __table_args__ = (UniqueConstraint("feed_id", "url"),)

    id: int | None = Field(default=None, primary_key=True)
    feed_id: str = Field(max_length=60, index=True)
    url: str = Field(max_length=1000)
    etag: str | None = Field(default=None, max_length=300)
    last_modified: str | None = Field(default=None, max_length=100)
    sha256: str | None = Field(default=None, max_length=64)
    last_status: int | None = None
    fetched_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Listed by the feed's index the last time it was read (followed while it answers 304).
    listed: bool = Field(default=True, sa_column_kwargs={"server_default": true()})
