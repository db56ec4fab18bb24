"""Subscribers and browser push subscriptions over real HTTP: stats, adding one, opt-out by an
operator, the VAPID key (stable across restarts), push subscriptions (public, checked,
rate-limited), push recipients of a broadcast, and removing a subscription that is gone."""

from __future__ import annotations

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from alerts.models import Message, PushSubscription, PushVapidKey
from alerts.providers.webpush import vapid_public_key_of
from alerts.subscribers import service as subscriber_service
from alerts.testing.push_endpoint import run_push_endpoint
from emergency.keys import SecretKeyMismatch, cipher
from tests.emergency.broadcasts.factories import LIANHUA, TAIPA, TEXTS, XIAOHENGQIN, seed
from tests.emergency.broadcasts.test_broadcasts_api import outbox, post, zones_of
from tests.support import server

SUBS = "/api/v1/subscribers"
PUSH = "/api/v1/push/subscriptions"


def test_stats_by_language_zone_channel(alerts_app):
    app = alerts_app
    seed(app.db, zones_of(app), 8, at=XIAOHENGQIN)
    seed(app.db, zones_of(app), 4, at=LIANHUA, languages=["pt"], channels="sms,push", exercise=True)
    seed(app.db, zones_of(app), 1, at=TAIPA, languages=["en"])
    app.client.post(
        f"{SUBS}/opt-out",
        headers=app.auth("operator"),
        json={"phone": seed(app.db, zones_of(app), 1, languages=["en"])[0]},
    )
    r = app.client.get(f"{SUBS}/stats", headers=app.auth("viewer"))
    assert r.status_code == 200
    s = r.json()
    assert (s["total"], s["active"], s["opted_out"], s["exercise_list"]) == (14, 13, 1, 4)
    assert s["by_language"] == {"zh-Hans": 2, "zh-Hant": 2, "pt": 6, "en": 3}
    assert s["by_zone"] == {"xiaohengqin": 8, "lianhua": 4, "none": 1}
    assert s["by_channel"] == {"sms": 13, "push": 4}
    assert app.client.get(f"{SUBS}/stats").status_code == 401


