"""Dispatch workers in this application: built once per process from settings.

The same `DispatchHost` runs embedded in the API process (`typhoon serve`, unless
`--no-worker`) and as its own process (`typhoon worker`, which needs TYPHOON_REDIS_URL: the
queue and the rate ceiling are then shared through Redis). A worker registers itself in a
Redis sorted set (score: when its registration expires), which the reconciler reads to tell
a dead worker's claims from a live one's, and which `typhoon health worker` checks.

One clock: registrations are written and read on Redis's clock (TIME, inside the scripts),
never on each host's own, so a worker on a host whose clock is off is neither taken for dead
nor kept "alive" after it died. A worker that holds work without moving it on for
TYPHOON_WORKER_STALL_SECONDS says so in its heartbeat (`…:workers:stuck`), and
`typhoon health worker` reports it stuck rather than alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager

import redis
import redis.asyncio as aioredis
from sqlmodel import Session

from alerts.dispatch import store
from alerts.dispatch.lanes import LANES, NORMAL, Priority
from alerts.dispatch.queue import IDS_PER_ENTRY, QueueConsumer, QueueEntry, chunked
from alerts.dispatch.sms_ceiling import LocalSmsCeiling, RedisSmsCeiling, SmsCeiling
from alerts.dispatch.worker import Worker
from alerts.providers import Provider, build_providers, close_providers
from emergency.dispatch import status as degraded_status
from emergency.liveness import HEARTBEAT_KEY, lease_holder
from emergency.runtime import Runtime
from emergency.settings import Settings
from emergency.startup import startup

log = logging.getLogger(__name__)

HEARTBEAT_EVERY = 3.0  # seconds between registrations of a live worker
HEARTBEAT_TTL = 15.0  # a worker not heard of for this long is taken for dead
WORKERS_KEY = "workers"  # under the dispatch namespace
STUCK_KEY = "workers:stuck"  # worker id → why it is stuck (only while it is)

# KEYS: the registry (sorted set), the stuck workers (hash). ARGV: worker id, TTL (s), why
# it is stuck ("" when it is not). Scores are seconds on Redis's clock.
BEAT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 60)
if ARGV[3] == '' then
  redis.call('HDEL', KEYS[2], ARGV[1])
else
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
  redis.call('EXPIRE', KEYS[2], 3600)
end
return 1
"""
# KEYS: as BEAT. Returns {live ids, why each is stuck ("" if it is not)} on Redis's clock.
LIVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf')
local stuck = {}
for i, id in ipairs(ids) do stuck[i] = redis.call('HGET', KEYS[2], id) or '' end
return {ids, stuck}
"""
DEAD_WORKER_AFTER = 15.0  # seconds a claim of a worker gone from the registry is left alone
LEASE_MARGIN = 5.0  # seconds a send may need to reach the provider once started (connect)


def claim_ttl(settings: Settings) -> float:
    """How long a worker may send on a claim it last confirmed: shorter than the youngest
    claim the reconciler takes over (a dead worker's, or any past TYPHOON_CLAIM_TIMEOUT) by
    the time a send needs to reach the provider, so a row it takes over has not left."""
    takeover = min(settings.claim_timeout, DEAD_WORKER_AFTER)
    return takeover - min(LEASE_MARGIN, takeover / 2)


def new_worker_id() -> str:
    """host:pid:random — the host part lets `typhoon health worker` find its container's."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"[:80]


def status_callback_url(settings: Settings) -> str:
    return f"{settings.public_url}/webhooks/twilio/status"


def _vapid_private_key(runtime: Runtime) -> str | None:
    settings = runtime.settings
    if settings.vapid_private_key:
        return settings.secret("vapid_private_key")
    from alerts.subscribers.service import vapid_keys
    from emergency.keys import SecretKeyMismatch, cipher

    stored_cipher = cipher(settings)  # the generated pair's private key is kept encrypted
    # The database may be restarting: wait for it rather than fall back to the console
    # provider, which would "send" every push message into the log.
    delay = 0.5
    for attempt in range(12):
        try:
            with runtime.db.unit_of_work() as session:
                private_key, _public = vapid_keys(session, cipher=stored_cipher)
            return private_key
        except SecretKeyMismatch as exc:
            # A set-up fault of push alone: SMS (and the reconciler) must not stop for it.
            log.error("web push is not sent from this process: %s", exc)
            return None
        except Exception as exc:
            if attempt == 11:
                raise
            log.warning("VAPID key not readable yet (%s); retrying", type(exc).__name__)
            time.sleep(delay)
            delay = min(delay * 2, 10.0)
    return None


def build_dispatch_providers(
    runtime: Runtime, *, pool_size: int | None = None
) -> dict[str, Provider]:
    """Twilio when credentials are set (else the console provider), web push with VAPID."""
    settings = runtime.settings
    providers = build_providers(
        twilio_account_sid=settings.twilio_account_sid,
        twilio_auth_token=settings.secret("twilio_auth_token"),
        twilio_from_number=settings.twilio_from_number,
        twilio_messaging_service_sid=settings.twilio_messaging_service_sid,
        twilio_api_base_url=settings.twilio_api_base_url,
        twilio_pool_size=pool_size or settings.worker_concurrency,
        vapid_private_key=_vapid_private_key(runtime),
        vapid_subject=settings.vapid_subject,
        push_pool_size=min(pool_size or settings.worker_concurrency, 200),
    )
    return {str(channel): provider for channel, provider in providers.items()}


UNLIMITED_RATE = 1_000_000  # segments/s: no sender pool is this fast, so no ceiling to keep


def build_limiter(settings: Settings) -> SmsCeiling | None:
    if settings.sms_rate >= UNLIMITED_RATE:
        return None
    if settings.redis_url:
        return RedisSmsCeiling(
            settings.redis_connect_url(),
            settings.sms_rate,
            key=f"{settings.dispatch_namespace}:sms-rate",
            fallback_workers=settings.expected_workers,
        )
    return LocalSmsCeiling(settings.sms_rate)


# -- the live-worker registry -------------------------------------------------------------


def _workers_key(settings: Settings) -> str:
    return f"{settings.dispatch_namespace}:{WORKERS_KEY}"


def _registry_keys(settings: Settings) -> list[str]:
    return [_workers_key(settings), f"{settings.dispatch_namespace}:{STUCK_KEY}"]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def registered_workers(client: redis.Redis, settings: Settings) -> dict[str, str]:
    """Live worker id → why it is stuck ("" when it is not), on Redis's clock."""
    ids, stuck = client.eval(LIVE, 2, *_registry_keys(settings))
    return {_text(i): _text(why) for i, why in zip(ids, stuck, strict=True)}


def live_workers(runtime: Runtime) -> set[str] | None:
    """Ids of the workers alive now, or None when it cannot be known."""
    settings = runtime.settings
    if not settings.redis_url:
        local = runtime.local_workers
        return set(local) if local else None
    try:
        return set(registered_workers(runtime.redis(), settings))  # the process's one pool
    except Exception as exc:
        log.warning("live workers unknown (%s)", type(exc).__name__)
        return None


class _Registry:
    """Registers a worker in Redis every few seconds (the heartbeat), saying whether it is
    stuck."""

    def __init__(self, settings: Settings, worker_id: str) -> None:
        self.keys = _registry_keys(settings)
        self.url = settings.redis_connect_url()
        self.worker_id = worker_id
        self._client: aioredis.Redis | None = None

    def _redis(self) -> aioredis.Redis:
        if self._client is None:
            self._client = aioredis.Redis.from_url(
                self.url, socket_timeout=5, socket_connect_timeout=5
            )
        return self._client

    async def beat(self, stuck: str = "") -> None:
        await self._redis().eval(BEAT, 2, *self.keys, self.worker_id, HEARTBEAT_TTL, stuck)

    async def leave(self) -> None:
        with contextlib.suppress(Exception):
            pipe = self._redis().pipeline(transaction=False)
            pipe.zrem(self.keys[0], self.worker_id)
            pipe.hdel(self.keys[1], self.worker_id)
            await pipe.execute()
        await self._redis().aclose()


# -- Redis unreachable: the outbox itself --------------------------------------------------


class OutboxFallbackConsumer:
    """The Redis queue's consumer; while Redis cannot be reached, the outbox itself: the due
    `queued` rows are read from the database (highest lane first, then oldest) and handed to the worker as
    entries with no stream id, so SMS keep going out (at the rate limiter's local share)
    instead of waiting for Redis. Claims stay conditional, so workers reading the same rows
    send each once. Redis is tried again every `retry` seconds."""

    def __init__(
        self,
        inner: QueueConsumer,
        unit_of_work: Callable[[], AbstractContextManager[Session]],
        *,
        retry: float = 5.0,
        ids_per_entry: int = IDS_PER_ENTRY,
    ) -> None:
        self.inner = inner
        self.unit_of_work = unit_of_work
        self.retry = retry
        self.ids_per_entry = ids_per_entry
        self.degraded = False
        self._down_until = 0.0

    def _down(self, exc: BaseException) -> None:
        if not self.degraded:
            log.error(
                "dispatch queue: Redis unavailable (%s); reading due messages from the "
                "database until it answers",
                type(exc).__name__,
            )
        self.degraded = True
        self._down_until = time.monotonic() + self.retry

    def _up(self) -> None:
        if self.degraded:
            log.warning("dispatch queue: Redis answers again; back to the queue")
        self.degraded = False

    async def receive(
        self, max_entries: int, timeout: float, lanes: Sequence[Priority] = LANES
    ) -> list[QueueEntry]:
        if time.monotonic() >= self._down_until:
            try:
                entries = await self.inner.receive(max_entries, timeout, lanes)
            except Exception as exc:
                self._down(exc)
            else:
                self._up()
                return entries
        return await self._from_outbox(max_entries, timeout, lanes)

    async def _from_outbox(
        self, max_entries: int, timeout: float, lanes: Sequence[Priority]
    ) -> list[QueueEntry]:
        def read() -> list[tuple[Priority, list[int]]]:
            from alerts.sqltypes import utcnow

            limit = min(max_entries, 10) * self.ids_per_entry
            with self.unit_of_work() as session:
                for lane in [name for name in LANES if name in lanes]:  # highest first
                    ids = store.due_queued(session, now=utcnow(), limit=limit, lanes=(lane,))
                    if ids:
                        return [(lane, ids)]
            return []

        found = await asyncio.to_thread(read)
        if not found:
            await asyncio.sleep(timeout)  # nothing due: as a receive that timed out
        return [
            QueueEntry(chunk, lane=lane)
            for lane, ids in found
            for chunk in chunked(ids, self.ids_per_entry)
        ]

    async def reclaim(self) -> list[QueueEntry]:
        if time.monotonic() < self._down_until:
            return []
        try:
            return await self.inner.reclaim()
        except Exception as exc:
            self._down(exc)
            return []

    async def keepalive(self, entries: Sequence[QueueEntry]) -> None:
        await self.inner.keepalive(entries)  # entries from the outbox have no stream id

    async def ack(self, entries: Sequence[QueueEntry]) -> None:
        await self.inner.ack(entries)

    async def park(self, entry: QueueEntry, reason: str) -> None:
        await self.inner.park(entry, reason)

    async def enqueue(self, message_ids: Sequence[int], lane: Priority = NORMAL) -> None:
        await self.inner.enqueue(message_ids, lane)  # failing: the rows are read from the outbox

    async def close(self) -> None:
        await self.inner.close()


# -- the host -------------------------------------------------------------------------------


class DispatchHost:
    """One worker in this process, with its providers; start/stop from a running loop."""

    def __init__(self, runtime: Runtime, *, worker_id: str | None = None) -> None:
        self.runtime = runtime
        self.worker_id = worker_id or new_worker_id()
        self.worker: Worker | None = None
        self.providers: Mapping[str, Provider] = {}
        self._registry: _Registry | None = None
        self._fallback: OutboxFallbackConsumer | None = None
        self._degraded = False  # as last recorded in the database
        self._degraded_renewed = 0.0  # monotonic: when its row was last renewed

    async def start(self) -> Worker:
        runtime, settings = self.runtime, self.runtime.settings
        self.providers = await asyncio.to_thread(build_dispatch_providers, runtime)
        heartbeat = None
        if settings.redis_url:
            registry = self._registry = _Registry(settings, self.worker_id)

            async def heartbeat() -> None:
                await self._say_if_degraded()
                await registry.beat(self._stuck(settings.worker_stall_seconds))

            try:
                await heartbeat()
            except Exception as exc:  # Redis restarting: the worker retries every beat
                log.warning("worker registration failed (%s)", type(exc).__name__)
        runtime.local_workers.add(self.worker_id)
        consumer: QueueConsumer = runtime.queue.consumer(self.worker_id)
        if settings.redis_url:  # Redis unreachable: the outbox itself (and the rate's share)
            consumer = self._fallback = OutboxFallbackConsumer(consumer, runtime.db.unit_of_work)
        self.worker = Worker(
            unit_of_work=runtime.db.unit_of_work,
            consumer=consumer,
            providers=self.providers,
            worker_id=self.worker_id,
            limiter=build_limiter(settings),
            status_callback=status_callback_url(settings),
            validity_period=settings.sms_validity_seconds,
            concurrency=settings.worker_concurrency,
            max_deliveries=settings.queue_max_deliveries,
            reclaim_every=max(1.0, settings.queue_min_idle / 2),
            keepalive_every=max(0.5, settings.queue_min_idle / 3),
            heartbeat=heartbeat,
            heartbeat_every=HEARTBEAT_EVERY,
            claim_ttl=claim_ttl(settings),
        )
        await self.worker.start()
        return self.worker

    async def _say_if_degraded(self) -> None:
        """Each heartbeat: whether this worker sends without Redis (the outbox for the queue,
        its local share for the rate), recorded in the database (`emergency.dispatch.status`:
        the snapshot of a screen opened later lists it) and said on the live stream when it
        starts (`dispatch.degraded`) and ends (`dispatch.recovered`). While it lasts the row is
        renewed every RENEW_EVERY seconds."""
        limiter = self.worker.limiter if self.worker is not None else None
        if isinstance(limiter, RedisSmsCeiling):
            await limiter.recheck()  # else it would know only at its next SMS
        reasons = []
        if self._fallback is not None and self._fallback.degraded:
            reasons.append("queue")
        if isinstance(limiter, RedisSmsCeiling) and limiter.degraded:
            reasons.append("rate")
        degraded = bool(reasons)
        now = time.monotonic()
        if degraded == self._degraded and (
            not degraded or now - self._degraded_renewed < degraded_status.RENEW_EVERY
        ):
            return
        share = (
            limiter.fallback_rate
            if isinstance(limiter, RedisSmsCeiling)
            else (limiter.rate if limiter else None)
        )
        rate = share if degraded else (limiter.rate if limiter else None)
        try:
            await asyncio.to_thread(self._record_degraded, reasons, rate)
        except Exception as exc:  # the database away too: said at the next beat
            log.warning("dispatch.degraded not recorded (%s)", type(exc).__name__)
            return
        self._degraded, self._degraded_renewed = degraded, now

    def _record_degraded(self, reasons: list[str], sms_rate: float | None) -> None:
        with self.runtime.db.unit_of_work() as session:
            degraded_status.record(
                session, worker_id=self.worker_id, without_redis=reasons, sms_rate=sms_rate
            )

    def _stuck(self, after: float) -> str:
        """Why this worker is stuck ("" when it is not): work in hand that has not moved
        for `after` seconds."""
        stalled = self.worker.stalled_for() if self.worker is not None else 0.0
        if stalled < after:
            return ""
        return f"no progress for {stalled:.0f} s with work in hand"

    async def stop(self, timeout: float = 30.0) -> None:
        if self.worker is not None:
            await self.worker.stop(timeout)
            self.worker = None
        if self._degraded:  # a stopped worker sends nothing: no longer listed as degraded
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self._record_degraded, [], None)
            self._degraded = False
        await close_providers(self.providers)
        self.providers = {}
        self.runtime.local_workers.discard(self.worker_id)
        if self._registry is not None:
            await self._registry.leave()
            self._registry = None


