"""The liaison's periodic job (listed in emergency.scheduled.PERIODIC_JOBS)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from emergency.liaison import service as liaison_service

if TYPE_CHECKING:
    from emergency.runtime import Runtime

ESCALATE_EVERY = 15.0  # seconds: a notice is escalated at most this late


def escalate_unacknowledged(*, runtime: Runtime, now: datetime | None = None) -> int:
    """Escalate the notices nobody acknowledged in time; returns how many. Idempotent."""
    with runtime.db.unit_of_work() as session:
        return len(liaison_service.escalate_due(session, runtime=runtime, now=now))
