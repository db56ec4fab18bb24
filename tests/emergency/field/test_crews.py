"""Crews: create, status changes (illegal ones refused), all to standby (idempotent), tasks,
totals on the situation and the live stream."""

from __future__ import annotations

from emergency.crews import service as crew_service
from tests.emergency.field.conftest import events_of, last_seq


def make(api, name, headcount, status="standby"):
    return api.ok(
        api.post(
            "/api/v1/crews",
            {
                "name": name,
                "headcount": headcount,
                "station": "Lianhua fire station",
                "lat": 22.14,
                "lon": 113.54,
                "status": status,
            },
        ),
        201,
    )


def test_crews_status_totals_and_standby(api, app):
    a = make(api, "Rescue team 1", 60)
    b = make(api, "Rescue team 2", 61, status="released")
    c = make(api, "Rescue team 3", 59, status="resting")
    assert a["zone_id"] == "lianhua"
    totals = api.ok(api.get("/api/v1/crews/totals"))
    assert totals["people"] == 180 and totals["on_duty_people"] == 119
    assert totals["by_status"]["released"] == {"crews": 1, "people": 61}
    r = api.ok(api.post(f"/api/v1/crews/{a['id']}/status", {"status": "deployed"}))
    assert r["status"] == "deployed"
    changed = api.ok(api.post("/api/v1/crews/standby"))["changed"]
    assert sorted(x["id"] for x in changed) == sorted([b["id"], c["id"]])
    seq = last_seq(app)
    assert api.ok(api.post("/api/v1/crews/standby"))["changed"] == []  # idempotent
    assert last_seq(app) == seq
    by = api.ok(api.get("/api/v1/situation"))["crews"]["by_status"]
    assert by["standby"] == {"crews": 2, "people": 120} and by["deployed"]["people"] == 60
    assert events_of(app, "crew.updated")[-1]["data"]["totals"]["people"] == 180


def test_service_for_rules(app):
    with app.db.unit_of_work() as session:
        crew = crew_service.create_crew(
            session, name="Team R", headcount=50, actor="t", status="released"
        )
        crew_id = crew.id
    with app.db.unit_of_work() as session:
        assert [
            c.id for c in crew_service.set_all_standby(session, actor="rules", origin="rule:smg-8")
        ] == [crew_id]
        assert crew_service.set_all_standby(session, actor="rules", origin="rule:smg-8") == []


def test_illegal_changes_are_409_and_change_nothing(api, app):
    crew = make(api, "Team X", 10, status="released")
    seq = last_seq(app)
    r = api.post(f"/api/v1/crews/{crew['id']}/status", {"status": "deployed"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "illegal_transition"
    r = api.post(f"/api/v1/crews/{crew['id']}/tasks", {"description": "clear the road"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "crew_unavailable"
    r = api.post(f"/api/v1/crews/{crew['id']}/status", {"status": "asleep"})
    assert r.status_code == 422
    r = api.post("/api/v1/crews/999/status", {"status": "standby"})
    assert r.status_code == 404
    assert last_seq(app) == seq
    assert api.ok(api.get("/api/v1/crews"))[0]["status"] == "released"
    assert api.post("/api/v1/crews", {"name": "Team X", "headcount": 3}).status_code == 409
    assert (
        api.post(
            "/api/v1/crews", {"name": "Team Y", "headcount": 3, "lat": 0, "lon": 0}
        ).status_code
        == 422
    )
    assert (
        api.post("/api/v1/crews", {"name": "Team Z", "headcount": 3}, role="field").status_code
        == 403
    )


def test_tasks_deploy_and_release_a_crew(api):
    crew = make(api, "Team T", 12)
    task = api.ok(
        api.post(f"/api/v1/crews/{crew['id']}/tasks", {"description": "pump out the underpass"}),
        201,
    )
    listed = api.ok(api.get("/api/v1/crews"))[0]
    assert listed["status"] == "deployed" and listed["open_tasks"][0]["id"] == task["id"]
    api.ok(api.post(f"/api/v1/crews/tasks/{task['id']}/done"))
    assert api.ok(api.get("/api/v1/crews"))[0]["status"] == "standby"
    assert api.post(f"/api/v1/crews/tasks/{task['id']}/done").status_code == 409
