"""Alarms over real HTTP and websockets, on SQLite and PostgreSQL: a request for help and a
hazard reported critical raise one (a lesser hazard does not), every screen hears it at once,
the desk acknowledges (who, when), assigns a crew (the record becomes the crew's task) and
closes it; the record's own changes move the alarm along; nobody acknowledging in
TYPHOON_ALARM_ESCALATE_MINUTES sends the duty leads an SMS, once, through the outbox."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from alerts.models import Broadcast, Message
from emergency.alarms import scheduled as alarm_jobs
from emergency.db import utcnow
from tests.emergency.field.conftest import LIANHUA, events_of, last_seq
from tests.emergency.field.factories import field_token, group, key, report
from tests.support.live import LiveClient


def crew(api, name="Rescue team 1"):
    made = api.ok(api.post("/api/v1/crews", {"name": name, "headcount": 6}), 201)
    api.ok(api.post(f"/api/v1/crews/{made['id']}/status", {"status": "standby"}))
    return made


def help_report(app, token, note="3 people trapped on car roof, water rising"):
    body = {
        "kind": "help",
        "people": 3,
        "urgency": "critical",
        "note": note,
        "lat": LIANHUA[0],
        "lon": LIANHUA[1],
    }
    r = report(app, token, body, key())
    assert r.status_code == 201, r.text
    return r.json()


def test_help_request_raises_an_alarm_that_the_desk_acknowledges_assigns_and_closes(api, app):
    token = field_token(api, app, group_id=group(api)["id"])
    # the desk's stream: a viewer's carries no help notes (#14 item 8)
    with LiveClient(app.ws_url, app.token("operator")) as live:
        assert live.next()["type"] == "snapshot"
        help_report(app, token)
        raised = live.events_until(lambda m: m["type"] == "alarm.raised")[-1]["data"]
    alarm = raised["alarm"]
    assert alarm["kind"] == "help" and alarm["people"] == 3 and alarm["status"] == "open"
    assert alarm["zone_id"] == "lianhua" and "car roof" in alarm["note"]
    assert raised["totals"]["unacknowledged"] == 1
    situation = api.ok(api.get("/api/v1/situation"))["alarms"]
    assert [a["id"] for a in situation["items"]] == [alarm["id"]]

    url = f"/api/v1/alarms/{alarm['id']}"
    assert api.post(url + "/ack", role="viewer").status_code == 403
    acked = api.ok(api.post(url + "/ack"))
    assert acked["status"] == "acknowledged" and acked["acknowledged_by"].startswith("operator")
    assert acked["acknowledged_at"]
    assert api.ok(api.post(url + "/ack")) == acked  # again: nothing changes
    assert len(events_of(app, "alarm.updated")) == 1

    team = crew(api)
    assigned = api.ok(api.post(url + "/assign", {"crew_id": team["id"]}))
    assert assigned["status"] == "assigned" and assigned["crew_name"] == "Rescue team 1"
    [request] = api.ok(api.get("/api/v1/help-requests"))
    assert request["status"] == "assigned" and request["crew_id"] == team["id"]
    seq = last_seq(app)
    assert api.ok(api.post(url + "/assign", {"crew_id": team["id"]})) == assigned
    assert last_seq(app) == seq  # the same crew again: no change, no event

    closed = api.ok(api.post(url + "/close", {"note": "all three brought to the shelter"}))
    assert closed["status"] == "closed" and closed["close_note"].startswith("all three")
    assert api.ok(api.get("/api/v1/help-requests"))[0]["status"] == "closed"
    assert api.ok(api.post(url + "/close", {})) == closed
    r = api.post(url + "/assign", {"crew_id": team["id"]})
    assert r.status_code == 409 and r.json()["error"]["code"] == "alarm_closed"
    assert api.ok(api.get("/api/v1/situation"))["alarms"]["items"] == []
    assert api.post("/api/v1/alarms/999/ack").status_code == 404
    assert api.post(url + "/assign", {"crew": 1}).status_code == 422


def test_critical_hazards_raise_alarms_and_rectifying_closes_them(api, app):
    token = field_token(api, app, group_id=group(api)["id"])
    hazard = {
        "kind": "hazard",
        "hazard_kind": "power_line",
        "lat": LIANHUA[0],
        "lon": LIANHUA[1],
        "place": "Lotus Bridge road",
    }
    assert report(app, token, {**hazard, "severity": "high"}, key()).status_code == 201
    assert api.ok(api.get("/api/v1/alarms")) == []  # not critical: no alarm
    made = report(app, token, {**hazard, "severity": "critical"}, key()).json()
    [alarm] = api.ok(api.get("/api/v1/alarms?status=open"))
    assert alarm["source"] == "hazard" and alarm["source_id"] == made["result"]["hazard_id"]
    assert alarm["kind"] == "power_line" and alarm["place"] == "Lotus Bridge road"
    # A crew assigned on the hazards screen: the alarm follows (and counts as seen).
    team = crew(api)
    api.ok(api.post(f"/api/v1/hazards/{alarm['source_id']}/assign", {"crew_id": team["id"]}))
    now = api.ok(api.get(f"/api/v1/alarms/{alarm['id']}"))
    assert now["status"] == "assigned" and now["acknowledged_by"] and now["crew_id"] == team["id"]
    api.ok(api.post(f"/api/v1/hazards/{alarm['source_id']}/rectify", {"note": "cut off"}))
    assert api.ok(api.get(f"/api/v1/alarms/{alarm['id']}"))["status"] == "closed"


def test_unacknowledged_alarm_escalates_once_by_sms_to_the_duty_leads(api, app):
    token = field_token(api, app, group_id=group(api)["id"])
    help_report(app, token)
    help_report(app, token, note="elderly man alone on the ground floor")
    first, second = sorted(api.ok(api.get("/api/v1/alarms")), key=lambda a: a["id"])
    api.ok(api.post(f"/api/v1/alarms/{second['id']}/ack"))
    runtime = app.app.state.runtime
    assert alarm_jobs.escalate_unacknowledged(runtime=runtime) == 0  # not due yet
    later = utcnow() + timedelta(minutes=5, seconds=1)
    assert alarm_jobs.escalate_unacknowledged(runtime=runtime, now=later) == 1
    assert alarm_jobs.escalate_unacknowledged(runtime=runtime, now=later) == 0

    escalated = api.ok(api.get(f"/api/v1/alarms/{first['id']}"))
    assert escalated["escalated_at"] and escalated["status"] == "open"
    assert api.ok(api.get(f"/api/v1/alarms/{second['id']}"))["escalated_at"] is None
    with app.db.session() as session:
        [broadcast] = session.exec(select(Broadcast).where(Broadcast.origin == "alarm")).all()
        messages = session.exec(select(Message).where(Message.broadcast_id == broadcast.id)).all()
    assert sorted(m.address for m in messages) == ["+85300000101", "+85300000102"]
    bodies = {m.address: m.body for m in messages}
    assert "警报#" in bodies["+85300000101"] and "莲花" in bodies["+85300000101"]
    assert "警報#" in bodies["+85300000102"] and "5分鐘" in bodies["+85300000102"]
    [event] = [e for e in events_of(app, "alarm.updated") if e["data"]["action"] == "escalated"]
    assert event["data"]["alarm"]["id"] == first["id"]
