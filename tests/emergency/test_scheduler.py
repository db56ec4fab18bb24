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
from emergency.scheduled import TIMED_JOBS
from emergency.scheduler import Scheduler


def mark(*, runtime: Runtime, path: str, text: str) -> None:
    """A one-off job: proves it ran with the runtime of the scheduler that ran it."""
    assert isinstance(runtime, Runtime)
    Path(path).write_text(text)


@pytest.fixture(autouse=True)
def _mark_is_a_timed_job(monkeypatch):
    monkeypatch.setitem(TIMED_JOBS, "test.mark", mark)


def test_timed_job_survives_restart(database_url, settings_for, tmp_path):
    settings = settings_for(database_url)
    target = tmp_path / "ran.txt"
    # An API replica (no scheduler of its own) stores the job, then goes away.
    runtime = Runtime.build(settings)
    adder = Scheduler(runtime, run_jobs=False)
    adder.start()
    adder.run_at(
        "test.mark",
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
        deadline = time.monotonic() + 60
        while not target.exists():
            assert time.monotonic() < deadline, "the stored job never ran"
            time.sleep(0.1)
    finally:
        active.stop()
        runtime.close()
    assert target.read_text() == "sent"


def test_cancelled_timed_job_does_not_run(database_url, settings_for, tmp_path):
    runtime = Runtime.build(settings_for(database_url))
    sched = Scheduler(runtime, run_jobs=False)  # jobs run below, when asked, not in a thread
    sched.start()
    target = tmp_path / "never.txt"
    for job_id, path in (("b-1", target), ("b-2", tmp_path / "b2.txt")):
        sched.run_at(
            "test.mark",
            utcnow() + timedelta(seconds=1),
            job_id=job_id,
            kwargs={"path": str(path), "text": "x"},
        )
    sched.cancel("b-1")
    sched.cancel("b-1")  # twice is harmless
    try:
        assert sched.run_due(utcnow() + timedelta(minutes=5)) == 1  # b-2 only: it was due
    finally:
        sched.stop()
        runtime.close()
    assert not target.exists()
    assert (tmp_path / "b2.txt").read_text() == "x"


@pytest.mark.redis
def test_one_active_scheduler_and_failover(database_url, redis_url, tmp_path):
    if database_url.startswith("sqlite"):
        pytest.skip("several scheduler processes share PostgreSQL")
    import redis

    from emergency.scheduler import LEADER_KEY
    from tests.support.processes import start

    client = redis.Redis.from_url(redis_url)
    leader_key = f"{os.environ['TYPHOON_REDIS_PREFIX']}:{LEADER_KEY}"  # this test's own prefix
    # The lock lives 3 s, not 10: the standby's wait for a killed leader's lock is shorter.
    env = {
        "TYPHOON_DATABASE_URL": database_url,
        "TYPHOON_REDIS_URL": redis_url,
        "TYPHOON_SCHEDULER_LOCK_TTL": "3",
    }

    def leader(timeout=60.0):
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
        deadline = time.monotonic() + 60
        while True:
            now = leader(1)
            if now and now != first:
                break
            assert time.monotonic() < deadline, "the standby never took over"
            time.sleep(0.2)
        assert int(now.split(":")[1]) == standby.popen.pid
        assert standby.popen.poll() is None


def test_timed_jobs_are_stored_as_json_naming_a_registered_function(
    database_url, settings_for, tmp_path
):
    """Issue 20.11: the job store keeps a registered name and JSON arguments, never a pickle:
    write access to the database must not be code execution in the scheduler. A row naming
    anything else, or holding anything but our JSON, is dropped without running."""
    import base64
    import json
    import pickle

    from sqlalchemy import text

    runtime = Runtime.build(settings_for(database_url))
    adder = Scheduler(runtime, run_jobs=False)
    adder.start()
    ran = tmp_path / "ran.txt"
    when = utcnow() + timedelta(seconds=2)
    adder.run_at("test.mark", when, job_id="b-json", kwargs={"path": str(ran), "text": "ok"})
    with pytest.raises(ValueError, match="not a registered timed job"):
        adder.run_at(os.system, when, job_id="evil", kwargs={})
    adder.stop()
    with runtime.db.engine.connect() as conn:
        rows = conn.execute(text("SELECT id, func, job_state FROM scheduled_job")).all()
    assert [(r.id, r.func) for r in rows] == [("b-json", "test.mark")]
    state = json.loads(rows[0].job_state)
    assert state["func"] == "test.mark" and state["kwargs"] == {"path": str(ran), "text": "ok"}

    # Someone with database access plants two jobs: a pickle that would run code when loaded
    # (as text: the column holds text), and a JSON row naming a function not registered.
    planted = tmp_path / "planted.txt"
    payload = pickle.dumps(_Planted(str(planted)))
    evil = json.dumps({**state, "id": "evil-json", "func": "os:system", "kwargs": {}})
    with runtime.db.engine.begin() as conn:
        for job_id, job_state in (
            ("evil-pickle", base64.b64encode(payload).decode()),
            ("evil-json", evil),
        ):
            conn.execute(
                text(
                    "INSERT INTO scheduled_job (id, next_run_time, job_state, func) "
                    "VALUES (:id, 0, :state, 'x')"
                ),
                {"id": job_id, "state": job_state},
            )
    active = Scheduler(runtime)
    active.start()
    try:
        deadline = time.monotonic() + 60
        while not ran.exists():  # the real job runs
            assert time.monotonic() < deadline, "the stored job never ran"
            time.sleep(0.1)
        deadline = time.monotonic() + 60
        while True:  # the planted rows are read, refused and removed
            with runtime.db.engine.connect() as conn:
                left = set(conn.execute(text("SELECT id FROM scheduled_job")).scalars())
            if not left & {"evil-pickle", "evil-json"}:
                break
            assert time.monotonic() < deadline, f"planted jobs still there: {left}"
            time.sleep(0.1)
    finally:
        active.stop()
        runtime.close()
    assert not planted.exists()


class _Planted:
    """Unpickling this writes a file: what a pickled job store would do with a planted row."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (Path(self.path).write_text, ("code ran",))


def test_the_lease_in_the_database_decides_the_active_scheduler(database_url):
    """Issue 20 item 1: leadership is a row in the database, on its clock (PostgreSQL's now()):
    the holder renews it, another cannot take it before it expires, and takes it after (or
    at once when the holder lets it go)."""
    from emergency.db import Database
    from emergency.liveness import hold_lease, release_lease

    db = Database(database_url)
    try:

        def hold(node: str, ttl: float = 60.0) -> tuple[str, str | None]:
            with db.unit_of_work() as session:
                return hold_lease(session, node_id=node, ttl=ttl)

        assert hold("a:1:aa") == ("a:1:aa", None)  # the first one takes it
        assert hold("b:2:bb") == ("a:1:aa", "a:1:aa")  # held: the other stands by
        assert hold("a:1:aa", ttl=0) == ("a:1:aa", "a:1:aa")  # renewed (for no time at all)
        assert hold("b:2:bb") == ("b:2:bb", "a:1:aa")  # expired: taken over
        assert hold("a:1:aa") == ("b:2:bb", "b:2:bb")
        with db.unit_of_work() as session:
            release_lease(session, node_id="a:1:aa")  # not its lease: changes nothing
        assert hold("a:1:aa") == ("b:2:bb", "b:2:bb")
        with db.unit_of_work() as session:
            release_lease(session, node_id="b:2:bb")  # a stopping leader lets it go
        assert hold("a:1:aa") == ("a:1:aa", "b:2:bb")
    finally:
        db.dispose()
