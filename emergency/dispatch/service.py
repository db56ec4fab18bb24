"""Dispatch workers in this application: built once per process from settings.

The same `DispatchHost` runs embedded in the API process (`typhoon serve`, unless
`--no-worker`) and as its own process (`typhoon worker`, which needs TYPHOON_REDIS_URL: the
queue and the rate ceiling are then shared through Redis). A worker registers itself in a
Redis sorted set (score: when its registration expires), which the reconciler reads to tell
a dead worker's claims from a live one's, and which `typhoon health worker` checks.
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
from collections.abc import Mapping
from typing import Any

from alerts.dispatch.ratelimit import LocalRateLimiter, RateLimiter, RedisRateLimiter
from alerts.dispatch.worker import Worker
from alerts.providers import Provider, build_providers, close_providers
from emergency.runtime import Runtime
from emergency.scheduler import HEARTBEAT_KEY
from emergency.settings import Settings

log = logging.getLogger(__name__)

HEARTBEAT_EVERY = 3.0  # seconds between registrations of a live worker
HEARTBEAT_TTL = 15.0  # a worker not heard of for this long is taken for dead
WORKERS_KEY = "workers"  # under the dispatch namespace


def new_worker_id() -> str:
    """host:pid:random — the host part lets `typhoon health worker` find its container's."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"[:80]


def status_callback_url(settings: Settings) -> str:
    return f"{settings.public_url}/webhooks/twilio/status"


def _vapid_private_key(runtime: Runtime) -> str | None:
    settings = runtime.settings
    if settings.vapid_private_key:
        return settings.vapid_private_key
    try:  # the development key pair that the subscribers service keeps in the database
        from alerts.subscribers.service import vapid_keys
    except ImportError:
        return None
    # The database may be restarting: wait for it rather than fall back to the console
    # provider, which would "send" every push message into the log.
    delay = 0.5
    for attempt in range(12):
        try:
            with runtime.db.unit_of_work() as session:
                private_key, _public = vapid_keys(session)
            return private_key
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
        twilio_auth_token=settings.twilio_auth_token,
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


def build_limiter(settings: Settings) -> RateLimiter | None:
    if settings.sms_rate >= UNLIMITED_RATE:
        return None
    if settings.redis_url:
        return RedisRateLimiter(
            settings.redis_url, settings.sms_rate, key=f"{settings.dispatch_namespace}:sms-rate"
        )
    return LocalRateLimiter(settings.sms_rate)


# -- the live-worker registry -------------------------------------------------------------


def _workers_key(settings: Settings) -> str:
    return f"{settings.dispatch_namespace}:{WORKERS_KEY}"


def live_workers(runtime: Runtime) -> set[str] | None:
    """Ids of the workers alive now, or None when it cannot be known."""
    settings = runtime.settings
    if not settings.redis_url:
        local = runtime.extras.get("dispatch_workers")
        return set(local) if local else None
    import redis

    try:
        client = redis.Redis.from_url(
            settings.redis_url, socket_timeout=5, socket_connect_timeout=5
        )
        try:
            members = client.zrangebyscore(_workers_key(settings), time.time(), "+inf")
        finally:
            client.close()
    except Exception as exc:
        log.warning("live workers unknown (%s)", type(exc).__name__)
        return None
    return {m.decode() if isinstance(m, bytes) else str(m) for m in members}


class _Registry:
    """Registers a worker in Redis every few seconds (the heartbeat)."""

    def __init__(self, settings: Settings, worker_id: str) -> None:
        self.key = _workers_key(settings)
        self.url = settings.redis_url
        self.worker_id = worker_id
        self._client: Any = None

    def _redis(self) -> Any:
        if self._client is None:
            import redis.asyncio as aioredis

            self._client = aioredis.Redis.from_url(
                self.url, socket_timeout=5, socket_connect_timeout=5
            )
        return self._client

    async def beat(self) -> None:
        now = time.time()
        pipe = self._redis().pipeline(transaction=False)
        pipe.zadd(self.key, {self.worker_id: now + HEARTBEAT_TTL})
        pipe.zremrangebyscore(self.key, "-inf", now - 60)
        await pipe.execute()

    async def leave(self) -> None:
        with contextlib.suppress(Exception):
            await self._redis().zrem(self.key, self.worker_id)
        await self._redis().aclose()


# -- the host -------------------------------------------------------------------------------


class DispatchHost:
    """One worker in this process, with its providers; start/stop from a running loop."""

    def __init__(self, runtime: Runtime, *, worker_id: str | None = None) -> None:
        self.runtime = runtime
        self.worker_id = worker_id or new_worker_id()
        self.worker: Worker | None = None
        self.providers: Mapping[str, Provider] = {}
        self._registry: _Registry | None = None

    async def start(self) -> Worker:
        runtime, settings = self.runtime, self.runtime.settings
        self.providers = await asyncio.to_thread(build_dispatch_providers, runtime)
        heartbeat = None
        if settings.redis_url:
            self._registry = _Registry(settings, self.worker_id)
            heartbeat = self._registry.beat
            try:
                await heartbeat()
            except Exception as exc:  # Redis restarting: the worker retries every beat
                log.warning("worker registration failed (%s)", type(exc).__name__)
        runtime.extras.setdefault("dispatch_workers", set()).add(self.worker_id)
        self.worker = Worker(
            unit_of_work=runtime.db.unit_of_work,
            consumer=runtime.queue.consumer(self.worker_id),
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
        )
        await self.worker.start()
        return self.worker

    async def stop(self, timeout: float = 30.0) -> None:
        if self.worker is not None:
            await self.worker.stop(timeout)
            self.worker = None
        await close_providers(self.providers)  # type: ignore[arg-type]
        self.providers = {}
        self.runtime.extras.get("dispatch_workers", set()).discard(self.worker_id)
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
    runtime = Runtime.build(settings)

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
    import redis

    client = redis.Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=5)
    try:
        if component == "worker":
            members = client.zrangebyscore(_workers_key(settings), time.time(), "+inf")
            ids = [m.decode() for m in members]
            host = socket.gethostname() + ":"
            mine = [i for i in ids if i.startswith(host)]
            if mine:
                return True, f"worker alive: {', '.join(mine)}"
            return False, f"no live worker on {socket.gethostname()} ({len(ids)} elsewhere)"
        if component == "scheduler":
            if client.exists(settings.redis_key(HEARTBEAT_KEY)):
                return True, "scheduler alive"
            return False, "no scheduler heartbeat in the last 30 s"
        return False, f"unknown component {component!r}: worker or scheduler"
    except redis.RedisError as exc:
        return False, f"Redis unreachable: {type(exc).__name__}"
    finally:
        client.close()
