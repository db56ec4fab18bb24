"""A delayed rule action (the Lotus Bridge closed 90 minutes after Signal No. 8) never
overrides a person's later decision: an operator who changed the bridge after the rule fired
wins, the closure is skipped, and the skip is journaled, audited and on /ws/live. A decision
made before the rule fired does not stop it."""

from __future__ import annotations

from datetime import timedelta

from emergency.db import utcnow
from emergency.rules import scheduled as rule_jobs
from tests.emergency.rules.conftest import Api
from tests.support.live import LiveClient


def set_bridge(api: Api, status: str, note: str | None = None) -> dict:
    r = api.post("/api/v1/facilities/lotus_bridge/status", {"status": status, "note": note})
    assert r.status_code == 200, r.text
    return r.json()


def test_operator_decision_after_the_rule_fired_wins(app_server, api: Api):
    body = api.signal("8NE")
    [scheduled] = [a for a in body["actions"] if a["status"] == "scheduled"]
    assert api.facilities()["lotus_bridge"] == "closing"
    # The duty operator decides to keep the Lotus Bridge open (e.g. the storm veered away).
    set_bridge(api, "open", "kept open: gusts below the bridge limit")
    api.settle()  # the signals' liaison SMS sent: nothing else is going on
    runtime = app_server.app.state.runtime
    later = utcnow() + timedelta(hours=2)
    with LiveClient(app_server.ws_url, app_server.token("viewer")) as live:
        live.next()
        assert rule_jobs.run_delayed_actions(runtime=runtime, now=later) == 1
        event = live.events_until(lambda m: m["type"] == "rule.action_run")[-1]
    assert event["data"]["key"] == scheduled["key"]
    assert event["data"]["status"] == "overridden"
    assert "by operator" in event["data"]["summary"]
    assert api.facilities()["lotus_bridge"] == "open"  # the person's decision stands

    [run] = [j for j in api.journal() if j["key"] == scheduled["key"]]
    assert run["status"] == "overridden" and run["summary"].startswith("skipped (")
    decided = run["result"]["overridden_by"]
    assert decided["status"] == "open" and decided["origin"] == "operator"
    assert decided["at_local"].endswith("+08:00")
    with app_server.db.session() as session:
        from emergency.audit import service as audit_service

        [entry] = [e for e in audit_service.entries(session) if e.action == "rule.delayed_action"]
    assert entry.summary["after"]["status"] == "overridden"
    assert (
        entry.summary["after"]["overridden_by"]["facility_change_id"]
        == decided["facility_change_id"]
    )
    # Nothing is left to run; the bridge's history has no rule change after the operator's.
    assert rule_jobs.run_delayed_actions(runtime=runtime, now=later) == 0
    history = api.get("/api/v1/facilities/lotus_bridge/history")
    assert history[0]["origin"] == "operator" and history[0]["status"] == "open"
    assert api.get("/api/v1/situation")["rules"]["scheduled"] == []


def test_decision_before_the_rule_fired_does_not_stop_it(app_server, api: Api):
    set_bridge(api, "closing")
    set_bridge(api, "open")
    api.signal("8NE")
    api.settle()  # see above
    runtime = app_server.app.state.runtime
    assert rule_jobs.run_delayed_actions(runtime=runtime, now=utcnow() + timedelta(hours=2)) == 1
    assert api.facilities()["lotus_bridge"] == "closed"
    [run] = [j for j in api.journal() if j["summary"].startswith("lotus_bridge: closing → closed")]
    assert run["status"] == "done"


def test_rule_changes_of_the_bridge_are_not_a_persons_decision(app_server, api: Api):
    # The rule's own "closing" (and any other rule's change) does not count as a decision.
    api.signal("8NE")
    api.signal("9")  # still >= 8: the No. 8 rule holds, nothing reverses
    api.settle()  # see above
    runtime = app_server.app.state.runtime
    assert rule_jobs.run_delayed_actions(runtime=runtime, now=utcnow() + timedelta(hours=2)) == 1
    assert api.facilities()["lotus_bridge"] == "closed"
