"""Redis is not trusted more than the database, with real processes on PostgreSQL and Redis
(issue 20 items 1 and 8): a `typhoon worker` sends within seconds although the SMS rate slot
in Redis was set an hour ahead; `typhoon health worker` says "stuck", not "alive", for a
worker that holds messages it cannot move on; a leader key with no expiry, or a holder that
never renews, does not stop the scheduler for long."""

from __future__ import annotations

import os
import socket

import pytest
from sqlalchemy import create_engine, text

from tests.emergency.dispatch import test_processes as processes
from tests.emergency.dispatch.test_processes import enqueue, statuses, typhoon, worker_env
from tests.support.processes import start
from tests.support.waits import wait_for

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.heavy]
# The worker tests' fixtures: PostgreSQL only, the fake Twilio, this test's dispatch keys.
pg_url, twilio, namespace = processes.pg_url, processes.twilio, processes.namespace


def redis_client(url: str):
    import redis

    return redis.Redis.from_url(url, decode_responses=True)


def test_worker_sends_within_seconds_with_the_rate_slot_an_hour_ahead(
    pg_url, redis_url, namespace, twilio, tmp_path
):
    client = redis_client(redis_url)
    seconds, micros = client.time()
    client.set(f"{namespace}:sms-rate", str((seconds + 3600) * 1_000_000 + micros))
    env = worker_env(pg_url, redis_url, namespace, twilio, TYPHOON_SMS_RATE=50)
    with start("worker", env, tmp_path / "worker.log"):
        db, seeded = enqueue(pg_url, redis_url, namespace, 40)
        # The old worker slept for the hour: nothing at all went out.
        wait_for(
            lambda: statuses(db, seeded.broadcast_id).get("sent") == 40,
            timeout=60,
            what="all 40 SMS sent",
        )
    db.dispose()
    assert len(twilio.per_recipient) == 40
    assert "not one a worker could have set" in (tmp_path / "worker.log").read_text()


def test_health_says_stuck_not_alive_for_a_worker_that_cannot_move_its_work(
    pg_url, redis_url, namespace, twilio, tmp_path
):
    env = worker_env(pg_url, redis_url, namespace, twilio, TYPHOON_WORKER_STALL_SECONDS=2)
    engine = create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with start("worker", env, tmp_path / "worker.log") as worker:
        wait_for(lambda: typhoon("health", "worker", env=env).returncode == 0, what="alive")
        # Its connections say what they are (issue 20 item 7: the connection budget).
        with engine.connect() as conn:
            names = conn.execute(
                text(
                    "SELECT application_name FROM pg_stat_activity WHERE datname = current_database()"
                )
            ).scalars()
            assert f"typhoon-worker:{socket.gethostname()}:{worker.pid}"[:63] in set(names)
        from emergency.db import Database

        db = Database(pg_url)
        with db.unit_of_work() as session:
            from alerts.dispatch.testing import seed_broadcast

            seeded = seed_broadcast(session, count=20, expect=False)
        # Its claims wait behind a lock that is never let go (until the test lets it go).
        with engine.connect() as blocker:
            blocker.execute(text("LOCK TABLE message IN ACCESS EXCLUSIVE MODE"))
            from alerts.dispatch.queue import RedisStreamQueue

            RedisStreamQueue(redis_url, namespace=namespace).enqueue(seeded.message_ids)
            health = wait_for(
                lambda: (out := typhoon("health", "worker", env=env)).returncode == 1 and out,
                timeout=60,
                what="the health check to fail",
            )
            assert "worker stuck" in health.stderr and "no progress" in health.stderr
            blocker.rollback()
        wait_for(
            lambda: statuses(db, seeded.broadcast_id).get("sent") == 20,
            timeout=60,
            what="the broadcast to go out once the lock is gone",
        )
        wait_for(lambda: typhoon("health", "worker", env=env).returncode == 0, what="alive again")
    db.dispose()
    engine.dispose()
    assert os.environ["TYPHOON_REDIS_PREFIX"] in namespace


def lease_holder(url: str) -> str | None:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            return conn.execute(
                text("SELECT holder FROM scheduler_lease WHERE name = 'scheduler'")
            ).scalar()
    finally:
        engine.dispose()


