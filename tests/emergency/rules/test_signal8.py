"""The issue's acceptance path over real HTTP and /ws/live: Macau's Signal No. 8 arriving as
CAP closes the Lotus Bridge (closing now, closed 90 minutes later), suspends classes, puts
crews on standby, notifies the liaison group and creates the "stay indoors" broadcast, with
events on the live stream; the same CAP again, a re-evaluation and a restart do nothing
more; lowering to No. 3 reverses what the rules say (and asks the operator about the bridge)."""

from __future__ import annotations

from datetime import datetime, timedelta

from emergency.cap import parse_cap
from emergency.db import utcnow
from emergency.rules import scheduled as rule_jobs
from tests.emergency.cap.samples import fresh, minutes_ago, post_cap
from tests.emergency.rules.conftest import Api, by_rule
from tests.support import server
from tests.support.live import LiveClient


def test_signal_8_by_cap_runs_the_rules_once(app_server, api: Api, database_url, settings_for):
    crews = api.crews(count=3, status="resting", headcount=60)
    with LiveClient(app_server.ws_url, app_server.token("viewer")) as live:
        live.next()
        r = post_cap(app_server, fresh("smg_tc8ne.xml"))
        assert r.status_code == 201, r.text
        events = live.events_until(lambda m: m["type"] == "cap.received", timeout=60)
    actions = r.json()["actions"]

    # No. 8 is also "No. 3 or above": both rules fire, in file order.
    assert [a["status"] for a in by_rule(actions, "smg_tc_3")] == ["done", "done"]
    s8 = by_rule(actions, "smg_tc_8")
    summaries = [a["summary"] for a in s8]
    assert "hengqin_school: infant_primary_suspended → all_suspended" in summaries
    assert "lotus_bridge: open → closing" in summaries
    assert any(
        a["status"] == "scheduled" and a["summary"].startswith("lotus_bridge → closed") for a in s8
    )
    assert "um_connecting_bridge already open" in summaries
    assert "shuttle_bus: running → suspended" in summaries
    assert "3 crews (180 people) to standby" in summaries
    assert any(s.startswith("liaison notice #") for s in summaries)
    [broadcast] = [a for a in s8 if a["do"] == "broadcast"]
    assert broadcast["status"] == "done" and broadcast["result"]["broadcast_id"]
    assert broadcast["result"]["status"] in ("sending", "completed")  # pre-approved: sent
    # Public now, so also our CAP alert: one <info> per language, one <area> per community.
    xml = app_server.client.get(
        f"/api/v1/cap/alerts/{broadcast['result']['cap_identifier']}.xml"
    ).content
    alert = parse_cap(xml)
    assert [i.language for i in alert.infos] == ["zh-Hans", "zh-Hant", "pt", "en"]
    assert len(alert.infos[0].areas) == 4 and alert.infos[0].event_code("SIGNAL") is None
    assert "Signal No. 8" in alert.info("en").description

    facilities = api.facilities()
    assert facilities["lotus_bridge"] == "closing"
    assert facilities["hengqin_school"] == "all_suspended"
    assert facilities["shuttle_bus"] == "suspended"
    assert facilities["um_connecting_bridge"] == "open"
    crew_states = {c["id"]: c["status"] for c in api.get("/api/v1/crews")}
    assert all(crew_states[c["id"]] == "standby" for c in crews)

    types = [e["type"] for e in events]
    for expected in (
        "signal.changed",
        "cap.published",
        "liaison.notified",
        "rule.fired",
        "facility.changed",
        "crew.updated",
        "prompt.created",
        "cap.received",
    ):
        assert expected in types, (expected, types)
    assert [e["seq"] for e in events] == list(range(events[0]["seq"], events[-1]["seq"] + 1))
    fired = [e["data"] for e in events if e["type"] == "rule.fired"]
    assert [(f["rule_id"], f["phase"]) for f in fired] == [("smg_tc_3", "on"), ("smg_tc_8", "on")]
    assert fired[1]["trigger"]["signal"] == "SMG:tropical_cyclone:8NE"
    changed = [e["data"]["change"] for e in events if e["type"] == "facility.changed"]
    assert {c["origin"] for c in changed} == {"rule:smg_tc_3", "rule:smg_tc_8"}
    assert "broadcast.created" in types
    notified = [e["data"] for e in events if e["type"] == "liaison.notified"]
    assert [n["kind"] for n in notified] == ["signal", "rule"]

    # The same CAP again: a duplicate, nothing more.
    journal, seq = api.journal(), api.settle()
    again = post_cap(app_server, fresh("smg_tc8ne.xml"))
    assert again.status_code == 200 and again.json()["actions"] == []
    # The same signal through another alert or an operator: no change, no action.
    api.cap("smg_tc8ne.xml", identifier="SMG-TC-REPEAT-0008")
    assert api.signal("8NE")["actions"] == []
    # A re-evaluation does nothing either.
    assert api.post("/api/v1/rules/evaluate").json() == {"actions": []}
    assert api.journal() == journal and api.facilities() == facilities
    assert api.last_seq() - seq == 1  # the second alert's cap.received, nothing else
    runtime = app_server.app.state.runtime

    # Ninety minutes later the delayed action closes the bridge, once.
    later = utcnow() + timedelta(minutes=91)
    assert rule_jobs.run_delayed_actions(runtime=runtime, now=later) == 1
    assert rule_jobs.run_delayed_actions(runtime=runtime, now=later) == 0
    assert api.facilities()["lotus_bridge"] == "closed"
    history = api.get("/api/v1/facilities/lotus_bridge/history")
    assert [(h["status"], h["actor"]) for h in history] == [
        ("closed", "rule:smg_tc_8"),
        ("closing", "rule:smg_tc_8"),
    ]

    # A restart evaluates the rules again: nothing runs twice.
    journal = api.journal()
    with server.run(settings_for(database_url)) as restarted:
        again_api = Api(restarted)
        assert again_api.journal() == journal
        assert again_api.facilities()["lotus_bridge"] == "closed"
        assert again_api.rules()["smg_tc_8"]["activation"] == 1


