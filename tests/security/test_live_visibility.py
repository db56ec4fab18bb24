"""The live stream shows each role what REST shows it, no more: viewer and field tokens get
every event (in seq order, no gap) but not hotline callers and summaries, not the people in
a request for help (its note, also copied into a crew's task), not a resident check's note,
place or photo; the liaison desk reads the hotline log; operators read everything. A viewer
cannot read a field photo, and the REST reads and the situation say the same as the stream."""

from __future__ import annotations

import json
import uuid

from emergency.events import service as event_service
from tests.emergency.field.conftest import LIANHUA
from tests.emergency.field.factories import jpeg
from tests.support.live import LiveClient

CALLER, SUMMARY = "Mrs Ho Sio Kei", "lives at Rua do Campo 12, phone 66123456"
HELP_NOTE = "Chan Tai Man, 3/F, phone 66998877, uses a wheelchair"
CHECK_NOTE = "Leong Mei Ling found at home, daughter 62887766"
SECRETS = (CALLER, "66123456", "Chan Tai Man", "66998877")
# a resident check's note names people: it is on no stream, not even the operators'
NEVER_STREAMED = ("Leong Mei Ling", "62887766")


def post(app, path, body, role="operator", **headers):
    r = app.client.post(path, json=body, headers={**app.auth(role), **headers})
    assert r.status_code in (200, 201), (path, r.text)
    return r.json()


def report(app, body, role="operator"):
    return post(app, "/api/v1/field-reports", body, role, **{"Idempotency-Key": str(uuid.uuid4())})


def test_each_role_reads_on_the_stream_what_rest_lets_it_read(app):
    roles = ("viewer", "field", "liaison", "approver", "operator")
    clients = {role: LiveClient(app.ws_url, app.token(role)) for role in roles}
    for client in clients.values():
        assert client.next()["type"] == "snapshot"

    post(
        app, "/api/v1/liaison/calls", {"direction": "inbound", "caller": CALLER, "summary": SUMMARY}
    )
    need = report(
        app,
        {"kind": "help", "people": 1, "lat": LIANHUA[0], "lon": LIANHUA[1], "note": HELP_NOTE},
        role="field",
    )
    crew = post(
        app, "/api/v1/crews", {"name": "Crew 3", "headcount": 5, "lat": 22.14, "lon": 113.54}
    )
    help_id = need["result"]["help_request_id"]
    post(app, f"/api/v1/help-requests/{help_id}/assign", {"crew_id": crew["id"]})
    photo = app.client.post(
        "/api/v1/photos", files={"file": ("p.jpg", jpeg(), "image/jpeg")}, headers=app.auth("field")
    ).json()["id"]
    resident = post(
        app, "/api/v1/vulnerable/residents", {"name": "Leong Mei Ling", "address": "Rua 3"}
    )
    report(
        app,
        {
            "kind": "resident_check",
            "resident_id": resident["id"],
            "resident_state": "reached",
            "note": CHECK_NOTE,
            "photo_id": photo,
            "lat": LIANHUA[0],
            "lon": LIANHUA[1],
        },
    )
    with app.db.session() as session:
        last = event_service.last_seq(session)

    seen = {
        role: client.events_until(lambda m: m.get("seq") == last, timeout=30)
        for role, client in clients.items()
    }
    for client in clients.values():
        client.close()
    text = {role: json.dumps(events, ensure_ascii=False) for role, events in seen.items()}
    # the operator's stream carries all of it (so the others' lack of it means something)
    assert [s for s in SECRETS if s not in text["operator"]] == [] and photo in text["operator"]
    assert not [s for s in NEVER_STREAMED if s in text["operator"]]
    for role in ("viewer", "field", "approver"):
        leaked = [s for s in (*SECRETS, *NEVER_STREAMED, photo, SUMMARY) if s in text[role]]
        assert not leaked, (role, leaked)
    assert CALLER in text["liaison"] and "Chan Tai Man" not in text["liaison"]
    # every role got every event, in order, none missing (a screen resyncs on a gap)
    for role, events in seen.items():
        seqs = [m["seq"] for m in events if "seq" in m]
        assert seqs == list(range(seqs[0], last + 1)), role
        assert [m["type"] for m in events] == [m["type"] for m in seen["operator"]], role

    # REST says the same
    viewer = app.auth("viewer")
    assert app.client.get(f"/api/v1/photos/{photo}", headers=viewer).status_code == 403
    assert app.client.get(f"/api/v1/photos/{photo}", headers=app.auth("field")).status_code == 200
    for path in ("/api/v1/help-requests", "/api/v1/crews", "/api/v1/situation", "/api/v1/alarms"):
        body = app.client.get(path, headers=viewer).text
        assert "Chan Tai Man" not in body, path
        assert "Chan Tai Man" in app.client.get(path, headers=app.auth("operator")).text, path
    assert app.client.get("/api/v1/liaison/calls", headers=viewer).status_code == 403


def test_a_resumed_stream_is_filtered_too(app):
    viewer = app.token("viewer")
    with LiveClient(app.ws_url, viewer) as first:
        start = first.next()["seq"]
    post(
        app, "/api/v1/liaison/calls", {"direction": "inbound", "caller": CALLER, "summary": SUMMARY}
    )
    with LiveClient(app.ws_url, viewer, since=start) as again:
        assert again.next()["type"] == "snapshot"
        event = again.next_event()
    assert event["type"] == "liaison.logged" and event["seq"] == start + 1
    assert CALLER not in json.dumps(event) and "66123456" not in json.dumps(event)
