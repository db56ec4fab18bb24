"""The composition root: what a process builds once from settings, as typed fields.

The API (app lifespan), `typhoon worker`, `typhoon scheduler` and the CLI all build a Runtime
and run the same ordered start-up (`emergency.startup.startup`), so the embedded-or-scaled
choice is made in one place. Nothing here connects at import time.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import redis

from alerts.dispatch.progress import ProgressTracker
from alerts.dispatch.queue import InProcessQueue, MessageQueue, RedisStreamQueue
from emergency.catalogue import Catalogue
from emergency.clock import Clock
from emergency.config import ConfigSet
from emergency.db import Database
from emergency.events.bus import EventBus, build_bus
from emergency.settings import Settings
from geo.zones import ZoneSet

if TYPE_CHECKING:
    from emergency.scheduler import Scheduler

log = logging.getLogger(__name__)

Role = Literal["api", "worker", "scheduler", "cli"]

# PostgreSQL connections per process by role, (pool, overflow), when TYPHOON_DB_POOL_SIZE /
# TYPHOON_DB_MAX_OVERFLOW are unset: the API's request threads, a worker's four database
# threads and its upkeep, the scheduler's job threads and job store. The compose deployment
# (2 APIs, 3 workers, 2 schedulers) then stays under PostgreSQL's default 100 (README).
POOLS: dict[str, tuple[int, int]] = {
    "api": (10, 10),
    "worker": (5, 2),
    "scheduler": (5, 5),
    "cli": (2, 2),
}


def pool_for(settings: Settings, role: str) -> tuple[int, int]:
    size, overflow = POOLS.get(role, POOLS["cli"])
    if settings.db_pool_size is not None:
        size = settings.db_pool_size
    if settings.db_max_overflow is not None:
        overflow = settings.db_max_overflow
    return size, overflow


def application_name(role: str) -> str:
    """How this process's connections appear in pg_stat_activity: role, host and pid."""
    return f"typhoon-{role}:{socket.gethostname()}:{os.getpid()}"[:63]


def build_queue(settings: Settings) -> MessageQueue:
    """Redis Streams (consumer group "workers") when TYPHOON_REDIS_URL is set, so that
    workers in other processes share the work; else a queue in this process."""
    if settings.redis_url:
        return RedisStreamQueue(
            settings.redis_connect_url(),
            namespace=settings.dispatch_namespace,
            min_idle=settings.queue_min_idle,
            max_deliveries=settings.queue_max_deliveries,
        )
    return InProcessQueue()


@dataclass
class Memo:
    """Values a process computes from the database and keeps until they change."""

    # The Atom feed of published CAP alerts: ((feed version, limit), its bytes).
    atom_feed: tuple[tuple[int, int], bytes] | None = None
    vapid_public_key: str | None = None  # the web-push key the pages subscribe with


@dataclass
class Runtime:
    settings: Settings
    db: Database
    bus: EventBus
    queue: MessageQueue  # outbox message ids to the dispatch workers
    config: ConfigSet  # every config file, loaded once
    role: Role = "api"
    clock: Clock = field(default_factory=Clock)  # what drain() judges due work by
    # This process's scheduler (running, or paused where it only adds timed jobs); set by the
    # process when it makes one.
    scheduler: Scheduler | None = None
    # Broadcast progress between ticks of the `dispatch-progress` job.
    progress: ProgressTracker = field(default_factory=ProgressTracker)
    # Ids of the dispatch workers running in this process (the registry without Redis).
    local_workers: set[str] = field(default_factory=set)
    memo: Memo = field(default_factory=Memo)
    _redis: redis.Redis | None = field(default=None, repr=False)
    _redis_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def build(
        cls, settings: Settings, *, catalogue: Catalogue | None = None, role: Role = "api"
    ) -> Runtime:
        redis_url = settings.redis_connect_url() if settings.redis_url else None
        bus = build_bus(redis_url, channel=settings.redis_key("events"))
        pool_size, max_overflow = pool_for(settings, role)
        db = Database(
            settings.connect_url(),
            bus=bus,
            pool_size=pool_size,
            max_overflow=max_overflow,
            application_name=application_name(role),
            audit_key=settings.secret("audit_key"),
        )
        for warning in settings.warnings():
            log.warning(warning)
        if db.is_superuser():
            log.warning(
                "connected to PostgreSQL as a superuser: run the service as a role of its own "
                '(TYPHOON_DATABASE_APP_ROLE; README "PostgreSQL hardening")'
            )
        return cls(
            settings=settings,
            db=db,
            bus=bus,
            queue=build_queue(settings),
            config=ConfigSet(settings.config_dir, catalogue=catalogue),
            role=role,
        )

    @property
    def catalogue(self) -> Catalogue:
        return self.config.catalogue

    @property
    def zones(self) -> ZoneSet:
        return self.config.zones

    def redis(self) -> redis.Redis:
        """This process's Redis client (one connection pool), for short commands; only with
        TYPHOON_REDIS_URL."""
        if not self.settings.redis_url:
            raise RuntimeError("no TYPHOON_REDIS_URL")
        with self._redis_lock:
            if self._redis is None:
                self._redis = redis.Redis.from_url(
                    self.settings.redis_connect_url(), socket_timeout=5, socket_connect_timeout=5
                )
            return self._redis

    def forget_state(self) -> None:
        """What the process learnt since start-up, forgotten (a test's app between tests)."""
        self.progress = ProgressTracker()
        self.memo = Memo()

    def close(self) -> None:
        close_queue = getattr(self.queue, "close", None)
        if close_queue is not None:
            close_queue()
        if self._redis is not None:
            self._redis.close()
            self._redis = None
        self.db.dispose()