def test_lowering_to_3_reverses_and_asks_about_the_bridge(app_server, api: Api):
    # No. 8 hoisted 100 minutes ago, its alert received only now: the bridge closes at once
    # (90 minutes after the hoisting, not after our receipt).
    body = api.cap("smg_tc8ne.xml", at=minutes_ago(100))
    assert "lotus_bridge: closing → closed" in [a["summary"] for a in body["actions"]]
    assert api.facilities()["lotus_bridge"] == "closed"
    with LiveClient(app_server.ws_url, app_server.token("viewer")) as live:
        live.next()
        body = api.cap("smg_update.xml")  # No. 8 replaced by No. 3
        events = live.events_until(lambda m: m["type"] == "cap.received", timeout=60)
    off = by_rule(body["actions"], "smg_tc_8", phase="off")
    assert [a["do"] for a in off] == [
        "facility",
        "facility",
        "facility",
        "broadcast",
        "prompt",
        "prompt",
    ]
    assert by_rule(body["actions"], "smg_tc_3") == []  # still holds: nothing to do
    facilities = api.facilities()
    assert facilities["hengqin_school"] == "infant_primary_suspended"
    assert facilities["shuttle_bus"] == "running"
    assert facilities["macau_new_neighbourhood"] == "normal"
    assert facilities["lotus_bridge"] == "closed"  # reopening is a decision
    prompts = api.get("/api/v1/rules/prompts")
    assert any("Lotus Bridge" in p["texts"]["en"] and p["rule_id"] == "smg_tc_8" for p in prompts)
    assert any(e["type"] == "rule.fired" and e["data"]["phase"] == "off" for e in events)
    # The operator decides, and says so.
    bridge = next(p for p in prompts if "Lotus Bridge" in p["texts"]["en"])
    assert (
        api.post(
            "/api/v1/facilities/lotus_bridge/status", {"status": "open", "note": "agreed with PSP"}
        ).status_code
        == 200
    )
    r = api.post(
        f"/api/v1/rules/prompts/{bridge['id']}/resolve",
        {"status": "done", "note": "reopened 15:10"},
    )
    assert r.status_code == 200 and r.json()["status"] == "done"
    assert (
        api.post(f"/api/v1/rules/prompts/{bridge['id']}/resolve", {"status": "done"}).status_code
        == 409
    )
    # All signals down: the No. 3 rule reverses too.
    api.cap("smg_cancel.xml")
    assert api.facilities()["hengqin_school"] == "classes_normal"
    assert not any(r["active"] for r in api.rules().values())


def test_closure_is_due_90_minutes_after_the_alert_was_issued(app_server, api: Api):
    body = api.cap("smg_tc8ne.xml", at=minutes_ago(30))
    [run] = [a for a in body["actions"] if a["status"] == "scheduled"]
    due = datetime.fromisoformat(run["due_at_local"])
    assert abs((due - (utcnow() + timedelta(minutes=60))).total_seconds()) < 60
    sit = api.get("/api/v1/situation")["rules"]
    assert sit["scheduled"][0]["rule_id"] == "smg_tc_8"
    assert {r["id"] for r in sit["active"]} == {"smg_tc_3", "smg_tc_8"}


def test_lowered_before_90_minutes_cancels_the_closure(app_server, api: Api):
    api.signal("8NE")
    api.signal("3")
    runtime = app_server.app.state.runtime
    assert rule_jobs.run_delayed_actions(runtime=runtime, now=utcnow() + timedelta(hours=2)) == 0
    assert api.facilities()["lotus_bridge"] == "closing"
    [run] = [j for j in api.journal() if j["summary"].startswith("cancelled: lotus_bridge")]
    assert run["status"] == "cancelled"
    # Raised again: a new activation, with its own closure.
    body = api.signal("8SE")
    assert any(
        a["status"] == "scheduled" and a["activation"] == 2
        for a in by_rule(body["actions"], "smg_tc_8")
    )
