"""Rate limits of the public and field endpoints: a sliding window per key, in memory.

Per process: with N API replicas a client gets N times the allowance, which is still a bound.
The table of keys is bounded (the oldest keys go first), so a flood of addresses cannot grow
it. Limiters live on `app.state.rate_limiters`, made on first use from the settings.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque

from fastapi import FastAPI, Request

from emergency.exceptions import TooManyRequests


class RateLimiter:
    def __init__(self, *, limit: int, window: float, max_keys: int = 10_000) -> None:
        self.limit, self.window, self.max_keys = limit, window, max_keys
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _trimmed(self, key: str, now: float) -> deque[float]:
        hits = self._hits.pop(key, None) or deque()
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        self._hits[key] = hits
        while len(self._hits) > self.max_keys:
            self._hits.popitem(last=False)
        return hits

    def allow(self, key: str, now: float | None = None) -> tuple[bool, float]:
        """Count a hit if there is room: (allowed, seconds until the next hit would be)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            hits = self._trimmed(key, now)
            allowed = len(hits) < self.limit
            if allowed:
                hits.append(now)
            retry = 0.0 if allowed else max(0.0, hits[0] + self.window - now)
            return allowed, retry

    def exceeded(self, key: str, now: float | None = None) -> tuple[bool, float]:
        """Whether `key` has used its allowance, without counting a hit."""
        now = time.monotonic() if now is None else now
        with self._lock:
            hits = self._trimmed(key, now)
            if len(hits) < self.limit:
                return False, 0.0
            return True, max(0.0, hits[0] + self.window - now)


_make_lock = threading.Lock()


def limiter(app: FastAPI, name: str, *, limit: int, window: float) -> RateLimiter:
    """The app's limiter called `name` (made once)."""
    with _make_lock:
        limiters = getattr(app.state, "rate_limiters", None)
        if limiters is None:
            limiters = app.state.rate_limiters = {}
        if name not in limiters:
            limiters[name] = RateLimiter(limit=limit, window=window)
        return limiters[name]


def client_address(request: Request) -> str:
    """The key of a per-address limit."""
    return request.client.host if request.client else "unknown"


def too_many(what: str, retry: float) -> TooManyRequests:
    seconds = int(retry) + 1
    return TooManyRequests(
        f"too many {what}; try again in {seconds} s", headers={"Retry-After": str(seconds)}
    )
