"""Storm replay and after-action report, end to end: the Yagi-like scenario is replayed by the
real `typhoon replay` command against the real app, then `typhoon report` and the report's
data function are checked against what the scenario file contains (counted from the file)."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from emergency.replay import scenario as sc

ROOT = Path(__file__).resolve().parents[2]
YAGI = ROOT / "config" / "scenarios" / "yagi.yaml"
SPEED = "10000000"  # three and a half days in well under a second of waiting
# Exercise-list subscribers per community (the broadcasts' zones), and one who is not on the
# exercise list: a drill must never reach them.
COMMUNITY_SUBSCRIBERS = {"lianhua": 3, "xinjiayuan": 2, "xiaohengqin": 2, "fuxiangwan": 1}


def typhoon(*args: str, env: dict[str, str] | None = None) -> SimpleNamespace:
    """The `typhoon` command itself, run in this process (no interpreter start-up per call)."""
    from typer.testing import CliRunner

    from emergency.cli import app

    base = {"TYPHOON_LOG_FORMAT": "text", "TYPHOON_CONFIG_DIR": str(ROOT / "config")}
    result = CliRunner().invoke(
        app, list(args), env={**base, **(env or {})}, catch_exceptions=False
    )
    return SimpleNamespace(returncode=result.exit_code, stdout=result.stdout, stderr=result.stderr)


def _add_subscribers(app_server) -> None:
    n = 0
    for zone, count in COMMUNITY_SUBSCRIBERS.items():
        for _ in range(count):
            n += 1
            r = app_server.client.post(
                "/api/v1/subscribers",
                headers=app_server.auth("operator"),
                json={
                    "phone": f"+8536650{n:04d}",
                    "language": "en",
                    "zone": zone,
                    "exercise": True,
                },
            )
            assert r.status_code == 201, r.text
    r = app_server.client.post(
        "/api/v1/subscribers",
        headers=app_server.auth("operator"),
        json={"phone": "+85366509999", "language": "pt", "zone": "lianhua"},
    )
    assert r.status_code == 201, r.text


def _sent_broadcasts(app_server) -> list[dict]:
    """Send what the replay queued and run what is due (no background worker here); then
    every broadcast is done."""
    app_server.drain()
    rows = app_server.client.get("/api/v1/broadcasts", headers=app_server.auth("viewer")).json()
    busy = [
        b
        for b in rows
        if b["status"] not in ("completed", "cancelled")
        or b["counts"]["queued"]
        or b["counts"]["sending"]
    ]
    assert not busy, f"broadcasts still sending: {busy}"
    return rows


def _me(app_server, token: str) -> str:
    me = app_server.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    return me.json()["name"]


def _build_report(app_server) -> dict:
    from emergency.report import data

    with app_server.db.session() as session:
        return data.build(session, catalogue=app_server.app.state.catalogue, exercise=True)


def test_a_replay_produces_a_report_whose_figures_equal_the_scenario(
    app_server, database_url, tmp_path
):
    scenario = sc.load(YAGI)
    _add_subscribers(app_server)
    token = app_server.token("operator")

    approver = app_server.token("approver")
    run = typhoon(
        "replay",
        str(YAGI),
        "--speed",
        SPEED,
        "--url",
        app_server.url,
        env={"TYPHOON_TOKEN": token, "TYPHOON_APPROVER_TOKEN": approver},
    )
    assert run.returncode == 0, run.stderr
    assert f"replayed {len(scenario.steps)} steps as an exercise" in run.stdout
    assert "left alone" not in run.stdout and "awaits" not in run.stdout
    api_broadcasts = _sent_broadcasts(app_server)
    report = _build_report(app_server)
    f = report["figures"]

    # Signals: every signal and feed step is one change, made by the replay's operator or
    # the CAP feed; the rules' own changes (the response level) come on top.
    signal_steps = scenario.of(sc.SignalStep, sc.FeedStep)
    changes = report["signals"]["changes"]
    assert report["signals"]["by_people"] == len(scenario.of(sc.SignalStep))
    assert report["signals"]["by_feeds"] == len(scenario.of(sc.FeedStep))
    assert f["signal_changes"] == len(changes) == len(signal_steps) + report["signals"]["by_rules"]
    assert all(c["origin"] == "rule" for c in changes if c["by_rule"])
    for code in {f"{s.source}:{s.kind}" for s in signal_steps}:
        expected = [s.level for s in signal_steps if f"{s.source}:{s.kind}" == code]
        mine = [c for c in changes if c["signal"] == code]
        assert [c["level"] for c in mine if not c["by_rule"]] == expected, code
        # time in force: one period per level raised (the rules' response levels in between)
        levels = [c["level"] for c in mine if c["level"] is not None]
        periods = [p for p in report["signals"]["periods"] if p["signal"] == code]
        assert [p["level"] for p in periods] == levels, code
        assert not any(p["in_force"] for p in periods)  # the scenario lowers everything
        assert all(p["seconds"] >= 0 for p in periods)
    history = app_server.client.get(
        "/api/v1/signals", params={"exercise": "true"}, headers=app_server.auth("viewer")
    ).json()
    assert len(history) == len(changes)
    real = app_server.client.get("/api/v1/signals/active", headers=app_server.auth("viewer"))
    assert real.json() == []  # a drill never raises a real signal

    # Broadcasts: the scenario's, drafted by the replay's operator, reached the exercise list
    # of their zones only, texts marked EXERCISE; the rules' and notices' come on top.
    drafted = [b for b in report["broadcasts"] if b["by_people"]]
    steps = scenario.of(sc.BroadcastStep)
    assert len(drafted) == len(steps)
    for b, step in zip(drafted, steps, strict=True):
        assert b["title"] == step.title and b["exercise"]
        assert b["recipients"] == sum(COMMUNITY_SUBSCRIBERS[z] for z in step.zones)
        assert b["sent"] == b["recipients"] and b["failed"] == 0
        assert b["to_first_s"] is not None and b["to_last_s"] >= b["to_first_s"]
        messages = next(x for x in api_broadcasts if x["id"] == b["id"])["messages"]
        assert all("EXERCISE" in text for text in messages.values())
    assert all(b["exercise"] for b in api_broadcasts)
    # the two-person rule was part of the drill: the evacuation order waited for the
    # approver's approval (a second person), then went out
    approved = [s.broadcast for s in scenario.of(sc.ApproveStep)]
    assert approved, "the scenario exercises the approval step"
    keyed = [b for b, step in zip(drafted, steps, strict=True) if step.key in approved]
    assert len(keyed) == len(approved)
    operator_name = _me(app_server, token)
    for b in keyed:
        got = next(x for x in api_broadcasts if x["id"] == b["id"])
        assert got["created_by"] == operator_name
        assert got["approved_by"] == _me(app_server, approver) != operator_name
        assert got["status"] == "completed" and b["sent"] == b["recipients"] > 0
    assert f["broadcasts"] == len(api_broadcasts)
    assert f["recipients"] == sum(b["recipients"] for b in api_broadcasts)
    assert f["messages_sent"] == sum(
        b["counts"]["sent"] + b["counts"]["delivered"] for b in api_broadcasts
    )
    assert f["messages_delivered"] == sum(b["counts"]["delivered"] for b in api_broadcasts)
    assert f["messages_failed"] == sum(b["counts"]["failed"] for b in api_broadcasts)

    # Field operations, counted from the scenario file.
    check_ins = scenario.of(sc.CheckInStep)
    assert f["inspection_groups"] == len({s.group for s in check_ins})
    assert f["patrol_trips"] == len(check_ins)
    assert f["person_trips"] == sum(s.persons for s in check_ins)
    assert f["vehicle_trips"] == sum(s.vehicles for s in check_ins)
    assert f["hazards_found"] == len(scenario.of(sc.HazardStep))
    assert f["hazards_rectified"] == len(scenario.of(sc.RectifiedStep))
    assert f["people_evacuated"] == sum(s.people for s in scenario.of(sc.EvacuateStep))
    crews = scenario.of(sc.CrewStep)
    assert f["crews"] == len(crews)
    assert f["crew_people"] == sum(s.headcount for s in crews)
    checks = scenario.of(sc.ResidentCheckStep)
    assert f["vulnerable_followed"] == len(scenario.of(sc.ResidentStep))
    assert f["vulnerable_reached"] == len({s.resident for s in checks if s.state == "reached"})
    assert report["vulnerable"]["checks"] == len(checks)
    assert f["liaison_calls"] == len(scenario.of(sc.LiaisonCallStep))
    notices = app_server.client.get(
        "/api/v1/liaison/notices", headers=app_server.auth("liaison")
    ).json()
    assert f["liaison_notices"] == len(notices) > 0

    # Actions: the rules' journal, and the audit log split between rules and people.
    journal = app_server.client.get(
        "/api/v1/rules/journal", params={"limit": 2000}, headers=app_server.auth("viewer")
    ).json()
    assert len(report["actions"]["rule_runs"]) == len(journal) > 0
    assert f["actions_by_rules"] > 0
    assert report["actions"]["by_people"]["hazard.reported"] == len(scenario.of(sc.HazardStep))
    assert report["actions"]["by_people"]["liaison.call_logged"] == f["liaison_calls"]

    # The command writes the same figures, in Markdown (with its charts) and HTML.
    env = {"TYPHOON_DATABASE_URL": database_url}
    md = typhoon("report", "--exercise", "-o", str(tmp_path / "yagi.md"), env=env)
    assert md.returncode == 0, md.stderr
    text = (tmp_path / "yagi.md").read_text()
    assert f"| people evacuated | {f['people_evacuated']} |" in text
    assert f"| inspector person-trips | {f['person_trips']} |" in text
    assert (
        f"| hazards found / rectified | {f['hazards_found']} / {f['hazards_rectified']} |" in text
    )
    for chart in ("signals", "delivery", "field"):
        assert (tmp_path / f"yagi-{chart}.svg").read_text().startswith("<svg")
    html = typhoon("report", "--exercise", "--format", "html", env=env)
    assert html.returncode == 0, html.stderr
    assert "EXERCISE" in html.stdout and html.stdout.count("<svg") == 3
    assert f"<b>{f['person_trips']}</b>" in html.stdout
    # Without --exercise the report is about real signals and broadcasts: none here.
    real_report = typhoon("report", env=env)
    assert "| signal changes (by people / feeds / rules) | 0 (0 / 0 / 0) |" in real_report.stdout


def test_a_replay_leaves_an_operators_own_drill_alone_and_waits_for_a_second_person(
    app_server,
):
    """An operator practising on the desk (a drill No. 8 of their own) while a replay runs:
    the replay neither changes nor lowers it, and says so. Without an approver's token the
    replay's evacuation order waits for a second person at the dashboard."""
    _add_subscribers(app_server)
    own = app_server.client.post(
        "/api/v1/signals",
        headers=app_server.auth("operator"),
        json={"source": "SMG", "kind": "tropical_cyclone", "level": "8SE", "exercise": True},
    )
    assert own.status_code == 200, own.text
    replayer = app_server.token("operator", name="replay-operator")
    run = typhoon(
        "replay", "yagi", "--speed", SPEED, "--url", app_server.url, env={"TYPHOON_TOKEN": replayer}
    )
    assert run.returncode == 0, run.stderr
    assert "left alone: SMG:tropical_cyclone" in run.stdout
    active = app_server.client.get(
        "/api/v1/signals/active", params={"exercise": "true"}, headers=app_server.auth("viewer")
    ).json()
    assert [(a["source"], a["kind"], a["level"]) for a in active] == [
        ("SMG", "tropical_cyclone", "8SE")
    ]  # theirs, as they left it; the replay's own levels all lowered at its end
    history = app_server.client.get(
        "/api/v1/signals",
        params={"source": "SMG", "kind": "tropical_cyclone", "exercise": "true"},
        headers=app_server.auth("viewer"),
    ).json()
    assert [c["actor"] for c in history] == [_me(app_server, app_server.token("operator"))]
    # the replay's other signals went through (the storm surge by the feed, Zhuhai's by hand)
    replayed = app_server.client.get(
        "/api/v1/signals", params={"exercise": "true"}, headers=app_server.auth("viewer")
    ).json()
    assert {c["source"] for c in replayed if c["actor"] == "replay-operator"} == {
        "ZHUHAI",
        "HENGQIN",
    }

    waiting = [
        b
        for b in app_server.client.get(
            "/api/v1/broadcasts", headers=app_server.auth("viewer")
        ).json()
        if b["status"] == "awaiting_approval"
    ]
    assert len(waiting) == 1 and waiting[0]["exercise"] and waiting[0]["approved_by"] is None
    assert f"broadcast #{waiting[0]['id']} awaits a second person's approval" in run.stdout
    # the drafter cannot be its second person; the approver can
    self_approval = app_server.client.post(
        f"/api/v1/broadcasts/{waiting[0]['id']}/approve",
        headers={"Authorization": f"Bearer {replayer}"},
    )
    assert self_approval.status_code == 403
    approved = app_server.client.post(
        f"/api/v1/broadcasts/{waiting[0]['id']}/approve", headers=app_server.auth("approver")
    )
    assert approved.status_code == 200 and approved.json()["approved_by"]


