"""The alarms' periodic job (listed in emergency.scheduled.PERIODIC_JOBS)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from emergency.alarms import service as alarm_service

if TYPE_CHECKING:
    from emergency.runtime import Runtime

ESCALATE_EVERY = 15.0  # seconds: an alarm is escalated at most this late


def escalate_unacknowledged(*, runtime: Runtime, now: datetime | None = None) -> int:
    """SMS the duty leads about alarms nobody acknowledged in time; returns how many. Idempotent."""
    with runtime.db.unit_of_work() as session:
        return len(alarm_service.escalate_due(session, runtime=runtime, now=now))
