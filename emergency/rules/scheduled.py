"""The rules' periodic job (listed in emergency.scheduled.PERIODIC_JOBS): delayed actions."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from emergency.rules import engine

if TYPE_CHECKING:
    from emergency.runtime import Runtime

RUN_DUE_EVERY = 15.0  # seconds: a delayed action runs at most this late


def run_delayed_actions(*, runtime: Runtime, now: datetime | None = None) -> int:
    """Run the delayed actions that are due (e.g. the Lotus Bridge closed 90 minutes after
    Signal No. 8), if their rule still holds; returns how many. Idempotent."""
    with runtime.db.unit_of_work() as session:
        return len(engine.run_due(session, runtime=runtime, now=now))
