"""Vulnerable residents: names for admins, operators and the social worker who follows them;
counts for everyone else and on the live stream."""

from __future__ import annotations

import json

from tests.emergency.field.conftest import events_of
from tests.emergency.field.factories import field_token, key


def test_names_only_for_those_who_need_them(api, app):
    worker = field_token(api, app, label="Social worker Lam")
    worker_name = app.client.get(
        "/api/v1/field/context", headers={"Authorization": f"Bearer {worker}"}
    ).json()["user"]
    mine = api.ok(
        api.post(
            "/api/v1/vulnerable/residents",
            {
                "name": "Test Resident A",
                "address": "Flat 3, Block 2",
                "community": "xiaohengqin",
                "needs": "wheelchair",
                "followed_by": worker_name,
            },
        ),
        201,
    )
    other = api.ok(
        api.post(
            "/api/v1/vulnerable/residents",
            {"name": "Test Resident B", "address": "House 7", "lat": 22.14, "lon": 113.54},
        ),
        201,
    )
    assert other["community"] == "lianhua"
    assert len(api.ok(api.get("/api/v1/vulnerable/residents", role="operator"))) == 2
    own = app.client.get(
        "/api/v1/vulnerable/residents", headers={"Authorization": f"Bearer {worker}"}
    ).json()
    assert [r["name"] for r in own] == ["Test Resident A"]
    for role in ("viewer", "liaison", "approver"):
        assert api.get("/api/v1/vulnerable/residents", role=role).status_code == 403
    r = app.client.post(
        "/api/v1/field-reports",
        headers={"Authorization": f"Bearer {worker}", "Idempotency-Key": key()},
        json={"kind": "resident_check", "resident_id": mine["id"], "resident_state": "reached"},
    )
    assert r.status_code == 201, r.text
    r = app.client.post(
        "/api/v1/field-reports",
        headers={"Authorization": f"Bearer {worker}", "Idempotency-Key": key()},
        json={"kind": "resident_check", "resident_id": other["id"], "resident_state": "reached"},
    )
    assert r.status_code == 403
    api.ok(api.post(f"/api/v1/vulnerable/residents/{other['id']}/check", {"state": "needs_help"}))
    summary = api.ok(api.get("/api/v1/vulnerable/summary", role="liaison"))
    assert summary["by_state"] == {"unknown": 0, "reached": 1, "not_reached": 0, "needs_help": 1}
    assert summary["by_community"]["xiaohengqin"]["reached"] == 1
    sit = api.ok(api.get("/api/v1/situation"))
    assert sit["vulnerable"]["total"] == 2
    stream = json.dumps(
        events_of(app, "vulnerable.updated") + events_of(app, "field_report.created")
    )
    assert "Test Resident" not in stream and "Block 2" not in stream
    assert api.ok(api.post("/api/v1/vulnerable/reset"))["reset"] == 2
