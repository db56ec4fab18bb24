"""Our CAP out (issue 15 item 4), every published alert checked against the OASIS schema in
../shared/cap (with libxml2, another validator than ours) and the offline checks of the Google
Public Alerts CAP profile: <expires> when known, <instruction> per language, certainty and
urgency by what the signal is, each headline in its language naming the place (澳門 / 澳门 /
Macau for SMG, whose name is in <source>), <responseType>, and a lowered signal or a "signal
lowered" broadcast as an Update of low severity, not a Severe Alert."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from lxml import etree

from emergency.cap import parse_cap
from emergency.cap.profile import profile_problems
from tests.emergency.cap.test_publish import alert_xml, published, set_signal

ROOT = Path(__file__).resolve().parents[3]
SHARED_XSD = ROOT.parent / "shared" / "cap" / "CAP-v1.2.xsd"
PACKAGED_XSD = ROOT / "emergency" / "cap" / "CAP-v1.2.xsd"
XSD = SHARED_XSD if SHARED_XSD.exists() else PACKAGED_XSD
OASIS = etree.XMLSchema(etree.parse(str(XSD), etree.XMLParser(no_network=True)))
PLACE = {"zh-Hans": "澳门", "zh-Hant": "澳門", "pt": "Macau", "en": "Macau"}


def checked(app, row: dict):
    """One published alert: valid for the OASIS schema and the profile; parsed."""
    data = alert_xml(app, row["identifier"])
    tree = etree.fromstring(data)
    assert OASIS.validate(tree), OASIS.error_log
    alert = parse_cap(data)
    assert profile_problems(alert) == [], (row, profile_problems(alert))
    return alert


def test_the_shared_schema_is_the_one_we_ship():
    if SHARED_XSD.exists():
        assert SHARED_XSD.read_bytes() == PACKAGED_XSD.read_bytes()


@pytest.mark.parametrize(
    ("source", "kind", "level", "certainty", "urgency"),
    [
        ("SMG", "tropical_cyclone", "1", "Likely", "Expected"),  # issued ahead
        ("SMG", "tropical_cyclone", "3", "Likely", "Expected"),
        ("SMG", "tropical_cyclone", "8NE", "Observed", "Immediate"),  # in force now
        ("SMG", "tropical_cyclone", "10", "Observed", "Immediate"),
        ("SMG", "rainstorm", "red", "Observed", "Immediate"),
        ("SMG", "storm_surge", "orange", "Likely", "Expected"),  # 6-12 h ahead
        ("ZHUHAI", "typhoon", "yellow", "Likely", "Expected"),  # mainland colour warnings
        ("ZHUHAI", "rainstorm", "orange", "Likely", "Expected"),
        ("HENGQIN", "response_level", "II", "Observed", "Immediate"),
    ],
)
def test_certainty_and_urgency_follow_what_the_signal_is(
    app_server, source, kind, level, certainty, urgency
):
    set_signal(app_server, level, source=source, kind=kind)
    row = next(r for r in published(app_server) if (r["source"], r["kind"]) == (source, kind))
    alert = checked(app_server, row)
    assert alert.msg_type == "Alert"
    for info in alert.infos:
        assert (info.certainty, info.urgency) == (certainty, urgency)
        assert info.response_types and info.instruction and info.description
    assert source in (alert.source or "")


def test_macau_signals_say_so_in_every_language_and_lowering_is_an_all_clear(app_server):
    expires = (datetime.now(UTC) + timedelta(hours=6)).replace(microsecond=0)
    r = app_server.client.post(
        "/api/v1/signals",
        headers=app_server.auth("operator"),
        json={
            "source": "SMG",
            "kind": "tropical_cyclone",
            "level": "8NE",
            "expires_at": expires.isoformat(),
        },
    )
    assert r.status_code == 200, r.text
    set_signal(app_server, None)
    rows = [r for r in reversed(published(app_server)) if r["source"] == "SMG"]
    raised, lowered = (checked(app_server, row) for row in rows)

    assert raised.source == "Macao Meteorological and Geophysical Bureau (SMG)"
    headlines = {i.language: i.headline for i in raised.infos}
    assert headlines == {
        "zh-Hans": "澳门：八号东北烈风或暴风信号",
        "zh-Hant": "澳門：八號東北烈風或暴風信號",
        "pt": "Macau: Sinal n.º 8 de Vendaval ou Tempestade de Nordeste",
        "en": "Macau: Gale or Storm Signal No. 8 Northeast",
    }
    for info in raised.infos:
        assert info.expires == expires  # known: given
        assert info.severity == "Severe" and info.response_types == ["Shelter"]
    instructions = {i.language: i.instruction for i in raised.infos}
    assert "留在室内" in instructions["zh-Hans"] and "留在室內" in instructions["zh-Hant"]
    assert "Fique dentro de casa" in instructions["pt"] and "Stay indoors" in instructions["en"]

    assert lowered.msg_type == "Update" and [r.key for r in lowered.references] == [
        raised.reference.key
    ]
    for info in lowered.infos:
        assert PLACE[info.language] in info.headline
        assert (info.severity, info.urgency, info.certainty) == ("Minor", "Past", "Observed")
        assert info.response_types == ["AllClear"] and info.expires is not None
    assert {i.language: i.headline for i in lowered.infos}["pt"].endswith("arriado")
    assert {i.language: i.headline for i in lowered.infos}["zh-Hant"].endswith("已除下")


def test_every_alert_of_a_storm_validates_and_signal_lowered_is_an_update(app_server):
    """No. 8 and back down, through the rules: the signals' alerts and the broadcasts' (the
    'stay indoors' warning, then 'signal lowered') all pass; the lowered one is an Update of
    low severity that references the warning."""
    set_signal(app_server, "3")
    set_signal(app_server, "8NE")
    set_signal(app_server, "3")
    set_signal(app_server, None)
    rows = list(reversed(published(app_server, signals_only=False)))
    alerts = [checked(app_server, row) for row in rows]
    broadcasts = [(row, a) for row, a in zip(rows, alerts, strict=True) if row["broadcast_id"]]
    if not broadcasts:
        pytest.skip("no broadcast sent by the rules (the broadcasts domain is not installed)")
    warning = [a for _, a in broadcasts if a.msg_type == "Alert"]
    all_clear = [a for _, a in broadcasts if a.infos[0].response_types == ["AllClear"]]
    assert warning and all_clear
    [lowered] = all_clear
    assert lowered.msg_type == "Update" and lowered.infos[0].severity == "Minor"
    assert lowered.references[0].key == warning[-1].reference.key
    for info in [*warning[-1].infos, *lowered.infos]:
        assert info.headline.startswith(("横琴", "橫琴", "Hengqin"))
