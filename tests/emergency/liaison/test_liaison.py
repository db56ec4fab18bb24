"""Liaison over real HTTP and websockets: demo contacts from config/liaison.yaml, a notice to
every contact on each shared-signal change (SMG, ZHUHAI; not our own response level), ack
links and desk acknowledgements, escalation when nobody acknowledges in time, the 24-hour
hotline log with follow-ups, contacts edited through the API, config errors with file:line."""

from __future__ import annotations

from datetime import timedelta

import pytest

from emergency.db import utcnow
from emergency.liaison import scheduled as liaison_jobs
from tests.emergency.cap.samples import fresh, post_cap
from tests.support.live import LiveClient

URL = "/api/v1/liaison"


def signal(app, level, *, source="SMG", kind="tropical_cyclone", exercise=False):
    r = app.client.post(
        "/api/v1/signals",
        headers=app.auth("operator"),
        json={"source": source, "kind": kind, "level": level, "exercise": exercise},
    )
    assert r.status_code == 200, r.text
    return r.json()


def get(app, path, role="liaison", **kw):
    r = app.client.get(URL + path, headers=app.auth(role), **kw)
    assert r.status_code == 200, r.text
    return r.json()


def post(app, path, body=None, role="liaison"):
    return app.client.post(URL + path, headers=app.auth(role), json=body)


def test_demo_contacts_are_loaded_and_need_a_liaison_token(app_server):
    contacts = get(app_server, "/contacts")
    assert len(contacts) == 4 and all(c["demo"] for c in contacts)
    assert {c["key"] for c in contacts} >= {"smg_duty_forecaster", "macau_civil_protection"}
    assert all(c["phone"].startswith("+8530") for c in contacts)  # cannot be dialled
    assert (
        app_server.client.get(URL + "/contacts", headers=app_server.auth("viewer")).status_code
        == 403
    )
    assert get(app_server, "/contacts", role="operator")


def test_shared_signal_change_notifies_every_contact_live(app_server):
    with LiveClient(app_server.ws_url, app_server.token("viewer")) as live:
        live.next()
        body = signal(app_server, "8NE")
        [notice_id] = body["notices"]
        event = live.events_until(lambda m: m["type"] == "liaison.notified")[-1]
    assert (
        event["data"]["id"] == notice_id and event["data"]["signal"] == "SMG:tropical_cyclone:8NE"
    )
    notice = get(app_server, f"/notices/{notice_id}")
    assert notice["status"] == "open" and notice["kind"] == "signal"
    assert len(notice["recipients"]) == 4
    assert all(
        r["ack_url"].startswith("http://127.0.0.1:8000/api/v1/liaison/ack/")
        for r in notice["recipients"]
    )
    assert set(notice["texts"]) == {"zh-Hans", "zh-Hant", "pt", "en"}
    assert "Gale or Storm Signal No. 8 Northeast" in notice["texts"]["en"]
    assert "八號東北烈風或暴風信號" in notice["texts"]["zh-Hant"]
    assert notice["due_at_local"].endswith("+08:00")
    # The next change of a shared signal is a new notice; our own response level is not shared.
    assert len(signal(app_server, "3")["notices"]) == 1
    assert signal(app_server, "orange", source="ZHUHAI", kind="typhoon")["notices"]
    assert signal(app_server, "II", source="HENGQIN", kind="response_level")["notices"] == []
    assert signal(app_server, "3")["notices"] == []  # no change, no notice
    # (the No. 8 rule also sent its own notice: kind "rule", see tests/emergency/rules)
    assert [n["kind"] for n in get(app_server, "/notices")].count("signal") == 3


def test_cap_change_notifies_once(app_server):
    first = post_cap(app_server, fresh("smg_tc8ne.xml")).json()
    assert len(first["notices"]) == 1
    again = post_cap(app_server, fresh("smg_tc8ne.xml"))
    assert again.status_code == 200 and again.json()["notices"] == []
    assert [n["kind"] for n in get(app_server, "/notices")] == ["rule", "signal"]


def test_exercise_notice_is_marked(app_server):
    [notice_id] = signal(app_server, "8SE", exercise=True)["notices"]
    notice = get(app_server, f"/notices/{notice_id}")
    assert notice["exercise"] is True
    # the mark every drill text carries (broadcasts, alarms, liaison): one, in each language
    assert notice["texts"]["en"].startswith("[EXERCISE - NOT A REAL ALERT] ")
    assert notice["texts"]["zh-Hant"].startswith("【演習 EXERCISE】")
    assert notice["texts"]["pt"].startswith("[SIMULACRO / EXERCISE] ")


