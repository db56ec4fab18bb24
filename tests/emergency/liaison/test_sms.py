"""Liaison notices reach the contacts' phones: through the outbox and the dispatch worker,
with the real Twilio SDK against the local Twilio-compatible server; each contact's SMS
carries their own acknowledgement link, which works; each goes once. And the live stream
never carries the links (their tokens acknowledge a notice without any login)."""

from __future__ import annotations

import json
import re

import pytest

from alerts.templates import EXERCISE_MARK
from alerts.testing import run_twilio_server
from tests.conftest import app_fixture, build_settings
from tests.emergency.cap.samples import fresh, post_cap
from tests.support.live import LiveClient

FROM = "+15005550006"
URL = "/api/v1/liaison"
LINK = re.compile(r"https?://[^/\s]+(/api/v1/liaison/ack/([A-Za-z0-9_-]+))")


@pytest.fixture(scope="module")
def _twilio_module():
    with run_twilio_server() as fake:
        yield fake


@pytest.fixture
def twilio(_twilio_module):
    _twilio_module.reset()
    return _twilio_module


def _settings(request, url, data):
    fake = request.getfixturevalue("_twilio_module")
    return build_settings(
        url,
        TWILIO_ACCOUNT_SID=fake.account_sid,
        TWILIO_AUTH_TOKEN=fake.auth_token,
        TWILIO_FROM_NUMBER=FROM,
        TWILIO_API_BASE_URL=fake.base_url,
    )


app = app_fixture("app", _settings)


def signal(app, level, *, source="SMG", kind="tropical_cyclone", exercise=False) -> dict:
    r = app.client.post(
        "/api/v1/signals",
        headers=app.auth("operator"),
        json={"source": source, "kind": kind, "level": level, "exercise": exercise},
    )
    assert r.status_code == 200, r.text
    return r.json()


def get(app, path, role="liaison"):
    r = app.client.get(path, headers=app.auth(role))
    assert r.status_code == 200, r.text
    return r.json()


def sent_sms(app, twilio, count: int) -> list:
    """Run the queue and the due jobs to the end; then exactly `count` SMS have reached the
    provider in all (so none more is on its way)."""
    app.drain()
    assert len(twilio.received) == count, f"{len(twilio.received)} SMS received, expected {count}"
    return list(twilio.received)


def test_each_contact_gets_the_notice_by_sms_with_a_working_link_once(app, twilio):
    contacts = {c["phone"]: c for c in get(app, URL + "/contacts")}
    [notice_id] = signal(app, "1")["notices"]  # No. 1: no rule sends a notice of its own
    messages = sent_sms(app, twilio, len(contacts))
    assert sorted(m.to for m in messages) == sorted(contacts)  # every contact, once each
    assert all(m.from_ == FROM for m in messages)

    notice = get(app, f"{URL}/notices/{notice_id}")
    links = {r["contact_id"]: r["ack_url"].split("/api/v1", 1)[1] for r in notice["recipients"]}
    for m in messages:
        contact = contacts[m.to]
        # the notice in the contact's own language, and that contact's own link
        assert notice["texts"][contact["language"]] in m.body
        [(path, token)] = LINK.findall(m.body)
        assert path == "/api/v1" + links[contact["id"]]
        assert len(token) >= 32
    assert len({LINK.search(m.body).group(2) for m in messages}) == len(messages)

    # The outbox's view: one broadcast of the notice, every row sent; no CAP alert of it.
    broadcast_id = notice["sms_broadcast_id"]
    b = get(app, f"/api/v1/broadcasts/{broadcast_id}", role="viewer")
    assert b["counts"]["sent"] == len(contacts) and b["recipients"] == len(contacts)
    assert b["status"] == "completed"
    notice = get(app, f"{URL}/notices/{notice_id}")
    assert {r["sms"] for r in notice["recipients"]} == {"sent"}
    cap = get(app, "/api/v1/cap/alerts", role="viewer")
    assert all(a["broadcast_id"] != broadcast_id for a in cap)

    # The contact taps the link in the SMS: acknowledged, by the link, for that contact.
    first = messages[0]
    path = LINK.search(first.body).group(1)
    assert app.client.get(path).json()["acknowledged"] is False
    r = app.client.post(path, json={"note": "received"})
    assert r.status_code == 200 and r.json()["acknowledged"] is True
    notice = get(app, f"{URL}/notices/{notice_id}")
    assert notice["status"] == "acknowledged"
    [acked] = [r for r in notice["recipients"] if r["acknowledged_at"]]
    assert acked["contact_id"] == contacts[first.to]["id"] and acked["acknowledged_by"] == "link"

    # The same level again is no change: no notice, no SMS; a real change sends a new one.
    assert signal(app, "1")["notices"] == []
    sent_sms(app, twilio, len(contacts))
    [second] = signal(app, "3")["notices"]
    messages = sent_sms(app, twilio, 2 * len(contacts))
    assert sorted(m.to for m in messages[len(contacts) :]) == sorted(contacts)
    assert set(twilio.per_recipient.values()) == {2}  # one SMS per notice and contact
    assert second != notice_id