def tune_gc() -> None:
    """For a process that does nothing but dispatch (`typhoon worker`, the benchmark).

    Each send allocates and frees many small objects (aiohttp, the Twilio SDK); with
    CPython's default thresholds the collector runs about a thousand times per 20,000 sends
    and its full passes walk every object made at start-up: a tenth of the CPU in the
    benchmark. Start-up objects are frozen out of the collector and it runs less often.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def run_worker_process(settings: Settings) -> None:
    """`typhoon worker`: until SIGTERM/SIGINT, then finish in-flight sends and stop."""
    runtime = Runtime.build(settings, role="worker")
    startup(runtime)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        host = DispatchHost(runtime)
        await host.start()
        tune_gc()
        log.info("worker %s running", host.worker_id)
        await stop.wait()
        log.info("worker %s stopping", host.worker_id)
        await host.stop()

    try:
        try:
            import uvloop
        except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
            asyncio.run(main())
        else:
            uvloop.run(main())
    finally:
        runtime.close()


# -- health checks (docker-compose) -------------------------------------------------------


def check_health(settings: Settings, component: str) -> tuple[bool, str]:
    """`typhoon health worker|scheduler`: is this container's worker / a scheduler alive?"""
    if not settings.redis_url:
        return False, "needs TYPHOON_REDIS_URL (without Redis both run inside `typhoon serve`)"
    client = redis.Redis.from_url(
        settings.redis_connect_url(), socket_timeout=5, socket_connect_timeout=5
    )
    try:
        if component == "worker":
            workers = registered_workers(client, settings)
            host = socket.gethostname() + ":"
            mine = {i: why for i, why in workers.items() if i.startswith(host)}
            stuck = [f"{i} ({why})" for i, why in mine.items() if why]
            if stuck:
                return False, f"worker stuck: {', '.join(stuck)}"
            if mine:
                return True, f"worker alive: {', '.join(mine)}"
            return False, f"no live worker on {socket.gethostname()} ({len(workers)} elsewhere)"
        if component == "scheduler":
            if client.exists(settings.redis_key(HEARTBEAT_KEY)):
                return True, "scheduler alive"
            return False, "no scheduler heartbeat in the last 30 s"
        return False, f"unknown component {component!r}: worker or scheduler"
    except redis.RedisError as exc:
        if component == "scheduler":  # the lease is the database's: Redis is only its mirror
            holder = _scheduler_lease_holder(settings)
            if holder:
                return True, (
                    f"scheduler active: {holder} holds the lease "
                    f"(Redis unreachable: {type(exc).__name__})"
                )
            return False, f"Redis unreachable ({type(exc).__name__}) and no scheduler lease held"
        degraded = (
            " (workers go on sending due messages from the database at their share of the "
            "SMS rate: see the dashboard's banner)"
            if component == "worker"
            else ""
        )
        return False, f"Redis unreachable: {type(exc).__name__}{degraded}"
    finally:
        client.close()


def _scheduler_lease_holder(settings: Settings) -> str | None:
    """Which scheduler holds the lease now, in the database's word (None: none, or the
    database cannot say)."""
    from emergency.cli_support import cli_database

    try:
        with cli_database(settings) as db, db.session() as session:
            return lease_holder(session)
    except Exception as exc:
        log.warning("scheduler lease not readable (%s)", type(exc).__name__)
        return None
