"""The global SMS rate ceiling: TYPHOON_SMS_RATE segments per second across ALL workers (not
the application's per-client request limits).

Twilio counts throughput in segments per second per sender pool; a per-worker limit is not a
ceiling when there are several workers. So the ceiling is one "next free slot" (GCRA's
theoretical arrival time) kept in Redis: a worker reserves a *block* of slots with one
atomic Lua call (``RESERVE``), then spends it locally, one message at a time, each message
taking as many consecutive slots as it has segments. Slots are ``1/rate`` seconds apart on
Redis's own clock (``TIME``), so workers on different machines share one timeline and two
blocks never overlap. Without Redis the same reservations are made in this process.

Redis is not trusted more than the database: a next-free-slot further ahead than any real
reservation can put it (a key set an hour ahead by hand, or garbage) is taken for what it
is and started again from now, and no wait on an answer from Redis is longer than
``MAX_WAIT`` before it is asked again. While Redis cannot be reached, this worker keeps
sending at a conservative share of the ceiling (``rate / fallback_workers``: its share if
every expected worker does the same) instead of stopping, and says so (``degraded``).

Why blocks: one Redis round trip per message would cap a fast sender pool at what Redis
answers; a block is about ``block_seconds`` of the rate (4 slots at 100/s). A message never
spills out of its block: if the worker is late (a busy event loop) the rest of the block is
dropped rather than crowded, so lateness can only lower the rate, never push a one-second
window over it. Likewise a sender that wakes up well after its slot (its process was not
scheduled for a while) takes a new slot instead of going out in a burst with the others.
``headroom`` keeps us a little under the contracted rate, so that jitter between our send
and the provider's receipt (a few ms) never lands one message too many in a window.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

log = logging.getLogger(__name__)

MAX_WAIT = 2.0  # seconds: the longest sleep on a value read from Redis before asking again
REDIS_RETRY = 2.0  # seconds between tries while Redis is unreachable (the local share meanwhile)

# KEYS[1]: next free slot, microseconds on the Redis clock.
# ARGV: microseconds per segment, segments wanted, longest wait (us) worth reserving for,
# the furthest ahead (us) a real reservation can have put the slot.
# Returns {granted, wait_us, now_us, reset}: granted=1 reserves [now+wait, now+wait+n*interval);
# reset=1: the stored slot was not one we could have written (too far ahead, not a number).
RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local reset = 0
local kind = redis.call('TYPE', KEYS[1])['ok']
if kind ~= 'string' and kind ~= 'none' then
  redis.call('DEL', KEYS[1])
  reset = 1
end
local raw = redis.call('GET', KEYS[1])
local tat = tonumber(raw or '0')
if tat == nil or tat ~= tat or tat > now + tonumber(ARGV[4]) then
  tat = now
  reset = 1
end
if tat < now then tat = now end
local wait = tat - now
if wait > tonumber(ARGV[3]) then return {0, wait, now, reset} end
local new = math.floor(tat + n * interval + 0.5)
redis.call('SET', KEYS[1], string.format('%d', new), 'PX', math.floor((new - now) / 1000) + 60000)
return {1, wait, now, reset}
"""


class SmsCeiling:
    """Paces sends at ``rate`` segments/s; subclasses say where blocks come from."""

    def __init__(self, rate: float, *, headroom: float = 0.02, block_seconds: float = 0.05) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.effective_rate = rate * (1.0 - headroom)
        self.interval = 1.0 / self.effective_rate
        self.block = max(1, int(self.effective_rate * block_seconds))
        # How late a waiter may wake and still use its slot (see acquire): late senders
        # can put at most rate × tolerance extra messages in a window, which the headroom
        # covers (10 ms at 100/s: one message, against a headroom of two).
        self.tolerance = max(0.002, min(0.010, self.interval))
        self.missed = 0  # slots given up because a waiter woke too late
        self._next = 0.0  # monotonic time of the next free slot of the current block
        self._end = 0.0  # monotonic end of the current block
        self._lock = asyncio.Lock()

    async def acquire(self, segments: int = 1) -> None:
        """Wait until ``segments`` may be sent, then return (the slot is ours)."""
        segments = max(1, int(segments))
        need = segments * self.interval
        while True:
            now = time.monotonic()
            start = self._next if self._next > now else now
            if start + need <= self._end + 1e-9:
                self._next = start + need
                if start <= now:
                    return
                await asyncio.sleep(start - now)
                if time.monotonic() - start <= self.tolerance:
                    return
                # Woken late (this process was not scheduled, a long GC pause): the slot has
                # passed, and using it now would crowd the slots after it. Take a new one.
                self.missed += 1
                continue
            async with self._lock:
                now = time.monotonic()
                start = self._next if self._next > now else now
                if start + need <= self._end + 1e-9:
                    continue  # another task reserved a block meanwhile
                slots = max(segments, self.block)
                self._next, self._end = await self._reserve(slots)

    async def _reserve(self, slots: int) -> tuple[float, float]:
        """Reserve ``slots`` consecutive slots: the (start, end) of the block, on this
        process's monotonic clock."""
        raise NotImplementedError

    async def close(self) -> None:
        return None


class LocalSmsCeiling(SmsCeiling):
    """The ceiling for one process (embedded mode: one worker, no Redis)."""

    def __init__(self, rate: float, **kwargs: Any) -> None:
        super().__init__(rate, **kwargs)
        self._tat = 0.0

    async def _reserve(self, slots: int) -> tuple[float, float]:
        start = max(time.monotonic(), self._tat)
        self._tat = start + slots * self.interval
        return start, self._tat


