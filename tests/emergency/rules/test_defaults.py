"""The default rules a Hengqin duty officer would sign (config/rules.yaml, issue 15 item 5), and
the Yagi scenario they run in (item 7):
- an SMG rainstorm signal informs and prompts (Hengqin's rainstorm warnings are Zhuhai's);
  the Hengqin school's classes follow DSEDJ on red and black;
- mandatory evacuation of the low-lying zones on Zhuhai's red rainstorm or storm surge orange
  and above, always through approval;
- response level I is a prompt (a command decision), never set by a rule;
- liaison notices say what Hengqin does and never announce Macau's decisions for it;
- Yagi: Guangdong's response raised to level I (by hand), one "signal lowered" message."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.emergency.rules.conftest import Api, by_rule

ROOT = Path(__file__).resolve().parents[3]
RULES = yaml.safe_load((ROOT / "config" / "rules.yaml").read_text(encoding="utf-8"))["rules"]
YAGI = yaml.safe_load((ROOT / "config" / "scenarios" / "yagi.yaml").read_text(encoding="utf-8"))


def actions_of(rule: dict) -> list[dict]:
    return [*rule.get("actions", []), *rule.get("reverse", [])]


def test_no_rule_raises_response_level_i_and_red_asks_for_it():
    levels = [a["level"] for r in RULES for a in actions_of(r) if a["do"] == "response_level"]
    assert levels and "I" not in levels
    [red] = [r for r in RULES if r["id"] == "zhuhai_typhoon_red"]
    assert [a["do"] for a in red["actions"]] == ["shelters", "prompt"]
    assert "level I" in red["actions"][1]["text"]["en"]


def test_every_evacuation_is_mandatory_for_low_lying_zones_and_goes_through_approval():
    evacuating = [r for r in RULES if any(a["do"] == "evacuate" for a in r["actions"])]
    assert [r["id"] for r in evacuating] == ["flooding_evacuation"]
    [rule] = evacuating
    assert rule["when"] == {
        "any": [
            {"signal": "ZHUHAI:rainstorm", "at_least": "red"},
            {"signal": "SMG:storm_surge", "at_least": "orange"},
        ]
    }
    [evacuate] = [a for a in rule["actions"] if a["do"] == "evacuate"]
    assert evacuate["level"] == "mandatory" and evacuate["zone_kinds"] == ["low_lying"]
    # One action: the orders and their broadcast, drafted from a template that is not
    # pre-approved, so a second person approves it; no separate broadcast sent around it.
    assert evacuate.get("template", "evacuation_order") == "evacuation_order"
    assert not [a for a in rule["actions"] if a["do"] == "broadcast"]
    templates = yaml.safe_load((ROOT / "config" / "message_templates.yaml").read_text("utf-8"))
    assert templates["templates"]["evacuation_order"]["preapproved"] is False


def test_liaison_notices_never_announce_macaus_decisions():
    texts = [
        text
        for r in RULES
        for a in actions_of(r)
        if a["do"] == "liaison"
        for text in a["text"].values()
    ]
    assert texts
    for text in texts:
        for announcing in (
            "Lotus Bridge closing",
            "莲花大桥约90分钟后封闭",
            "蓮花大橋約90分鐘後封閉",
            "Lótus fecha",
        ):
            assert announcing not in text
    [tc8] = [r for r in RULES if r["id"] == "smg_tc_8"]
    [notice] = [a for a in tc8["actions"] if a["do"] == "liaison"]
    assert (
        "Hengqin Port" in notice["text"]["en"] and "Macau's announcements" in notice["text"]["en"]
    )


def test_yagi_raises_level_i_by_hand_and_sends_one_signal_lowered():
    steps = YAGI["steps"]
    [level_i] = [s for s in steps if s["do"] == "signal" and s.get("level") == "I"]
    assert level_i["at"] == "2024-09-05T10:00:00+08:00" and level_i["source"] == "HENGQIN"
    assert not [s for s in steps if s["do"] == "broadcast" and s["template"] == "signal_lowered"]
    [tc8] = [r for r in RULES if r["id"] == "smg_tc_8"]
    lowered = [a for a in tc8["reverse"] if a["do"] == "broadcast"]
    assert [a["template"] for a in lowered] == ["signal_lowered"]


def test_smg_rainstorm_informs_prompts_and_suspends_classes_as_dsedj(app_server, api: Api):
    body = api.signal("yellow", source="SMG", kind="rainstorm")
    [prompt] = by_rule(body["actions"], "smg_rainstorm")
    assert prompt["do"] == "prompt" and "Zhuhai" in prompt["summary"]
    assert api.facilities()["hengqin_school"] == "classes_normal"
    body = api.signal("red", source="SMG", kind="rainstorm")
    assert [a["summary"] for a in by_rule(body["actions"], "smg_rainstorm_red")] == [
        "hengqin_school: classes_normal → infant_primary_suspended"
    ]
    body = api.signal("black", source="SMG", kind="rainstorm")
    assert api.facilities()["hengqin_school"] == "all_suspended"
    # Macau's rainstorm evacuates nothing in Hengqin and opens no shelter.
    assert not [a for a in body["actions"] if a["do"] in ("evacuate", "shelters", "broadcast")]
    assert api.get("/api/v1/evacuation/orders") == []


def test_zhuhai_red_rainstorm_orders_the_evacuation(app_server, api: Api):
    body = api.signal("red", source="ZHUHAI", kind="rainstorm")
    runs = by_rule(body["actions"], "flooding_evacuation")
    assert [a["do"] for a in runs][:3] == ["shelters", "evacuate", "liaison"]
    orders = api.get("/api/v1/evacuation/orders")
    assert [(o["level"], o["origin"]) for o in orders] == [
        ("mandatory", "rule:flooding_evacuation")
    ]