def test_ack_link_shows_then_acknowledges(app_server):
    [notice_id] = signal(app_server, "8NE")["notices"]
    notice = get(app_server, f"/notices/{notice_id}")
    link = notice["recipients"][0]["ack_url"].split("127.0.0.1:8000", 1)[1]
    # Opening the link (or a messenger's preview of it) acknowledges nothing.
    view = app_server.client.get(link)
    assert view.status_code == 200 and view.json()["acknowledged"] is False
    page = app_server.client.get(link, headers={"Accept": "text/html"})
    assert "Acknowledge" in page.text and "<form" in page.text
    assert get(app_server, f"/notices/{notice_id}")["status"] == "open"
    with LiveClient(app_server.ws_url, app_server.token("viewer")) as live:
        live.next()
        r = app_server.client.post(link, json={"note": "received, SMG duty"})
        assert r.status_code == 200 and r.json()["acknowledged"] is True
        event = live.events_until(lambda m: m["type"] == "liaison.acknowledged")[-1]
    assert event["data"]["first"] is True and event["data"]["late"] is False
    assert app_server.client.post(link).status_code == 200  # twice is once
    notice = get(app_server, f"/notices/{notice_id}")
    assert notice["status"] == "acknowledged"
    acked = [r for r in notice["recipients"] if r["acknowledged_at"]]
    assert len(acked) == 1 and acked[0]["acknowledged_by"] == "link"
    assert app_server.client.post(URL + "/ack/not-a-token").status_code == 404


def test_desk_acknowledges_for_a_contact_or_itself(app_server):
    [notice_id] = signal(app_server, "8NE")["notices"]
    contact = get(app_server, "/contacts")[1]
    r = post(
        app_server,
        f"/notices/{notice_id}/ack",
        {"contact_id": contact["id"], "note": "confirmed by phone"},
    )
    assert r.status_code == 200 and r.json()["status"] == "acknowledged"
    r = post(app_server, f"/notices/{notice_id}/ack", {})
    assert r.status_code == 200 and len(r.json()["recipients"]) == 5  # the desk's own row
    assert post(app_server, f"/notices/{notice_id}/ack", {"contact_id": 999}).status_code == 404
    assert post(app_server, "/notices/999/ack", {}).status_code == 404
    assert post(app_server, f"/notices/{notice_id}/ack", {}, role="viewer").status_code == 403


def test_unacknowledged_notice_is_escalated_once(app_server):
    [late_id] = signal(app_server, "1")["notices"]  # No. 1: no rule sends notices of its own
    [acked_id] = signal(app_server, "orange", source="ZHUHAI", kind="typhoon")["notices"]
    post(app_server, f"/notices/{acked_id}/ack", {})
    runtime = app_server.app.state.runtime
    assert liaison_jobs.escalate_unacknowledged(runtime=runtime) == 0  # not due yet
    later = utcnow() + timedelta(minutes=16)
    with LiveClient(app_server.ws_url, app_server.token("viewer")) as live:
        live.next()
        assert liaison_jobs.escalate_unacknowledged(runtime=runtime, now=later) == 1
        seen = live.events_until(lambda m: m["type"] == "liaison.escalated")
    assert any(m["type"] == "prompt.created" for m in seen)
    assert seen[-1]["data"]["id"] == late_id and seen[-1]["data"]["prompt_id"]
    assert liaison_jobs.escalate_unacknowledged(runtime=runtime, now=later) == 0
    assert get(app_server, f"/notices/{late_id}")["status"] == "escalated"
    assert get(app_server, f"/notices/{acked_id}")["status"] == "acknowledged"
    prompts = app_server.client.get("/api/v1/rules/prompts", headers=app_server.auth("viewer"))
    assert [p["kind"] for p in prompts.json()] == ["liaison_escalation"]
    assert prompts.json()[0]["notice_id"] == late_id
    sit = app_server.client.get("/api/v1/situation", headers=app_server.auth("viewer")).json()
    assert sit["liaison"]["notices_escalated"] == 1 and sit["liaison"]["contacts"] == 4
    # A late acknowledgement is still recorded.
    r = post(app_server, f"/notices/{late_id}/ack", {})
    assert r.status_code == 200 and r.json()["status"] == "escalated"
    with app_server.db.session() as session:
        from emergency.audit import service as audit_service

        actions = [e.action for e in audit_service.entries(session)]
    assert "liaison.escalated" in actions and "prompt.created" in actions


def test_escalation_job_is_registered():
    from emergency.scheduled import PERIODIC_JOBS

    assert "liaison-escalate" in {job.name for job in PERIODIC_JOBS}


