"""A small per-client rate limit for the public endpoints (push subscriptions).

In memory, per process: with N API replicas a client gets N times the allowance, which is
still a bound. A sliding window of timestamps per key, trimmed on each hit, and the table of
keys is bounded (the oldest keys go first), so a flood of addresses cannot grow it."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque


class RateLimiter:
    def __init__(self, *, limit: int, window: float, max_keys: int = 10_000) -> None:
        self.limit, self.window, self.max_keys = limit, window, max_keys
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def allow(self, key: str, now: float | None = None) -> tuple[bool, float]:
        """(allowed, seconds until the next hit would be allowed)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            hits = self._hits.pop(key, None) or deque()
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            allowed = len(hits) < self.limit
            if allowed:
                hits.append(now)
            self._hits[key] = hits
            while len(self._hits) > self.max_keys:
                self._hits.popitem(last=False)
            retry = 0.0 if allowed else max(0.0, hits[0] + self.window - now)
            return allowed, retry
