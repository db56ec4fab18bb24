"""A `typhoon worker` rides out a PostgreSQL restart and a Redis restart (without persistence:
the stream is gone) and still sends everyone the warning exactly once.

PostgreSQL is shared with everything else on the machine, so its "restart" is a TCP proxy in
front of it that drops every connection and refuses new ones for a few seconds. Redis gets a
private `redis-server` that is killed and started again, empty."""

from __future__ import annotations

import os
from contextlib import contextmanager

import pytest

from alerts.dispatch.queue import RedisStreamQueue
from alerts.dispatch.testing import seed_broadcast
from tests.emergency.dispatch.test_processes import (
    live_worker_ids,
    statuses,
    wait_for,
    worker_env,
)
from tests.support import outages
from tests.support.outages import OutageProxy
from tests.support.processes import start

pytestmark = [pytest.mark.redis, pytest.mark.postgres]


@contextmanager
def private_redis():
    try:
        with outages.private_redis() as running:
            yield running
    except outages.Unavailable as exc:
        pytest.skip(str(exc))


def _pg_database(pg_url: str):
    from sqlalchemy.engine import make_url

    from emergency.db import Database

    return make_url(pg_url), Database(pg_url)


@pytest.fixture
def pg_url(database_url):
    if database_url.startswith("sqlite"):
        pytest.skip("worker processes share PostgreSQL in production")
    return database_url


@pytest.fixture
def twilio():
    from alerts.testing import run_twilio_server

    with run_twilio_server(record="counts") as fake:
        yield fake


def test_worker_rides_out_a_postgresql_restart(pg_url, redis_url, twilio, tmp_path):
    url, db = _pg_database(pg_url)
    proxy = OutageProxy(url.host or "127.0.0.1", url.port or 5432)
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    namespace = f"{os.environ['TYPHOON_REDIS_PREFIX']}:dispatch"
    env = worker_env(proxied, redis_url, namespace, twilio, TYPHOON_SMS_RATE=800)
    try:
        with start("worker", env, tmp_path / "worker.log") as worker:
            wait_for(lambda: live_worker_ids(redis_url, namespace), 60, "the worker")
            with db.unit_of_work() as session:
                seeded = seed_broadcast(session, count=3000, expect=False)
            RedisStreamQueue(redis_url, namespace=namespace).enqueue(seeded.message_ids)
            wait_for(lambda: twilio.stats()["created"] >= 600, 60, "sending to start")
            proxy.outage(3.0)  # every connection dropped, none accepted for 3 s

            def finished() -> bool:
                left = statuses(db, seeded.broadcast_id)
                return left.get("queued", 0) + left.get("sending", 0) == 0

            wait_for(finished, 180, "the broadcast to finish", interval=0.5)
            assert worker.popen.poll() is None
        log = (tmp_path / "worker.log").read_text()
    finally:
        proxy.close()
    final = statuses(db, seeded.broadcast_id)
    db.dispose()
    stats = twilio.stats()
    assert final == {"sent": 3000}
    assert stats["created"] == 3000 and stats["duplicates"] == 0
    assert "failed" in log and "retrying" in log  # it did meet the outage


def test_worker_rides_out_a_redis_restart_that_loses_the_stream(pg_url, twilio, tmp_path):
    from emergency.dispatch.scheduled import reconcile_outbox
    from emergency.runtime import Runtime
    from emergency.settings import Settings

    _, db = _pg_database(pg_url)
    with private_redis() as (redis_url, restart):
        env = worker_env(
            pg_url,
            redis_url,
            "typhoon:dispatch",
            twilio,
            TYPHOON_SMS_RATE=800,
            TYPHOON_QUEUE_MIN_IDLE=2,
        )
        settings = Settings(
            **{k: v for k, v in env.items() if k.startswith(("TYPHOON_", "TWILIO_"))}
        )
        runtime = Runtime.build(settings)  # the scheduler's reconciler, run from here
        try:
            with start("worker", env, tmp_path / "worker.log") as worker:
                wait_for(lambda: live_worker_ids(redis_url, "typhoon:dispatch"), 60, "the worker")
                with db.unit_of_work() as session:
                    seeded = seed_broadcast(session, count=3000, expect=False)
                RedisStreamQueue(redis_url).enqueue(seeded.message_ids)
                wait_for(lambda: twilio.stats()["created"] >= 600, 60, "sending to start")
                restart(2.0)  # killed, down 2 s, back empty: the queued ids are gone

                def finished() -> bool:
                    reconcile_outbox(runtime=runtime)
                    left = statuses(db, seeded.broadcast_id)
                    return left.get("queued", 0) + left.get("sending", 0) == 0

                wait_for(finished, 180, "the broadcast to finish", interval=1.0)
                assert worker.popen.poll() is None
        finally:
            runtime.close()
    final = statuses(db, seeded.broadcast_id)
    db.dispose()
    stats = twilio.stats()
    assert final == {"sent": 3000}
    assert stats["created"] == 3000 and stats["duplicates"] == 0