def test_hotline_log_with_follow_up(app_server):
    signal(app_server, "8NE")
    with LiveClient(app_server.ws_url, app_server.token("viewer")) as live:
        live.next()
        r = post(
            app_server,
            "/calls",
            {
                "direction": "inbound",
                "caller": "Macau CPOC duty officer",
                "summary": "Lotus Bridge closing at 23:30; asks about the UM connecting bridge.",
                "follow_up": "Confirm port opening hours with Hengqin Port by 23:00",
            },
        )
        assert r.status_code == 201, r.text
        event = live.events_until(lambda m: m["type"] == "liaison.logged")[-1]
    call = r.json()
    assert event["data"]["id"] == call["id"] and call["signals"] == ["SMG:tropical_cyclone:8NE"]
    assert call["at_local"].endswith("+08:00") and call["logged_by"].startswith("liaison")
    assert (
        post(
            app_server, "/calls", {"direction": "outbound", "caller": "SMG", "summary": "confirmed"}
        ).status_code
        == 201
    )
    assert [c["id"] for c in get(app_server, "/calls?open_follow_ups=true")] == [call["id"]]
    done = post(app_server, f"/calls/{call['id']}/follow-up-done")
    assert done.status_code == 200 and done.json()["follow_up_done_by"]
    assert get(app_server, "/calls?open_follow_ups=true") == []
    assert len(get(app_server, "/calls")) == 2


@pytest.mark.parametrize(
    "body",
    [
        {"direction": "sideways", "caller": "x", "summary": "y"},
        {"direction": "inbound", "caller": "", "summary": "y"},
        {"direction": "inbound", "caller": "x", "summary": "y", "phone": "+85362000000"},
        {"direction": "inbound", "caller": "x"},
    ],
)
def test_bad_call_is_422(app_server, body):
    r = post(app_server, "/calls", body)
    assert r.status_code == 422 and "error" in r.json()


def test_contacts_added_and_deactivated_through_the_api_by_operators_only(app_server):
    body = {
        "key": "iacm_duty",
        "name": "IAM duty officer (test)",
        "organisation": {"en": "Municipal Affairs Bureau", "zh-Hant": "市政署"},
        "phone": "+85300000009",
        "language": "pt",
    }
    # The two-person rule has no side door: the desk cannot add numbers and text them all.
    r = post(app_server, "/contacts", body)
    assert r.status_code == 403 and "operator" in r.json()["error"]["message"], r.text
    r = post(app_server, "/contacts", body, role="operator")
    assert r.status_code == 201, r.text
    assert post(app_server, "/contacts", body, role="operator").status_code == 409
    bad = {**body, "key": "x2", "phone": "12345"}
    assert post(app_server, "/contacts", bad, role="operator").status_code == 422
    [notice_id] = signal(app_server, "3")["notices"]
    assert len(get(app_server, f"/notices/{notice_id}")["recipients"]) == 5
    smg = next(c for c in get(app_server, "/contacts") if c["key"] == "smg_duty_forecaster")
    for role, status in (("liaison", 403), ("operator", 200)):
        r = app_server.client.patch(
            f"{URL}/contacts/{smg['id']}", headers=app_server.auth(role), json={"active": False}
        )
        assert r.status_code == status, r.text
    assert r.json()["active"] is False
    [notice_id] = signal(app_server, "8NE")["notices"]
    recipients = get(app_server, f"/notices/{notice_id}")["recipients"]
    assert len(recipients) == 4 and smg["id"] not in {r["contact_id"] for r in recipients}


def test_manual_notice(app_server):
    r = post(app_server, "/notices", {"texts": {"en": "Joint drill at 10:00 tomorrow."}})
    assert r.status_code == 201
    assert (
        r.json()["kind"] == "manual" and r.json()["texts"]["pt"] == "Joint drill at 10:00 tomorrow."
    )


def test_liaison_file_errors_name_file_line_and_field(tmp_path):
    from emergency.catalogue import load_catalogue
    from emergency.configfiles import ConfigFileError
    from emergency.liaison.config import load_liaison

    path = tmp_path / "liaison.yaml"
    path.write_text(
        "version: 1\nshared_sources: [SMG]\ncontacts:\n"
        "  - key: a\n    name: A\n    organisation: {en: X}\n    phone: '12'\n"
    )
    with pytest.raises(ConfigFileError) as info:
        load_liaison(path, catalogue=load_catalogue())
    assert f"{path}:7: contacts[0].phone: '12' is not an international number" in str(info.value)
    path.write_text("version: 1\nshared_sources: [SMG, HKO]\nack_minutes: 10\n")
    with pytest.raises(ConfigFileError) as info:
        load_liaison(path, catalogue=load_catalogue())
    assert f"{path}:2: shared_sources[1]: unknown signal source 'HKO'" in str(info.value)