def forged_lock_audits(url: str) -> list[tuple[str, str]]:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT actor, target_id FROM audit_entry "
                    "WHERE action = 'scheduler.lock_forged' ORDER BY seq"
                )
            ).all()
            return [(row[0], row[1]) for row in rows]
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "forged",
    ["a scheduler's id, no expiry", "a foreign holder, a day's expiry", "not a scheduler id"],
)
def test_a_forged_leader_lock_does_not_stop_scheduling_for_long(
    pg_url, redis_url, forged, tmp_path
):
    from emergency.liveness import HEARTBEAT_KEY, LEADER_KEY

    prefix = os.environ["TYPHOON_REDIS_PREFIX"]
    client = redis_client(redis_url)
    leader_key = f"{prefix}:{LEADER_KEY}"
    if forged == "a scheduler's id, no expiry":
        client.set(leader_key, "elsewhere:4242:abcdef")
    elif forged == "a foreign holder, a day's expiry":
        client.set(leader_key, "elsewhere:4242:abcdef", ex=86400)
    else:
        client.set(leader_key, "nobody")
    # A short lease (2 s, not 10): the first election comes sooner (every TTL/5); same logic.
    env = {
        "TYPHOON_DATABASE_URL": pg_url,
        "TYPHOON_REDIS_URL": redis_url,
        "TYPHOON_SCHEDULER_LOCK_TTL": "2",
    }
    with start("scheduler", env, tmp_path / "scheduler.log") as scheduler:
        holder = wait_for(
            lambda: (
                (value := client.get(leader_key)) and value.split(":")[1:2] == [str(scheduler.pid)]
            ),
            timeout=60,
            what="the scheduler to take the lead",
        )
        assert holder
        assert 0 < client.pttl(leader_key) <= 2_000  # its own lock always expires
        # And it really schedules: the heartbeat job ran.
        wait_for(lambda: client.exists(f"{prefix}:{HEARTBEAT_KEY}"), what="the heartbeat job")
    assert "leader lock in Redis was not valid" in (tmp_path / "scheduler.log").read_text()


def test_an_actively_renewed_forged_leader_lock_is_taken_over_and_audited(
    pg_url, redis_url, tmp_path
):
    """Issue 20 item 1: someone with Redis access writes a well-formed holder with a short
    TTL and renews it every 50 ms (before and all along). The database decides who leads: the
    scheduler takes the lease, schedules (the heartbeat job runs), overwrites the forgery and
    logs and audits it once; a second scheduler stands by."""
    import threading

    from emergency.liveness import HEARTBEAT_KEY, LEADER_KEY

    prefix = os.environ["TYPHOON_REDIS_PREFIX"]
    client = redis_client(redis_url)
    leader_key = f"{prefix}:{LEADER_KEY}"
    forged = "elsewhere:4242:abcdef"
    stop = threading.Event()
    forger = redis_client(redis_url)

    def forge() -> None:
        while not stop.wait(0.05):
            forger.set(leader_key, forged, px=5000)

    forger.set(leader_key, forged, px=5000)
    thread = threading.Thread(target=forge, daemon=True)
    thread.start()
    env = {"TYPHOON_DATABASE_URL": pg_url, "TYPHOON_REDIS_URL": redis_url}
    try:
        with (
            start("scheduler", env, tmp_path / "s1.log") as s1,
            start("scheduler", env, tmp_path / "s2.log") as s2,
        ):
            holder = wait_for(
                lambda: lease_holder(pg_url), timeout=60, what="a scheduler to hold the lease"
            )
            pids = {str(s1.pid): "s1", str(s2.pid): "s2"}
            assert holder.split(":")[1] in pids
            # It schedules although the forgery is renewed all along: the heartbeat job ran.
            wait_for(lambda: client.exists(f"{prefix}:{HEARTBEAT_KEY}"), what="the heartbeat job")
            audits = wait_for(lambda: forged_lock_audits(pg_url), what="the anomaly audited")
            assert lease_holder(pg_url) == holder  # still the one leader
            leader = pids[holder.split(":")[1]]
            said = (tmp_path / f"{leader}.log").read_text()
            # The standby never became active (it may once the leader stops, at the end).
            standby = (tmp_path / f"{'s2' if leader == 's1' else 's1'}.log").read_text()
            assert "scheduler is active" not in standby
    finally:
        stop.set()
        thread.join(5)
    assert audits == [("scheduler", holder)]  # once, however often the forgery came back
    assert said.count("leader lock in Redis was not valid") == 1
    assert "a holder the database did not make leader" in said and forged in said