def test_replay_refuses_an_approver_token_of_the_same_person_or_role(app_server):
    token = app_server.token("operator")
    same = typhoon(
        "replay",
        "yagi",
        "--url",
        app_server.url,
        env={"TYPHOON_TOKEN": token, "TYPHOON_APPROVER_TOKEN": token},
    )
    assert same.returncode == 1 and "second person" in same.stderr
    viewer = typhoon(
        "replay",
        "yagi",
        "--url",
        app_server.url,
        env={"TYPHOON_TOKEN": token, "TYPHOON_APPROVER_TOKEN": app_server.token("viewer")},
    )
    assert viewer.returncode == 1 and "second person" in viewer.stderr


def test_replay_refuses_a_bad_token_a_viewer_and_an_unreachable_server(app_server):
    from tests.support.server import free_port

    bad = typhoon("replay", "yagi", "--url", app_server.url, "--token", "tyh_not-a-token")
    assert bad.returncode == 1 and "bad token" in bad.stderr
    viewer = typhoon(
        "replay", "yagi", "--url", app_server.url, "--token", app_server.token("viewer")
    )
    assert viewer.returncode == 1 and "operator" in viewer.stderr
    away = typhoon("replay", "yagi", "--url", f"http://127.0.0.1:{free_port()}", "--token", "tyh_x")
    assert away.returncode == 1 and "server unreachable" in away.stderr
    other = typhoon("replay", "yagi", "--url", f"{app_server.url}/static", "--token", "tyh_x")
    assert other.returncode == 1 and "is this a typhoon server?" in other.stderr
    none = typhoon("replay", "yagi", "--url", app_server.url, env={"TYPHOON_TOKEN": ""})
    assert none.returncode == 1 and "no token" in none.stderr
    # nothing was done
    rows = app_server.client.get(
        "/api/v1/signals", params={"exercise": "true"}, headers=app_server.auth("viewer")
    ).json()
    assert rows == []


