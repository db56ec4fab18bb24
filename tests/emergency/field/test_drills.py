"""Drills never touch real records (issue 13 item 5): every field-operation record carries
`exercise`; a report that says so, a field link issued for a drill, a replay and the rules in
a drill make exercise records; the real situation and report leave them out, `?exercise=true`
and `--exercise` show only them; their live events say `"exercise": true`; a drill cannot
change a real record. And a full demo round leaves the real situation and report as they
were, credited to its own drill user."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from emergency.replay import scenario as sc
from tests.emergency.field.conftest import LIANHUA, Api, last_seq
from tests.emergency.field.factories import group, key, report
from tests.support import server
from tests.support.live import LiveClient

ROOT = Path(__file__).resolve().parents[3]
YAGI = ROOT / "config" / "scenarios" / "yagi.yaml"
HALL = "lianhua_sports_hall"
TIMES = ("generated_at", "generated_at_local", "last_seq")


def real_situation(api: Api) -> dict:
    """The real situation, without what changes by itself (times, the event counter)."""
    sit = api.ok(api.get("/api/v1/situation"))
    return {k: v for k, v in sit.items() if k not in TIMES}


def drill_situation(api: Api) -> dict:
    sit = api.ok(api.get("/api/v1/situation", params={"exercise": "true"}))
    assert sit["exercise"] is True
    return sit


def report_data(app, exercise: bool = False) -> dict:
    from emergency.report import data

    with app.db.session() as session:
        built = data.build(session, catalogue=app.app.state.catalogue, exercise=exercise)
    built.pop("generated_at_local")
    built.pop("period")
    return built


def drill_link(api: Api, **body) -> str:
    link = api.ok(api.post("/api/v1/field/links", {"label": "Drill phone", **body}), 201)
    return link["url"].split("#token=", 1)[1]


def test_a_field_link_issued_for_a_drill_makes_exercise_records_only(api, app):
    g = group(api)
    real_hazard = api.ok(
        api.post("/api/v1/hazards", {"kind": "fallen_tree", "severity": "high", "place": "Rd 1"}),
        201,
    )
    before, real_report = real_situation(api), report_data(app)
    token = drill_link(api, group_id=g["id"], exercise=True)  # a real group, training
    lat, lon = LIANHUA

    with LiveClient(app.ws_url, app.token("viewer")) as live:
        live.next()  # the snapshot
        # Nothing in these bodies says "exercise": the link does.
        trip = report(app, token, {"kind": "check_in", "lat": lat, "lon": lon})
        assert trip.status_code == 201, trip.text
        event = live.events_until(lambda m: m["type"] == "inspection.updated")[-1]
    assert event["data"]["exercise"] is True and event["data"]["trip"]["exercise"] is True
    assert event["data"]["totals"]["inspections"]["trips"] == 1  # the drill's totals
    assert trip.json()["exercise"] is True
    hazard = report(
        app,
        token,
        {
            "kind": "hazard",
            "hazard_kind": "flooding",
            "severity": "critical",
            "lat": lat,
            "lon": lon,
        },
    )
    assert hazard.status_code == 201, hazard.text
    help_ = report(app, token, {"kind": "help", "people": 3, "lat": lat, "lon": lon})
    assert help_.status_code == 201, help_.text
    api.ok(api.post(f"/api/v1/shelters/{HALL}/open", {"open": True, "exercise": True}))
    moved = report(app, token, {"kind": "evacuated", "people": 12, "shelter_id": HALL})
    assert moved.status_code == 201, moved.text

    # A drill cannot change a real record, even one of its own group's: 409, nothing changes.
    api.ok(api.post(f"/api/v1/hazards/{real_hazard['id']}/assign", {"group_id": g["id"]}))
    before, real_report = real_situation(api), report_data(app)
    seq = last_seq(app)
    refused = report(app, token, {"kind": "rectified", "hazard_id": real_hazard["id"]})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "exercise_mismatch"
    assert last_seq(app) == seq
    assert api.ok(api.get(f"/api/v1/hazards/{real_hazard['id']}"))["status"] == "assigned"

    # Reality: unchanged, in the situation, the lists, the shelters and the report.
    assert real_situation(api) == before
    assert report_data(app) == real_report
    assert [h["id"] for h in api.ok(api.get("/api/v1/hazards"))] == [real_hazard["id"]]
    assert api.ok(api.get("/api/v1/help-requests")) == []
    assert api.ok(api.get("/api/v1/patrol-trips")) == []
    hall = next(s for s in api.ok(api.get("/api/v1/shelters")) if s["id"] == HALL)
    assert hall["occupancy"] == 0 and hall["is_open"] is False
    assert all(not a["exercise"] for a in real_situation(api)["alarms"]["items"])

    # The drill: only in ?exercise=true, and in the exercise report.
    drill = drill_situation(api)
    assert drill["field"]["inspections"]["trips"] == 1 and drill["field"]["hazards"]["open"] == 1
    assert drill["field"]["help_requests"]["open"] == 1 and drill["field"]["reports_total"] == 4
    assert drill["evacuation"]["people_evacuated"] == 12
    assert drill["evacuation"]["shelters"]["occupancy"] == 12
    assert {a["kind"] for a in drill["alarms"]["items"]} == {"flooding", "help"}
    hazards = api.ok(api.get("/api/v1/hazards", params={"exercise": "true"}))
    assert [h["exercise"] for h in hazards] == [True]
    exercise_report = report_data(app, exercise=True)
    assert exercise_report["figures"]["patrol_trips"] == 1
    assert exercise_report["figures"]["hazards_found"] == 1
    assert exercise_report["figures"]["people_evacuated"] == 12
    # The desk acting on the drill's hazard acts in the drill: still an exercise record.
    assigned = api.ok(api.post(f"/api/v1/hazards/{hazards[0]['id']}/assign", {"group_id": g["id"]}))
    assert assigned["exercise"] is True and assigned["status"] == "assigned"
    assert real_situation(api) == before


def test_exercise_true_in_a_report_and_drill_records_never_mix_with_real_ones(api, app):
    g = group(api)
    token = drill_link(api, group_id=g["id"])  # a real team's link
    crew = api.ok(api.post("/api/v1/crews", {"name": "Real crew", "headcount": 20}), 201)
    before = real_situation(api)
    # A real link may still report a drill's record, by saying so.
    r = report(
        app,
        token,
        {
            "kind": "hazard",
            "hazard_kind": "other",
            "severity": "low",
            "place": "x",
            "exercise": True,
        },
    )
    assert r.status_code == 201 and r.json()["exercise"] is True
    hazard_id = r.json()["result"]["hazard_id"]
    assert real_situation(api) == before
    # The same key again answers the stored report; the same key without the flag is another
    # report (409), not a real copy of the drill's.
    idem = key()
    body = {"kind": "help", "people": 1, "place": "y", "exercise": True}
    assert report(app, token, body, idem).status_code == 201
    assert report(app, token, body, idem).status_code == 200
    other = report(app, token, {**body, "exercise": False}, idem)
    assert other.status_code == 409
    # A drill's hazard is not given to a real crew; a drill does not change a real crew.
    assign = api.post(f"/api/v1/hazards/{hazard_id}/assign", {"crew_id": crew["id"]})
    assert assign.status_code == 409 and assign.json()["error"]["code"] == "exercise_mismatch"
    status = api.post(
        f"/api/v1/crews/{crew['id']}/status", {"status": "deployed", "exercise": True}
    )
    assert status.status_code == 409 and status.json()["error"]["code"] == "exercise_mismatch"
    drill_crew = api.ok(
        api.post("/api/v1/crews", {"name": "Drill crew", "headcount": 8, "exercise": True}), 201
    )
    task = api.ok(api.post(f"/api/v1/hazards/{hazard_id}/assign", {"crew_id": drill_crew["id"]}))
    assert task["assigned_crew_id"] == drill_crew["id"]
    crews = api.ok(api.get("/api/v1/crews", params={"exercise": "true"}))
    assert [(c["name"], c["status"], c["exercise"]) for c in crews] == [
        ("Drill crew", "deployed", True)
    ]
    assert [c["name"] for c in api.ok(api.get("/api/v1/crews"))] == ["Real crew"]
    assert real_situation(api) == before


def test_rules_in_a_drill_make_exercise_orders_and_open_the_drills_shelters(api, app):
    before = real_situation(api)
    r = api.post(
        "/api/v1/signals",
        {"source": "SMG", "kind": "storm_surge", "level": "orange", "exercise": True},
    )
    assert r.status_code == 200, r.text
    runs = {a["do"]: a for a in r.json()["actions"] if a["rule_id"] == "flooding_evacuation"}
    assert runs["shelters"]["status"] == "done" and runs["evacuate"]["status"] == "done"
    broadcast_id = runs["evacuate"]["result"]["broadcast_id"]
    orders = api.ok(api.get("/api/v1/evacuation/orders", params={"exercise": "true"}))
    assert [(o["zone_id"], o["exercise"], o["broadcast_id"]) for o in orders] == [
        ("north_shore_works", True, broadcast_id)
    ]
    assert api.ok(api.get(f"/api/v1/broadcasts/{broadcast_id}"))["exercise"] is True
    assert all(s["is_open"] for s in drill_situation(api)["evacuation"]["shelter_list"])
    assert api.ok(api.get("/api/v1/evacuation/orders")) == []
    after = real_situation(api)
    assert after.pop("exercise_signals") and before.pop("exercise_signals") == []
    assert after == before


def test_cli_makes_drill_users_and_field_links_for_a_drill(api, app, database_url):
    from typer.testing import CliRunner

    from emergency.cli import app as cli

    def typhoon(*args: str):
        result = CliRunner().invoke(
            cli,
            list(args),
            env={"TYPHOON_DATABASE_URL": database_url, "TYPHOON_LOG_FORMAT": "text"},
            catch_exceptions=False,
        )
        assert result.exit_code == 0, result.stdout
        return result.stdout

    g = group(api)
    out = typhoon("field", "link", "Drill team", "--group", str(g["id"]), "--drill")
    assert "drill field user" in out
    token = out.strip().splitlines()[-1].split("#token=", 1)[1]
    r = report(app, token, {"kind": "check_in"})
    assert r.status_code == 201 and r.json()["exercise"] is True
    assert api.ok(api.get("/api/v1/patrol-trips")) == []
    bearer = {"Authorization": f"Bearer {token}"}
    assert app.client.get("/api/v1/field/context", headers=bearer).json()["exercise"] is True

    # A drill operator: its hazard is a drill's, and it sees its drill without asking.
    out = typhoon("user", "add", "drill-desk", "--role", "operator", "--drill")
    assert "created drill user drill-desk" in out
    desk = {"Authorization": f"Bearer {out.strip().splitlines()[-1]}"}
    hazard = app.client.post(
        "/api/v1/hazards",
        headers=desk,
        json={"kind": "other", "severity": "low", "place": "drill ground"},
    )
    assert hazard.status_code == 201 and hazard.json()["exercise"] is True
    seen = app.client.get("/api/v1/hazards", headers=desk).json()
    assert [h["id"] for h in seen] == [hazard.json()["id"]]
    assert api.ok(api.get("/api/v1/hazards")) == []


def test_a_full_demo_round_leaves_the_real_situation_and_report_unchanged(
    database_url, settings_for, tmp_path
):
    """`typhoon serve --demo`: one round of the Yagi-like scenario, by the demo's own drill
    user. The real situation, the real report (data and `typhoon report`) are the same before
    and after; the drill's figures are only under ?exercise=true and --exercise."""
    from emergency.replay import demo as demo_replay
    from tests.emergency.test_replay import typhoon

    scenario = sc.load(YAGI)
    stop = threading.Event()
    settings = settings_for(database_url, TYPHOON_DATA_DIR=str(tmp_path / "data"))
    with server.run(settings, demo=True) as app:
        api = Api(app)
        before, before_report = real_situation(api), report_data(app)
        env = {"TYPHOON_DATABASE_URL": database_url}
        before_md = typhoon("report", env=env).stdout
        demo_replay.start(
            app.app, url=app.url, config_dir=ROOT / "config", speed=1e7, pause=3600, stop=stop
        )
        deadline = time.monotonic() + 120
        while getattr(app.app.state, "demo_rounds", 0) < 1:
            assert time.monotonic() < deadline, "the demo did not play a round"
            time.sleep(0.2)
        stop.set()  # no second round: it waits an hour first

        assert real_situation(api) == before
        assert report_data(app) == before_report
        after_md = typhoon("report", env=env).stdout
        assert _without_times(after_md) == _without_times(before_md)

        # The drill is in the drill's views only.
        drill = drill_situation(api)
        moved = sum(s.people for s in scenario.of(sc.EvacuateStep))
        assert drill["evacuation"]["people_evacuated"] == moved
        assert drill["field"]["inspections"]["trips"] == len(scenario.of(sc.CheckInStep))
        assert drill["crews"]["crews"] == len(scenario.of(sc.CrewStep))
        assert drill["vulnerable"]["total"] == len(scenario.of(sc.ResidentStep))
        exercise = report_data(app, exercise=True)
        assert exercise["figures"]["people_evacuated"] == moved
        assert exercise["figures"]["liaison_calls"] == len(scenario.of(sc.LiaisonCallStep))
        md = typhoon("report", "--exercise", env=env).stdout
        assert f"| people evacuated | {moved} |" in md
        assert f"| people evacuated | {before_report['figures']['people_evacuated']} |" in after_md

        # Credited to the demo's drill user, never to the duty operator.
        movements = api.ok(api.get("/api/v1/evacuation/movements", params={"exercise": "true"}))
        assert {m["reported_by"] for m in movements} == {"demo-drill"}
        by_people = exercise["actions"]["by_people"]
        assert by_people["hazard.reported"] == len(scenario.of(sc.HazardStep))
        assert "duty-operator" not in _actors(app)


# --- helpers -------------------------------------------------------------------------------


def _without_times(markdown: str) -> list[str]:
    """The report's lines, without the one that says when it was made and up to when."""
    return [line for line in markdown.splitlines() if not line.startswith("Period: ")]


def _actors(app) -> set[str]:
    from sqlmodel import select

    from emergency.audit.models import AuditEntry

    with app.db.session() as session:
        return set(session.exec(select(AuditEntry.actor)).all())
