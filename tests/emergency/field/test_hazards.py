"""Inspection groups and hazards: the rectification workflow with deadlines and overdue, crew
tasks from hazards and requests for help, illegal changes refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.emergency.field.conftest import LIANHUA, last_seq
from tests.emergency.field.factories import field_token, group


def hazard(api, **kw):
    body = {
        "kind": "fallen_tree",
        "severity": "high",
        "lat": LIANHUA[0],
        "lon": LIANHUA[1],
        "place": "Lianhua Rd",
        **kw,
    }
    return api.ok(api.post("/api/v1/hazards", body), 201)


def test_workflow_open_assigned_rectified_verified(api, app):
    g = group(api)
    h = hazard(api)
    assert h["status"] == "open" and h["zone_id"] == "lianhua" and not h["overdue"]
    due = datetime.fromisoformat(h["due_at"])
    assert timedelta(hours=5) < due - datetime.now(UTC) <= timedelta(hours=6)
    h = api.ok(api.post(f"/api/v1/hazards/{h['id']}/assign", {"group_id": g["id"]}))
    assert h["status"] == "assigned" and h["assigned_group_id"] == g["id"]
    h = api.ok(
        app.client.post(
            f"/api/v1/hazards/{h['id']}/rectify",
            json={"note": "cut and cleared"},
            headers={"Authorization": f"Bearer {field_token(api, app, group_id=g['id'])}"},
        )  # the group's own phone (another team's may not: tests/security/test_team_ownership)
    )
    assert h["status"] == "rectified" and h["rectification_note"] == "cut and cleared"
    h = api.ok(
        api.post(
            f"/api/v1/hazards/{h['id']}/assign", {"group_id": g["id"], "note": "stump still blocks"}
        )
    )
    assert h["status"] == "assigned"
    api.ok(api.post(f"/api/v1/hazards/{h['id']}/rectify", {}))
    h = api.ok(api.post(f"/api/v1/hazards/{h['id']}/verify", {}))
    assert h["status"] == "verified" and h["verified_by"]
    totals = api.ok(api.get("/api/v1/situation"))["field"]["hazards"]
    assert totals["verified"] == 1 and totals["unresolved"] == 0


def test_overdue_is_shown(api):
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    late = hazard(api, due_at=past)
    hazard(api, severity="low")
    assert late["overdue"] is True
    overdue = api.ok(api.get("/api/v1/hazards?overdue=true"))
    assert [h["id"] for h in overdue] == [late["id"]]
    assert api.ok(api.get("/api/v1/situation"))["field"]["hazards"]["overdue"] == 1
    api.ok(api.post(f"/api/v1/hazards/{late['id']}/rectify", {}))
    assert api.ok(api.get("/api/v1/hazards?overdue=true")) == []


def test_crew_task_from_hazard_and_help(api):
    crew = api.ok(api.post("/api/v1/crews", {"name": "Crew A", "headcount": 60}), 201)
    h = hazard(api, severity="critical")
    task = api.ok(
        api.post(
            f"/api/v1/crews/{crew['id']}/tasks", {"description": "chainsaw", "hazard_id": h["id"]}
        ),
        201,
    )
    assert task["hazard_id"] == h["id"]
    assert api.ok(api.get(f"/api/v1/hazards/{h['id']}"))["assigned_crew_id"] == crew["id"]
    assert api.ok(api.get("/api/v1/crews"))[0]["status"] == "deployed"
    api.ok(api.post(f"/api/v1/hazards/{h['id']}/rectify", {}))
    crew_now = api.ok(api.get("/api/v1/crews"))[0]
    assert crew_now["status"] == "standby" and crew_now["open_tasks"] == []


@pytest.mark.parametrize(
    "steps,bad,code",
    [
        ([], ("verify", {}), "illegal_transition"),
        (["assign"], ("verify", {}), "illegal_transition"),
        (["rectify", "verify"], ("rectify", {}), "illegal_transition"),
        (["rectify", "verify"], ("assign", "group"), "illegal_transition"),
        ([], ("assign", {}), "invalid_input"),
    ],
)
def test_illegal_changes_are_409_and_change_nothing(api, app, steps, bad, code):
    g = group(api)
    h = hazard(api)
    for step in steps:
        body = {"group_id": g["id"]} if step == "assign" else {}
        api.ok(api.post(f"/api/v1/hazards/{h['id']}/{step}", body))
    before = api.ok(api.get(f"/api/v1/hazards/{h['id']}"))
    seq = last_seq(app)
    action, body = bad
    if body == "group":
        body = {"group_id": g["id"]}
    r = api.post(f"/api/v1/hazards/{h['id']}/{action}", body)
    assert 400 <= r.status_code < 500 and r.json()["error"]["code"] == code
    assert api.ok(api.get(f"/api/v1/hazards/{h['id']}")) == before and last_seq(app) == seq


def test_group_validation(api):
    assert (
        api.post("/api/v1/inspection-groups", {"name": "G", "zone_ids": ["mars"]}).status_code
        == 422
    )
    group(api, name="G2")
    assert api.post("/api/v1/inspection-groups", {"name": "G2"}).status_code == 409
