"""A drill user (`typhoon user add --drill`, the demo's drill users) does everything as an
exercise: it must never change a real record. Found by the red review of session 5: a drill
operator acknowledged and closed a real alarm, dismissed a real operator prompt, marked a real hotline
call's follow-up done and set a real facility's status (facilities have no drill status); now 409 exercise_mismatch, nothing
changes; the drill's own alarms and prompts it handles as before."""

from __future__ import annotations

from sqlalchemy import text

from emergency.auth import service as auth_service
from emergency.drills import service as drill_service
from emergency.rules.models import OperatorPrompt
from tests.emergency.field.conftest import LIANHUA
from tests.emergency.field.factories import field_token, group, key, report


def drill_operator(app) -> dict[str, str]:
    with app.db.unit_of_work() as session:
        user, token = auth_service.create_user(
            session, name="drill-desk", role="operator", actor="test"
        )
        drill_service.mark_drill_user(session, user=user, actor="test", label="test")
    return {"Authorization": f"Bearer {token}"}


def alarm_of_help(app, api, exercise: bool) -> int:
    token = field_token(api, app, group_id=group(api, name=f"G{exercise}")["id"])
    body = {"kind": "help", "people": 2, "urgency": "critical", "lat": LIANHUA[0]}
    r = report(app, token, {**body, "lon": LIANHUA[1], "exercise": exercise}, key())
    assert r.status_code == 201, r.text
    with app.db.session() as session:
        return int(
            session.execute(
                text("SELECT id FROM alarm WHERE exercise = :e ORDER BY id DESC"),
                {"e": exercise},
            )
            .scalars()
            .first()
        )


def prompt(app, exercise: bool) -> int:
    with app.db.unit_of_work() as session:
        row = OperatorPrompt(
            dedupe_key=f"test:{exercise}",
            kind="rule",
            texts={"en": "phone the Macau duty desk"},
            exercise=exercise,
            created_by="rules",
        )
        session.add(row)
        session.flush()
        return int(row.id)


def test_a_drill_user_changes_no_real_record(app, api):
    desk = drill_operator(app)
    real_alarm, real_prompt = alarm_of_help(app, api, False), prompt(app, False)
    call = app.client.post(
        "/api/v1/liaison/calls",
        headers=app.auth("liaison"),
        json={
            "direction": "inbound",
            "caller": "Port office",
            "summary": "ferry",
            "follow_up": "x",
        },
    ).json()["id"]

    def post(path: str, body: dict | None = None):
        return app.client.post(path, headers=desk, json=body or {})

    refused = {
        "ack": post(f"/api/v1/alarms/{real_alarm}/ack"),
        "close": post(f"/api/v1/alarms/{real_alarm}/close", {"note": "drill"}),
        "prompt": post(f"/api/v1/rules/prompts/{real_prompt}/resolve", {"status": "dismissed"}),
        "facility": post("/api/v1/facilities/lotus_bridge/status", {"status": "closed"}),
        "follow-up": post(f"/api/v1/liaison/calls/{call}/follow-up-done"),
    }
    assert {
        k: (r.status_code, r.json().get("error", {}).get("code")) for k, r in refused.items()
    } == {k: (409, "exercise_mismatch") for k in refused}, {k: r.text for k, r in refused.items()}
    alarm = api.ok(api.get(f"/api/v1/alarms/{real_alarm}", role="operator"))
    assert alarm["status"] == "open" and alarm["acknowledged_by"] is None
    prompts = api.ok(api.get("/api/v1/rules/prompts?status=", role="operator"))
    assert [p["status"] for p in prompts if p["id"] == real_prompt] == ["open"]
    calls = app.client.get("/api/v1/liaison/calls", headers=app.auth("liaison")).json()
    assert [c["follow_up_done_at"] for c in calls if c["id"] == call] == [None]
    bridge = api.ok(api.get("/api/v1/facilities"))
    assert [f["status"] for f in bridge if f["id"] == "lotus_bridge"] == ["open"]
    # the drill's own: as before
    drill_alarm, drill_prompt = alarm_of_help(app, api, True), prompt(app, True)
    assert post(f"/api/v1/alarms/{drill_alarm}/ack").status_code == 200
    done = post(f"/api/v1/rules/prompts/{drill_prompt}/resolve", {"status": "done"})
    assert done.status_code == 200, done.text


def drill_user(app, name: str, role: str) -> dict[str, str]:
    with app.db.unit_of_work() as session:
        user, token = auth_service.create_user(session, name=name, role=role, actor="test")
        drill_service.mark_drill_user(session, user=user, actor="test", label="test")
    return {"Authorization": f"Bearer {token}"}


def test_what_a_drill_user_starts_is_an_exercise_without_asking(app, api):
    """A drill user need not say `"exercise": true`: its signal change, broadcast and liaison
    notice are a drill's. The red review of session 5 found them real: a drill operator's
    Signal No. 8 went into force for real (rules, CAP, notices to Macau), its broadcast went
    to real residents, and a drill liaison officer's notice was a real one."""
    desk, liaison = drill_operator(app), drill_user(app, "drill-liaison", "liaison")
    signal = {"source": "SMG", "kind": "tropical_cyclone", "level": "1"}
    r = app.client.post("/api/v1/signals", headers=desk, json=signal)
    assert r.status_code == 200, r.text
    assert api.ok(api.get("/api/v1/signals/active")) == []
    drill_levels = api.ok(api.get("/api/v1/signals/active?exercise=true"))
    assert [s["level"] for s in drill_levels] == ["1"]
    texts = {lang: "[Hengqin] test" for lang in ("zh-Hans", "zh-Hant", "pt", "en")}
    b = app.client.post(
        "/api/v1/broadcasts",
        headers=desk,
        json={"messages": texts, "zones": ["lianhua"], "channels": ["sms"]},
    )
    assert b.status_code == 201 and b.json()["exercise"] is True, b.text
    n = app.client.post("/api/v1/liaison/notices", headers=liaison, json={"texts": texts})
    assert n.status_code == 201 and n.json()["exercise"] is True, n.text


def test_a_drill_user_posts_only_exercise_cap_alerts(app, api):
    """A drill operator posting SMG's Actual CAP alert by hand raised the real signal (rules,
    our CAP, notices to Macau): a drill user's alert must say <status>Exercise</status>
    (422 otherwise, nothing stored); its Exercise alert moves the drill's levels only."""
    from tests.emergency.cap.samples import CAP_HEADERS, fresh

    desk = drill_operator(app)

    def post(data: bytes):
        return app.client.post("/api/v1/cap", content=data, headers={**desk, **CAP_HEADERS})

    actual = post(fresh("smg_tc3.xml"))
    assert actual.status_code == 422, actual.text
    assert actual.json()["error"]["code"] == "cap_drill_user"
    assert api.ok(api.get("/api/v1/signals/active")) == []
    assert api.ok(api.get("/api/v1/cap/received")) == []
    drill = post(fresh("smg_tc3.xml", status="Exercise", identifier="drill-tc3"))
    assert drill.status_code == 201, drill.text
    assert api.ok(api.get("/api/v1/signals/active")) == []
    assert [s["level"] for s in api.ok(api.get("/api/v1/signals/active?exercise=true"))] == ["3"]
