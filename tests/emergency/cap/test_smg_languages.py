"""SMG's signals as people write them, one table per language (issue 15 item 2): each row is a
hand-written SMG alert whose only clue is its headline, read through config/cap_mappings.yaml
the way ingest reads it; then, over real HTTP, what happens when the languages of one alert
disagree, when a text names Signal No. 8 without its quadrant, and when a trusted sender's
alert names none of our signals: stored, and a prompt for the operator, never silence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from xml.sax.saxutils import escape

import pytest

from emergency.cap import load_cap_mappings, parse_cap
from emergency.cap.build import cap_time
from emergency.cap.mapping import read_cap
from emergency.catalogue import load_catalogue
from tests.emergency.cap.samples import post_cap
from tests.emergency.cap.test_ingest import active

CATALOGUE = load_catalogue()
MAPPINGS = load_cap_mappings(catalogue=CATALOGUE)
LOWERED = "lowered"


def smg_alert(
    *infos: tuple[str, str], identifier: str = "SMG-T-1", sender: str = "smg.gov.mo"
) -> bytes:
    """A CAP alert of SMG with one info per (language, headline), nothing else to go by."""
    sent = datetime.now(UTC).replace(microsecond=0)
    blocks = "".join(
        f"""
  <info>
    <language>{language}</language>
    <category>Met</category>
    <event>{escape(headline)}</event>
    <urgency>Immediate</urgency>
    <severity>Severe</severity>
    <certainty>Observed</certainty>
    <expires>{cap_time(sent + timedelta(hours=12))}</expires>
    <headline>{escape(headline)}</headline>
    <area><areaDesc>Macau</areaDesc></area>
  </info>"""
        for language, headline in infos
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>{identifier}</identifier>
  <sender>{sender}</sender>
  <sent>{cap_time(sent)}</sent>
  <status>Actual</status>
  <msgType>Alert</msgType>
  <scope>Public</scope>{blocks}
</alert>""".encode()


def read(language: str, headline: str) -> dict[str, str]:
    reading = read_cap(parse_cap(smg_alert((language, headline))), CATALOGUE, MAPPINGS)
    assert not reading.conflicts and not reading.questions, reading
    return {f"{a.source}:{a.kind}": a.level or LOWERED for a in reading.assertions}


TC, RAIN, SURGE = "SMG:tropical_cyclone", "SMG:rainstorm", "SMG:storm_surge"

