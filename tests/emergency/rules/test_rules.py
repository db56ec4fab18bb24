"""The other default rules, the response level (highest asked wins, recomputed when a rule
stops holding, never below a person's setting), flooding evacuation with shelters, drills,
the dry-run preview, an action that fails, and rule files with mistakes."""

from __future__ import annotations

from pathlib import Path

import pytest

from emergency.catalogue import load_catalogue
from emergency.configfiles import ConfigFileError
from emergency.rules.config import known_from_config, load_rules
from tests.emergency.rules.conftest import Api, by_rule
from tests.support.live import LiveClient

ROOT = Path(__file__).resolve().parents[3]


def response(api: Api) -> str | None:
    level = api.get("/api/v1/situation")["response_level"]
    return level["level"] if level else None


def test_mainland_typhoon_sets_response_level_highest_wins(app_server, api: Api):
    with LiveClient(app_server.ws_url, app_server.token("viewer")) as live:
        live.next()
        api.signal("yellow", source="ZHUHAI", kind="typhoon")
        event = live.events_until(lambda m: m["type"] == "response.changed")[-1]
    assert event["data"]["level"] == "III" and event["data"]["origin"] == "rule"
    assert event["data"]["actor"] == "rule:zhuhai_typhoon_yellow"
    assert response(api) == "III"
    api.signal("orange", source="ZHUHAI", kind="typhoon")
    assert response(api) == "II"
    body = api.signal("red", source="ZHUHAI", kind="typhoon")
    # Level I is a command decision: the red rule opens the shelters and asks; II stays.
    assert response(api) == "II"
    shelters, prompt = by_rule(body["actions"], "zhuhai_typhoon_red")
    assert shelters["status"] == "done" and shelters["summary"] == "5 shelters opened"
    assert prompt["do"] == "prompt" and "level I" in prompt["summary"]
    # Lowering recomputes from the rules that still hold.
    api.signal("orange", source="ZHUHAI", kind="typhoon")
    assert response(api) == "II"
    api.signal(None, source="ZHUHAI", kind="typhoon")
    assert response(api) is None
    history = api.get("/api/v1/signals?source=HENGQIN")
    assert [h["level"] for h in reversed(history)] == ["III", "II", None]
    assert all(h["origin"] == "rule" for h in history)


def test_rules_never_go_below_a_persons_response_level(app_server, api: Api):
    api.signal("II", source="HENGQIN", kind="response_level")  # the commander decides
    api.signal("yellow", source="ZHUHAI", kind="typhoon")  # asks III: lower, ignored
    assert response(api) == "II"
    api.signal("orange", source="ZHUHAI", kind="typhoon")  # asks II: the same
    api.signal("red", source="ZHUHAI", kind="typhoon")  # asks the person about I
    assert response(api) == "II"
    api.signal("I", source="HENGQIN", kind="response_level")  # the commander decides I
    api.signal(None, source="ZHUHAI", kind="typhoon")  # the rules never undo it
    assert response(api) == "I"
    api.signal(None, source="HENGQIN", kind="response_level")  # the commander stands down
    api.signal("yellow", source="ZHUHAI", kind="typhoon")
    assert response(api) == "III"


def test_storm_surge_opens_shelters_and_orders_evacuation_once(app_server, api: Api):
    body = api.signal("orange", source="SMG", kind="storm_surge")
    runs = by_rule(body["actions"], "flooding_evacuation")
    assert [(a["do"], a["status"]) for a in runs][:3] == [
        ("shelters", "done"),
        ("evacuate", "done"),  # the order and its broadcast: one action
        ("liaison", "done"),
    ]
    broadcast_id = runs[1]["result"]["broadcast_id"]
    assert runs[1]["summary"].startswith(
        f"mandatory evacuation of north_shore_works; broadcast #{broadcast_id} ("
    )
    orders = api.get("/api/v1/evacuation/orders")
    assert [(o["zone_id"], o["level"], o["origin"], o["broadcast_id"]) for o in orders] == [
        ("north_shore_works", "mandatory", "rule:flooding_evacuation", broadcast_id)
    ]
    broadcast = api.get(f"/api/v1/broadcasts/{broadcast_id}")
    assert broadcast["origin"] == "rule:flooding_evacuation" and broadcast["approved_by"] is None
    assert broadcast["zones"] == ["north_shore_works"] and not broadcast["exercise"]
    assert "EVACUATION ORDER" in broadcast["messages"]["en"]
    shelters = api.get("/api/v1/shelters")
    assert all(s["is_open"] for s in shelters)
    # Worse water, or Zhuhai's red rainstorm as well: the rule already holds, nothing more.
    assert api.signal("red", source="SMG", kind="storm_surge")["actions"] == []
    assert api.signal("red", source="ZHUHAI", kind="rainstorm")["actions"] == []
    # Water down, the rainstorm still red: still holds.
    assert api.signal(None, source="SMG", kind="storm_surge")["actions"] == []
    body = api.signal("yellow", source="ZHUHAI", kind="rainstorm")
    [prompt] = by_rule(body["actions"], "flooding_evacuation", phase="off")
    assert prompt["do"] == "prompt" and "lift the evacuation" in prompt["summary"]
    assert len(api.get("/api/v1/evacuation/orders")) == 1  # lifting is a decision


