"""What the fuzzing found, each pinned by a test (all were 500s): a path id beyond 64 bits,
a hazard assigned to a crew that does not exist, a liaison contact patched with null for a
field it must have."""

from __future__ import annotations

import uuid


def test_an_id_beyond_64_bits_is_422_not_500(app_server):
    admin = app_server.auth("admin")
    big = 2**70
    for method, path, body in (
        ("POST", f"/api/v1/hazards/{big}/verify", {}),
        ("POST", f"/api/v1/liaison/notices/{big}/ack", {}),
        ("GET", f"/api/v1/broadcasts/{big}", None),
    ):
        r = app_server.client.request(method, path, json=body, headers=admin)
        assert r.status_code in (404, 422), (path, r.text)
        assert r.json()["error"]["code"] in ("invalid_input", "not_found", "hazard_not_found")


def test_assigning_a_hazard_to_an_unknown_crew_is_404(app_server):
    admin = app_server.auth("admin")
    hazard = app_server.client.post(
        "/api/v1/hazards",
        headers=admin,
        json={"kind": "fallen_tree", "severity": "high", "lat": 22.14, "lon": 113.54},
    )
    assert hazard.status_code == 201, hazard.text
    path = f"/api/v1/hazards/{hazard.json()['id']}/assign"
    r = app_server.client.post(path, headers=admin, json={"crew_id": 59832})
    assert r.status_code == 404 and r.json()["error"]["code"] == "crew_not_found"
    again = app_server.client.get(f"/api/v1/hazards/{hazard.json()['id']}", headers=admin)
    assert again.json()["status"] == "open" and again.json()["assigned_crew_id"] is None


def test_patching_a_contact_with_null_where_it_needs_a_value_is_422(app_server):
    admin = app_server.auth("admin")
    created = app_server.client.post(
        "/api/v1/liaison/contacts",
        headers=admin,
        json={
            "key": f"c_{uuid.uuid4().hex[:8]}",
            "name": "Duty desk",
            "organisation": {"en": "SMG"},
        },
    )
    assert created.status_code == 201, created.text
    path = f"/api/v1/liaison/contacts/{created.json()['id']}"
    for field in ("name", "organisation", "language", "active"):
        r = app_server.client.patch(path, headers=admin, json={field: None})
        assert r.status_code == 422, (field, r.text)
    cleared = app_server.client.patch(path, headers=admin, json={"phone": None, "email": None})
    assert cleared.status_code == 200 and cleared.json()["name"] == "Duty desk"