def test_replay_names_an_unknown_scenario_and_the_line_of_a_bad_one(tmp_path):
    stopped = typhoon("replay", "yagi", "--speed", "0", "--token", "x")
    assert stopped.returncode == 2 and "--speed" in stopped.stderr
    unknown = typhoon("replay", "mangkhut", "--token", "x")
    assert unknown.returncode == 2
    assert "unknown scenario 'mangkhut'" in unknown.stderr and "yagi" in unknown.stderr

    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: broken\n"
        "steps:\n"
        '  - {at: "2024-09-03T11:00:00+08:00", do: signal, source: SMG, kind: tc, level: "1"}\n'
        '  - {at: "2024-09-03T12:00:00+08:00", do: check_in, group: "nobody", persons: 2,'
        " vehicles: 1}\n"
        '  - {at: "2024-09-03T13:00:00+08:00", do: evacuate, people: many}\n'
    )
    out = typhoon("replay", str(bad), "--token", "x")
    assert out.returncode == 2
    assert f"{bad}:5: steps[2].people" in out.stderr
    out_of_order = tmp_path / "order.yaml"
    out_of_order.write_text(
        "name: order\n"
        "steps:\n"
        '  - {at: "2024-09-03T11:00:00+08:00", do: signal, source: SMG, kind: tc, level: "1"}\n'
        '  - {at: "2024-09-03T12:00:00+08:00", do: check_in, group: "nobody", persons: 2,'
        " vehicles: 1}\n"
        '  - {at: "2024-09-03T10:00:00+08:00", do: signal, source: SMG, kind: tc, level: null}\n'
    )
    out = typhoon("replay", str(out_of_order), "--token", "x")
    assert out.returncode == 2
    assert (
        f"{out_of_order}:4: steps[1].group: 'nobody' is not made by an earlier step" in out.stderr
    )
    assert f"{out_of_order}:5: steps[2].at: steps must be in time order" in out.stderr
    not_yaml = tmp_path / "tabs.yaml"
    not_yaml.write_text("name: x\nsteps: [\n")
    out = typhoon("replay", str(not_yaml), "--token", "x")
    assert out.returncode == 2 and str(not_yaml) in out.stderr


