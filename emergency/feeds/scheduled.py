"""The feed poller's periodic job (listed in emergency.scheduled.PERIODIC_JOBS)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from emergency.feeds import service as feed_service
from emergency.feeds.config import load_feeds
from emergency.settings import Settings

if TYPE_CHECKING:
    from emergency.runtime import Runtime

log = logging.getLogger(__name__)

MAX_TICK = 15.0  # seconds: each feed keeps its own interval; the job only looks who is due


def poll_feeds(*, runtime: Runtime) -> int:
    """Poll the feeds that are due; returns how many were polled. Never raises: a feed's
    trouble is recorded in its state, and the scheduler's other jobs go on."""
    try:
        return len(feed_service.poll_due(runtime))
    except Exception:
        log.exception("feed polling failed")
        return 0


def tick_seconds(settings: Settings) -> float:
    """How often the job looks for due feeds: the shortest feed interval, 1 to 15 seconds."""
    try:
        config = load_feeds(settings.config_dir / "feeds.yaml")
    except Exception:  # the API's start-up reports a bad file; the scheduler keeps going
        return MAX_TICK
    intervals = [config.interval(f) for f in config.enabled()]
    return max(1.0, min([MAX_TICK, *intervals]))
