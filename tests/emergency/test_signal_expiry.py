"""A signal with an expiry (a CAP alert's <expires>, an operator's valid-until) ends by itself:
the `signals-expire` job lowers it through the signal flow, with the usual events on /ws/live
(signal.changed, the rules' reverse actions, the liaison notice), our CAP Cancel, and history
showing origin `expiry`. A later alert that extends it moves the expiry; a signal without one
stays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from emergency.db import utcnow
from emergency.signals import scheduled as signal_jobs
from tests.emergency.cap.samples import fresh, post_cap
from tests.support.live import LiveClient


def active(app, exercise=False) -> dict[str, dict]:
    r = app.client.get(
        f"/api/v1/signals/active?exercise={str(exercise).lower()}", headers=app.auth("viewer")
    )
    assert r.status_code == 200, r.text
    return {f"{a['source']}:{a['kind']}": a for a in r.json()}


def post_signal(app, body: dict):
    return app.client.post("/api/v1/signals", headers=app.auth("operator"), json=body)


def test_cap_expiry_lowers_the_signal_with_the_usual_events(app_server):
    app = app_server
    r = post_cap(app, fresh("smg_tc8ne.xml"))  # <expires> 24 h after <sent>
    assert r.status_code == 201, r.text
    tc = active(app)["SMG:tropical_cyclone"]
    assert tc["level"] == "8NE"
    expires = datetime.fromisoformat(tc["expires_at"])
    assert abs((expires - (utcnow() + timedelta(hours=24))).total_seconds()) < 120
    assert tc["expires_at_local"].endswith("+08:00")
    runtime = app.app.state.runtime

    assert signal_jobs.expire_signals(runtime=runtime) == 0  # not yet
    assert signal_jobs.expire_signals(runtime=runtime, now=expires - timedelta(seconds=1)) == 0
    with LiveClient(app.ws_url, app.token("viewer")) as live:
        live.next()
        assert signal_jobs.expire_signals(runtime=runtime, now=expires + timedelta(seconds=1)) == 1
        seen = live.events_until(
            lambda m: m["type"] == "signal.changed" and m["data"]["source"] == "SMG", timeout=30
        )
        seen += live.events_until(
            lambda m: m["type"] == "rule.fired" and m["data"]["rule_id"] == "smg_tc_3", timeout=30
        )
    changed = seen[[m["type"] for m in seen].index("signal.changed")]
    assert changed["data"]["level"] is None and changed["data"]["previous_level"] == "8NE"
    assert changed["data"]["origin"] == "expiry" and changed["data"]["change"] == "lower"
    types = [m["type"] for m in seen]
    assert "liaison.notified" in types and "cap.published" in types
    fired = [m["data"] for m in seen if m["type"] == "rule.fired"]
    assert [(f["rule_id"], f["phase"]) for f in fired] == [("smg_tc_8", "off"), ("smg_tc_3", "off")]
    assert fired[0]["trigger"]["signal"] == "SMG:tropical_cyclone"
    assert "SMG:tropical_cyclone" not in active(app)

    history = app.client.get("/api/v1/signals?source=SMG", headers=app.auth("viewer")).json()
    assert history[0]["origin"] == "expiry" and history[0]["actor"] == "expiry"
    assert "expired at" in history[0]["note"]
    rules = {r["id"]: r for r in app.client.get("/api/v1/rules", headers=app.auth("viewer")).json()}
    assert not rules["smg_tc_8"]["active"] and not rules["smg_tc_3"]["active"]
    published = app.client.get("/api/v1/cap/alerts").json()
    assert [(a["msg_type"], a["level"]) for a in published if a["source"] == "SMG"][:1] == [
        ("Update", None)  # an all-clear
    ]
    # Once: nothing more to expire.
    assert signal_jobs.expire_signals(runtime=runtime, now=expires + timedelta(hours=1)) == 0


def test_a_later_alert_of_the_same_level_extends_the_expiry(app_server):
    app = app_server
    now = datetime.now(UTC)
    # (A <sent> more than 5 minutes ahead is refused: the first alert is from half an hour ago.)
    assert post_cap(app, fresh("smg_tc8ne.xml", at=now - timedelta(minutes=30))).status_code == 201
    first = datetime.fromisoformat(active(app)["SMG:tropical_cyclone"]["expires_at"])
    later = fresh("smg_tc8ne.xml", at=now, identifier="SMG-TC-later")
    r = post_cap(app, later)
    assert r.status_code == 201, r.text
    assert r.json()["signals"][0]["reason"] == "already_in_force"  # no change set off
    second = datetime.fromisoformat(active(app)["SMG:tropical_cyclone"]["expires_at"])
    assert second - first == timedelta(minutes=30)
    runtime = app.app.state.runtime
    assert signal_jobs.expire_signals(runtime=runtime, now=first + timedelta(seconds=5)) == 0
    assert active(app)["SMG:tropical_cyclone"]["level"] == "8NE"
    assert signal_jobs.expire_signals(runtime=runtime, now=second + timedelta(seconds=5)) == 1
    assert "SMG:tropical_cyclone" not in active(app)


def test_operator_valid_until_and_signals_without_expiry(app_server):
    app = app_server
    until = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
    r = post_signal(
        app,
        {"source": "ZHUHAI", "kind": "typhoon", "level": "yellow", "expires_at": until.isoformat()},
    )
    assert r.status_code == 200, r.text
    assert datetime.fromisoformat(r.json()["change"]["expires_at"]) == until
    post_signal(app, {"source": "SMG", "kind": "tropical_cyclone", "level": "1"})
    post_signal(
        app,
        {
            "source": "SMG",
            "kind": "storm_surge",
            "level": "blue",
            "exercise": True,
            "expires_at": until.isoformat(),
        },
    )
    levels = active(app)
    assert datetime.fromisoformat(levels["ZHUHAI:typhoon"]["expires_at"]) == until
    assert levels["SMG:tropical_cyclone"]["expires_at"] is None
    runtime = app.app.state.runtime
    # Past the time: the real one and the drill's both end; the one without expiry stays.
    assert signal_jobs.expire_signals(runtime=runtime, now=until + timedelta(seconds=1)) == 2
    levels = active(app)
    assert "ZHUHAI:typhoon" not in levels and levels["SMG:tropical_cyclone"]["level"] == "1"
    assert active(app, exercise=True) == {}
    # The response level the yellow typhoon asked for goes with it (the rules reverse).
    assert "HENGQIN:response_level" not in levels


@pytest.mark.parametrize(
    "body, code",
    [
        ({"level": "yellow", "expires_at": "2020-01-01T00:00:00+08:00"}, "invalid_expiry"),
        ({"level": None, "expires_at": "2099-01-01T00:00:00+08:00"}, "invalid_expiry"),
        ({"level": "yellow", "expires_at": "2099-01-01T00:00:00"}, "invalid_input"),  # no timezone
    ],
)
def test_bad_valid_until_is_422(app_server, body, code):
    r = post_signal(app_server, {"source": "ZHUHAI", "kind": "typhoon", **body})
    assert r.status_code == 422 and r.json()["error"]["code"] == code, r.text
    assert active(app_server) == {}


def test_expiry_job_is_registered():
    from emergency.scheduled import PERIODIC_JOBS

    assert "signals-expire" in {job.name for job in PERIODIC_JOBS}
