"""The Idempotency-Key of every action (emergency.idempotency), over real HTTP on SQLite and
PostgreSQL: the same key and body again answers the stored result and does nothing more; the
same key with another body is a 409; two submits at once with one key do one thing; a failed
action stores nothing; keys are per user."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select

from alerts.models import Broadcast, Message
from emergency import idempotency
from emergency.idempotency import IdempotencyRecord
from emergency.liaison.models import LiaisonNotice
from emergency.signals.models import SignalChange
from tests.emergency.broadcasts.factories import TEXTS, seed

URL = "/api/v1/broadcasts"


def post(app, path, body, key, role="operator"):
    headers = {**app.auth(role), "Idempotency-Key": key} if key else app.auth(role)
    return app.client.post(path, json=body, headers=headers)


def count(app, model, *where) -> int:
    with app.db.session() as session:
        return session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def test_double_post_creates_one_broadcast(alerts_app):
    app = alerts_app
    seed(app.db, app.app.state.runtime.zones, 3)
    body = {"messages": TEXTS, "zones": ["xiaohengqin"], "channels": ["sms"]}
    key = str(uuid.uuid4())
    first = post(app, URL, body, key)
    again = post(app, URL, body, key)
    assert (first.status_code, again.status_code) == (201, 200), again.text
    assert again.json() == first.json()  # the stored answer, as it was
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert count(app, Broadcast) == 1
    assert count(app, Message, Message.broadcast_id == first.json()["id"]) == 3
    # The same body without a key, or with a new key, is a new action.
    assert post(app, URL, body, str(uuid.uuid4())).status_code == 201
    assert count(app, Broadcast) == 2


def test_same_key_with_another_body_or_endpoint_is_409(alerts_app):
    app = alerts_app
    key = "click-" + uuid.uuid4().hex
    body = {"messages": TEXTS, "zones": ["xiaohengqin"], "channels": ["sms"]}
    assert post(app, URL, body, key).status_code == 201
    other = post(app, URL, {**body, "title": "another"}, key)
    assert other.status_code == 409, other.text
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    elsewhere = post(app, f"{URL}/preview", body, key)  # not an action: the key is ignored
    assert elsewhere.status_code == 200
    signal = post(
        app, "/api/v1/signals", {"source": "SMG", "kind": "tropical_cyclone", "level": "1"}, key
    )
    assert signal.status_code == 409 and signal.json()["error"]["code"] == "idempotency_key_reused"
    assert count(app, Broadcast) == 1 and count(app, SignalChange) == 0
    # Key order and spacing are not a different body.
    reordered = app.client.post(
        URL,
        content=(
            '{"channels": ["sms"],  "zones": ["xiaohengqin"], "messages": '
            + __import__("json").dumps(TEXTS)
            + "}"
        ),
        headers={
            **app.auth("operator"),
            "Idempotency-Key": key,
            "Content-Type": "application/json",
        },
    )
    assert reordered.status_code == 200 and reordered.headers["Idempotent-Replayed"] == "true"


def test_keys_belong_to_their_user(alerts_app):
    app = alerts_app
    body = {"messages": TEXTS, "zones": ["xiaohengqin"], "channels": ["sms"]}
    key = "shared-" + uuid.uuid4().hex
    mine = app.client.post(URL, json=body, headers={**app.auth("operator"), "Idempotency-Key": key})
    other_token = app.token("operator", name="operator-two")
    theirs = app.client.post(
        URL, json=body, headers={"Authorization": f"Bearer {other_token}", "Idempotency-Key": key}
    )
    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert mine.json()["id"] != theirs.json()["id"]


def submit_at_once(app, body, headers, *, copies: int) -> list:
    """`copies` identical POSTs released together (each thread its own connection)."""
    start = threading.Barrier(copies)
    answers: list = []

    def submit() -> None:
        with httpx.Client(base_url=app.url, timeout=60) as client:
            start.wait(timeout=30)
            answers.append(client.post(URL, json=body, headers=headers))

    threads = [threading.Thread(target=submit) for _ in range(copies)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=90)
    return answers


def test_concurrent_double_submits_do_one_thing(alerts_app):
    app = alerts_app
    seed(app.db, app.app.state.runtime.zones, 5)
    body = {"messages": TEXTS, "zones": ["xiaohengqin"], "channels": ["sms"]}
    headers = app.auth("operator")  # the user exists before the threads start
    for _round in range(3):
        key = str(uuid.uuid4())
        answers = submit_at_once(app, body, {**headers, "Idempotency-Key": key}, copies=4)
        assert sorted(a.status_code for a in answers) == [200, 200, 200, 201], [
            a.text for a in answers
        ]
        assert len({a.json()["id"] for a in answers}) == 1
    assert count(app, Broadcast) == 3
    assert count(app, Message) == 15  # five people, three broadcasts, nobody twice


def test_a_failed_action_stores_nothing_and_the_key_can_try_again(alerts_app):
    app = alerts_app
    key = str(uuid.uuid4())
    bad = post(app, URL, {"messages": TEXTS, "zones": ["atlantis"]}, key)
    assert bad.status_code == 422
    assert count(app, IdempotencyRecord) == 0
    good = post(app, URL, {"messages": TEXTS, "zones": ["xiaohengqin"]}, key)
    assert good.status_code == 201, good.text


def test_approval_and_cancel_with_a_key_happen_once(alerts_settings):
    from tests.support import server

    with server.run(alerts_settings(TYPHOON_APPROVAL_THRESHOLD=0), embedded_worker=False) as app:
        seed(app.db, app.app.state.runtime.zones, 2)  # no worker: it stays sending
        created = post(app, URL, {"messages": TEXTS, "zones": ["xiaohengqin"]}, None).json()
        assert created["status"] == "awaiting_approval"
        key = str(uuid.uuid4())
        first = post(app, f"{URL}/{created['id']}/approve", None, key, role="approver")
        again = post(app, f"{URL}/{created['id']}/approve", None, key, role="approver")
        assert (first.status_code, again.status_code) == (200, 200), again.text
        assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
        # Without the key the second approval is refused, as it always was.
        plain = post(app, f"{URL}/{created['id']}/approve", None, None, role="approver")
        assert plain.status_code == 409
        cancel_key = str(uuid.uuid4())
        stop = post(app, f"{URL}/{created['id']}/cancel", None, cancel_key)
        stop_again = post(app, f"{URL}/{created['id']}/cancel", None, cancel_key)
        assert (stop.status_code, stop_again.status_code) == (200, 200)
        assert stop_again.json() == stop.json() and stop.json()["messages_cancelled"] == 2


def test_signal_change_and_liaison_notice_with_a_key_happen_once(app_server):
    app = app_server
    key = str(uuid.uuid4())
    body = {"source": "SMG", "kind": "tropical_cyclone", "level": "8NE"}
    first = post(app, "/api/v1/signals", body, key)
    again = post(app, "/api/v1/signals", body, key)
    assert first.json()["changed"] is True
    assert again.json() == first.json()  # not "changed": false, which a plain repeat says
    assert count(app, SignalChange) == 1
    notices = count(app, LiaisonNotice)
    note_key = str(uuid.uuid4())
    texts = {"texts": {"en": "Lotus Bridge closes at 22:00.", "zh-Hant": "蓮花大橋22:00封閉。"}}
    one = post(app, "/api/v1/liaison/notices", texts, note_key, role="liaison")
    two = post(app, "/api/v1/liaison/notices", texts, note_key, role="liaison")
    assert (one.status_code, two.status_code) == (201, 200)
    assert one.json()["id"] == two.json()["id"]
    assert count(app, LiaisonNotice) == notices + 1


@pytest.mark.parametrize("key", ["", "a" * 101, "has space", "semi;colon"])
def test_a_malformed_key_is_a_422(alerts_app, key):
    app = alerts_app
    r = app.client.post(
        URL,
        json={"messages": TEXTS, "zones": ["xiaohengqin"]},
        headers={**app.auth("operator"), "Idempotency-Key": key},
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_idempotency_key"
    assert count(app, Broadcast) == 0


def test_old_records_are_purged(alerts_app):
    app = alerts_app
    post(app, URL, {"messages": TEXTS, "zones": ["xiaohengqin"]}, str(uuid.uuid4()))
    with app.db.unit_of_work() as session:
        assert idempotency.purge(session) == 0
        later = idempotency.utcnow() + idempotency.KEEP + timedelta(minutes=1)
        assert idempotency.purge(session, now=later) == 1
    assert count(app, IdempotencyRecord) == 0