def test_report_as_pdf(tmp_path):
    from emergency.report import render

    if render.chromium() is None:
        pytest.skip("a PDF is printed with Chromium, which is not installed here")
    env = {"TYPHOON_DATABASE_URL": f"sqlite:///{tmp_path}/empty.db"}
    assert typhoon("db", "upgrade", env=env).returncode == 0
    out = typhoon("report", "-o", str(tmp_path / "report.pdf"), env=env)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "report.pdf").read_bytes()[:5] == b"%PDF-"


def test_report_refuses_bad_options(tmp_path):
    env = {"TYPHOON_DATABASE_URL": f"sqlite:///{tmp_path}/empty.db"}
    assert typhoon("db", "upgrade", env=env).returncode == 0
    fmt = typhoon("report", "--format", "docx", env=env)
    assert fmt.returncode == 2 and "--format: 'docx' is not one of md, html, pdf" in fmt.stderr
    when = typhoon("report", "--from", "last tuesday", env=env)
    assert when.returncode == 2 and "--from: 'last tuesday' is not a date" in when.stderr
    order = typhoon("report", "--from", "2024-09-06", "--to", "2024-09-05", env=env)
    assert order.returncode == 2 and "--from must be earlier than --to" in order.stderr
    pdf = typhoon("report", "--format", "pdf", env=env)
    assert pdf.returncode == 2 and "--out" in pdf.stderr
    nowhere = typhoon("report", "-o", str(tmp_path / "no" / "such" / "dir.md"), env=env)
    assert nowhere.returncode == 1 and "cannot write the report" in nowhere.stderr
    # an empty database and a period: a report with zeros, not an error
    empty = typhoon("report", "--from", "2024-09-03", "--to", "2024-09-07T12:00", env=env)
    assert empty.returncode == 0, empty.stderr
    assert "| people evacuated | 0 |" in empty.stdout
    assert "2024-09-03 00:00:00 to 2024-09-07 12:00:00" in empty.stdout