def test_operator_adds_a_subscriber(alerts_app):
    app = alerts_app
    r = app.client.post(
        SUBS,
        headers=app.auth("operator"),
        json={
            "phone": "+853 6612 3456",
            "language": "pt-PT",
            "lat": 22.105,
            "lon": 113.53,
            "channels": ["sms", "push"],
            "name": "Maria",
            "tags": ["Elderly"],
            "exercise": True,
        },
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["phone"] == "+853****3456"  # never shown whole
    assert (body["language"], body["zone_id"], body["channels"]) == (
        "pt",
        "xiaohengqin",
        ["sms", "push"],
    )
    assert body["tags"] == ["elderly", "exercise"] and body["exercise_list"] is True
    again = app.client.post(
        SUBS,
        headers=app.auth("operator"),
        json={"phone": "66123456", "language": "en", "zone": "lianhua"},
    )
    assert again.status_code == 409 and again.json()["error"]["code"] == "subscriber_exists"
    for body, code in [
        ({"phone": "28211234", "language": "en", "zone": "lianhua"}, "invalid_phone"),
        ({"phone": "66123457", "language": "de", "zone": "lianhua"}, "invalid_language"),
        ({"phone": "66123457", "language": "en"}, "invalid_lat"),
        ({"phone": "66123457", "language": "en", "zone": "mars"}, "invalid_zone"),
        (
            {"phone": "66123457", "language": "en", "zone": "lianhua", "channels": ["fax"]},
            "invalid_channels",
        ),
        ({"phone": "66123457", "language": "en", "zone": "lianhua", "age": 3}, "unknown_field"),
    ]:
        bad = app.client.post(SUBS, headers=app.auth("operator"), json=body)
        assert bad.status_code == 422, bad.text
        assert bad.json()["error"]["code"] == code
    assert (
        app.client.post(
            SUBS,
            headers=app.auth("viewer"),
            json={"phone": "66123457", "language": "en", "zone": "lianhua"},
        ).status_code
        == 403
    )


def test_vapid_key_is_generated_once_and_kept_across_restarts(alerts_settings):
    settings = alerts_settings()
    with server.run(settings, embedded_worker=False) as first:
        key = first.client.get("/api/v1/push/vapid-public-key").json()["public_key"]
        assert first.client.get("/api/v1/push/vapid-public-key").json()["public_key"] == key
    with server.run(settings, embedded_worker=False) as second:
        assert second.client.get("/api/v1/push/vapid-public-key").json()["public_key"] == key
        with second.db.unit_of_work() as session:
            private, public = subscriber_service.vapid_keys(session, cipher=cipher(settings))
        assert public == key == vapid_public_key_of(private)
        # The database holds the private key encrypted with a key kept outside it (issue 20.11).
        with second.db.session() as session:
            stored = session.get(PushVapidKey, 1).private_key
        assert stored.startswith("fernet:") and private not in stored
        other = settings.model_copy(update={"secret_key": SecretStr("another deployment's")})
        with second.db.session() as session, pytest.raises(SecretKeyMismatch):
            subscriber_service.vapid_keys(session, cipher=cipher(other))


def test_a_process_with_another_secret_key_still_sends_sms(alerts_settings, caplog):
    """A process whose TYPHOON_SECRET_KEY differs cannot read the stored VAPID key: it says so
    and sends no push, but its SMS (and the reconciler's look-ups) are not held up by it."""
    import asyncio

    from alerts.providers import close_providers
    from alerts.providers.twilio import TwilioProvider
    from emergency.dispatch.service import build_dispatch_providers
    from emergency.runtime import Runtime

    settings = alerts_settings()
    with server.run(settings, embedded_worker=False) as app:
        assert app.client.get("/api/v1/push/vapid-public-key").status_code == 200
    other = Runtime.build(
        settings.model_copy(update={"secret_key": SecretStr("another deployment's")})
    )
    try:
        providers = build_dispatch_providers(other)
        assert isinstance(providers["sms"], TwilioProvider)
        assert type(providers["push"]).__name__ == "ConsoleProvider"
        asyncio.run(close_providers(providers))
    finally:
        other.close()
    assert any("web push is not sent from this process" in r.getMessage() for r in caplog.records)


def test_a_plaintext_vapid_key_of_an_earlier_version_is_encrypted_when_read(alerts_settings):
    from alerts.providers.webpush import generate_vapid_keys

    settings = alerts_settings()
    private, public = generate_vapid_keys()
    with server.run(settings, embedded_worker=False) as app:
        with app.db.unit_of_work() as session:
            session.add(PushVapidKey(id=1, private_key=private, public_key=public))
        assert app.client.get("/api/v1/push/vapid-public-key").json()["public_key"] == public
        with app.db.session() as session:
            stored = session.get(PushVapidKey, 1).private_key
        assert stored.startswith("fernet:") and private not in stored
        with app.db.session() as session:
            assert subscriber_service.vapid_keys(session, cipher=cipher(settings))[0] == private


def test_configured_vapid_key_wins(alerts_settings):
    from alerts.providers.webpush import generate_vapid_keys

    private, public = generate_vapid_keys()
    with server.run(alerts_settings(VAPID_PRIVATE_KEY=private), embedded_worker=False) as app:
        assert app.client.get("/api/v1/push/vapid-public-key").json()["public_key"] == public


def test_push_subscriptions_reach_the_broadcast_and_a_gone_one_is_removed(alerts_app):
    app = alerts_app
    with run_push_endpoint() as push:
        near = push.new_subscription()
        anywhere = push.new_subscription()
        far = push.new_subscription()
        r = app.client.post(
            PUSH,
            json={
                "subscription": near,
                "language": "zh-Hant",
                "lat": XIAOHENGQIN[0],
                "lon": XIAOHENGQIN[1],
            },
        )
        assert r.status_code == 201, r.text
        assert (r.json()["zone_id"], r.json()["island_wide"]) == ("xiaohengqin", False)
        assert (
            app.client.post(PUSH, json={"subscription": anywhere, "language": "en"}).json()[
                "island_wide"
            ]
            is True
        )
        assert (
            app.client.post(
                PUSH, json={"subscription": far, "language": "pt", "zone": "lianhua"}
            ).status_code
            == 201
        )
        refreshed = app.client.post(
            PUSH, json={"subscription": near, "language": "zh-Hant", "zone": "xiaohengqin"}
        )
        assert refreshed.status_code == 200 and refreshed.json()["created"] is False

        seed(app.db, zones_of(app), 2, at=XIAOHENGQIN)
        b = post(app, {"messages": TEXTS, "zones": ["xiaohengqin"]}).json()
        rows = outbox(app, b["id"])
        push_rows = [m for m in rows if m.channel == "push"]
        assert {m.address for m in push_rows} == {near["endpoint"], anywhere["endpoint"]}
        assert {m.language for m in push_rows} == {"zh-Hant", "en"}
        assert all(m.dedupe_key == subscriber_service.endpoint_key(m.address) for m in push_rows)
        assert rows[0].channel == "push"  # push first: instant and free
        assert b["recipients"] == 4

        # The push service says 410 Gone for one: the worker removes it.
        gone = next(m for m in push_rows if m.address == anywhere["endpoint"])
        b2 = post(app, {"messages": TEXTS, "zones": ["lianhua"], "channels": ["push"]}).json()
        with app.db.unit_of_work() as session:
            assert (
                subscriber_service.remove_push_subscription(session, gone.push_subscription_id)
                is True
            )
            assert (
                subscriber_service.remove_push_subscription(session, gone.push_subscription_id)
                is False
            )
        with app.db.session() as session:
            endpoints = set(session.execute(select(PushSubscription.endpoint)).scalars())
            later = session.execute(
                select(Message).where(
                    Message.broadcast_id == b2["id"], Message.address == anywhere["endpoint"]
                )
            ).scalar_one()
        assert anywhere["endpoint"] not in endpoints
        assert (later.status, later.error_code, later.push_subscription_id) == (
            "failed",
            "gone",
            None,
        )

        # The browser unsubscribes.
        r = app.client.request("DELETE", PUSH, json={"endpoint": far["endpoint"]})
        assert r.status_code == 204
        with app.db.session() as session:
            assert far["endpoint"] not in set(
                session.execute(select(PushSubscription.endpoint)).scalars()
            )


def test_push_subscription_input_is_checked(alerts_app):
    app = alerts_app
    with run_push_endpoint() as push:
        good = push.new_subscription()
    bad_keys = {**good, "keys": {"p256dh": "AAAA", "auth": good["keys"]["auth"]}}
    cases = [
        (
            {"subscription": {**good, "endpoint": "https://evil.example/push/1"}},
            "invalid_endpoint",
            "not a known browser push service",
        ),
        (
            {"subscription": {**good, "endpoint": "http://10.0.0.5/push"}},
            "invalid_endpoint",
            "https",
        ),
        ({"subscription": bad_keys}, "invalid_p256dh", "65 bytes"),
        ({"subscription": good, "language": "xx"}, "invalid_language", "unknown language"),
        ({"subscription": good, "zone": "nowhere"}, "invalid_zone", "unknown zone"),
        ({"subscription": good, "lat": 22.1}, "invalid_lon", "both"),
        ({"subscription": good, "exercise": True}, "not_authenticated", "staff"),
        ({"subscription": good, "extra": 1}, "unknown_field", "extra"),
    ]
    for body, code, words in cases:
        r = app.client.post(PUSH, json=body)
        assert 400 <= r.status_code < 500, (body, r.text)
        assert r.json()["error"]["code"] == code and words in r.json()["error"]["message"]
    staff = app.client.post(
        PUSH,
        headers=app.auth("liaison"),
        json={"subscription": good, "language": "en", "exercise": True},
    )
    assert staff.status_code == 201 and staff.json()["exercise"] is True


def test_exercise_push_reaches_staff_browsers_only(alerts_app):
    app = alerts_app
    with run_push_endpoint() as push:
        staff, resident = push.new_subscription(), push.new_subscription()
    app.client.post(
        PUSH,
        headers=app.auth("operator"),
        json={"subscription": staff, "language": "en", "exercise": True},
    )
    app.client.post(PUSH, json={"subscription": resident, "language": "en"})
    b = post(app, {"messages": TEXTS, "zones": ["xiaohengqin"], "exercise": True}).json()
    assert [m.address for m in outbox(app, b["id"])] == [staff["endpoint"]]


def test_public_push_endpoint_is_rate_limited(alerts_app):
    app = alerts_app
    body = {
        "subscription": {
            "endpoint": "https://fcm.googleapis.com/fcm/send/x",
            "keys": {"p256dh": "x", "auth": "y"},
        }
    }
    codes = [app.client.post(PUSH, json=body).status_code for _ in range(25)]
    assert codes[:20] == [422] * 20  # counted even when refused
    assert codes[20:] == [429] * 5
    assert app.client.post(PUSH, json=body).json()["error"]["code"] == "rate_limited"
