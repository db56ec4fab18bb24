"""The persisted event log: every live-stream event, numbered by a gapless `seq`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Column, Field, SQLModel

from alerts.sqltypes import JSONType, UTCDateTime, utcnow


class Event(SQLModel, table=True):
    __tablename__ = "event"

    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    type: str = Field(max_length=60, index=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))

    def message(self) -> dict[str, Any]:
        """The JSON message of the live stream (CONTRACT.md)."""
        return {"type": self.type, "at": self.at.isoformat(), "seq": self.seq, "data": self.data}
