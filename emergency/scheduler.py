"""The scheduler: periodic jobs (feed polling, reconciliation, escalations, …) and one-off
timed jobs (a broadcast's send_at) kept in a persistent job store, so they survive a restart.

Only one scheduler is active at a time, and the database decides which (`SchedulerLease`: one
row, taken or renewed with a conditional UPDATE on the database's clock, expiring after the
lock TTL): a standby takes over within a few seconds once the active one stops renewing. Redis
is only a mirror of it for people and tools (`scheduler:leader`, written by the leader with our
TTL): nothing there can make a scheduler stand by. A holder found there that the database did
not make leader (a lock written with a Redis client alone, even one renewed every second) is
overwritten, logged and audited (`scheduler.lock_forged`); a scheduler cut off from Redis goes
on scheduling. Without Redis the embedded scheduler of the single API process is the leader.
Processes that only *add* timed jobs (API replicas) open the job store with a paused scheduler
that never runs anything.

Jobs are plain functions listed in `emergency.scheduled.PERIODIC_JOBS`; one-off jobs are
functions registered by name in `emergency.scheduled.TIMED_JOBS`, and the job store keeps only
that name, the run date and JSON arguments (`JsonJobStore`): never a pickle, so write access
to the database is not code execution in the scheduler, and a row naming anything else is
dropped unrun. Both are called with the scheduler's Runtime (`runtime=`), which is never
kept in the job store.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import redis
from apscheduler.job import Job
from apscheduler.jobstores.base import ConflictingIdError, JobLookupError
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.date import DateTrigger
from sqlalchemy import Float, String, Text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Column, Field, SQLModel

from alerts.sqltypes import table_of
from emergency.audit import service as audit_service
from emergency.liveness import LEADER_KEY, hold_lease, release_lease
from emergency.scheduled import PERIODIC_JOBS, TIMED_JOBS

if TYPE_CHECKING:
    from emergency.runtime import Runtime

log = logging.getLogger(__name__)

# KEYS[1]: the leader key (a mirror of the database's lease). ARGV: our node id, the TTL (ms).
# Sets it to us with our TTL; returns {what it held before ("" if nothing), its TTL then (ms)}.
MIRROR = """
local kind = redis.call('TYPE', KEYS[1])['ok']
local found, ttl = '', redis.call('PTTL', KEYS[1])
if kind == 'string' then
  found = redis.call('GET', KEYS[1])
