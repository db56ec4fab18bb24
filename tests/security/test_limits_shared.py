"""Rate limits shared by the API processes through Redis (issue #8): two apps built from the
same settings (the same Redis and TYPHOON_REDIS_PREFIX, as two `typhoon serve` replicas behind
a proxy) give a client ONE allowance, not two; the 429 carries Retry-After. With Redis
unreachable the limits fail open to each process's own window: never a 500, never a refusal
that Redis caused. Without Redis at all, see test_limits.py (the window in the process)."""

from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager

import pytest

from emergency import request_limits
from tests.emergency.broadcasts.conftest import PUBLIC_URL, TWILIO_SID, TWILIO_TOKEN
from tests.emergency.broadcasts.test_webhooks import INBOUND, signed
from tests.emergency.field.conftest import Api
from tests.emergency.field.factories import field_token, group, report
from tests.security.test_limits import HAZARD, count
from tests.support import server
from tests.support.outages import Unavailable, redis_server
from tests.support.server import free_port
from tests.support.waits import wait_for

PUSH = "/api/v1/push/subscriptions"
BAD_PUSH = {"subscription": {"endpoint": "https://fcm.googleapis.com/fcm/send/x"}}  # → 422


@pytest.fixture
def replicas(database_url, settings_for, tmp_path):
    """`replicas(redis_url, **settings)`: two apps on one database and one Redis prefix."""

    @contextmanager
    def start(redis_url: str, **overrides):
        settings = settings_for(
            database_url,
            TYPHOON_REDIS_URL=redis_url,
            TYPHOON_DATA_DIR=str(tmp_path / "data"),
            TWILIO_ACCOUNT_SID=TWILIO_SID,
            TWILIO_AUTH_TOKEN=TWILIO_TOKEN,
            TWILIO_FROM_NUMBER="+15005550006",
            TYPHOON_PUBLIC_URL=PUBLIC_URL,
            **overrides,
        )
        kwargs = dict(embedded_worker=False, embedded_scheduler=False)
        with server.run(settings, **kwargs) as a, server.run(settings, **kwargs) as b:
            yield a, b

    return start


def redis_client(url: str):
    import redis

    return redis.Redis.from_url(url, decode_responses=True)


def retry_after(response, most: int) -> int:
    seconds = int(response.headers["Retry-After"])
    assert 1 <= seconds <= most
    return seconds


# --- two replicas, one allowance ---------------------------------------------------------------


def test_field_allowance_is_shared_by_two_replicas(replicas, redis_url, _own_redis_prefix):
    with replicas(redis_url, TYPHOON_FIELD_RATE_LIMIT="4") as (a, b):
        api = Api(a)
        gid = group(api)["id"]
        phone, other = field_token(api, a, group_id=gid), field_token(api, a, group_id=gid)
        answers = [report(app, phone, HAZARD).status_code for app in (a, b, a, b)]
        assert answers == [201] * 4
        refused = report(a, phone, HAZARD)  # the 5th, across both: one allowance, not two
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
        retry_after(refused, 60)
        assert report(b, phone, HAZARD).status_code == 429
        assert count(a, "field_report") == 4
        assert report(b, other, HAZARD).status_code == 201  # another phone: its own allowance
        # one key per user, under the deployment's prefix, expiring with the window
        client = redis_client(redis_url)
        keys = client.keys(f"{_own_redis_prefix}:ratelimit:field:*")
        assert len(keys) == 2  # the two phones
        for key in keys:
            assert key.startswith(f"{_own_redis_prefix}:ratelimit:field:user:")
            assert 0 < client.pttl(key) <= 60_000
        assert sorted(client.zcard(key) for key in keys) == [1, 4]


def test_cap_feed_allowance_is_shared_by_two_replicas(replicas, redis_url, _own_redis_prefix):
    with replicas(redis_url, TYPHOON_CAP_FEED_RATE_LIMIT="3") as (a, b):
        answers = [app.client.get("/api/v1/cap/feed.atom").status_code for app in (a, b, a)]
        assert answers == [200] * 3
        refused = b.client.get("/api/v1/cap/alerts")
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
        retry_after(refused, 60)
        assert a.client.get("/api/v1/cap/feed.atom").status_code == 429
        client = redis_client(redis_url)
        [key] = client.keys(f"{_own_redis_prefix}:ratelimit:cap_feed:*")
        assert key == f"{_own_redis_prefix}:ratelimit:cap_feed:127.0.0.1"
        assert client.zcard(key) == 3  # refused requests are not recorded
        assert 0 < client.pttl(key) <= 60_000


def test_webhook_refusals_are_shared_by_two_replicas(replicas, redis_url):
    with replicas(redis_url, TYPHOON_WEBHOOK_REFUSAL_LIMIT="2") as (a, b):
        params = {"From": "+85366000001", "Body": "STOP"}
        assert [app.client.post(INBOUND, data=params).status_code for app in (a, b)] == [403] * 2
        # the address used its refusals on two replicas: its next refusal is a 429 on either
        after = a.client.post(INBOUND, data=params)
        assert after.status_code == 429
        retry_after(after, 60)
        assert b.client.post(INBOUND, data=params).status_code == 429
        assert count(a, "subscriber") == 0
        # a signed call is never limited (#14 item 7)
        assert signed(b, INBOUND, params).status_code == 200


