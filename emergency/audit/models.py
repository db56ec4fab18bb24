"""The audit log: one row per mutation, append-only and hash-chained."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Column, Field, SQLModel

from alerts.sqltypes import JSONType, UTCDateTime, utcnow


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_entry"

    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    actor: str = Field(max_length=120)
    action: str = Field(max_length=80, index=True)
    target_type: str = Field(max_length=60)
    target_id: str = Field(max_length=120)
    summary: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSONType, nullable=False)
    )
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)
    # HMAC-SHA256 of `hash` with TYPHOON_AUDIT_KEY, a key kept outside the database: someone
    # who can write to the database can recompute the hashes of a rewritten chain, not these.
    seal: str | None = Field(default=None, max_length=64)