def test_drill_runs_rules_on_drill_levels_without_touching_the_real_world(app_server, api: Api):
    before = api.facilities()
    body = api.cap("exercise.xml")
    runs = body["actions"]
    assert runs and all(a["exercise"] for a in runs)
    facility_runs = [a for a in runs if a["do"] == "facility"]
    assert facility_runs and {a["status"] for a in facility_runs} == {"simulated", "scheduled"}
    assert api.facilities() == before  # no real bridge closed
    assert not any(r["active"] for r in api.rules().values())
    assert api.rules_exercise()["smg_tc_8"]["active"]
    liaison = [a for a in runs if a["do"] == "liaison"]
    assert liaison[0]["status"] == "done"
    notice = api.get(f"/api/v1/liaison/notices/{liaison[0]['result']['notice_id']}", role="liaison")
    assert notice["exercise"] is True
    prompts = [p for p in api.get("/api/v1/rules/prompts") if p["exercise"]]
    assert prompts


def test_preview_plans_without_writing(app_server, api: Api):
    api.signal("3")
    seq, journal = api.settle(), api.journal()
    r = api.post(
        "/api/v1/rules/preview",
        {"signals": {"SMG:tropical_cyclone": "8SE", "ZHUHAI:typhoon": "orange"}},
        role="viewer",
    )
    assert r.status_code == 200, r.text
    plan = r.json()
    assert plan["active_now"] == ["smg_tc_3"]
    assert [(t["rule_id"], t["phase"]) for t in plan["transitions"]] == [
        ("smg_tc_8", "on"),
        ("zhuhai_typhoon_yellow", "on"),
        ("zhuhai_typhoon_orange", "on"),
    ]
    s8 = plan["transitions"][0]["actions"]
    assert s8[1]["summary"] == "lotus_bridge → closing"
    assert s8[2]["delay_minutes"] == 90
    assert plan["response_level"] == {"now": None, "would_be": "II"}
    assert plan["signals"]["SMG:tropical_cyclone"] == "8SE"
    assert api.last_seq() == seq and api.journal() == journal  # nothing written
    assert api.facilities()["lotus_bridge"] == "open"
    # The list form, replacing the state in force: No. 3 gone, its rule would stop.
    r = api.post(
        "/api/v1/rules/preview",
        {"signals": ["ZHUHAI:rainstorm:red"], "replace": True},
        role="viewer",
    )
    plan = r.json()
    assert [(t["rule_id"], t["phase"]) for t in plan["transitions"]] == [
        ("smg_tc_3", "off"),
        ("flooding_evacuation", "on"),
    ]
    # What the preview says is what then happens.
    body = api.signal("8SE")
    assert [a["summary"] for a in by_rule(body["actions"], "smg_tc_8")][:2] == [
        "hengqin_school: infant_primary_suspended → all_suspended",
        "lotus_bridge: open → closing",
    ]


@pytest.mark.parametrize(
    "body,code",
    [
        ({"signals": {"SMG:tropical_cyclone": "7"}}, "unknown_signal"),
        ({"signals": {"HKO:tropical_cyclone": "8"}}, "unknown_signal"),
        ({"signals": ["SMG-8"]}, "invalid_signal_code"),
        ({"signals": {}, "extra": 1}, "unknown_field"),
    ],
)
def test_bad_preview_is_422(app_server, api: Api, body, code):
    r = api.post("/api/v1/rules/preview", body, role="viewer")
    assert r.status_code == 422 and r.json()["error"]["code"] == code


