"""What the signal flow needs beyond a session, reached from the process's Runtime.

The flow (`emergency.signals.flows.apply_signal`) runs in the API, in the feed poller of the
scheduler process and in the replay; all of them have a Runtime. The config files the flow
reads (rules, liaison contacts, CAP mappings, zones) are loaded once per Runtime, on first use
or at start-up (where a bad file stops the service with file:line:field), and kept in
`runtime.extras`; they are read-only once built (a cache may replace its entry whole, as the
Atom feed does when a new alert is published).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from geo.zones import ZoneSet, load_zones

T = TypeVar("T")
_LOAD_LOCK = threading.RLock()  # re-entrant: one cached value may be built from another


def cached(runtime: Any, key: str, build: Callable[[], T]) -> T:
    """runtime.extras[key], built by `build()` the first time."""
    extras = runtime.extras
    if key not in extras:
        with _LOAD_LOCK:
            if key not in extras:
                extras[key] = build()
    return extras[key]


def zones(runtime: Any) -> ZoneSet:
    """The zones of config/zones (the Runtime's own set when start-up put one there)."""
    own = getattr(runtime, "zones", None)
    if own is not None:
        return own

    def build() -> ZoneSet:
        folder = runtime.settings.config_dir / "zones"
        return load_zones(folder) if folder.is_dir() else ZoneSet([])

    return cached(runtime, "zones", build)