def test_the_demo_replays_the_scenario_again_and_again(database_url, settings_for):
    """`typhoon serve --demo`: the scenario in a loop as an exercise; a second round reuses
    what the first made (groups, crews, residents) and is refused nothing."""
    import threading

    from emergency.replay import demo as demo_replay
    from tests.support import server

    scenario = sc.load(YAGI)
    stop = threading.Event()
    with server.run(settings_for(database_url), demo=True) as app:
        demo_replay.start(
            app.app, url=app.url, config_dir=ROOT / "config", speed=1e7, pause=0, stop=stop
        )
        deadline = time.monotonic() + 120
        while getattr(app.app.state, "demo_rounds", 0) < 2:
            assert time.monotonic() < deadline, "the demo did not play two rounds"
            time.sleep(0.2)
        stop.set()
        report = _build_report(app)
        groups = app.client.get(
            "/api/v1/inspection-groups", params={"exercise": "true"}, headers=app.auth("viewer")
        ).json()
        broadcasts = app.client.get(
            "/api/v1/broadcasts", params={"limit": 500}, headers=app.auth("viewer")
        ).json()
    # the two-person rule in every round: the demo's evacuation order, drafted by its drill
    # operator, was approved by its second person
    titles = {s.title for s in scenario.of(sc.BroadcastStep) if s.key}
    approved = [b for b in broadcasts if b["title"] in titles and b["approved_by"]]
    assert len(approved) >= 2, [(b["title"], b["status"]) for b in broadcasts]
    assert {(b["created_by"], b["approved_by"]) for b in approved} == {
        ("demo-drill", "demo-drill-approver")
    }
    names = [g["name"] for g in groups]
    assert all(names.count(step.name) == 1 for step in scenario.of(sc.GroupStep))
    # at least two whole rounds (a third may have begun)
    assert report["signals"]["by_people"] >= 2 * len(scenario.of(sc.SignalStep))
    assert report["inspections"]["trips"] >= 2 * len(scenario.of(sc.CheckInStep))