class ClockOffset:
    """Bounds on (Redis clock − local monotonic clock), NTP-style.

    The script read Redis's clock at some local moment between asking and reading the
    answer, so each call bounds the offset; the tightest bounds of the last ``window``
    seconds (usually from a quick round trip) map Redis-time blocks onto the local clock
    within a fraction of a millisecond, however late this loop read a particular answer.
    """

    def __init__(self, window: float = 30.0) -> None:
        self.window = window
        self._samples: list[tuple[float, float, float]] = []  # (at, low, high)

    def update(self, remote: float, asked: float, answered: float) -> tuple[float, float]:
        low, high = remote - answered, remote - asked
        samples = [s for s in self._samples if answered - s[0] < self.window]
        samples.append((answered, low, high))
        best_low, best_high = max(s[1] for s in samples), min(s[2] for s in samples)
        if best_low > best_high:  # a clock stepped: start over from this sample
            samples, best_low, best_high = [(answered, low, high)], low, high
        self._samples = samples[-64:]
        return best_low, best_high


class RedisSmsCeiling(SmsCeiling):
    """The ceiling shared by every worker through one Redis key; this worker's share of it
    while Redis is unreachable (see the module's docstring)."""

    def __init__(
        self,
        url: str,
        rate: float,
        *,
        key: str = "typhoon:dispatch:sms-rate",
        fallback_workers: int = 2,
        **kwargs: Any,
    ) -> None:
        super().__init__(rate, **kwargs)
        self.url = url
        self.key = key
        self.fallback_workers = max(1, fallback_workers)
        self.degraded = False  # sending at the local share: Redis unreachable
        self._down_until = 0.0
        self._local_tat = 0.0
        self._client: Any = None
        self._script: Any = None
        self._clock = ClockOffset()

    @property
    def fallback_rate(self) -> float:
        return self.rate / self.fallback_workers

    def _redis(self) -> Any:
        if self._client is None:
            import redis.asyncio as aioredis

            # A Redis that does not answer costs a sender seconds at most; not shorter, so a
            # loaded machine's slow answer is not taken for an outage (the share would then
            # add to what the others reserve).
            self._client = aioredis.Redis.from_url(
                self.url, socket_timeout=5, socket_connect_timeout=2
            )
            self._script = self._client.register_script(RESERVE)
        return self._client

    async def _reserve(self, slots: int) -> tuple[float, float]:
        interval_us = self.interval * 1_000_000
        longest_us = max(1_000_000, 2 * slots * interval_us)
        # Nothing we write puts the slot further ahead than the longest wait we reserve
        # for plus a block; anything beyond (with room for other block sizes) is not ours.
        furthest_us = max(5_000_000, 4 * longest_us)
        while True:
            if time.monotonic() < self._down_until:
                return self._local_block(slots)
            try:
                self._redis()
                asked = time.monotonic()
                granted, wait_us, redis_now, reset = await self._script(
                    keys=[self.key],
                    args=[repr(interval_us), slots, int(longest_us), int(furthest_us)],
                )
                answered = time.monotonic()
            except Exception as exc:
                # Stopping every SMS would be worse than a share of the ceiling.
                if not self.degraded:
                    log.error(
                        "rate limiter: Redis unavailable (%s); sending at this worker's share "
                        "of the ceiling, %.3g/s, until it answers",
                        type(exc).__name__,
                        self.fallback_rate,
                    )
                self.degraded = True
                self._down_until = time.monotonic() + REDIS_RETRY
                return self._local_block(slots)
            if self.degraded:
                self.degraded = False
                log.warning("rate limiter: Redis answers again; the shared ceiling is back")
            if reset:
                log.error(
                    "rate limiter: the next free slot in Redis (%s) was not one a worker "
                    "could have set (too far ahead, or not a number): started again from now",
                    self.key,
                )
            low, _high = self._clock.update(int(redis_now) / 1e6, asked, answered)
            if granted:
                # The block on our clock, at its latest possible mapping: never before the
                # previous block ends; at worst a fraction of a millisecond (the offset's
                # uncertainty) closer to the next one, which the headroom absorbs.
                start = (int(redis_now) + int(wait_us)) / 1e6 - low
                start = min(start, answered + longest_us / 1e6)  # never a longer wait
                return start, start + slots * self.interval
            # Too far ahead (many workers): come back when the queue of slots is shorter,
            # and ask again within MAX_WAIT whatever Redis said.
            await asyncio.sleep(
                min(MAX_WAIT, max(0.0, (int(wait_us) - longest_us / 2) / 1_000_000))
            )

    async def recheck(self) -> None:
        """Degraded and no SMS to send: ask Redis whether it answers again, so that the
        worker stops saying it sends at its share when it no longer would (at most every
        REDIS_RETRY seconds)."""
        if not self.degraded or time.monotonic() < self._down_until:
            return
        try:
            await self._redis().ping()
        except Exception:
            self._down_until = time.monotonic() + REDIS_RETRY
            return
        self.degraded = False
        log.warning("rate limiter: Redis answers again; the shared ceiling is back")

    def _local_block(self, slots: int) -> tuple[float, float]:
        """A block at this worker's share of the ceiling: ``slots`` slots at the full pace,
        and the next block only after ``fallback_workers`` times as long."""
        start = max(time.monotonic(), self._local_tat)
        self._local_tat = start + slots * self.interval * self.fallback_workers
        return start, start + slots * self.interval

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
