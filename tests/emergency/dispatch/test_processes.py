"""`typhoon worker` processes sharing PostgreSQL and Redis: a worker killed mid-broadcast
loses nothing (the other takes over its queue entries, the reconciler its claims after
asking the provider); two workers together never exceed the SMS rate ceiling; SIGTERM
finishes cleanly; `typhoon health worker` sees its worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import func, select

from alerts.dispatch.queue import RedisStreamQueue
from alerts.dispatch.store import M
from alerts.dispatch.testing import max_in_window, seed_broadcast
from alerts.testing import run_twilio_server
from tests.support.processes import start

FROM = "+15005550006"
pytestmark = [pytest.mark.redis, pytest.mark.postgres]


@pytest.fixture
def pg_url(database_url):
    if database_url.startswith("sqlite"):
        pytest.skip("worker processes share PostgreSQL in production")
    return database_url


@pytest.fixture
def twilio():
    with run_twilio_server() as fake:
        yield fake


@pytest.fixture
def namespace(redis_url):
    """The dispatch keys of this test's own TYPHOON_REDIS_PREFIX (see tests/conftest.py),
    which the processes started here inherit."""
    return f"{os.environ['TYPHOON_REDIS_PREFIX']}:dispatch"


def worker_env(pg_url, redis_url, namespace, twilio, **extra) -> dict[str, str]:
    env = {
        "TYPHOON_DATABASE_URL": pg_url,
        "TYPHOON_REDIS_URL": redis_url,
        "TYPHOON_REDIS_PREFIX": namespace.removesuffix(":dispatch"),
        "TWILIO_ACCOUNT_SID": twilio.account_sid,
        "TWILIO_AUTH_TOKEN": twilio.auth_token,
        "TWILIO_FROM_NUMBER": FROM,
        "TWILIO_API_BASE_URL": twilio.base_url,
        "TYPHOON_PUBLIC_URL": "http://127.0.0.1:9",
        "TYPHOON_LOG_LEVEL": "INFO",
    }
    env.update({k: str(v) for k, v in extra.items()})
    return env


def typhoon(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "emergency", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )


def wait_for(predicate, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(interval)


def live_worker_ids(redis_url: str, namespace: str) -> list[str]:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        return [
            m.decode() for m in client.zrangebyscore(f"{namespace}:workers", time.time(), "+inf")
        ]
    finally:
        client.close()


def enqueue(pg_url, redis_url, namespace, count: int):
    from emergency.db import Database

    db = Database(pg_url)
    with db.unit_of_work() as session:
        seeded = seed_broadcast(session, count=count, expect=False)
    RedisStreamQueue(redis_url, namespace=namespace).enqueue(seeded.message_ids)
    return db, seeded


def statuses(db, broadcast_id) -> dict[str, int]:
    from alerts.dispatch.store import count_by_status

    with db.session() as session:
        return count_by_status(session, broadcast_id)


def test_worker_killed_mid_broadcast_loses_nothing(pg_url, redis_url, namespace, twilio, tmp_path):
    from emergency.dispatch.scheduled import reconcile_outbox
    from emergency.runtime import Runtime
    from emergency.settings import Settings

    env = worker_env(
        pg_url,
        redis_url,
        namespace,
        twilio,
        TYPHOON_SMS_RATE=1000,
        TYPHOON_CLAIM_TIMEOUT=4,
        TYPHOON_QUEUE_MIN_IDLE=2,
    )
    settings = Settings(**{k: v for k, v in env.items() if k.startswith(("TYPHOON_", "TWILIO_"))})
    runtime = Runtime.build(settings)  # for the reconciler, run here (see below)
    with (
        start("worker", env, tmp_path / "a.log") as a,
        start("worker", env, tmp_path / "b.log") as b,
    ):
        wait_for(lambda: len(live_worker_ids(redis_url, namespace)) == 2, 60, "two workers")
        health = typhoon("health", "worker", env=env)
        assert health.returncode == 0, health.stderr
        db, seeded = enqueue(pg_url, redis_url, namespace, 5000)
        wait_for(lambda: len(twilio.per_recipient) >= 1500, 60, "sending to start")
        a.kill(signal.SIGKILL)
        with db.session() as session:
            in_flight = session.execute(
                select(func.count()).where(
                    M.c.status == "sending", M.c.claimed_by.like(f"%:{a.popen.pid}:%")
                )
            ).scalar_one()

        # The scheduler's reconciler job, run from here: a scheduler process would compete
        # for the one leader lock with anything else using this Redis.
        def done() -> bool:
            reconcile_outbox(runtime=runtime)
            left = statuses(db, seeded.broadcast_id)
            return left.get("queued", 0) + left.get("sending", 0) == 0

        wait_for(done, 120, "the broadcast to finish", interval=1.0)
        assert b.popen.poll() is None
    runtime.close()
    final = statuses(db, seeded.broadcast_id)
    db.dispose()
    duplicates = sum(n - 1 for n in twilio.per_recipient.values() if n > 1)
    print(
        f"\nkilled worker had {in_flight} messages claimed; duplicates at the server: "
        f"{duplicates} (bound: {in_flight}); final {final}"
    )
    assert final == {"sent": 5000}
    assert len(twilio.per_recipient) == 5000  # nobody lost
    assert duplicates <= in_flight  # at most what was in flight at the kill
    assert duplicates == 0  # and in fact none: the reconciler asks Twilio first


def test_two_workers_never_exceed_the_rate_ceiling(pg_url, redis_url, namespace, twilio, tmp_path):
    rate, seconds = 100, 10.0
    env = worker_env(pg_url, redis_url, namespace, twilio, TYPHOON_SMS_RATE=rate)
    with (
        start("worker", env, tmp_path / "a.log") as a,
        start("worker", env, tmp_path / "b.log") as b,
    ):
        wait_for(lambda: len(live_worker_ids(redis_url, namespace)) == 2, 60, "two workers")
        db, seeded = enqueue(pg_url, redis_url, namespace, int(rate * (seconds + 4)))
        wait_for(lambda: twilio.received, 60, "the first message")
        first = min(r.at for r in twilio.received)
        # every arrival of the measured seconds is in once a later one is
        wait_for(
            lambda: twilio.received[-1].at >= first + seconds + 0.5,
            60 + seconds,
            "arrivals past the measured seconds",
        )
        stamps = [r.at for r in twilio.received if r.at < first + seconds]
        for proc in (a, b):
            proc.kill(signal.SIGTERM)  # graceful: in-flight sends finish, results stored
            assert proc.popen.returncode == 0, proc.log.read_text()[-2000:]
    peak, mean = max_in_window(stamps), len(stamps) / seconds
    peak_5s = max_in_window(stamps, window=5.0)
    print(
        f"\nrate ceiling {rate}/s, 2 workers, {seconds:.0f} s: {len(stamps)} arrived; max in any "
        f"1-s window {peak}, in any 5-s window {peak_5s}; mean {mean:.1f}/s"
    )
    # The safety claim: two workers never exceed the shared ceiling. The ceiling paces when
    # requests start (exactly: test_queue_and_rate's shared-ceiling and virtual-clock tests).
    # Here they are counted as the fake provider receives them, and on a loaded machine a
    # stall of d seconds in its (or the workers') event loop bunches rate × d arrivals into
    # whatever window follows: 163 in one second was seen at load ~9 with two CPU hogs, so no
    # sliding window of arrivals can tell a stall from a ceiling that is not shared. The
    # seconds counted from the first arrival can: nothing arrives before the first one, and
    # an arrival is only ever late, never early, so stalls cannot add to them. A ceiling not
    # shared sends 2 × rate; allowed: the rate plus a tenth (the first arrival's own delay).
    # The sliding 1-s peak at the provider is benchmarks/bench_rate_ceiling's row (60 s).
    assert len(stamps) <= rate * seconds * 1.1, (len(stamps), peak, peak_5s)
    # How close they come to it (the mean) depends on the machine's load: that figure is
    # benchmarks/bench_rate_ceiling's, beside its floor (90.1/s here once at load 10).
    left = statuses(db, seeded.broadcast_id)
    db.dispose()
    assert left.get("sending", 0) == 0  # a stopped worker leaves no claim behind
    assert left["sent"] == len(twilio.received) and set(twilio.per_recipient.values()) == {1}


def test_worker_needs_redis_and_health_reports_a_missing_worker(redis_url, namespace):
    out = typhoon("worker", env={"TYPHOON_REDIS_URL": ""})
    assert out.returncode == 2 and "TYPHOON_REDIS_URL" in out.stderr
    out = typhoon(
        "health",
        "worker",
        env={"TYPHOON_REDIS_URL": redis_url},
    )
    assert out.returncode == 1 and "no live worker" in out.stderr
