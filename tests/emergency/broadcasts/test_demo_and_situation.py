"""Demo subscribers (idempotent, never with Twilio credentials) and the dashboard's
broadcasts section of the situation snapshot."""

from __future__ import annotations

from sqlalchemy import func, select

from alerts.models import Subscriber
from alerts.subscribers.phones import normalise_phone
from emergency.db import Database
from emergency.subscribers import demo
from tests.emergency.broadcasts.factories import TEXTS, seed
from tests.emergency.broadcasts.test_broadcasts_api import post, zones_of


def test_demo_subscribers_are_idempotent_and_spread(database_url, settings_for):
    settings = settings_for(database_url)
    db = Database(database_url)
    try:
        assert demo.load(db, settings) == demo.COUNT
        assert demo.load(db, settings) == demo.COUNT
        with db.session() as session:
            rows = list(session.execute(select(Subscriber)).scalars())
        assert len(rows) == demo.COUNT
        assert {r.language for r in rows} == {"zh-Hans", "zh-Hant", "pt", "en"}
        assert {r.zone_id for r in rows} == {"xiaohengqin", "xinjiayuan", "lianhua", "fuxiangwan"}
        assert 0 < sum(r.exercise_list for r in rows) < demo.COUNT // 10
        assert 0 < sum("push" in r.channels for r in rows) < demo.COUNT
        assert all(normalise_phone(r.phone) == r.phone for r in rows)
        assert all("demo" in r.tags for r in rows)
    finally:
        db.dispose()


def test_no_demo_subscribers_when_twilio_would_text_them(database_url, settings_for):
    settings = settings_for(
        database_url,
        TWILIO_ACCOUNT_SID="AC" + "1" * 32,
        TWILIO_AUTH_TOKEN="t",
        TWILIO_FROM_NUMBER="+15005550006",
        TYPHOON_PUBLIC_URL="https://typhoon.hengqin.example",  # real Twilio: a real address
    )
    db = Database(database_url)
    try:
        assert demo.load(db, settings) == 0
        with db.session() as session:
            assert session.execute(select(func.count()).select_from(Subscriber)).scalar_one() == 0
    finally:
        db.dispose()


def test_situation_has_a_broadcasts_section(alerts_app):
    app = alerts_app
    seed(app.db, zones_of(app), 3)
    sending = post(app, {"messages": TEXTS, "zones": ["xiaohengqin"]}).json()
    r = app.client.get("/api/v1/situation", headers=app.auth("viewer"))
    assert r.status_code == 200
    section = r.json()["broadcasts"]
    assert section["sending"] == 1 and section["awaiting_approval"] == 0
    assert [b["id"] for b in section["active"]] == [sending["id"]]
    assert section["active"][0]["counts"]["queued"] == 3
    assert section["subscribers"] == {"reachable": 3, "opted_out": 0}