TRADITIONAL = [
    ("八號東北烈風或暴風信號", TC, "8NE"),
    ("八號東北風球", TC, "8NE"),
    ("8號東北風球", TC, "8NE"),
    ("８號東南風球", TC, "8SE"),  # full-width digit
    ("八號西南烈風或暴風信號", TC, "8SW"),
    ("八號西北風球", TC, "8NW"),
    ("一號戒備信號", TC, "1"),
    ("三號強風信號", TC, "3"),
    ("三號風球", TC, "3"),
    ("九號烈風或暴風風力增強信號", TC, "9"),
    ("十號颶風信號", TC, "10"),
    ("十號風球", TC, "10"),
    ("八號東北風球改為三號風球", TC, "3"),  # X replaced by Y is Y
    ("三號風球取代八號東北風球", TC, "3"),
    ("八號風球已除下", TC, LOWERED),
    ("黃色暴雨警告信號", RAIN, "yellow"),
    ("紅色暴雨警告信號", RAIN, "red"),
    ("黑色暴雨警告信號", RAIN, "black"),
    ("黑色暴雨警告信號已取消", RAIN, LOWERED),
    ("藍色風暴潮警告", SURGE, "blue"),
    ("橙色風暴潮警告", SURGE, "orange"),
    ("黑色風暴潮警告", SURGE, "black"),
]
SIMPLIFIED = [
    ("八号东北烈风或暴风信号", TC, "8NE"),
    ("八号东北风球", TC, "8NE"),
    ("8号东南风球", TC, "8SE"),
    ("八号西南风球", TC, "8SW"),
    ("八号西北烈风或暴风信号", TC, "8NW"),
    ("一号风球", TC, "1"),
    ("三号强风信号", TC, "3"),
    ("九号风球", TC, "9"),
    ("十号飓风信号", TC, "10"),
    ("八号东北风球改为三号风球", TC, "3"),
    ("三号风球已除下", TC, LOWERED),
    ("黄色暴雨警告信号", RAIN, "yellow"),
    ("红色暴雨警告信号", RAIN, "red"),
    ("黑色暴雨警告信号", RAIN, "black"),
    ("黄色风暴潮警告", SURGE, "yellow"),
    ("红色风暴潮警告", SURGE, "red"),
    ("红色风暴潮警告已解除", SURGE, LOWERED),
]
PORTUGUESE = [
    ("Sinal n.º 8 de Vendaval ou Tempestade de Nordeste", TC, "8NE"),
    ("Sinal n.º 8 de Vendaval ou Tempestade de Sudeste", TC, "8SE"),
    ("Sinal n.º 8 de Vendaval ou Tempestade de Sudoeste", TC, "8SW"),
    ("Sinal n.º 8 de Vendaval ou Tempestade de Noroeste", TC, "8NW"),
    ("Sinal n.º 8 NE", TC, "8NE"),
    ("Sinal nº 8 NW", TC, "8NW"),
    ("Sinal n.º 1", TC, "1"),
    ("Sinal n.º 3 de Vento Forte", TC, "3"),
    ("Sinal n.º 9", TC, "9"),
    ("Sinal n.º 10 de Furacão", TC, "10"),
    ("Sinal n.º 8 NE substituído pelo Sinal n.º 3", TC, "3"),
    ("Sinal n.º 3 substituído por Sinal n.º 8 de Vendaval ou Tempestade de Nordeste", TC, "8NE"),
    ("Sinal n.º 8 arriado", TC, LOWERED),
    ("Sinal Amarelo de Chuva Intensa", RAIN, "yellow"),
    ("Sinal Vermelho de Chuva Intensa", RAIN, "red"),
    ("Sinal Preto de Chuva Intensa", RAIN, "black"),
    ("Sinal Vermelho de Chuva Intensa arriado", RAIN, LOWERED),
    ("Aviso Azul de Maré de Tempestade", SURGE, "blue"),
    ("Aviso Laranja de Maré de Tempestade", SURGE, "orange"),
    ("Aviso de Storm Surge Vermelho", SURGE, "red"),
]
ENGLISH = [
    ("Tropical Cyclone Signal No. 8 Northeast Gale or Storm Signal", TC, "8NE"),
    ("Gale or Storm Signal No. 8 Southeast", TC, "8SE"),
    ("No. 8 SW", TC, "8SW"),
    ("Signal No. 8 NW", TC, "8NW"),
    ("Standby Signal No. 1", TC, "1"),
    ("Strong Wind Signal No. 3", TC, "3"),
    ("Increasing Gale or Storm Signal No. 9", TC, "9"),
    ("Hurricane Signal No. 10", TC, "10"),
    ("Signal No. 3 replaced by No. 8 NE", TC, "8NE"),
    ("Signal No. 8 replaced by No. 3", TC, "3"),
    ("Signal No. 8 NE lowered", TC, LOWERED),
    ("All tropical cyclone signals lowered: Signal No. 1 cancelled", TC, LOWERED),
    ("Yellow Rainstorm Warning Signal", RAIN, "yellow"),
    ("Red Rainstorm Warning Signal", RAIN, "red"),
    ("Black Rainstorm Warning Signal", RAIN, "black"),
    ("Red rainstorm replaced by black rainstorm", RAIN, "black"),
    ("Black Rainstorm Warning cancelled", RAIN, LOWERED),
    ("Blue Storm Surge Warning", SURGE, "blue"),
    ("Orange Storm Surge Warning", SURGE, "orange"),
    ("Storm surge warning cancelled", SURGE, LOWERED),
]


