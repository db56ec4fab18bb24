"""Twilio's webhooks over real HTTP, signed as Twilio signs them: replies (STOP/START/HELP)
change the opt-out and the next broadcast respects it; status callbacks move messages
forward only; unsigned or wrongly signed calls are refused and change nothing."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from sqlalchemy import select, update
from twilio.request_validator import RequestValidator

from alerts.models import Message, PendingReceipt, Subscriber
from emergency.audit.models import AuditEntry
from tests.emergency.broadcasts.conftest import PUBLIC_URL, TWILIO_TOKEN
from tests.emergency.broadcasts.factories import TEXTS, XIAOHENGQIN, seed
from tests.emergency.broadcasts.test_broadcasts_api import outbox, post, zones_of

INBOUND = "/webhooks/twilio/inbound"
STATUS = "/webhooks/twilio/status"


def signed(app, path, params, *, token=TWILIO_TOKEN, query=""):
    url = PUBLIC_URL + path + (f"?{query}" if query else "")
    signature = RequestValidator(token).compute_signature(url, params)
    return app.client.post(
        path + (f"?{query}" if query else ""),
        data=params,
        headers={"X-Twilio-Signature": signature},
    )


def reply(app, phone, body):
    r = signed(
        app,
        INBOUND,
        {
            "From": phone,
            "To": "+15005550006",
            "Body": body,
            "MessageSid": "SM" + "1" * 32,
            "AccountSid": "AC" + "0" * 32,
        },
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(r.text)
    assert root.tag == "Response"
    message = root.find("Message")
    return message.text if message is not None else None


def subscriber(app, phone) -> Subscriber:
    with app.db.session() as session:
        return session.execute(select(Subscriber).where(Subscriber.phone == phone)).scalar_one()


def test_stop_is_respected_by_the_next_broadcast_and_start_resubscribes(alerts_app):
    app = alerts_app
    phones = seed(app.db, zones_of(app), 4, at=XIAOHENGQIN, languages=["zh-Hant"])
    leaver = phones[0]
    answer = reply(app, leaver, " stop. ")
    assert "退訂" in answer  # in the subscriber's language (zh-Hant)
    assert subscriber(app, leaver).opted_out is True
    with app.db.session() as session:
        entries = list(
            session.execute(
                select(AuditEntry).where(AuditEntry.action == "subscriber.opted_out")
            ).scalars()
        )
    assert len(entries) == 1 and entries[0].actor == "sms-reply"
    assert leaver not in str(entries[0].summary)  # never the phone number

    b = post(app, {"messages": TEXTS, "zones": ["xiaohengqin"], "channels": ["sms"]}).json()
    assert b["recipients"] == 3
    assert leaver not in {m.address for m in outbox(app, b["id"])}

    assert reply(app, leaver, "STOP") is not None  # a repeat changes nothing more
    assert "訂閱" in reply(app, leaver, "start")
    assert subscriber(app, leaver).opted_out is False
    again = post(app, {"messages": TEXTS, "zones": ["xiaohengqin"], "channels": ["sms"]}).json()
    assert leaver in {m.address for m in outbox(app, again["id"])}


@pytest.mark.parametrize(
    "body,opted_out",
    [
        ("退订", True),
        ("TD", True),
        ("parar", True),
        ("Unsubscribe", True),
        ("QUIT!", True),
        ("取消", True),
        ("CANCELAR", True),
        ("STOPALL", True),
    ],
)
def test_opt_out_keywords(alerts_app, body, opted_out):
    app = alerts_app
    phone = seed(app.db, zones_of(app), 1, languages=["pt"])[0]
    text = reply(app, phone, body)
    assert "START" in text and "cancelou" in text  # Portuguese answer
    assert subscriber(app, phone).opted_out is opted_out
    reply(app, phone, "订阅")
    assert subscriber(app, phone).opted_out is False


def test_help_and_other_texts(alerts_app):
    app = alerts_app
    phone = seed(app.db, zones_of(app), 1, languages=["en"])[0]
    assert "Reply STOP" in reply(app, phone, "help")
    assert "110" in reply(app, phone, "帮助")
    assert reply(app, phone, "thanks, stop sending me typhoons") is None  # not a keyword
    assert subscriber(app, phone).opted_out is False


def test_stop_from_an_unknown_number_survives_a_later_import(alerts_app):
    app = alerts_app
    answer = reply(app, "+8613999999999", "STOP")
    assert "退订" in answer and "unsubscribed" in answer  # both main languages
    assert subscriber(app, "+8613999999999").opted_out is True
    seed_row = app.client.post(
        "/api/v1/subscribers",
        headers=app.auth("operator"),
        json={"phone": "13999999999", "language": "en", "zone": "lianhua"},
    )
    assert seed_row.status_code == 409  # known (opted out), not silently re-added


def test_unsigned_or_wrong_signature_is_refused(alerts_app):
    app = alerts_app
    phone = seed(app.db, zones_of(app), 1)[0]
    params = {"From": phone, "Body": "STOP"}
    unsigned = app.client.post(INBOUND, data=params)
    assert unsigned.status_code == 403
    assert unsigned.json()["error"]["code"] == "bad_signature"
    wrong = signed(app, INBOUND, params, token="not-the-token")
    assert wrong.status_code == 403
    # signed for the address the proxy used, not the public one
    local = f"http://127.0.0.1:{app.port}{INBOUND}"
    proxy = app.client.post(
        INBOUND,
        data=params,
        headers={
            "X-Twilio-Signature": RequestValidator(TWILIO_TOKEN).compute_signature(local, params)
        },
    )
    assert proxy.status_code == 403
    tampered = signed(app, INBOUND, {**params, "Body": "START"})
    assert tampered.status_code == 200  # a correct signature over what was sent
    assert subscriber(app, phone).opted_out is False
    status = app.client.post(STATUS, data={"MessageSid": "SMx", "MessageStatus": "delivered"})
    assert status.status_code == 403


def test_query_string_is_part_of_the_signed_url(alerts_app):
    app = alerts_app
    phone = seed(app.db, zones_of(app), 1)[0]
    r = signed(app, INBOUND, {"From": phone, "Body": "STOP"}, query="tenant=hq")
    assert r.status_code == 200
    assert subscriber(app, phone).opted_out is True


def test_no_auth_token_means_every_webhook_is_refused(database_url, settings_for):
    from tests.support import server

    with server.run(settings_for(database_url), embedded_worker=False) as app:
        params = {"From": "+8613800000000", "Body": "STOP"}
        sig = RequestValidator("").compute_signature("http://127.0.0.1:8000" + INBOUND, params)
        r = app.client.post(INBOUND, data=params, headers={"X-Twilio-Signature": sig})
        assert r.status_code == 403
        assert r.json()["error"]["code"] == "webhook_not_configured"


def _sent_messages(app, count=3):
    seed(app.db, zones_of(app), count)
    b = post(app, {"messages": TEXTS, "zones": ["xiaohengqin"], "channels": ["sms"]}).json()
    rows = outbox(app, b["id"])
    with app.db.unit_of_work() as session:  # what the worker records when Twilio accepts
        for i, m in enumerate(rows):
            session.execute(
                update(Message)
                .where(Message.id == m.id)
                .values(status="sent", provider_id=f"SM{i:032d}", provider_status="queued")
            )
    return b, [f"SM{i:032d}" for i in range(len(rows))]


def status(app, sid, value, **extra):
    r = signed(
        app,
        STATUS,
        {"MessageSid": sid, "MessageStatus": value, "AccountSid": "AC" + "0" * 32, **extra},
    )
    assert r.status_code == 204, r.text
    return r.headers["X-Receipt"]


def by_sid(app, sid) -> Message:
    with app.db.session() as session:
        return session.execute(select(Message).where(Message.provider_id == sid)).scalar_one()


def test_status_callbacks_move_forward_only(alerts_app):
    app = alerts_app
    b, sids = _sent_messages(app)
    assert status(app, sids[0], "delivered") == "applied"
    assert by_sid(app, sids[0]).status == "delivered"
    assert by_sid(app, sids[0]).delivered_at is not None
    assert status(app, sids[0], "sent") == "ignored"  # late, out of order
    assert status(app, sids[0], "delivered") == "ignored"  # repeat
    assert status(app, sids[0], "undelivered", ErrorCode="30003") == "ignored"
    assert by_sid(app, sids[0]).status == "delivered"

    assert status(app, sids[1], "sending") == "ignored"  # already sent: not back
    assert status(app, sids[1], "undelivered", ErrorCode="30005") == "applied"
    m = by_sid(app, sids[1])
    assert (m.status, m.error_code, m.provider_status) == ("failed", "30005", "undelivered")
    assert status(app, sids[1], "delivered") == "ignored"  # failed is final

    assert status(app, sids[2], "weird") == "unknown_status"
    counts = app.client.get(f"/api/v1/broadcasts/{b['id']}", headers=app.auth("viewer")).json()[
        "counts"
    ]
    assert (counts["delivered"], counts["failed"], counts["sent"]) == (1, 1, 1)


def test_a_callback_before_the_sid_is_stored_is_applied_later(alerts_app):
    from alerts import receipts

    app = alerts_app
    seed(app.db, zones_of(app), 1)
    b = post(app, {"messages": TEXTS, "zones": ["xiaohengqin"], "channels": ["sms"]}).json()
    sid = "SM" + "f" * 32
    assert status(app, sid, "delivered") == "parked"
    with app.db.unit_of_work() as session:  # the worker records the SID after the callback
        session.execute(
            update(Message)
            .where(Message.broadcast_id == b["id"])
            .values(status="sent", provider_id=sid)
        )
    with app.db.unit_of_work() as session:
        assert receipts.apply_pending(session) == 1
    assert by_sid(app, sid).status == "delivered"
    with app.db.session() as session:
        assert session.execute(select(PendingReceipt)).first() is None