def test_a_repeated_cap_alert_sends_nothing_twice(app, twilio):
    contacts = get(app, URL + "/contacts")
    first = post_cap(app, fresh("smg_tc8ne.xml"))
    assert first.status_code == 201, first.text
    # Signal No. 8: the signal's notice and the No. 8 rule's own notice, each to everyone.
    assert len(first.json()["notices"]) == 1
    notices = get(app, URL + "/notices")
    assert sorted(n["kind"] for n in notices) == ["rule", "signal"]
    sent_sms(app, twilio, 2 * len(contacts))
    again = post_cap(app, fresh("smg_tc8ne.xml"))
    assert again.status_code == 200
    sent_sms(app, twilio, 2 * len(contacts))
    assert set(twilio.per_recipient.values()) == {2}


def test_drill_sms_says_it_is_a_drill(app, twilio):
    contacts = get(app, URL + "/contacts")
    [notice_id] = signal(app, "1", exercise=True)["notices"]
    messages = sent_sms(app, twilio, len(contacts))
    marks = tuple(EXERCISE_MARK.values())  # the broadcasts' own marks, one per language
    assert all(m.body.startswith(marks) for m in messages), [m.body for m in messages]
    assert get(app, f"{URL}/notices/{notice_id}")["exercise"] is True


def test_contact_without_phone_or_inactive_gets_no_sms(app, twilio):
    contacts = get(app, URL + "/contacts")
    r = app.client.patch(
        f"{URL}/contacts/{contacts[0]['id']}",
        headers=app.auth("operator"),  # contacts: operators and admins only
        json={"active": False},
    )
    assert r.status_code == 200, r.text
    r = app.client.post(
        f"{URL}/contacts",
        headers=app.auth("operator"),  # contacts: operators and admins only
        json={
            "key": "no_phone",
            "name": "Desk by e-mail",
            "organisation": {"en": "Somewhere"},
            "email": "desk@example.org",
        },
    )
    assert r.status_code == 201, r.text
    signal(app, "1")
    messages = sent_sms(app, twilio, len(contacts) - 1)
    assert sorted(m.to for m in twilio.received) == sorted(c["phone"] for c in contacts[1:])
    assert len(messages) == len(contacts) - 1


def test_live_stream_never_carries_ack_links(app_server):
    app = app_server
    # The liaison desk's stream (the one that shows each notice's recipients).
    with LiveClient(app.ws_url, app.token("liaison")) as live:
        live.next()
        [notice_id] = signal(app, "1")["notices"]
        seen = live.events_until(lambda m: m["type"] == "liaison.notified")
    notice = get(app, f"{URL}/notices/{notice_id}")
    tokens = [r["ack_url"].rsplit("/", 1)[1] for r in notice["recipients"]]
    assert len(tokens) == 4
    event = seen[-1]
    assert event["data"]["id"] == notice_id and len(event["data"]["recipients"]) == 4
    assert all("ack_url" not in r and "token" not in r for r in event["data"]["recipients"])
    # Not in any event, live or replayed from the event table (?since=0), nor the snapshot.
    last = get(app, "/api/v1/situation", role="viewer")["last_seq"]
    with LiveClient(app.ws_url, app.token("viewer"), since=0) as replay:
        raw = [json.dumps(replay.next())]
        replayed = replay.events_until(lambda m: m.get("seq", 0) >= last)
    raw += [json.dumps(m) for m in replayed]
    text = "\n".join(raw + [json.dumps(m) for m in seen])
    assert "liaison.notified" in text
    assert not any(token in text for token in tokens)
    assert "/liaison/ack/" not in text

    # Escalation events carry the notice too: no links there either.
    with LiveClient(app.ws_url, app.token("viewer")) as live:
        live.next()
        app.clock.advance(minutes=16)  # nobody acknowledged in time
        app.drain()
        escalated = live.events_until(lambda m: m["type"] == "liaison.escalated")[-1]
    assert "/liaison/ack/" not in json.dumps(escalated)
    assert not any(token in json.dumps(escalated) for token in tokens)
