"""What the CAP endpoints return."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class CapSignalResult(BaseModel):
    signal: str  # SOURCE:kind:level (SOURCE:kind when lowered)
    source: str
    kind: str
    level: str | None
    exercise: bool
    rule: str  # SIGNAL (our own form) or the name of the mapping that matched
    applied: bool
    change: str | None  # raise, upgrade, downgrade, change, lower
    # why not applied: untrusted_sender, expired, outdated, not_referenced, already_in_force
    reason: str | None
    signal_change_id: int | None = None


class CapReceivedBase(BaseModel):
    """A CAP alert as we received it: our id for it, and who sent which alert when."""

    id: int
    identifier: str
    sender: str
    sent: datetime
    status: str
    msg_type: str


class CapIngestPublic(CapReceivedBase):
    duplicate: bool
    outcome: str  # applied, no_change, nothing_mapped, not_actual, untrusted, conflict
    signals: list[CapSignalResult]
    actions: list[dict[str, Any]]  # the rule actions the change ran (see /api/v1/rules)
    published: list[str]  # identifiers of our own CAP alerts published for the changes
    notices: list[int]  # liaison notices sent


class CapReceivedPublic(CapReceivedBase):
    references: str | None
    received_at: datetime
    received_at_local: str
    origin: str
    feed_id: str | None
    source_url: str | None = None  # the document's own address, when a feed linked to it
    posted_by: str
    size: int
    outcome: str
    result: dict[str, Any]


class CapPublishedPublic(BaseModel):
    id: int
    identifier: str
    sent: datetime
    sent_local: str
    status: str
    msg_type: str
    references: str | None
    source: str | None
    kind: str | None
    level: str | None
    signal_change_id: int | None
    broadcast_id: int | None
    url: str
