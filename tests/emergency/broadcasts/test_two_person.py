"""The two-person rule without loopholes (#13 item 3) and texts Twilio would refuse (item 6),
through the real app: a template not pre-approved always waits for a second person; a
scheduled broadcast whose audience grew past the threshold waits at its start, with nothing
sent; a liaison notice to that many contacts waits; too-long texts are 422 naming the
language. The threshold here is 4 (the demo has 4 liaison contacts)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from alerts.models import Message
from emergency.audit.models import AuditEntry
from emergency.db import utcnow
from tests.conftest import app_fixture, build_settings
from tests.emergency.broadcasts.conftest import ALERTS_ENV
from tests.emergency.broadcasts.factories import LIANHUA, TEXTS, seed
from tests.emergency.broadcasts.test_broadcasts_api import URL, outbox, post, zones_of

THRESHOLD = 4
app = app_fixture(
    "app",
    lambda request, url, data: build_settings(
        url, **ALERTS_ENV, TYPHOON_APPROVAL_THRESHOLD=THRESHOLD
    ),
)
EVACUATE = {
    "template": "evacuation_order",
    "variables": {"zone": "Lianhua", "shelter": "Hengqin school hall"},
    "zones": ["lianhua"],
    "channels": ["sms"],
}


def approve(app, broadcast_id: int, role: str = "approver"):
    return app.client.post(f"{URL}/{broadcast_id}/approve", headers=app.auth(role))


def test_an_evacuation_order_to_ten_people_waits_for_a_second_person(app):
    seed(app.db, zones_of(app), 10, at=LIANHUA)
    preview = app.client.post(f"{URL}/preview", json=EVACUATE, headers=app.auth("operator"))
    assert preview.json()["needs_approval"] is True  # whatever the audience
    for threshold_note in ("well under any threshold", "as a rule would draft it"):
        r = post(app, {**EVACUATE, "title": threshold_note})
        assert r.status_code == 201, r.text
        b = r.json()
        assert (b["status"], b["recipients"], b["priority"]) == (
            "awaiting_approval",
            10,
            "emergency",
        )
        assert outbox(app, b["id"]) == []  # nothing sent
        assert approve(app, b["id"], role="operator").status_code == 403  # not an approver
        r = approve(app, b["id"])
        assert r.status_code == 200 and r.json()["status"] == "sending", r.text
        assert len(outbox(app, b["id"])) == 10


def test_the_drafter_never_approves(app):
    seed(app.db, zones_of(app), 2, at=LIANHUA)
    b = post(app, EVACUATE, role="admin").json()  # an admin may draft and approve, not both
    assert b["status"] == "awaiting_approval"
    r = approve(app, b["id"], role="admin")
    assert r.status_code == 403 and r.json()["error"]["code"] == "self_approval"


def test_a_scheduled_broadcast_that_grew_past_the_threshold_waits_at_its_start(app):
    from emergency.broadcasts.scheduled import start_due_broadcasts

    seed(app.db, zones_of(app), THRESHOLD - 1, at=LIANHUA)
    send_at = utcnow() + timedelta(minutes=5)
    body = {"messages": TEXTS, "zones": ["lianhua"], "channels": ["sms"]}
    r = post(app, {**body, "send_at": send_at.isoformat()})
    assert r.status_code == 201 and r.json()["status"] == "scheduled", r.text
    b = r.json()
    seed(app.db, zones_of(app), 3, at=LIANHUA, seed=2)  # people moved in: 6 now
    runtime = app.app.state.runtime
    assert start_due_broadcasts(runtime=runtime, now=send_at + timedelta(seconds=1)) == 0
    now = app.client.get(f"{URL}/{b['id']}", headers=app.auth("viewer")).json()
    assert (now["status"], now["recipients"], now["needs_approval"]) == (
        "awaiting_approval",
        6,
        True,
    )
    assert outbox(app, b["id"]) == []  # nothing sent
    with app.db.session() as session:
        held = session.execute(
            select(AuditEntry).where(AuditEntry.action == "broadcast.awaiting_approval")
        ).scalar_one()
    assert held.target_id == str(b["id"]) and held.actor.startswith("scheduler")
    r = approve(app, b["id"])  # its time has passed: it goes at the next start
    assert r.status_code == 200 and r.json()["status"] == "scheduled", r.text
    assert start_due_broadcasts(runtime=runtime, now=send_at + timedelta(seconds=2)) == 1
    assert len(outbox(app, b["id"])) == 6


def test_a_liaison_notice_to_that_many_contacts_waits_for_approval(app):
    r = app.client.post(
        "/api/v1/liaison/notices",
        headers=app.auth("liaison"),
        json={"texts": {"en": "Joint exercise at 10:00 tomorrow."}},
    )
    assert r.status_code == 201, r.text
    broadcast_id = r.json()["sms_broadcast_id"]
    b = app.client.get(f"{URL}/{broadcast_id}", headers=app.auth("viewer")).json()
    assert (b["status"], b["recipients"], b["priority"]) == ("awaiting_approval", 4, "emergency")
    with app.db.session() as session:
        statuses = session.execute(
            select(Message.status).where(Message.broadcast_id == broadcast_id)
        ).scalars()
        assert sorted(statuses) == ["held"] * 4  # stored with their links, not queued
    app.drain()  # the queue and the due jobs: none of them sends a held row
    assert sorted(m.status for m in outbox(app, broadcast_id)) == ["held"] * 4
    r = approve(app, broadcast_id)
    assert r.status_code == 200 and r.json()["status"] == "sending", r.text
    assert sorted(m.status for m in outbox(app, broadcast_id)) == ["queued"] * 4


def test_texts_twilio_would_refuse_are_422_naming_the_language(app):
    seed(app.db, zones_of(app), 2, at=LIANHUA)
    long_chinese = {**TEXTS, "zh-Hant": "颱風" * 350}  # 700 UCS-2 characters: 11 segments
    r = post(app, {"messages": long_chinese, "zones": ["lianhua"]})
    assert r.status_code == 422, r.text
    message = r.json()["error"]["message"]
    assert "messages.zh-Hant" in message and "700 characters" in message
    assert "11 SMS segments" in message and "at most 10" in message
    long_english = {**TEXTS, "en": "Stay indoors. " * 111}  # 1,554 GSM-7 characters
    r = post(app, {"messages": long_english, "zones": ["lianhua"]})
    assert r.status_code == 422 and "messages.en" in r.json()["error"]["message"], r.text
    over = {**TEXTS, "pt": "x" * 1700}
    r = post(app, {"messages": over, "zones": ["lianhua"]})
    assert r.status_code == 422 and "at most 1600" in r.json()["error"]["message"], r.text
    # A liaison notice: the contact's SMS is the text and their acknowledgement link.
    r = app.client.post(
        "/api/v1/liaison/notices",
        headers=app.auth("liaison"),
        json={"texts": {"en": "Signal 8.", "zh-Hant": "八號風球" * 160}},  # 640 + the link
    )
    assert r.status_code == 422, r.text
    message = r.json()["error"]["message"]
    assert "texts.zh-Hant" in message and "segments" in message
    with app.db.session() as session:
        assert session.execute(select(Message.id)).first() is None  # nothing stored


def test_changing_text_audience_send_at_or_priority_voids_the_approval(app):
    from emergency.broadcasts.scheduled import start_due_broadcasts

    seed(app.db, zones_of(app), THRESHOLD, at=LIANHUA)
    send_at = utcnow() + timedelta(minutes=30)
    body = {"messages": TEXTS, "zones": ["lianhua"], "channels": ["sms"]}
    b = post(app, {**body, "send_at": send_at.isoformat()}).json()
    assert b["status"] == "awaiting_approval"
    assert approve(app, b["id"]).json()["status"] == "scheduled"
    changes = (
        {"messages": {**TEXTS, "en": "[Hengqin] Signal No. 9. Stay indoors."}},
        {"zones": ["lianhua", "xiaohengqin"]},
        {"send_at": (send_at + timedelta(minutes=5)).isoformat()},
        {"priority": "emergency"},  # another lane: what was approved changed too
    )
    for change in changes:
        r = app.client.patch(f"{URL}/{b['id']}", json=change, headers=app.auth("operator"))
        assert r.status_code == 200, r.text
        assert (r.json()["status"], r.json()["approved_by"]) == ("awaiting_approval", None)
        due = send_at + timedelta(minutes=10)
        assert start_due_broadcasts(runtime=app.app.state.runtime, now=due) == 0
        assert outbox(app, b["id"]) == []  # what was approved is not what would be sent
        assert approve(app, b["id"]).json()["status"] == "scheduled"
    other = app.client.patch(f"{URL}/{b['id']}", json=changes[1], headers=app.auth("admin"))
    assert other.status_code == 403, other.text  # only its drafter changes it
    with app.db.session() as session:
        voided = session.execute(
            select(AuditEntry).where(AuditEntry.action == "broadcast.updated")
        ).scalars()
        assert [e.summary["after"]["approval_voided"] for e in voided] == [True] * 4
    assert app.client.get(f"{URL}/{b['id']}", headers=app.auth("viewer")).json()["priority"] == (
        "emergency"
    )


def test_an_empty_change_or_variables_without_a_template_are_refused_and_void_nothing(app):
    """A change voids an approval: `{}` (or only nulls) used to void it for nothing, and
    `variables` without a template were dropped unnoticed. Both are 422 naming what is wrong;
    the approval stands and nothing is journaled."""
    seed(app.db, zones_of(app), THRESHOLD, at=LIANHUA)
    send_at = utcnow() + timedelta(minutes=30)
    body = {"messages": TEXTS, "zones": ["lianhua"], "channels": ["sms"]}
    b = post(app, {**body, "send_at": send_at.isoformat()}).json()
    approved = approve(app, b["id"]).json()
    assert approved["status"] == "scheduled"
    refused = {
        "{}": ({}, "nothing to change"),
        "nulls": ({"priority": None, "zones": None}, "nothing to change"),
        "variables alone": ({"variables": {"zone": "Lianhua"}}, "variables need their template"),
        "variables with texts": (
            {"messages": TEXTS, "variables": {"zone": "Lianhua"}},
            "variables need their template",
        ),
    }
    for name, (change, says) in refused.items():
        r = app.client.patch(f"{URL}/{b['id']}", json=change, headers=app.auth("operator"))
        assert r.status_code == 422, (name, r.text)
        assert says in r.text, (name, r.text)
    after = app.client.get(f"{URL}/{b['id']}", headers=app.auth("viewer")).json()
    assert (after["status"], after["approved_by"]) == ("scheduled", approved["approved_by"])
    with app.db.session() as session:
        assert not session.execute(
            select(AuditEntry).where(AuditEntry.action == "broadcast.updated")
        ).first()
    created = post(app, {**body, "variables": {"zone": "Lianhua"}})  # a new one: the same rule
    assert created.status_code == 422 and "variables need their template" in created.text


def test_changing_a_broadcast_awaiting_a_second_person_never_sends_it(app):
    """The red review of session 5: an evacuation order (template not pre-approved) to ten
    people waits for a second person; its drafter changing its priority, send time, zones or
    texts (no template in the change) made it `scheduled` and sent it, with no approver.
    Whatever the change, it still waits; nothing is sent until a second person approves."""
    seed(app.db, zones_of(app), 2, at=LIANHUA)
    changes = (
        {"priority": "high"},
        {"send_at": (utcnow() + timedelta(minutes=30)).isoformat()},
        {"zones": ["lianhua"]},
        {"messages": {**TEXTS, "en": "[Hengqin] Leave Lianhua now for the school hall."}},
    )
    for change in changes:
        b = post(app, EVACUATE).json()
        assert (b["status"], b["recipients"]) == ("awaiting_approval", 2)
        r = app.client.patch(f"{URL}/{b['id']}", json=change, headers=app.auth("operator"))
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "awaiting_approval", (change, r.json()["status"])
        assert outbox(app, b["id"]) == [], change
        assert approve(app, b["id"]).json()["status"] in ("sending", "scheduled")


def test_a_drill_user_never_approves_or_cancels_a_real_broadcast(app):
    """The red review of session 5: a drill user (`typhoon user add --drill`, the demo's
    demo-drill-approver) does everything as an exercise, yet its approval was the second
    person of a real evacuation order (real SMS went out) and it could cancel a real one.
    Both are now 403 drill_user; the drill's own broadcasts it approves as before."""
    from emergency.auth import service as auth_service
    from emergency.drills import service as drill_service

    with app.db.unit_of_work() as session:
        user, token = auth_service.create_user(
            session, name="drill-approver", role="approver", actor="test"
        )
        drill_service.mark_drill_user(session, user=user, actor="test", label="test")
    drill = {"Authorization": f"Bearer {token}"}
    seed(app.db, zones_of(app), 2, at=LIANHUA)
    real = post(app, EVACUATE).json()
    assert real["status"] == "awaiting_approval"
    for action in ("approve", "cancel"):
        r = app.client.post(f"{URL}/{real['id']}/{action}", headers=drill)
        assert r.status_code == 403, r.text
        assert r.json()["error"]["code"] == "drill_user"
    after = app.client.get(f"{URL}/{real['id']}", headers=app.auth("viewer")).json()
    assert (after["status"], after["approved_by"]) == ("awaiting_approval", None)
    assert outbox(app, real["id"]) == []
    exercise = post(app, {**EVACUATE, "exercise": True}).json()
    assert exercise["status"] == "awaiting_approval"
    r = app.client.post(f"{URL}/{exercise['id']}/approve", headers=drill)
    assert r.status_code == 200 and r.json()["approved_by"] == "drill-approver", r.text