def test_a_failing_action_is_journaled_and_the_others_still_run(app_server, api: Api, monkeypatch):
    from emergency.facilities import service as facility_service

    real = facility_service.set_status

    def flaky(session, *, facility_id, **kw):
        if facility_id == "shuttle_bus":
            facility_service.audit_service.record(
                session, actor="x", action="half.done", target_type="t", target_id=1
            )
            raise RuntimeError("bus depot unreachable")
        return real(session, facility_id=facility_id, **kw)

    monkeypatch.setattr(facility_service, "set_status", flaky)
    body = api.signal("8NE")
    runs = {a["summary"].split(":")[0]: a for a in by_rule(body["actions"], "smg_tc_8")}
    failed = [a for a in by_rule(body["actions"], "smg_tc_8") if a["status"] == "failed"]
    assert any("bus depot unreachable" in a["summary"] for a in failed)
    assert runs["lotus_bridge"]["status"] == "done"
    facilities = api.facilities()
    assert facilities["shuttle_bus"] == "running" and facilities["lotus_bridge"] == "closing"
    with app_server.db.session() as session:
        from emergency.audit import service as audit_service

        assert "half.done" not in [e.action for e in audit_service.entries(session)]
        assert audit_service.verify(session).ok


def test_rules_list_and_journal(app_server, api: Api):
    api.signal("3")
    rules = api.rules()
    assert list(rules) == [
        "smg_tc_3",
        "smg_tc_8",
        "zhuhai_typhoon_yellow",
        "zhuhai_typhoon_orange",
        "zhuhai_typhoon_red",
        "smg_rainstorm",
        "smg_rainstorm_red",
        "smg_rainstorm_black",
        "flooding_evacuation",
    ]
    assert rules["smg_tc_3"]["active"] and rules["smg_tc_3"]["activation"] == 1
    assert rules["smg_tc_8"]["actions"][2] == "lotus_bridge → closed after 90 min"
    journal = api.journal()
    assert [j["key"] for j in reversed(journal)] == ["smg_tc_3:1:on:0", "smg_tc_3:1:on:1"]
    assert api.post("/api/v1/rules/evaluate", role="viewer").status_code == 403


# --- the rule file -----------------------------------------------------------------------

GOOD_RULE = """\
version: 1
rules:
  - id: r1
    title: {en: Test, zh-Hans: 测试}
    when: {signal: SMG:tropical_cyclone, at_least: "8NE"}
    actions:
      - {do: facility, facility: lotus_bridge, status: closing}
"""

MISTAKES = [
    (
        'at_least: "8NE"',
        'at_least: "8XX"',
        5,
        "rules[0].when.at_least",
        "'8XX' is not a level of SMG tropical_cyclone",
    ),
    ("SMG:tropical_cyclone", "SMG:tornado", 5, "rules[0].when.signal", "unknown kind 'tornado'"),
    (
        "facility: lotus_bridge",
        "facility: golden_gate",
        7,
        "rules[0].actions[0].facility",
        "unknown facility 'golden_gate'",
    ),
    (
        "status: closing",
        "status: flying",
        7,
        "rules[0].actions[0].status",
        "'flying' is not a status of lotus_bridge",
    ),
    (
        "{do: facility, facility: lotus_bridge, status: closing}",
        "{do: dance}",
        7,
        "rules[0].actions[0]",
        "do",
    ),
    (
        "{do: facility, facility: lotus_bridge, status: closing}",
        "{do: evacuate, zones: [atlantis]}",
        7,
        "rules[0].actions[0].zones[0]",
        "unknown zone 'atlantis'",
    ),
    (
        "{do: facility, facility: lotus_bridge, status: closing}",
        "{do: broadcast, template: evacuation_order, zone_kinds: [low_lying], send: auto, "
        "variables: {zone: x, shelter: y}}",
        7,
        "rules[0].actions[0].send",
        "not pre-approved",
    ),
    (
        "{do: facility, facility: lotus_bridge, status: closing}",
        "{do: broadcast, template: stay_indoors_signal8, zone_kinds: [community], send: auto}",
        7,
        "rules[0].actions[0].variables",
        "needs issued_at",
    ),
    (
        "{do: facility, facility: lotus_bridge, status: closing}",
        "{do: response_level, level: V}",
        7,
        "rules[0].actions[0].level",
        "'V' is not a level of HENGQIN response_level",
    ),
    (
        "    title: {en: Test, zh-Hans: 测试}\n",
        "    title: {en: Test}\n",
        4,
        "rules[0].title",
        "missing for zh-Hans",
    ),
]


