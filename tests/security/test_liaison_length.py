"""A liaison notice longer than one SMS body (with room for each contact's link) is refused
when it is written, 422 naming the language and the limit, and nothing is stored or sent
(the 3,143-character notice of the attack: 10 of its 12 SMS failed at Twilio)."""

from __future__ import annotations

from sqlalchemy import text


def notices(app) -> int:
    with app.db.session() as session:
        return session.execute(text("SELECT count(*) FROM liaison_notice")).scalar_one()


def test_a_notice_too_long_for_an_sms_is_422(app):
    liaison = app.auth("liaison")
    long = {"en": "Signal 8 hoisted. " * 174 + "end", "zh-Hant": "八號風球"}  # 3,135 characters
    r = app.client.post("/api/v1/liaison/notices", headers=liaison, json={"texts": long})
    assert r.status_code == 422, r.text
    message = r.json()["error"]["message"]
    assert "texts.en" in message and "at most 1400" in message
    assert notices(app) == 0
    fits = {"en": "Signal 8 hoisted at 22:00; ferries stopped. " * 30}  # 1,350 characters
    ok = app.client.post("/api/v1/liaison/notices", headers=liaison, json={"texts": fits})
    assert ok.status_code == 201, ok.text
    assert notices(app) == 1
