"""The scheduler: periodic jobs (feed polling, reconciliation, escalations, …) and one-off
timed jobs (a broadcast's send_at) kept in a persistent job store, so they survive a restart.

Only one scheduler is active at a time. With Redis, every `typhoon scheduler` process competes
for a leader lock (SET NX with a TTL, renewed while alive); the others wait and take over
within a few seconds when the active one dies. Without Redis the embedded scheduler of the
single API process is the leader. Processes that only *add* timed jobs (API replicas) open
the job store with a paused scheduler that never runs anything.

Jobs are plain functions listed in `emergency.scheduled.PERIODIC_JOBS`; one-off jobs are
module-level functions referenced by name. Both reach the process's Runtime through
`job_runtime()`, set when the scheduler starts.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler

log = logging.getLogger(__name__)

# Redis keys, under TYPHOON_REDIS_PREFIX: who is active, and "the active one is alive".
LEADER_KEY = "scheduler:leader"
HEARTBEAT_KEY = "scheduler:heartbeat"
PERSISTENT = "persistent"
PERIODIC = "periodic"

_runtime: Any = None  # the Runtime of this process, for jobs (see module docstring)


def job_runtime():
    if _runtime is None:
        raise RuntimeError("no scheduler runtime in this process")
    return _runtime


def _jobstore_url(database_url: str) -> str:
    if database_url.startswith("postgresql://"):
        return "postgresql+psycopg://" + database_url.removeprefix("postgresql://")
    return database_url


def create_job_table(store: SQLAlchemyJobStore) -> None:
    """APScheduler creates its table on start with a check-then-create that is not atomic: two
    schedulers starting together on a new database both try, and one died with "already
    exists". Create it here and take the other process's table as done."""
    from sqlalchemy import inspect
    from sqlalchemy.exc import DBAPIError

    try:
        store.jobs_t.create(store.engine, checkfirst=True)
    except DBAPIError:
        if not inspect(store.engine).has_table(store.jobs_t.name):
            raise
        log.info("the scheduler job table was created by another process at the same time")


class Scheduler:
    def __init__(
        self, runtime, *, run_jobs: bool = True, lock_ttl: float = 10.0, node_id: str | None = None
    ) -> None:
        self.runtime = runtime
        self.run_jobs = run_jobs
        self.lock_ttl = lock_ttl
        self.node_id = node_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.is_leader = False
        self._stop = threading.Event()
        self._elector: threading.Thread | None = None
        self._redis = None
        self._leader_key = runtime.settings.redis_key(LEADER_KEY)
        self._store = SQLAlchemyJobStore(url=_jobstore_url(runtime.settings.database_url))
        self.aps = BackgroundScheduler(
            jobstores={
                PERSISTENT: self._store,
                PERIODIC: MemoryJobStore(),
            },
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
            timezone="UTC",
        )

    # --- life cycle ---------------------------------------------------------------------
    def start(self) -> None:
        global _runtime
        _runtime = self.runtime
        create_job_table(self._store)
        self.aps.start(paused=True)  # the job store is usable from now on
        if not self.run_jobs:
            return
        if self.runtime.settings.redis_url:
            import redis

            self._redis = redis.Redis.from_url(
                self.runtime.settings.redis_url, socket_timeout=5, socket_connect_timeout=5
            )
            self._elector = threading.Thread(
                target=self._elect, name="scheduler-leader", daemon=True
            )
            self._elector.start()
        else:
            self._become_leader()

    def stop(self) -> None:
        self._stop.set()
        if self._elector:
            self._elector.join(timeout=5)
        if self.is_leader and self._redis is not None:
            self._release()
        if self.aps.running:
            self.aps.shutdown(wait=False)

    # --- jobs ---------------------------------------------------------------------------
    def run_at(
        self,
        func: Callable | str,
        when: datetime,
        *,
        job_id: str,
        kwargs: dict[str, Any] | None = None,
    ) -> None:
        """A one-off job kept in the database; the same job_id replaces the earlier one."""
        self.aps.add_job(
            func,
            "date",
            run_date=when,
            id=job_id,
            kwargs=kwargs or {},
            jobstore=PERSISTENT,
            replace_existing=True,
        )
        self.aps.wakeup()

    def cancel(self, job_id: str) -> None:
        from apscheduler.jobstores.base import JobLookupError

        with contextlib.suppress(JobLookupError):
            self.aps.remove_job(job_id, jobstore=PERSISTENT)

    def _register_periodic(self) -> None:
        from emergency.scheduled import PERIODIC_JOBS

        for job in PERIODIC_JOBS:
            self.aps.add_job(
                job.func,
                "interval",
                seconds=job.seconds(self.runtime.settings),
                id=job.name,
                jobstore=PERIODIC,
                replace_existing=True,
                kwargs={"runtime": self.runtime},
            )

    # --- leadership ---------------------------------------------------------------------
    def _become_leader(self) -> None:
        self.is_leader = True
        self._register_periodic()
        self.aps.resume()
        log.info("scheduler is active", extra={"node": self.node_id})

    def _step_down(self) -> None:
        self.is_leader = False
        self.aps.pause()
        self.aps.remove_all_jobs(jobstore=PERIODIC)
        log.warning("scheduler lost the leader lock; standing by", extra={"node": self.node_id})

    def _elect(self) -> None:
        ttl_ms = int(self.lock_ttl * 1000)
        renew = self._redis.register_script(
            "if redis.call('get', KEYS[1]) == ARGV[1] then "
            "return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"
        )
        while not self._stop.wait(self.lock_ttl / 4 if self.is_leader else self.lock_ttl / 5):
            try:
                if self.is_leader:
                    if not renew(keys=[self._leader_key], args=[self.node_id, ttl_ms]):
                        self._step_down()
                elif self._redis.set(self._leader_key, self.node_id, nx=True, px=ttl_ms):
                    self._become_leader()
            except Exception as exc:  # Redis down: a leader keeps going until its lock expires
                log.warning("leader lock check failed: %s", type(exc).__name__)

    def _release(self) -> None:
        try:
            script = (
                "if redis.call('get', KEYS[1]) == ARGV[1] then "
                "return redis.call('del', KEYS[1]) else return 0 end"
            )
            self._redis.eval(script, 1, self._leader_key, self.node_id)
        except Exception:
            pass