def test_push_allowance_is_shared_by_two_replicas(replicas, redis_url):
    with replicas(redis_url) as (a, b):
        answers = [(a, b)[i % 2].client.post(PUSH, json=BAD_PUSH).status_code for i in range(20)]
        assert answers == [422] * 20  # counted even when refused
        for app in (a, b):
            refused = app.client.post(PUSH, json=BAD_PUSH)
            assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
            retry_after(refused, 600)


def test_push_limit_without_redis_has_retry_after(alerts_app):
    for _ in range(20):
        assert alerts_app.client.post(PUSH, json=BAD_PUSH).status_code == 422
    # unsubscribing shares the allowance
    refused = alerts_app.client.request("DELETE", PUSH, json={"endpoint": "https://x.example/1"})
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
    retry_after(refused, 600)


# --- Redis unreachable or restarted: fail open -----------------------------------------------


def test_unreachable_redis_fails_open_to_each_process_window(replicas, caplog):
    closed = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    caplog.set_level(logging.WARNING, logger="emergency.request_limits")
    with replicas(closed, TYPHOON_CAP_FEED_RATE_LIMIT="3") as (a, b):
        started = time.monotonic()
        for app in (a, b):  # each process: its own window, as before issue #8
            answers = [app.client.get("/api/v1/cap/feed.atom").status_code for _ in range(3)]
            assert answers == [200] * 3  # allowed, not a 500
            refused = app.client.get("/api/v1/cap/feed.atom")
            assert refused.status_code == 429
            retry_after(refused, 60)
        # webhooks: a refused call is still a 403 (not a 500), a signed one goes through
        assert a.client.post(INBOUND, data={}).status_code == 403
        assert signed(b, INBOUND, {"From": "+85366000001", "Body": "HELP"}).status_code == 200
        assert time.monotonic() - started < 10  # no timeout on every request
    outages = [r for r in caplog.records if "Redis unavailable" in r.getMessage()]
    assert 1 <= len(outages) <= 2  # once per process, not once per request


def test_redis_restart_falls_back_then_shares_again(monkeypatch, caplog):
    monkeypatch.setattr(request_limits, "REDIS_RETRY", 0.2)
    caplog.set_level(logging.INFO, logger="emergency.request_limits")
    try:
        with redis_server() as redis:
            one, two = request_limits.SharedRedis(redis.url), request_limits.SharedRedis(redis.url)

            def limiter(shared):
                return request_limits.SharedRequestLimiter(
                    shared, prefix="t:rl", limit=2, window=60.0
                )

            first, second = limiter(one), limiter(two)
            assert first.allow("k")[0] and second.allow("k")[0]
            over, retry = first.allow("k")
            assert not over and 59 < retry <= 60
            assert second.exceeded("k")[0]

            redis.stop()  # killed: nothing listens at its address until start()
            # Redis down: not refused because of Redis, yet this process's window still bounds
            assert first.allow("k") == (True, 0.0) and first.allow("k") == (True, 0.0)
            assert first.allow("k")[0] is False
            assert second.exceeded("k") == (False, 0.0)

            redis.start()  # back, empty
            # each process tries Redis again once REDIS_RETRY has passed since it failed
            wait_for(
                lambda: time.monotonic() > max(one._down_until, two._down_until),
                what="REDIS_RETRY to pass",
            )
            assert first.allow("k") == (True, 0.0)  # the shared window again (empty)
            assert second.allow("k") == (True, 0.0)
            assert first.allow("k")[0] is False
            assert second.exceeded("k")[0]
    except Unavailable as exc:
        pytest.skip(str(exc))
    messages = [r.getMessage() for r in caplog.records]
    assert any("Redis unavailable" in m for m in messages)
    assert any("Redis answers again" in m for m in messages)


# --- the script itself -------------------------------------------------------------------------


def test_concurrent_hits_from_two_connections_never_exceed_the_limit(redis_url, _own_redis_prefix):
    prefix = f"{_own_redis_prefix}:ratelimit:race"
    limiters = [
        request_limits.SharedRequestLimiter(
            request_limits.SharedRedis(redis_url), prefix=prefix, limit=25, window=60.0
        )
        for _ in range(2)
    ]
    allowed: list[bool] = []
    lock = threading.Lock()

    def hammer(limiter):
        for _ in range(40):
            ok, _ = limiter.allow("one-client")
            with lock:
                allowed.append(ok)

    threads = [threading.Thread(target=hammer, args=(limiters[i % 2],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(allowed) == 320 and allowed.count(True) == 25
    assert redis_client(redis_url).zcard(f"{prefix}:one-client") == 25


def test_window_slides_and_key_expires(redis_url, _own_redis_prefix):
    prefix = f"{_own_redis_prefix}:ratelimit:slide"
    # the window is long enough for three calls on a loaded machine to fall in it
    window = 2.0
    limiter = request_limits.SharedRequestLimiter(
        request_limits.SharedRedis(redis_url), prefix=prefix, limit=2, window=window
    )
    assert limiter.allow("k")[0] and limiter.allow("k")[0]
    over, retry = limiter.allow("k")
    assert not over and 0 < retry <= window
    assert limiter.exceeded("k")[0]
    time.sleep(retry + 0.05)  # Retry-After is true: once it has passed, there is room
    assert limiter.exceeded("k") == (False, 0.0) and limiter.allow("k")[0]
    client = redis_client(redis_url)
    assert 0 < client.pttl(f"{prefix}:k") <= window * 1000  # it expires with its window
    wait_for(lambda: not client.exists(f"{prefix}:k"), what="the key to expire")