# Templates as config/message_templates.yaml (the broadcasts domain's file) declares them.
TEMPLATES = """\
templates:
  stay_indoors_signal8:
    preapproved: true
    variables: {issued_at: local time}
    messages: {en: "Signal No. 8 since {issued_at}"}
  evacuation_order:
    preapproved: false
    variables: {zone: zone name, shelter: shelter name}
    messages: {en: "Evacuate {zone} to {shelter}"}
"""


def known_with_templates(tmp_path):
    import shutil

    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    (config / "message_templates.yaml").write_text(TEMPLATES)
    return known_from_config(config, catalogue=load_catalogue())


@pytest.mark.parametrize(
    "old,new,line,path,message", MISTAKES, ids=[m[3] + ":" + m[1][:20] for m in MISTAKES]
)
def test_rule_file_mistake_names_file_line_and_field(tmp_path, old, new, line, path, message):
    known = known_with_templates(tmp_path)
    rules = tmp_path / "rules.yaml"
    rules.write_text(GOOD_RULE)
    assert load_rules(rules, known=known).rules[0].id == "r1"
    assert old in GOOD_RULE
    rules.write_text(GOOD_RULE.replace(old, new))
    with pytest.raises(ConfigFileError) as info:
        load_rules(rules, known=known)
    first = info.value.issues[0]
    assert (first.file, first.line, first.path) == (str(rules), line, path), str(info.value)
    assert message in str(info.value)


def test_duplicate_rule_id_and_shipped_file(tmp_path):
    known = known_from_config(ROOT / "config", catalogue=load_catalogue())
    rules = tmp_path / "rules.yaml"
    rules.write_text(GOOD_RULE + GOOD_RULE.split("rules:\n", 1)[1])
    with pytest.raises(ConfigFileError) as info:
        load_rules(rules, known=known)
    assert f"{rules}:8: rules[1].id: rule id 'r1' is used twice" in str(info.value)
    shipped = load_rules(ROOT / "config" / "rules.yaml", known=known)
    assert len(shipped.rules) == 9


def test_a_bad_rule_file_stops_the_start(tmp_path, database_url, settings_for):
    import shutil

    from tests.support import server

    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    text = (config / "rules.yaml").read_text().replace("status: closing", "status: shut", 1)
    (config / "rules.yaml").write_text(text)
    with (
        pytest.raises(RuntimeError, match="did not start"),
        server.run(settings_for(database_url, TYPHOON_CONFIG_DIR=str(config))),
    ):
        pass


def test_concurrent_changes_neither_deadlock_nor_run_twice(app_server, api: Api):
    import concurrent.futures

    bodies = [
        {"source": "SMG", "kind": "tropical_cyclone", "level": "8NE"},
        {"source": "ZHUHAI", "kind": "typhoon", "level": "red"},
        {"source": "HENGQIN", "kind": "response_level", "level": "II"},
        {"source": "SMG", "kind": "storm_surge", "level": "orange"},
        {"source": "SMG", "kind": "tropical_cyclone", "level": "8NE"},
    ]
    with concurrent.futures.ThreadPoolExecutor(len(bodies)) as pool:
        answers = list(pool.map(lambda b: api.post("/api/v1/signals", b), bodies))
    assert [a.status_code for a in answers] == [200] * len(bodies)
    keys = [j["key"] for j in api.journal()]
    assert len(keys) == len(set(keys))
    assert {r for r, v in api.rules().items() if v["active"]} == {
        "smg_tc_3",
        "smg_tc_8",
        "zhuhai_typhoon_yellow",
        "zhuhai_typhoon_orange",
        "zhuhai_typhoon_red",
        "flooding_evacuation",
    }
    assert all(v["activation"] == 1 for v in api.rules().values() if v["active"])
    assert response(api) == "II"  # the person's II; level I is never the rules'.