@pytest.mark.parametrize(("headline", "signal", "level"), TRADITIONAL)
def test_traditional_chinese(headline, signal, level):
    assert read("zh-Hant", headline) == {signal: level}


@pytest.mark.parametrize(("headline", "signal", "level"), SIMPLIFIED)
def test_simplified_chinese(headline, signal, level):
    assert read("zh-Hans", headline) == {signal: level}


@pytest.mark.parametrize(("headline", "signal", "level"), PORTUGUESE)
def test_portuguese(headline, signal, level):
    assert read("pt", headline) == {signal: level}


@pytest.mark.parametrize(("headline", "signal", "level"), ENGLISH)
def test_english(headline, signal, level):
    assert read("en", headline) == {signal: level}


def test_four_languages_that_agree_make_one_signal():
    alert = smg_alert(
        ("zh-Hant", "八號東北風球"),
        ("zh-Hans", "八号东北风球"),
        ("pt", "Sinal n.º 8 de Vendaval ou Tempestade de Nordeste"),
        ("en", "Typhoon Signal No.8"),  # no quadrant here: the others give it
    )
    reading = read_cap(parse_cap(alert), CATALOGUE, MAPPINGS)
    assert [a.code for a in reading.assertions] == ["SMG:tropical_cyclone:8NE"]
    assert reading.conflicts == [] and reading.questions == []


def prompts(app) -> list[dict]:
    return app.client.get("/api/v1/rules/prompts", headers=app.auth("viewer")).json()


def test_disagreeing_languages_are_stored_and_the_operator_decides(app_server):
    r = post_cap(
        app_server, smg_alert(("zh-Hant", "八號東北風球"), ("en", "Strong Wind Signal No. 3"))
    )
    assert r.status_code == 201, r.text
    assert r.json()["outcome"] == "conflict" and r.json()["signals"] == []
    assert active(app_server) == {}
    [prompt] = [p for p in prompts(app_server) if p["kind"] == "cap_conflict"]
    assert "8NE" in prompt["texts"]["en"] and ":3 (en)" in prompt["texts"]["en"]
    assert "八號東北風球" in prompt["texts"]["en"]  # names the alert's headline


def test_no_8_without_its_quadrant_asks_the_operator(app_server):
    r = post_cap(app_server, smg_alert(("en", "Typhoon Signal No.8")))
    assert r.status_code == 201, r.text
    assert active(app_server) == {}
    [prompt] = [p for p in prompts(app_server) if p["kind"] == "cap_question"]
    assert "Typhoon Signal No.8" in prompt["texts"]["en"]
    assert "quadrant" in prompt["texts"]["en"]


def test_a_trusted_senders_alert_that_maps_to_nothing_raises_a_prompt(app_server):
    r = post_cap(app_server, smg_alert(("zh-Hant", "雷暴警告"), ("en", "Thunderstorm Warning")))
    assert r.status_code == 201 and r.json()["outcome"] == "nothing_mapped"
    [prompt] = [p for p in prompts(app_server) if p["kind"] == "cap_unmapped"]
    assert "雷暴警告" in prompt["texts"]["en"] and "smg.gov.mo" in prompt["texts"]["en"]
    # The same from a sender we do not trust for anything is stored, and asks nothing.
    other = smg_alert(("en", "Thunderstorm Warning"), identifier="X-1", sender="weather.example")
    assert post_cap(app_server, other).json()["outcome"] == "nothing_mapped"
    assert len([p for p in prompts(app_server) if p["kind"] == "cap_unmapped"]) == 1


def test_replaced_by_over_http_applies_the_new_signal(app_server):
    r = post_cap(app_server, smg_alert(("en", "Signal No. 3 replaced by No. 8 NE")))
    assert r.status_code == 201 and r.json()["outcome"] == "applied", r.text
    assert active(app_server) == {("SMG", "tropical_cyclone"): "8NE"}