def test_with_redis_down_a_scheduler_still_leads_and_says_so(pg_url, tmp_path):
    """Issue 20 item 1: the lease is the database's, so a scheduler that cannot reach Redis
    at all (nothing listens at its address) still takes the lead, and `typhoon health
    scheduler` says so from the database (the Redis lock of before: nobody scheduled)."""
    env = {"TYPHOON_DATABASE_URL": pg_url, "TYPHOON_REDIS_URL": "redis://127.0.0.1:1/0"}
    with start("scheduler", env, tmp_path / "scheduler.log") as scheduler:
        holder = wait_for(lambda: lease_holder(pg_url), timeout=60, what="the lease taken")
        assert holder.split(":")[1] == str(scheduler.pid)
        health = wait_for(
            lambda: (out := typhoon("health", "scheduler", env=env)).returncode == 0 and out,
            timeout=60,
            what="the health check to pass",
        )
    assert f"{holder} holds the lease" in health.stderr + health.stdout
    assert "Redis unreachable" in health.stderr + health.stdout
    assert "scheduler is active" in (tmp_path / "scheduler.log").read_text()
    stopped = typhoon("health", "scheduler", env=env)  # it let the lease go when it stopped
    assert stopped.returncode == 1 and "no scheduler lease held" in stopped.stderr


def test_xclaim_retrycount_does_not_make_real_messages_poison(
    pg_url, redis_url, namespace, twilio, tmp_path
):
    from alerts.dispatch.queue import GROUP, RedisStreamQueue
    from alerts.dispatch.store import M
    from alerts.dispatch.testing import seed_broadcast
    from emergency.db import Database

    db = Database(pg_url)
    with db.unit_of_work() as session:
        seeded = seed_broadcast(session, count=10, expect=False)
        # One of them the database has really seen claimed five times without a result.
        poison = seeded.message_ids[0]
        session.execute(M.update().where(M.c.id == poison).values(attempts=5))
    client = redis_client(redis_url)
    queue = RedisStreamQueue(redis_url, namespace=namespace)
    queue.enqueue(seeded.message_ids)
    client.xgroup_create(queue.stream, GROUP, id="0", mkstream=True)
    [[_, [(entry_id, _)]]] = client.xreadgroup(GROUP, "ghost", {queue.stream: ">"}, count=1)
    # With a Redis client alone: "this entry was delivered 99 times and is idle".
    client.execute_command(
        "XCLAIM", queue.stream, GROUP, "ghost", 0, entry_id, "IDLE", 600_000, "RETRYCOUNT", 99
    )
    env = worker_env(pg_url, redis_url, namespace, twilio, TYPHOON_QUEUE_MIN_IDLE=1)
    with start("worker", env, tmp_path / "worker.log"):
        wait_for(
            lambda: statuses(db, seeded.broadcast_id) == {"sent": 9, "failed": 1},
            timeout=60,
            what="the entry handled",
        )
    with db.session() as session:
        failed = session.execute(
            M.select().with_only_columns(M.c.id, M.c.error_code).where(M.c.status == "failed")
        ).all()
    db.dispose()
    queue.close()
    assert [tuple(row) for row in failed] == [(poison, "poison")]
    assert len(twilio.per_recipient) == 9


