"""What the red review of issue 14 found: the dashboard sends one Idempotency-Key per click
("a retried click never acts twice"), but most routes that create a record ignored it. The
same request twice with one key logged two hotline calls, added a vulnerable resident twice
(twelve times when sent at once), reported a hazard twice and gave a crew the same task twice. These now answer a
retry with the first answer (200, Idempotent-Replayed) and store one record."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from sqlalchemy import func, select

from emergency.audit.models import AuditEntry
from emergency.crews.models import CrewTask
from emergency.facilities.models import FacilityChange
from emergency.field.models import Hazard
from emergency.liaison.models import HotlineCall
from emergency.vulnerable.models import VulnerableResident


def count(app, model) -> int:
    with app.db.session() as session:
        return int(session.execute(select(func.count()).select_from(model)).scalar_one())


def twice(
    app, role: str, path: str, body: dict, *, method: str = "POST", created: int = 201
) -> tuple[dict, dict]:
    """The same request twice with one key: the retry answers the first answer and does
    nothing (no audit entry: nothing changed)."""
    headers = {**app.auth(role), "Idempotency-Key": str(uuid.uuid4())}
    first = app.client.request(method, path, headers=headers, json=body)
    assert first.status_code == created, first.text
    audited = count(app, AuditEntry)
    again = app.client.request(method, path, headers=headers, json=body)
    assert count(app, AuditEntry) == audited, f"{method} {path}: the retry acted"
    assert again.status_code == 200, again.text
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == first.json()
    return first.json(), again.json()


def test_a_retried_create_with_one_key_stores_one_record(app_server):
    app = app_server
    crew = app.client.post(
        "/api/v1/crews", headers=app.auth("admin"), json={"name": "Crew 7", "headcount": 4}
    )
    assert crew.status_code == 201, crew.text
    resident = app.client.post(
        "/api/v1/vulnerable/residents",
        headers=app.auth("admin"),
        json={"name": "Ho Ka Yan", "address": "Travessa 9"},
    )
    assert resident.status_code == 201, resident.text
    cases: list[tuple[str, str, dict, type, Callable[[dict], object]]] = [
        (
            "liaison",
            "/api/v1/liaison/calls",
            {"direction": "inbound", "caller": "Macau duty desk", "summary": "ferry stopped"},
            HotlineCall,
            lambda a: a["id"],
        ),
        (
            "operator",
            "/api/v1/vulnerable/residents",
            {"name": "Leong Mei Ling", "address": "Rua 3", "phone": "+85366112233"},
            VulnerableResident,
            lambda a: a["id"],
        ),
        (
            "operator",
            "/api/v1/hazards",
            {"kind": "fallen_tree", "severity": "critical", "lat": 22.14, "lon": 113.54},
            Hazard,
            lambda a: a["id"],
        ),
        (
            "operator",
            f"/api/v1/crews/{crew.json()['id']}/tasks",
            {"description": "clear the fallen tree on Rua 3"},
            CrewTask,
            lambda a: a["id"],
        ),
    ]
    for role, path, body, model, ident in cases:
        before = count(app, model)
        first, again = twice(app, role, path, body)
        assert ident(first) == ident(again)
        assert count(app, model) == before + 1, path
    # a check-in retried: one check, the answer of the first
    path = f"/api/v1/vulnerable/residents/{resident.json()['id']}/check"
    headers = {**app.auth("operator"), "Idempotency-Key": str(uuid.uuid4())}
    first = app.client.post(path, headers=headers, json={"state": "reached"})
    again = app.client.post(path, headers=headers, json={"state": "reached"})
    assert first.status_code == 200 and again.status_code == 200, (first.text, again.text)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == first.json()
    # the same key with another body is refused, nothing stored
    before = count(app, HotlineCall)
    key = {**app.auth("liaison"), "Idempotency-Key": str(uuid.uuid4())}
    call = {"direction": "inbound", "caller": "A", "summary": "one"}
    assert app.client.post("/api/v1/liaison/calls", headers=key, json=call).status_code == 201
    other = app.client.post("/api/v1/liaison/calls", headers=key, json={**call, "summary": "two"})
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_key_reused"
    assert count(app, HotlineCall) == before + 1


# Mutating routes that do not take the Idempotency-Key (emergency.idempotency), each with why.
# A new route must either take `once: IdempotentDep` or be listed here with its reason.
WITHOUT_KEY = {
    # not a person's action on the command post's records
    "POST /api/v1/auth/login": "signing in: a new session each time",
    "POST /api/v1/auth/logout": "ends the session; again, nothing to end",
    "POST /api/v1/auth/password": "sets a password from a one-time link",
    "POST /webhooks/twilio/status": "Twilio's callback, signed; deduplicated by message",
    "POST /webhooks/twilio/inbound": "Twilio's callback, signed; deduplicated by message sid",
    "POST /api/v1/liaison/ack/{token}": "the public acknowledgement link; again, already done",
    # computes or reads, changes nothing
    "POST /api/v1/rules/preview": "a dry run",
    "POST /api/v1/broadcasts/preview": "a dry run",
    "POST /api/v1/subscribers/export": "a read (POST keeps the number out of the URL)",
    "POST /api/v1/feeds/poll": "polls the due feeds; a second poll finds nothing due",
    # idempotent by what they carry
    "POST /api/v1/photos": "content-addressed: the same photo is stored once",
    "POST /api/v1/field-reports": "its own Idempotency-Key (the phone's report id)",
    "POST /api/v1/cap": "one alert per CAP identifier",
    "POST /api/v1/push/subscriptions": "one per endpoint",
    "DELETE /api/v1/push/subscriptions": "again, nothing to delete",
    "POST /api/v1/subscribers/forget": "again, nothing is found",
    # the answer carries a secret that must not be stored in the replay table
    "POST /api/v1/field/links": "the answer is a new token (a retry's link is revocable)",
    "POST /api/v1/users/{name}/rotate": "the answer is a new token",
}


def test_every_mutating_route_takes_the_key_or_says_why_not():
    """Every action a person takes is idempotent: a route walk, so that a new route that
    creates something is behind the key (or listed above with its reason)."""
    from emergency.app import create_app
    from emergency.idempotency import idempotent
    from emergency.openapi import api_routes, dependency_calls

    keyed, unkeyed = set(), set()
    for route in api_routes(create_app()):
        for method in route.methods & {"POST", "PUT", "PATCH", "DELETE"}:
            name = f"{method} {route.path_format}"
            calls = set(dependency_calls(route.dependant))
            (keyed if idempotent in calls else unkeyed).add(name)
    assert len(keyed) > 15, "route enumeration found too few keyed routes"
    assert unkeyed - set(WITHOUT_KEY) == set(), "mutating routes without Idempotency-Key"
    assert set(WITHOUT_KEY) - unkeyed == set(), "listed routes that take the key now (or gone)"


def test_a_double_click_creates_one_crew_group_and_liaison_contact(app_server):
    """The red review of session 5: creating a crew, an inspection group or a liaison contact
    ignored the key: a double click made two of each."""
    from emergency.crews.models import Crew
    from emergency.field.models import InspectionGroup
    from emergency.liaison.models import LiaisonContact

    app = app_server
    cases = [
        ("/api/v1/crews", {"name": "Crew 9", "headcount": 5}, Crew),
        ("/api/v1/inspection-groups", {"name": "Group 9", "zone_ids": []}, InspectionGroup),
        (
            "/api/v1/liaison/contacts",
            {
                "key": "cpsp_duty",
                "name": "Duty officer",
                "organisation": {"en": "Macau CPSP"},
                "phone": "+85366554433",
            },
            LiaisonContact,
        ),
    ]
    answers = {}
    for path, body, model in cases:
        before = count(app, model)
        headers = {**app.auth("operator"), "Idempotency-Key": str(uuid.uuid4())}
        first = app.client.post(path, headers=headers, json=body)
        again = app.client.post(path, headers=headers, json=body)
        answers[path] = (first.status_code, again.status_code, count(app, model) - before)
    # created once; the retry answered as the first (not a 409, not a second record)
    assert answers == {path: (201, 200, 1) for path, _, _ in cases}
    first = first.json()
    contact = first["id"]
    headers = {**app.auth("operator"), "Idempotency-Key": str(uuid.uuid4())}
    path = f"/api/v1/liaison/contacts/{contact}"
    changed = app.client.patch(path, headers=headers, json={"name": "Night duty officer"})
    again = app.client.patch(path, headers=headers, json={"name": "Night duty officer"})
    assert changed.status_code == 200 and again.status_code == 200, (changed.text, again.text)
    assert again.headers.get("Idempotent-Replayed") == "true"


def test_a_retried_state_change_is_done_once(app_server):
    """Issue 17: the state changes the route walk listed "not yet" take the key (alarms,
    crews' status and tasks, facilities, hazards, help requests, liaison follow-ups and
    acknowledgements, prompts, the vulnerable reset, user and field-link revokes, subscribers):
    a retried click answers the first answer, even where a plain repeat would say "no
    change", and changes nothing more."""
    app = app_server
    crew = app.client.post(
        "/api/v1/crews", headers=app.auth("operator"), json={"name": "Crew 8", "headcount": 5}
    )
    assert crew.status_code == 201, crew.text
    changes = count(app, FacilityChange)
    status = "/api/v1/facilities/lotus_bridge/status"
    closing, _ = twice(app, "operator", status, {"status": "closing"}, created=200)
    assert closing["changed"] is True  # the retry says what the first did
    assert count(app, FacilityChange) == changes + 1
    path = f"/api/v1/crews/{crew.json()['id']}/status"
    deployed, _ = twice(app, "operator", path, {"status": "deployed"}, created=200)
    assert deployed["status"] == "deployed"
    # the same key on another action: refused, nothing done
    key = {**app.auth("operator"), "Idempotency-Key": "reused-" + uuid.uuid4().hex}
    assert app.client.post("/api/v1/crews/standby", headers=key).status_code == 200
    other = app.client.post("/api/v1/vulnerable/reset", headers=key)
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_key_reused"
