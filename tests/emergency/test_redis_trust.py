"""Redis is part of the trust boundary, and is never trusted more than the database (issue 20
item 1): whatever a Redis client writes there, live screens get only the database's events,
SMS are never held more than seconds, the rate limits never answer beyond their window, and
the database's own attempt count decides poison. The scheduler's lock and the worker's health
are in test_redis_trust_processes.py (real processes)."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import UTC, datetime

import pytest

from emergency.events import service as event_service
from tests.support import server
from tests.support.live import LiveClient
from tests.support.waits import wait_for

pytestmark = pytest.mark.redis

LEVELS = ["1", "3", "8NE", "8SE", "8NW", "8SW", "9", "10", "8NE", "3"]


def redis_client(url: str):
    import redis

    return redis.Redis.from_url(url, decode_responses=True)


def test_forged_bus_messages_reach_no_screen_and_real_changes_all_arrive(
    database_url, redis_url, settings_for, tmp_path
):
    settings = settings_for(
        database_url, TYPHOON_REDIS_URL=redis_url, TYPHOON_DATA_DIR=str(tmp_path / "data")
    )
    client = redis_client(redis_url)
    channel = settings.redis_key("events")
    with server.run(settings) as app:
        operator = app.auth("operator")
        with LiveClient(app.ws_url, app.token("viewer")) as screen:
            snap = screen.next()
            wait_for(lambda: client.pubsub_numsub(channel)[0][1] > 0, what="the hub's subscription")
            # 50 well-formed events with the very next seqs, published by a Redis client alone.
            for i in range(50):
                forged = {
                    "seq": snap["seq"] + 1 + i,
                    "type": "signal.changed",
                    "at": datetime.now(UTC).isoformat(),
                    "data": {
                        "source": "SMG",
                        "kind": "tropical_cyclone",
                        "level": "10",
                        "change": "raise",
                        "note": "forged",
                    },
                }
                assert client.publish(channel, json.dumps(forged)) >= 1
            client.publish(channel, "not even json")  # does not cut the bus either
            for level in LEVELS:
                r = app.client.post(
                    "/api/v1/signals",
                    headers=operator,
                    json={"source": "SMG", "kind": "tropical_cyclone", "level": level},
                )
                assert r.status_code == 200, r.text
            with app.db.session() as session:
                last = event_service.last_seq(session)
            seen = screen.events_until(lambda m: m["seq"] == last, timeout=60)
    assert all(m["data"].get("note") != "forged" for m in seen)
    changes = [m["data"]["level"] for m in seen if m["type"] == "signal.changed"]
    assert changes == LEVELS
    assert [m["seq"] for m in seen] == list(range(snap["seq"] + 1, last + 1))


# --- the SMS rate ceiling -------------------------------------------------------------------


@pytest.mark.parametrize("forged", ["an hour ahead", "not a number", "a list"])
def test_a_forged_sms_rate_slot_delays_sending_seconds_at_most(redis_url, forged):
    from alerts.dispatch.sms_ceiling import MAX_WAIT, RedisSmsCeiling

    client = redis_client(redis_url)
    key = f"{os.environ['TYPHOON_REDIS_PREFIX']}:dispatch:sms-rate"
    seconds, micros = client.time()
    if forged == "an hour ahead":
        client.set(key, str((seconds + 3600) * 1_000_000 + micros))
    elif forged == "not a number":
        client.set(key, "soon")
    else:
        client.rpush(key, "x")

    async def main() -> int:
        limiter = RedisSmsCeiling(redis_url, 100.0, key=key)
        try:
            # The bound is the assertion: the old limiter slept for the hour.
            for _ in range(20):
                await asyncio.wait_for(limiter.acquire(), timeout=MAX_WAIT + 3)
            return limiter.missed
        finally:
            await limiter.close()

    asyncio.run(main())
    now = client.time()
    assert int(client.get(key) or 0) <= (now[0] + 5) * 1_000_000  # started again from now


def test_with_redis_unreachable_sms_go_out_at_this_workers_share(caplog):
    from alerts.dispatch.sms_ceiling import RedisSmsCeiling
    from alerts.dispatch.testing import max_in_window
    from tests.alerts.dispatch.test_queue_and_rate import _pace

    async def main() -> tuple[list[float], bool]:
        limiter = RedisSmsCeiling("redis://127.0.0.1:1/0", 100.0, fallback_workers=4)
        try:
            return await _pace(limiter, 2.0), limiter.degraded
        finally:
            await limiter.close()

    stamps, degraded = asyncio.run(main())
    assert degraded
    assert "sending at this worker's share of the ceiling, 25/s" in caplog.text
    assert 10 <= len(stamps) <= 25 * 2 + 5  # some go out, never more than the share
    assert max_in_window(stamps) <= 25 + 5  # (one block at the full pace)


# --- worker liveness: one clock (issue 20 item 8) ---------------------------------------------


def test_worker_liveness_is_judged_on_redis_clock_not_each_hosts(
    redis_url, settings_for, monkeypatch
):
    import time
    from types import SimpleNamespace

    from emergency.dispatch import service

    settings = settings_for("sqlite:///unused.db", TYPHOON_REDIS_URL=redis_url)
    shared = redis_client(redis_url)  # the process's one client (Runtime.redis)
    runtime = SimpleNamespace(settings=settings, local_workers=set(), redis=lambda: shared)
    real = time.time

    def beat(worker_id: str, skew: float) -> None:
        registry = service._Registry(settings, worker_id)
        monkeypatch.setattr(time, "time", lambda: real() + skew)

        async def go() -> None:
            await registry.beat()
            await registry._redis().aclose()

        try:
            asyncio.run(go())
        finally:
            monkeypatch.setattr(time, "time", real)

    beat("behind:1:a", -3600)  # its host's clock an hour slow: still alive
    beat("ahead:1:b", +3600)  # an hour fast: not "alive" for an hour after it stops
    assert service.live_workers(runtime) == {"behind:1:a", "ahead:1:b"}
    client = redis_client(redis_url)
    now = float(client.time()[0])
    for worker in ("behind:1:a", "ahead:1:b"):
        expires = client.zscore(f"{settings.dispatch_namespace}:workers", worker)
        assert now < expires <= now + service.HEARTBEAT_TTL + 2
    # And the reader's own clock does not matter either.
    monkeypatch.setattr(time, "time", lambda: real() + 3600)
    assert service.live_workers(runtime) == {"behind:1:a", "ahead:1:b"}


# --- rate limits of the API -------------------------------------------------------------------


def test_future_dated_rate_limit_entries_never_answer_past_the_window(redis_url):
    from emergency import request_limits

    shared = request_limits.SharedRedis(redis_url)
    prefix = f"{os.environ['TYPHOON_REDIS_PREFIX']}:ratelimit:field"
    limiter = request_limits.SharedRequestLimiter(shared, prefix=prefix, limit=120, window=60.0)
    client = redis_client(redis_url)
    seconds, _ = client.time()
    ten_years = (seconds + 10 * 365 * 86400) * 1_000_000
    client.zadd(f"{prefix}:team-7", {f"forged-{i}": ten_years + i for i in range(120)})
    assert limiter.exceeded("team-7") == (False, 0.0)  # the forged hits are not counted
    for _ in range(120):
        assert limiter.allow("team-7")[0]
    refused, retry = limiter.allow("team-7")
    assert not refused and 0 < retry <= 60.0
    # A key made something else than a window is started again, not an error.
    client.delete(f"{prefix}:team-8")
    client.rpush(f"{prefix}:team-8", "x")
    assert limiter.allow("team-8") == (True, 0.0)
    shared.client.close()


def test_a_claim_is_aged_on_the_databases_clock_not_the_workers(database_url):
    """A worker host whose clock is ten minutes slow: its fresh claims are not taken for
    abandoned ones (the reconciler would hand a live worker's rows to another)."""
    if database_url.startswith("sqlite"):
        pytest.skip("one host, one clock: several hosts share PostgreSQL")
    from datetime import timedelta

    from alerts.dispatch import store
    from alerts.dispatch.queue import InProcessQueue
    from alerts.dispatch.reconcile import reconcile
    from alerts.dispatch.testing import seed_broadcast
    from alerts.sqltypes import utcnow
    from emergency.db import Database

    db = Database(database_url)
    with db.unit_of_work() as session:
        seeded = seed_broadcast(session, count=5, expect=False)
    slow = utcnow() - timedelta(minutes=10)
    with db.unit_of_work() as session:
        claimed = store.claim(session, seeded.message_ids, worker_id="slow:1:abcdef", now=slow)
    assert len(claimed.claimed) == 5
    report = reconcile(
        unit_of_work=db.unit_of_work,
        queue=InProcessQueue(),
        live_workers={"slow:1:abcdef"},
        claim_timeout=120,
        dead_after=15,
    )
    db.dispose()
    assert report.reclaimed == 0
