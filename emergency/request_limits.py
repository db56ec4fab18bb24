"""Request limits of the public and field endpoints (how often one client, address or user,
may call; not the SMS rate ceiling, which is alerts.dispatch.sms_ceiling): a sliding window
per key, shared by every API process through Redis when TYPHOON_REDIS_URL is set, else kept
in this process.

- `SharedRequestLimiter` (Redis): one sorted set per key, `<prefix>:ratelimit:<name>:<key>`, whose
  members are the hits of the last window, scored by Redis's clock (microseconds), so that
  processes on different machines share one timeline. One Lua script trims the window, counts
  and adds the hit atomically; the key expires one window after its last hit, so idle keys
  never pile up. N replicas behind a proxy give a client the allowance once, not N times.
- `LocalRequestLimiter` (in memory): the same window for one process (tests, single-process SQLite
  runs). The table of keys is bounded (the oldest keys go first), so a flood of addresses
  cannot grow it.

Redis down (or too slow to answer within REDIS_TIMEOUT) fails open to this process's own window
(the per-process bound of before): an emergency system must not refuse a field report, a
Twilio webhook or a resident's feed request because Redis blinked, and a 500 would be worse
still. The outage is logged once, Redis is left alone for REDIS_RETRY seconds (so a dead
Redis does not add a timeout to every request), and the recovery is logged.

Limiters live on `app.state.rate_limiters`, made on first use from the settings.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict, deque
from typing import Protocol

from fastapi import FastAPI, Request

from emergency.exceptions import TooManyRequests

log = logging.getLogger(__name__)

REDIS_TIMEOUT = 0.5  # seconds to connect or answer; the check is one round trip on a LAN
REDIS_RETRY = 5.0  # seconds to use the local window after Redis failed, before trying again

# KEYS[1]: the hits of one key (sorted set: member = a unique id, score = µs on Redis's clock).
# ARGV: limit, window (µs), 1 to count a hit if there is room (0: only look), the hit's id.
# Returns {room, µs until the next hit would have room}: 0 when there is room.
# Redis is not trusted more than the database: hits dated in the future (we only ever write
# Redis's own now) are not ours and are dropped, as is a key that is not a sorted set, so no
# answer is ever longer than the window.
WINDOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local limit, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local kind = redis.call('TYPE', KEYS[1])['ok']
if kind ~= 'none' and kind ~= 'zset' then redis.call('DEL', KEYS[1]) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '(' .. string.format('%d', now), '+inf')
if redis.call('ZCARD', KEYS[1]) < limit then
  if ARGV[3] == '1' then
    redis.call('ZADD', KEYS[1], now, ARGV[4])
    redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000))
  end
  return {1, 0}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, math.min(window, math.max(0, tonumber(oldest[2]) + window - now))}
"""


class RequestLimiter(Protocol):
    def allow(self, key: str) -> tuple[bool, float]: ...

    def exceeded(self, key: str) -> tuple[bool, float]: ...


class LocalRequestLimiter:
    """A sliding window in this process."""

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


class SharedRedis:
    """One app's connection to Redis for its limiters, with the fail-open switch.

    Its own client rather than the event bus's publisher: a limit check sits in the request
    path, so it needs short timeouts and at most one immediate retry (a pooled connection
    that a Redis restart broke), where publishing can wait seconds.
    """

    def __init__(self, url: str) -> None:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        self.client = redis.Redis.from_url(
            url,
            socket_timeout=REDIS_TIMEOUT,
            socket_connect_timeout=REDIS_TIMEOUT,
            retry=Retry(NoBackoff(), 1),
        )
        self._script = self.client.register_script(WINDOW)
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self._lock = threading.Lock()
        self._down_until = 0.0
        self._down = False

    def window(self, key: str, *, limit: int, window: float, count: bool) -> tuple[bool, float]:
        """(room, seconds until there is room) on the shared window; raises
        `RedisUnavailable` while Redis cannot answer."""
        if self._down and time.monotonic() < self._down_until:
            raise RedisUnavailable
        try:
            room, wait_us = self._script(
                keys=[key],
                args=[limit, int(window * 1_000_000), 1 if count else 0, os.urandom(8).hex()],
            )
        except self._errors as exc:
            with self._lock:
                if not self._down:
                    log.warning(
                        "rate limits: Redis unavailable (%s); each process keeps its own window "
                        "until it answers again",
                        type(exc).__name__,
                    )
                self._down, self._down_until = True, time.monotonic() + REDIS_RETRY
            raise RedisUnavailable from exc
        if self._down:
            with self._lock:
                if self._down:
                    self._down = False
                    log.info("rate limits: Redis answers again; limits are shared again")
        return bool(room), min(window, int(wait_us) / 1_000_000)  # never past the window


class RedisUnavailable(Exception):
    pass


class SharedRequestLimiter:
    """A sliding window shared by every process through Redis; this process's own window
    while Redis is unavailable (fail open: see the module's docstring)."""

    def __init__(self, redis: SharedRedis, *, prefix: str, limit: int, window: float) -> None:
        self.redis, self.prefix, self.limit, self.window = redis, prefix, limit, window
        self.local = LocalRequestLimiter(limit=limit, window=window)

    def allow(self, key: str) -> tuple[bool, float]:
        """Count a hit if there is room: (allowed, seconds until the next hit would be)."""
        try:
            return self.redis.window(
                f"{self.prefix}:{key}", limit=self.limit, window=self.window, count=True
            )
        except RedisUnavailable:
            return self.local.allow(key)

    def exceeded(self, key: str) -> tuple[bool, float]:
        """Whether `key` has used its allowance, without counting a hit."""
        try:
            room, retry = self.redis.window(
                f"{self.prefix}:{key}", limit=self.limit, window=self.window, count=False
            )
        except RedisUnavailable:
            return self.local.exceeded(key)
        return not room, retry


_make_lock = threading.Lock()


def limiter(app: FastAPI, name: str, *, limit: int, window: float) -> RequestLimiter:
    """The app's limiter called `name` (made once): shared through Redis when the settings
    name one, else in this process. Its calls may block on Redis: call them from sync code
    (FastAPI runs sync dependencies in a thread) or through `asyncio.to_thread`."""
    with _make_lock:
        limiters: dict[str, RequestLimiter] | None = getattr(app.state, "rate_limiters", None)
        if limiters is None:
            limiters = app.state.rate_limiters = {}
        if name not in limiters:
            settings = getattr(app.state, "settings", None)
            if settings is not None and settings.redis_url:
                shared = getattr(app.state, "rate_limit_redis", None)
                if shared is None:  # made on first use; no connection until the first check
                    shared = app.state.rate_limit_redis = SharedRedis(settings.redis_connect_url())
                limiters[name] = SharedRequestLimiter(
                    shared,
                    prefix=settings.redis_key(f"ratelimit:{name}"),
                    limit=limit,
                    window=window,
                )
            else:
                limiters[name] = LocalRequestLimiter(limit=limit, window=window)
        return limiters[name]


def client_address(request: Request) -> str:
    """The key of a per-address limit."""
    return request.client.host if request.client else "unknown"


def too_many(what: str, retry: float) -> TooManyRequests:
    seconds = int(retry) + 1
    return TooManyRequests(
        f"too many {what}; try again in {seconds} s", headers={"Retry-After": str(seconds)}
    )
