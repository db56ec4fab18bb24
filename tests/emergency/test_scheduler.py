"""The scheduler: timed jobs survive a restart (persistent job store); with Redis one
scheduler is active and another takes over when it dies."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path

import pytest

from emergency.db import utcnow
from emergency.runtime import Runtime
from emergency.scheduler import Scheduler, job_runtime

MARKS: list[str] = []


def mark(*, path: str, text: str) -> None:
    """A one-off job: proves it ran in the process that owned the runtime."""
    assert job_runtime() is not None
    Path(path).write_text(text)


def test_timed_job_survives_restart(database_url, settings_for, tmp_path):
    settings = settings_for(database_url)
    target = tmp_path / "ran.txt"
    # An API replica (no scheduler of its own) stores the job, then goes away.
    runtime = Runtime.build(settings)
    adder = Scheduler(runtime, run_jobs=False)
    adder.start()
    adder.run_at(
        mark,
        utcnow() + timedelta(seconds=1),
        job_id="broadcast-42",
        kwargs={"path": str(target), "text": "sent"},
    )
    adder.stop()
    runtime.close()
    assert not target.exists()
    # The scheduler process starts later and runs it.
    runtime = Runtime.build(settings)
    active = Scheduler(runtime)
    active.start()
    try:
        deadline = time.monotonic() + 15
        while not target.exists():
            assert time.monotonic() < deadline, "the stored job never ran"
            time.sleep(0.1)
    finally:
        active.stop()
        runtime.close()
    assert target.read_text() == "sent"


def test_cancelled_timed_job_does_not_run(database_url, settings_for, tmp_path):
    runtime = Runtime.build(settings_for(database_url))
    sched = Scheduler(runtime)
    sched.start()
    target = tmp_path / "never.txt"
    sched.run_at(
        mark,
        utcnow() + timedelta(seconds=1),
        job_id="b-1",
        kwargs={"path": str(target), "text": "x"},
    )
    sched.cancel("b-1")
    sched.cancel("b-1")  # twice is harmless
    time.sleep(2)
    sched.stop()
    runtime.close()
    assert not target.exists()


@pytest.mark.redis
def test_one_active_scheduler_and_failover(database_url, redis_url, tmp_path):
    if database_url.startswith("sqlite"):
        pytest.skip("several scheduler processes share PostgreSQL")
    import redis

    from emergency.scheduler import LEADER_KEY
    from tests.support.processes import start

    client = redis.Redis.from_url(redis_url)
    leader_key = f"{os.environ['TYPHOON_REDIS_PREFIX']}:{LEADER_KEY}"  # this test's own prefix
    env = {"TYPHOON_DATABASE_URL": database_url, "TYPHOON_REDIS_URL": redis_url}

    def leader(timeout=20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = client.get(leader_key)
            if value:
                return value.decode()
            time.sleep(0.2)
        return None

    with (
        start("scheduler", env, tmp_path / "s1.log") as s1,
        start("scheduler", env, tmp_path / "s2.log") as s2,
    ):
        first = leader()
        assert first, "no scheduler took the lead"
        pids = {s1.popen.pid: s1, s2.popen.pid: s2}
        active_pid = int(first.split(":")[1])
        standby = next(p for pid, p in pids.items() if pid != active_pid)
        pids[active_pid].kill()  # SIGKILL: no chance to release the lock
        deadline = time.monotonic() + 30
        while True:
            now = leader(1)
            if now and now != first:
                break
            assert time.monotonic() < deadline, "the standby never took over"
            time.sleep(0.2)
        assert int(now.split(":")[1]) == standby.popen.pid
        assert standby.popen.poll() is None


def test_schedulers_starting_together_both_get_the_job_table(database_url, tmp_path):
    """Two schedulers start at once on a new database: the one whose CREATE TABLE meets the
    other's (not yet committed) table waits, fails with "already exists", and carries on."""
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite serialises writers; the race is PostgreSQL's")
    import threading

    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from sqlalchemy import create_engine, inspect

    from emergency.scheduler import _jobstore_url, create_job_table

    url = _jobstore_url(database_url)
    other = SQLAlchemyJobStore(url=url)
    mine = SQLAlchemyJobStore(url=url)
    outcome: dict = {}
    try:
        with other.engine.connect() as racer:  # the other scheduler, mid-way through its start
            racer.begin()
            other.jobs_t.create(racer)
            thread = threading.Thread(
                target=lambda: outcome.update(done=create_job_table(mine) is None)
            )
            thread.start()
            thread.join(1.0)
            assert thread.is_alive(), "the second CREATE TABLE should wait on the first"
            racer.commit()
        thread.join(30)
        assert outcome == {"done": True}
        engine = create_engine(url)
        assert inspect(engine).has_table("apscheduler_jobs")
        engine.dispose()
    finally:
        other.engine.dispose()
        mine.engine.dispose()