def test_with_redis_down_a_worker_sends_at_its_share_and_says_so(pg_url, twilio, tmp_path):
    """Issue 20 item 7: no Redis at all (nothing listens at its address). The worker reads
    due messages from the outbox, sends them at TYPHOON_SMS_RATE / TYPHOON_EXPECTED_WORKERS,
    and a `dispatch.degraded` event says so to the screens (through the database)."""
    from alerts.dispatch.testing import max_in_window, seed_broadcast
    from emergency.db import Database
    from emergency.events import service as event_service

    env = worker_env(
        pg_url,
        "redis://127.0.0.1:1/0",
        "test-none:dispatch",
        twilio,
        TYPHOON_SMS_RATE=20,
        TYPHOON_EXPECTED_WORKERS=4,
    )
    db = Database(pg_url)
    with db.unit_of_work() as session:
        seeded = seed_broadcast(session, count=30, expect=False)  # never enqueued: no Redis
    with start("worker", env, tmp_path / "worker.log"):
        wait_for(
            lambda: statuses(db, seeded.broadcast_id).get("sent") == 30,
            timeout=90,
            what="all 30 SMS sent without Redis",
        )

        def said() -> list[dict]:
            with db.session() as session:
                events = event_service.events_since(session, 0)
            return [e for e in events if e["type"] == "dispatch.degraded"]

        [event] = wait_for(said, what="dispatch.degraded")
        health = typhoon("health", "worker", env=env)
        assert health.returncode == 1 and "Redis unreachable" in health.stderr
        assert "from the database at their share" in health.stderr
    db.dispose()
    assert event["data"]["degraded"] and event["data"]["sms_rate"] == 5.0
    assert set(event["data"]["without_redis"]) == {"queue", "rate"}
    stamps = sorted(r.at for r in twilio.received)
    assert len(stamps) == 30 and max_in_window(stamps) <= 5 + 1  # 20/s ÷ 4 workers


def test_a_screen_opened_while_redis_is_down_sees_the_degraded_workers(pg_url, twilio, tmp_path):
    """Issue 20 item 7: the degraded state is part of the state, not only an event. A worker
    and an API process on PostgreSQL and a Redis of their own; Redis stops: the worker records
    in the database that it sends without Redis, so a screen opened afterwards (the snapshot
    of a new websocket, GET /api/v1/situation) lists it, with its share of the rate; Redis
    back: the list is empty again and `dispatch.recovered` says so."""
    import httpx

    from emergency.auth import service as auth_service
    from emergency.db import Database
    from emergency.events import service as event_service
    from tests.support import outages
    from tests.support.live import LiveClient
    from tests.support.processes import live_workers, start_api

    db = Database(pg_url)
    with db.unit_of_work() as session:
        _, viewer = auth_service.create_user(session, name="wall", role="viewer", actor="t")
    try:
        server = outages.RedisServer()
    except outages.Unavailable as exc:
        pytest.skip(str(exc))
    prefix = os.environ["TYPHOON_REDIS_PREFIX"]
    env = worker_env(
        pg_url,
        server.url,
        f"{prefix}:dispatch",
        twilio,
        TYPHOON_SMS_RATE=20,
        TYPHOON_EXPECTED_WORKERS=4,
    )
    try:
        server.start()
        with (
            start_api(env, tmp_path / "api.log") as api,
            start(
                "worker",
                env,
                tmp_path / "worker.log",
                ready=lambda: bool(live_workers(server.url, prefix)),
            ) as worker,
        ):

            def degraded() -> list[dict]:
                answer = httpx.get(
                    f"{api.url}/api/v1/situation",
                    headers={"Authorization": f"Bearer {viewer}"},
                    timeout=10,
                )
                assert answer.status_code == 200, answer.text
                return answer.json()["dispatch"]["degraded_workers"]

            assert degraded() == []
            server.stop()  # nothing listens at Redis's address any more
            [shown] = wait_for(degraded, timeout=60, what="the worker listed as degraded")
            assert shown["worker"].split(":")[1] == str(worker.pid)
            # the queue is read from the outbox; the rate ("rate") too once it sends an SMS
            assert shown["without_redis"] == ["queue"]
            assert shown["sms_rate"] == 5.0  # 20/s shared by 4 expected workers
            with LiveClient(api.ws_url, viewer) as screen:  # a screen opened now
                snapshot = screen.next(timeout=30)
            assert snapshot["type"] == "snapshot"
            assert snapshot["data"]["dispatch"]["degraded_workers"] == [shown]

            server.start()  # back, empty
            wait_for(lambda: degraded() == [], timeout=60, what="the degraded list emptied")
            with db.session() as session:
                said = [
                    e
                    for e in event_service.events_since(session, 0)
                    if e["type"].startswith("dispatch.")
                ]
    finally:
        server.stop()
        db.dispose()
    assert [e["type"] for e in said] == ["dispatch.degraded", "dispatch.recovered"]
    assert said[0]["data"]["degraded_workers"] == [shown]
    assert said[1]["data"]["degraded_workers"] == []