elseif kind ~= 'none' then
  found = '(a ' .. kind .. ')'
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {found, ttl}
"""

PERSISTENT = "persistent"
PERIODIC = "periodic"


class ScheduledJob(SQLModel, table=True):
    """A one-off timed job: the name of a registered function, its run date and JSON kwargs."""

    __tablename__ = "scheduled_job"

    id: str = Field(primary_key=True, max_length=191)
    next_run_time: float | None = Field(default=None, sa_column=Column(Float, index=True))
    job_state: str = Field(sa_column=Column(Text, nullable=False))  # JSON, see JsonJobStore
    func: str = Field(sa_type=String(120))


def timed_job(name: str) -> Callable[..., Any]:
    return TIMED_JOBS[name]


def timed_job_name(func: Callable[..., Any] | str) -> str:
    """The registered name of a timed job (ValueError for anything not registered)."""
    if isinstance(func, functools.partial):  # a job as the store gives it back (runtime=)
        func = func.func
    if isinstance(func, str):
        if func in TIMED_JOBS:
            return func
    else:
        for name, registered in TIMED_JOBS.items():
            if registered is func:
                return name
    raise ValueError(f"{func!r} is not a registered timed job (emergency.scheduled.TIMED_JOBS)")


class JsonJobStore(SQLAlchemyJobStore):  # type: ignore[misc]  # apscheduler has no types
    """APScheduler's SQLAlchemy job store on our `scheduled_job` table (made by the
    migrations, so the application's database role needs no CREATE), keeping each job as JSON:
    a registered function's name, a date trigger and JSON-serialisable kwargs. Reading a row
    never imports or unpickles anything: an unknown name or a malformed row is logged and
    dropped."""

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(engine=runtime.db.engine)
        self.runtime = runtime  # what each job is called with (never stored)
        self.jobs_t = table_of(ScheduledJob)

    def start(self, scheduler: BaseScheduler, alias: str) -> None:
        super(SQLAlchemyJobStore, self).start(scheduler, alias)  # the migrations made the table

    def shutdown(self) -> None:  # the engine is the process's Database's: it disposes of it
        pass

    @staticmethod
    def _state(job: Job) -> tuple[str, str]:
        if not isinstance(job.trigger, DateTrigger):
            raise ValueError("only one-off (date) jobs are kept in the database")
        name = timed_job_name(job.func)
        state = {
            "version": 1,
            "id": job.id,
            "func": name,
            "run_date": job.trigger.run_date.isoformat(),
            "kwargs": job.kwargs,
            "misfire_grace_time": job.misfire_grace_time,
            "coalesce": job.coalesce,
            "max_instances": job.max_instances,
            "next_run_time": job.next_run_time.isoformat() if job.next_run_time else None,
        }
        try:
            return name, json.dumps(state)
        except TypeError as exc:
            raise ValueError(f"job {job.id}: its kwargs must be JSON values ({exc})") from None

    def add_job(self, job: Job) -> None:
        from apscheduler.util import datetime_to_utc_timestamp

        name, state = self._state(job)
        insert = self.jobs_t.insert().values(
            id=job.id,
            next_run_time=datetime_to_utc_timestamp(job.next_run_time),
            job_state=state,
            func=name,
        )
        with self.engine.begin() as connection:
            try:
                connection.execute(insert)
            except IntegrityError:
                raise ConflictingIdError(job.id) from None

    def update_job(self, job: Job) -> None:
        from apscheduler.util import datetime_to_utc_timestamp

        name, state = self._state(job)
        update = (
            self.jobs_t.update()
            .values(
                next_run_time=datetime_to_utc_timestamp(job.next_run_time),
                job_state=state,
                func=name,
            )
            .where(self.jobs_t.c.id == job.id)
        )
        with self.engine.begin() as connection:
            if connection.execute(update).rowcount == 0:
                raise JobLookupError(job.id)

    def _reconstitute_job(self, job_state: str) -> Job:
        # Raising here makes APScheduler log the row and delete it (SQLAlchemyJobStore._get_jobs).
        state = json.loads(job_state)
        if not isinstance(state, dict) or state.get("version") != 1:
            raise ValueError("not a job state this scheduler wrote")
        name = state["func"]
        func = timed_job(name)  # KeyError: not registered, never run
        tz = self._scheduler.timezone
        run_date = datetime.fromisoformat(state["run_date"])
        next_run = state.get("next_run_time")
        job = Job.__new__(Job)
        job.id = str(state["id"])
        job.func, job.func_ref = functools.partial(func, runtime=self.runtime), name
        job.trigger = DateTrigger(run_date, timezone=tz)
        job.executor = "default"
        job.args, job.kwargs = (), dict(state.get("kwargs") or {})
        job.name = name
        job.misfire_grace_time = state.get("misfire_grace_time")
        job.coalesce = bool(state.get("coalesce", True))
        job.max_instances = int(state.get("max_instances", 1))
        job.next_run_time = datetime.fromisoformat(next_run) if next_run else None
        job._scheduler = self._scheduler
        job._jobstore_alias = self._alias
        return job


class Scheduler:
    def __init__(
        self,
        runtime: Runtime,
        *,
        run_jobs: bool = True,
        lock_ttl: float | None = None,
        node_id: str | None = None,
    ) -> None:
        self.runtime = runtime
        self.run_jobs = run_jobs
        self.lock_ttl = lock_ttl or runtime.settings.scheduler_lock_ttl
        self.node_id = node_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.is_leader = False
        self._stop = threading.Event()
        self._elector: threading.Thread | None = None
        self._redis: redis.Redis | None = None
        self._forged_seen: set[str] = set()  # forged leader keys already logged and audited
        self._leader_key = runtime.settings.redis_key(LEADER_KEY)
        self._store = JsonJobStore(runtime)
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
        self.aps.start(paused=True)  # the job store is usable from now on
        if not self.run_jobs:
            return
        if self.runtime.settings.redis_url:
            self._redis = client = redis.Redis.from_url(
                self.runtime.settings.redis_connect_url(),
                socket_timeout=5,
                socket_connect_timeout=5,
            )
            self._elector = threading.Thread(
                target=self._elect, args=(client,), name="scheduler-leader", daemon=True
            )
            self._elector.start()
        else:
            self._become_leader()

    def stop(self) -> None:
        self._stop.set()
        if self._elector:
            self._elector.join(timeout=5)
        if self.is_leader and self._redis is not None:
            self._release(self._redis)
        if self.aps.running:
            self.aps.shutdown(wait=False)

    # --- jobs ---------------------------------------------------------------------------
    def run_at(
        self,
        name: str,
        when: datetime,
        *,
        job_id: str,
        kwargs: dict[str, Any] | None = None,
    ) -> None:
        """A one-off job kept in the database: `name` of a function registered in
        `emergency.scheduled.TIMED_JOBS`, JSON `kwargs`; the same job_id replaces the earlier one."""
        self.aps.add_job(
            functools.partial(timed_job(timed_job_name(name)), runtime=self.runtime),
            "date",
            run_date=when,
            id=job_id,
            kwargs=kwargs or {},
            jobstore=PERSISTENT,
            replace_existing=True,
        )
        self.aps.wakeup()

    def run_due(self, now: datetime) -> int:
        """Run here, now, the one-off jobs whose time has come by `now` (a paused scheduler
        too: `emergency.drain`); each is removed first, so it runs once. Returns how many."""
        ran = 0
        for job in self.aps.get_jobs(jobstore=PERSISTENT):
            if job.next_run_time is None or job.next_run_time > now:
                continue
            self.cancel(job.id)
            job.func(*job.args, **job.kwargs)
            ran += 1
        return ran

    def cancel(self, job_id: str) -> None:
        from apscheduler.jobstores.base import JobLookupError

        with contextlib.suppress(JobLookupError):
            self.aps.remove_job(job_id, jobstore=PERSISTENT)

    def _register_periodic(self) -> None:
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

    def _elect(self, client: redis.Redis) -> None:
        """Every few seconds: hold (or try to take) the database's lease, then mirror it in
        Redis. The leader steps down when the lease is another's, or when it could not renew
        it for a TTL (the database away: a standby may have it by then)."""
        mirror = client.register_script(MIRROR)
        lease_until = 0.0  # monotonic: when our lease expires at the latest
        while not self._stop.wait(self.lock_ttl / 4 if self.is_leader else self.lock_ttl / 5):
            started = time.monotonic()
            try:
                with self.runtime.db.unit_of_work() as session:
                    holder, before = hold_lease(session, node_id=self.node_id, ttl=self.lock_ttl)
            except Exception as exc:
                log.warning("scheduler lease not renewed: %s", type(exc).__name__)
                if self.is_leader and time.monotonic() >= lease_until:
                    self._step_down()
                continue
            if holder != self.node_id:
                if self.is_leader:
                    self._step_down()
                continue
            lease_until = started + self.lock_ttl
            if not self.is_leader:
                self._become_leader()
            try:
                found, ttl = mirror(
                    keys=[self._leader_key], args=[self.node_id, int(self.lock_ttl * 1000)]
                )
            except Exception as exc:  # Redis down: the lease is the database's, scheduling goes on
                log.warning("scheduler leader key not mirrored in Redis: %s", type(exc).__name__)
                continue
            self._check_mirror(_text(found), int(ttl), before)

    def _check_mirror(self, found: str, ttl_ms: int, before: str | None) -> None:
        """What the Redis key held before we wrote it: an anomaly unless it was us, nobody,
        or the leader we took over from (its key may outlive its lease by a moment)."""
        if found in ("", before) or (found == self.node_id and 0 < ttl_ms <= self.lock_ttl * 1000):
            return
        wrong = (
            "no expiry, or one longer than ours"
            if found == self.node_id
            else "a holder the database did not make leader"
        )
        if found in self._forged_seen or len(self._forged_seen) >= 100:
            return  # a forger renewing it: said once, overwritten every round

        self._forged_seen.add(found)
        log.error(
            "scheduler leader lock in Redis was not valid (%s, holder %r): overwritten; "
            "the database's lease decides who schedules",
            wrong,
            found[:80],
        )
        try:
            with self.runtime.db.unit_of_work() as session:
                audit_service.record(
                    session,
                    actor="scheduler",
                    action="scheduler.lock_forged",
                    target_type="scheduler",
                    target_id=self.node_id,
                    before={"holder": found[:120], "ttl_ms": ttl_ms},
                    after={"holder": self.node_id, "problem": wrong},
                )
        except Exception as exc:
            self._forged_seen.discard(found)  # audited next round
            log.warning("forged leader lock not audited: %s", type(exc).__name__)

    def _release(self, client: redis.Redis) -> None:
        with contextlib.suppress(Exception), self.runtime.db.unit_of_work() as session:
            release_lease(session, node_id=self.node_id)
        try:
            script = (
                "if redis.call('get', KEYS[1]) == ARGV[1] then "
                "return redis.call('del', KEYS[1]) else return 0 end"
            )
            client.eval(script, 1, self._leader_key, self.node_id)
        except Exception:
            pass


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)
