"""CAP 1.2: safe parsing, schema and rule checks, mapping to signals, building, Atom feed."""

from __future__ import annotations

import dataclasses
import socket
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from lxml import etree

from emergency.cap import (
    ATOM_NS,
    CAP_NS,
    AreaSpec,
    AtomEntry,
    CapAlert,
    CapError,
    CapMappings,
    InfoSpec,
    atom_feed,
    broadcast_alert,
    build_cap,
    cap_schema,
    load_cap_mappings,
    parse_cap,
    signal_change_alert,
    signals_from_cap,
)
from emergency.catalogue import Catalogue, load_catalogue
from emergency.configfiles import ConfigFileError

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "cap"
HKT = timezone(timedelta(hours=8))
HENGQIN = AreaSpec(
    area_desc={"zh-Hans": "横琴", "zh-Hant": "橫琴", "pt": "Hengqin", "en": "Hengqin"},
    polygons=[
        "22.1490,113.4780 22.1490,113.5560 22.0850,113.5560 22.0850,113.4780 22.1490,113.4780"
    ],
)


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue(ROOT / "config" / "signals.yaml")


@pytest.fixture(scope="module")
def mappings(catalogue: Catalogue) -> CapMappings:
    return load_cap_mappings(ROOT / "config" / "cap_mappings.yaml", catalogue=catalogue)


def sample(name: str) -> bytes:
    return (DATA / name).read_bytes()


def error_of(data: bytes, **kwargs) -> CapError:
    with pytest.raises(CapError) as info:
        parse_cap(data, **kwargs)
    return info.value


def codes(alert: CapAlert, catalogue: Catalogue, mappings: CapMappings, **kwargs) -> list[str]:
    return [s.code for s in signals_from_cap(alert, catalogue, mappings, **kwargs)]


# --- valid samples ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("smg_tc3.xml", ["SMG:tropical_cyclone:3"]),
        ("smg_tc8ne.xml", ["SMG:tropical_cyclone:8NE"]),
        ("smg_update.xml", ["SMG:tropical_cyclone:3"]),
        ("smg_cancel.xml", ["SMG:tropical_cyclone"]),  # lowered: level None
        ("cma_typhoon_orange.xml", ["ZHUHAI:typhoon:orange"]),
        ("ours_signal.xml", ["HENGQIN:response_level:II"]),
        ("exercise.xml", []),  # a drill raises nothing unless asked for
    ],
)
def test_valid_samples_parse_and_map(name, expected, catalogue, mappings) -> None:
    alert = parse_cap(sample(name))
    assert cap_schema().is_valid(etree.fromstring(sample(name)))
    assert codes(alert, catalogue, mappings) == expected


def test_smg_tc8ne_in_detail(catalogue, mappings) -> None:
    alert = parse_cap(sample("smg_tc8ne.xml"))
    assert alert.identifier == "SMG-TC-20240905T220000-0008"
    assert alert.sender == "smg.gov.mo"
    assert alert.sent == datetime(2024, 9, 5, 14, 0, tzinfo=UTC)
    assert alert.sent.utcoffset() == timedelta(hours=8)  # the offset written is kept
    assert (alert.status, alert.msg_type, alert.scope) == ("Actual", "Update", "Public")
    assert [str(r) for r in alert.references] == [
        "smg.gov.mo,SMG-TC-20240905T050000-0003,2024-09-05T05:00:00+08:00"
    ]
    assert [i.language for i in alert.infos] == ["zh-Hant", "zh-Hans", "pt", "en"]
    en = alert.info("en")
    assert en is not None
    assert en.event_codes == [("SMG_TC", "8NE")]
    assert en.parameter("smg_tc_name") == "摩羯 YAGI"
    assert (en.urgency, en.severity, en.certainty) == ("Immediate", "Severe", "Observed")
    assert en.expires - en.effective == timedelta(days=1)
    area = en.areas[0]
    assert area.area_desc == "Macao Special Administrative Region"
    assert len(area.polygons[0]) == 5 and area.polygons[0][0] == area.polygons[0][-1]
    assert area.polygons[0][0] == (22.217, 113.528)  # lat first, as CAP writes it

    (signal,) = signals_from_cap(alert, catalogue, mappings)
    assert (signal.source, signal.kind, signal.level) == ("SMG", "tropical_cyclone", "8NE")
    assert signal.effective == datetime(2024, 9, 5, 22, 0, tzinfo=HKT)
    assert signal.expires == datetime(2024, 9, 6, 22, 0, tzinfo=HKT)
    assert signal.cap_identifier == alert.identifier
    assert signal.references == tuple(alert.references)
    assert signal.rule == "smg-tropical-cyclone-code"


def test_update_read_from_event_text(catalogue, mappings) -> None:
    alert = parse_cap(sample("smg_update.xml"))
    assert len(alert.references) == 2
    assert all(i.event_codes == [] for i in alert.infos)
    (signal,) = signals_from_cap(alert, catalogue, mappings)
    assert signal.level == "3" and signal.rule == "smg-tropical-cyclone-text"


def test_cancel_lowers_the_signal(catalogue, mappings) -> None:
    alert = parse_cap(sample("smg_cancel.xml"))
    (signal,) = signals_from_cap(alert, catalogue, mappings)
    assert signal.level is None and signal.msg_type == "Cancel" and signal.expires is None
    assert signal.references[0].identifier == "SMG-TC-20240906T140000-0003"


def test_cancel_without_infos_uses_the_referenced_alert(catalogue, mappings) -> None:
    earlier = parse_cap(sample("smg_update.xml"))
    cancel = signal_change_alert(
        catalogue=catalogue, source="SMG", kind="tropical_cyclone", level=None,
        identifier="HQ-CANCEL-1", sender="smg.gov.mo", sent=datetime(2024, 9, 7, 5, tzinfo=HKT),
        references=[earlier],
    )  # fmt: skip
    bare = dataclasses.replace(parse_cap(cancel), infos=[], msg_type="Cancel")
    assert signals_from_cap(bare, catalogue, mappings) == []  # nothing known without a lookup
    known = {earlier.reference.key: earlier}
    (signal,) = signals_from_cap(bare, catalogue, mappings, lookup=lambda r: known.get(r.key))
    assert signal.code == "SMG:tropical_cyclone" and signal.cap_identifier == "HQ-CANCEL-1"


def test_exercise_only_when_asked(catalogue, mappings) -> None:
    alert = parse_cap(sample("exercise.xml"))
    assert alert.status == "Exercise" and not alert.is_actual
    (signal,) = signals_from_cap(alert, catalogue, mappings, accept_status=("Actual", "Exercise"))
    assert signal.code == "SMG:tropical_cyclone:8SE" and signal.exercise


def test_cma_alert_in_detail(catalogue, mappings) -> None:
    alert = parse_cap(sample("cma_typhoon_orange.xml"))
    info = alert.infos[0]
    assert info.language == "zh-Hans" and info.event == "台风橙色预警"
    assert info.areas[0].geocodes == [("GB2260", "440400")]
    (signal,) = signals_from_cap(alert, catalogue, mappings)
    assert signal.rule == "zhuhai-typhoon-code-colour"


def _cma(data: bytes, old: str, new: str) -> bytes:
    assert old.encode() in data
    return data.replace(old.encode(), new.encode())


def test_cma_fallbacks_severity_and_event_text(catalogue, mappings) -> None:
    no_colour = _cma(
        sample("cma_typhoon_orange.xml"),
        "<valueName>CMA_COLOR</valueName>",
        "<valueName>X</valueName>",
    )
    # Neither a colour parameter nor a colour in the event: the severity says it.
    no_words = _cma(no_colour, "台风橙色预警</event>", "台风预警</event>")
    extreme = _cma(no_words, "<severity>Severe</severity>", "<severity>Extreme</severity>")
    assert codes(parse_cap(extreme), catalogue, mappings) == ["ZHUHAI:typhoon:red"]
    (signal,) = signals_from_cap(parse_cap(extreme), catalogue, mappings)
    assert signal.rule == "zhuhai-typhoon-code-severity"
    no_code = _cma(no_colour, "<value>11B01</value>", "<value>11Z99</value>")
    text_only = _cma(no_code, "台风橙色预警</event>", "台风红色预警</event>")
    assert codes(parse_cap(text_only), catalogue, mappings) == ["ZHUHAI:typhoon:red"]
    # The same alert from a sender the mappings do not trust raises nothing.
    stranger = _cma(text_only, "<sender>44040041600000</sender>", "<sender>44010041600000</sender>")
    assert codes(parse_cap(stranger), catalogue, mappings) == []


def test_unknown_levels_and_conflicts_are_errors(catalogue, mappings) -> None:
    purple = sample("smg_tc3.xml").replace(b"<value>3</value>", b"<value>purple</value>", 1)
    with pytest.raises(CapError) as info:
        signals_from_cap(parse_cap(purple), catalogue, mappings)
    assert info.value.code == "cap_unknown_signal"
    assert "'purple' is not a level of SMG tropical_cyclone" in info.value.message

    two = sample("smg_tc3.xml").replace(b"<value>3</value>", b"<value>8NE</value>", 1)
    with pytest.raises(CapError) as info:
        signals_from_cap(parse_cap(two), catalogue, mappings)
    assert info.value.code == "cap_mapping_conflict"

    ours = sample("ours_signal.xml").replace(
        b"HENGQIN:response_level:II", b"HENGQIN:response_level:V"
    )
    with pytest.raises(CapError, match="'V' is not a level of HENGQIN response_level"):
        signals_from_cap(parse_cap(ours), catalogue, mappings)


def test_test_and_draft_alerts_raise_nothing(catalogue, mappings) -> None:
    for status in ("Test", "Draft", "System"):
        data = sample("smg_tc8ne.xml").replace(
            b"<status>Actual</status>", f"<status>{status}</status>".encode()
        )
        assert (
            codes(parse_cap(data), catalogue, mappings, accept_status=("Actual", "Exercise")) == []
        )


# --- hostile input --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["xxe.xml", "billion_laughs.xml"])
def test_dtds_are_refused_fast_without_leaking(name) -> None:
    # CPU time of this thread, not the wall clock: a loaded machine does not change it, an
    # expansion would (a billion "lol"s is seconds of work).
    start = time.thread_time()
    error = error_of(sample(name))
    assert time.thread_time() - start < 0.5
    assert error.code == "cap_forbidden_dtd"
    assert "root:" not in str(error) and "lol" not in str(error)
    assert error.status_code == 422


def test_dtds_in_other_encodings_and_behind_long_comments_are_refused() -> None:
    text = sample("xxe.xml").decode().replace('encoding="UTF-8"', 'encoding="UTF-16"')
    assert error_of(text.encode("utf-16")).code == "cap_forbidden_dtd"
    # A DOCTYPE beyond the pre-parse scan is still caught once parsed (entities unresolved).
    padded = sample("xxe.xml").replace(b"<!DOCTYPE", b"<!--" + b"x" * 70_000 + b"-->\n<!DOCTYPE", 1)
    error = error_of(padded, max_bytes=1_000_000)
    assert error.code == "cap_forbidden_dtd" and "root:" not in str(error)


def test_oversize_is_refused_before_parsing() -> None:
    error = error_of(b"<" * 1_100_000)  # not even XML: the size check comes first
    assert error.code == "cap_too_large" and error.status_code == 413
    assert error_of(sample("smg_tc8ne.xml"), max_bytes=1000).code == "cap_too_large"


def test_not_xml() -> None:
    assert error_of(b"this is not xml").code == "cap_not_xml"
    assert error_of(b"<alert><identifier>x</alert>").code == "cap_not_xml"
    assert error_of(b"").code == "cap_not_xml"


# --- schema and rules ---------------------------------------------------------------------


def test_schema_violation_names_the_element() -> None:
    error = error_of(sample("invalid_schema.xml"))
    assert error.code == "cap_schema_invalid"
    assert "/alert/info" in error.message and "cap:urgency" in error.message
    assert "line 10" in error.message

    missing = sample("smg_tc3.xml").replace(b"<sender>smg.gov.mo</sender>", b"")
    assert "cap:sender" in error_of(missing).message

    zulu = sample("smg_tc3.xml").replace(
        b"2024-09-05T05:00:00+08:00</sent>", b"2024-09-04T21:00:00Z</sent>"
    )
    error = error_of(zulu)
    assert error.code == "cap_schema_invalid" and "/alert/sent" in error.message
    assert "2024-09-04T21:00:00Z" in error.message

    bad_enum = sample("smg_tc3.xml").replace(
        b"<urgency>Expected</urgency>", b"<urgency>Soon</urgency>", 1
    )
    assert "/alert/info[1]/urgency" in error_of(bad_enum).message


def test_other_cap_versions_and_documents_are_refused() -> None:
    old = sample("smg_tc3.xml").replace(b"cap:1.2", b"cap:1.1")
    assert "CAP version 1.1 is not accepted" in error_of(old).message
    assert error_of(b"<feed xmlns='http://www.w3.org/2005/Atom'/>").code == "cap_schema_invalid"


@pytest.mark.parametrize(
    ("name", "path", "words"),
    [
        ("bad_polygon.xml", "/alert/info[1]/area[1]/polygon[1]", "not closed"),
        ("update_without_references.xml", "/alert/references", "must have <references>"),
    ],
)
def test_rule_violations_name_the_problem(name, path, words) -> None:
    error = error_of(sample(name))
    assert error.code == "cap_rule_violation"
    assert error.path == path and path in error.message and words in error.message


def _tc3(old: bytes, new: bytes) -> bytes:
    data = sample("smg_tc3.xml")
    assert old in data
    return data.replace(old, new)


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        (
            b"<msgType>Alert</msgType>",
            b"<msgType>Cancel</msgType>",
            "msgType Cancel must have <references>",
        ),
        (
            b"<scope>Public</scope>",
            b"<scope>Public</scope><references>smg.gov.mo,X1</references>",
            "is not 'sender,identifier,sent'",
        ),
        (
            b"<scope>Public</scope>",
            b"<scope>Public</scope><references>smg.gov.mo,X1,2024-09-05T05:00:00Z</references>",
            "is not a CAP time",
        ),
        (
            b"22.2170,113.5280 22.2170,113.5650",
            b"122.2170,113.5280 22.2170,113.5650",
            "out of range",
        ),
        (
            b"22.2170,113.5280 22.2170,113.5650",
            b"22.2170 113.5280 22.2170,113.5650",
            "not 'lat,lon'",
        ),
        (
            b"22.2170,113.5280 22.2170,113.5650 22.1100,113.6050 22.1100,113.5330 22.2170,113.5280",
            b"22.2170,113.5280 22.2170,113.5650 22.2170,113.5280",
            "at least 4",
        ),
        (b"</polygon>\n", b"</polygon>\n      <circle>22.19,113.54</circle>\n", "not a circle"),
        (
            b"<identifier>SMG-TC-20240905T050000-0003",
            b"<identifier>SMG TC 0003",
            "must not contain spaces",
        ),
        (b"<scope>Public</scope>", b"<scope>Restricted</scope>", "needs a <restriction>"),
    ],
)
def test_rules_the_schema_cannot_express(old, new, words) -> None:
    error = error_of(_tc3(old, new))
    assert error.code == "cap_rule_violation", error
    assert words in error.message


def test_no_rule_the_standard_does_not_have() -> None:
    # A tsunami cancellation whose <expires> equals <sent> (CAP 1.2 allows it), and an expiry
    # before the effective time: odd, but the standard says nothing against it.
    same = _tc3(
        b"<expires>2024-09-06T05:00:00+08:00</expires>",
        b"<expires>2024-09-05T05:00:00+08:00</expires>",
    )
    assert parse_cap(same).infos[0].expires == parse_cap(same).sent
    earlier = _tc3(
        b"<expires>2024-09-06T05:00:00+08:00</expires>",
        b"<expires>2024-09-05T04:00:00+08:00</expires>",
    )
    assert parse_cap(earlier).infos[0].expires < parse_cap(earlier).sent


def test_every_rule_violation_is_reported() -> None:
    data = sample("bad_polygon.xml").replace(
        b"<msgType>Alert</msgType>", b"<msgType>Update</msgType>"
    )
    error = error_of(data)
    assert error.message.endswith("(and 1 more problem)")
    assert [p.split(":")[0] for p in error.problems] == [
        "/alert/references",
        "/alert/info[1]/area[1]/polygon[1]",
    ]


def test_lenient_only_where_the_schema_allows() -> None:
    end_of_day = parse_cap(
        _tc3(b"<sent>2024-09-05T05:00:00+08:00", b"<sent>2024-09-05T24:00:00+08:00")
    )
    assert end_of_day.sent == datetime(2024, 9, 6, 0, 0, tzinfo=HKT)
    utc = parse_cap(_tc3(b"<sent>2024-09-05T05:00:00+08:00", b"<sent>2024-09-04T21:00:00-00:00"))
    assert utc.sent == datetime(2024, 9, 5, 5, 0, tzinfo=HKT)
    spaced = parse_cap(
        _tc3(
            b"<sent>2024-09-05T05:00:00+08:00</sent>", b"<sent> 2024-09-05T05:00:00+08:00\n</sent>"
        )
    )
    assert spaced.sent == utc.sent
    fraction = _tc3(b"<sent>2024-09-05T05:00:00+08:00", b"<sent>2024-09-05T05:00:00.5+08:00")
    assert error_of(fraction).code == "cap_schema_invalid"
    circle = parse_cap(
        _tc3(b"</polygon>\n", b"</polygon>\n      <circle>22.19,113.54 12.5</circle>\n")
    )
    assert circle.infos[0].areas[0].circles[0].radius_km == 12.5


def test_schema_is_cached_and_never_fetches(monkeypatch) -> None:
    assert cap_schema() is cap_schema()

    def no_network(*args, **kwargs):
        raise AssertionError("the CAP schema tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    fresh = cap_schema.__wrapped__()
    assert fresh.is_valid(etree.fromstring(sample("smg_tc8ne.xml")))


# --- building our own alerts --------------------------------------------------------------


def _assert_schema_valid(data: bytes) -> etree._Element:
    root = etree.fromstring(data)
    errors = list(cap_schema().iter_errors(root))
    assert not errors, errors[0]
    return root


def test_signal_change_alert_round_trips(catalogue, mappings) -> None:
    sent = datetime(2024, 9, 5, 14, 0, tzinfo=UTC)  # 22:00 in Macau
    data = signal_change_alert(
        catalogue=catalogue, source="SMG", kind="tropical_cyclone", level="8NE", previous="3",
        identifier="HQ-20240905T220000-0001", sender="hengqin-command-post", sent=sent,
        references=[parse_cap(sample("smg_tc3.xml"))], areas=[HENGQIN],
        instructions={"en": "Stay indoors.", "zh-Hans": "请留在室内。", "zh-Hant": "請留在室內。", "pt": "Fique em casa."},
    )  # fmt: skip
    root = _assert_schema_valid(data)
    assert root.findtext(f"{{{CAP_NS}}}sent") == "2024-09-05T22:00:00+08:00"
    assert b"Z<" not in data and b".000" not in data

    alert = parse_cap(data)
    assert alert.msg_type == "Update"
    assert [i.language for i in alert.infos] == ["zh-Hans", "zh-Hant", "pt", "en"]
    assert alert.info("zh-Hant").headline == "澳門：八號東北烈風或暴風信號"
    assert alert.info("pt").headline == "Macau: Sinal n.º 8 de Vendaval ou Tempestade de Nordeste"
    assert alert.source == "Macao Meteorological and Geophysical Bureau (SMG)"
    assert alert.info("pt").instruction == "Fique em casa."
    assert alert.info("en").event_code("SIGNAL") == "SMG:tropical_cyclone:8NE"
    assert alert.info("en").parameter("SIGNAL_CHANGE") == "upgrade"
    assert (alert.info("en").urgency, alert.info("en").severity) == ("Immediate", "Severe")
    assert alert.infos[0].areas[0].area_desc == "横琴"

    (signal,) = signals_from_cap(alert, catalogue, mappings)
    assert (signal.code, signal.rule) == ("SMG:tropical_cyclone:8NE", "SIGNAL")
    assert signal.effective == sent

    # An empty mapping file still reads our own form.
    assert codes(alert, catalogue, CapMappings(version=1)) == ["SMG:tropical_cyclone:8NE"]


def test_lowering_is_an_all_clear_update(catalogue, mappings) -> None:
    raised = parse_cap(
        signal_change_alert(
            catalogue=catalogue, source="ZHUHAI", kind="typhoon", level="yellow",
            identifier="HQ-1", sender="hengqin-command-post", sent=datetime(2024, 9, 5, 9, tzinfo=HKT),
        )
    )  # fmt: skip
    assert (
        raised.msg_type == "Alert" and raised.info("zh-Hans").headline == "珠海：台风黄色预警信号"
    )
    assert raised.info("en").severity == "Moderate"
    assert (raised.info("en").certainty, raised.info("en").urgency) == ("Likely", "Expected")
    data = signal_change_alert(
        catalogue=catalogue, source="ZHUHAI", kind="typhoon", level=None, previous="yellow",
        identifier="HQ-2", sender="hengqin-command-post", sent=datetime(2024, 9, 6, 9, tzinfo=HKT),
        references=[raised],
    )  # fmt: skip
    _assert_schema_valid(data)
    lowered = parse_cap(data)
    assert lowered.msg_type == "Update" and lowered.references == [raised.reference]
    assert lowered.info("en").headline == "Zhuhai: Typhoon Yellow Warning Signal cancelled"
    assert lowered.info("en").response_types == ["AllClear"]
    assert (lowered.info("en").severity, lowered.info("en").urgency) == ("Minor", "Past")
    assert lowered.info("en").expires == lowered.sent + timedelta(hours=1)
    (signal,) = signals_from_cap(lowered, catalogue, mappings)
    assert signal.level is None and signal.code == "ZHUHAI:typhoon"
    with pytest.raises(ValueError, match="references"):
        signal_change_alert(
            catalogue=catalogue, source="ZHUHAI", kind="typhoon", level=None,
            identifier="HQ-3", sender="hengqin-command-post", sent=datetime(2024, 9, 6, 9, tzinfo=HKT),
        )  # fmt: skip


def test_broadcast_alert(catalogue, mappings) -> None:
    data = broadcast_alert(
        identifier="HQ-BC-0001", sender="hengqin-command-post", sent=datetime(2024, 9, 5, 21, tzinfo=HKT),
        messages={
            "en": "Signal No. 8: stay indoors. Shelters are open.",
            "pt": "Sinal n.º 8: fique em casa. Os abrigos estão abertos.",
            "zh-Hant": "八號風球：請留在室內，避護中心已開放。",
            "zh-Hans": "八号风球：请留在室内，避护场所已开放。",
        },
        areas=[HENGQIN], expires=datetime(2024, 9, 6, 21, tzinfo=HKT), status="Exercise",
    )  # fmt: skip
    _assert_schema_valid(data)
    alert = parse_cap(data)
    assert alert.status == "Exercise"
    assert [i.language for i in alert.infos] == ["zh-Hans", "zh-Hant", "pt", "en"]
    assert alert.info("zh-Hant").description.startswith("八號風球")
    assert alert.info("en").event == "Public safety alert"
    # A broadcast informs; it never asserts a signal when fed back.
    assert signals_from_cap(alert, catalogue, mappings, accept_status=("Actual", "Exercise")) == []


def test_build_cap_refuses_what_it_would_not_accept() -> None:
    sent = datetime(2024, 9, 5, 22, tzinfo=HKT)
    info = InfoSpec(language="en", event="x", urgency="Now", severity="Minor", certainty="Observed")
    with pytest.raises(CapError) as error:
        build_cap(identifier="HQ-X", sender="hq", sent=sent, infos=[info])
    assert error.value.code == "cap_build_invalid" and "urgency" in error.value.message
    with pytest.raises(ValueError, match="naive"):
        build_cap(identifier="HQ-X", sender="hq", sent=datetime(2024, 9, 5, 22), infos=[])
    open_ring = AreaSpec(area_desc="x", polygons=[[(22.1, 113.5), (22.2, 113.5), (22.2, 113.6)]])
    ok = InfoSpec(
        language="en",
        event="x",
        urgency="Past",
        severity="Minor",
        certainty="Observed",
        areas=[open_ring],
    )
    with pytest.raises(CapError, match="at least 4"):
        build_cap(identifier="HQ-X", sender="hq", sent=sent, infos=[ok])
    with pytest.raises(CapError, match="must have <references>"):
        build_cap(identifier="HQ-X", sender="hq", sent=sent, msg_type="Update", infos=[])


# --- Atom feed ----------------------------------------------------------------------------


def test_atom_feed(catalogue) -> None:
    sent = datetime(2024, 9, 5, 22, tzinfo=HKT)
    first = signal_change_alert(
        catalogue=catalogue, source="SMG", kind="tropical_cyclone", level="8NE",
        identifier="HQ-A1", sender="hengqin-command-post", sent=sent, areas=[HENGQIN],
    )  # fmt: skip
    second = broadcast_alert(
        identifier="HQ-A2", sender="hengqin-command-post", sent=sent + timedelta(minutes=5),
        messages={"en": "Stay indoors.", "zh-Hans": "请留在室内。"}, areas=[HENGQIN],
    )  # fmt: skip
    base = "http://127.0.0.1:8000/api/v1/cap"
    data = atom_feed(
        [AtomEntry(first, f"{base}/alerts/HQ-A1.xml"), AtomEntry(second, f"{base}/alerts/HQ-A2.xml")],
        feed_id="urn:hengqin:cap:feed", title="Hengqin command post alerts",
        updated=sent + timedelta(minutes=5), self_url=f"{base}/feed.atom",
    )  # fmt: skip
    feed = etree.fromstring(data)
    atom = f"{{{ATOM_NS}}}"
    assert feed.tag == f"{atom}feed"
    for required in ("id", "title", "updated", "author"):
        assert feed.find(f"{atom}{required}") is not None, required
    assert feed.findtext(f"{atom}updated") == "2024-09-05T22:05:00+08:00"
    (self_link,) = [link for link in feed.findall(f"{atom}link") if link.get("rel") == "self"]
    assert self_link.get("href") == f"{base}/feed.atom"

    entries = feed.findall(f"{atom}entry")
    assert len(entries) == 2
    assert entries[0].findtext(f"{atom}title") == "Macau: Gale or Storm Signal No. 8 Northeast"
    assert entries[0].findtext(f"{atom}id") == f"{base}/alerts/HQ-A1.xml"
    for entry in entries:
        link = entry.find(f"{atom}link")
        assert (link.get("rel"), link.get("type")) == ("alternate", "application/cap+xml")
        content = entry.find(f"{atom}content")
        assert content.get("type") == "application/cap+xml"
        (alert,) = list(content)
        assert alert.tag == f"{{{CAP_NS}}}alert"
        cap_bytes = etree.tostring(alert)
        assert cap_schema().is_valid(etree.fromstring(cap_bytes))
        assert parse_cap(cap_bytes).identifier in ("HQ-A1", "HQ-A2")


# --- the mapping file ---------------------------------------------------------------------


def test_mapping_file_errors_name_file_and_line(tmp_path, catalogue) -> None:
    path = tmp_path / "cap_mappings.yaml"
    path.write_text(
        "version: 1\n"
        "mappings:\n"
        "  - name: a\n"
        "    event_code: {name: SMG_TC}\n"
        "    signal: SMG:tropical_cyclone\n"
        "    level: purple\n"
        "  - name: b\n"
        "    event: '(unclosed'\n"
        "    signal: SMG:tropical_cyclone\n"
        "    level: {from: event}\n"
    )
    with pytest.raises(ConfigFileError) as info:
        load_cap_mappings(path, catalogue=catalogue)
    assert f"{path}:8: mappings[1].event: '(unclosed' is not a valid regular expression" in str(
        info.value
    )

    path.write_text(path.read_text().replace("'(unclosed'", "'No (?P<level>\\d+)'"))
    with pytest.raises(ConfigFileError) as info:
        load_cap_mappings(path, catalogue=catalogue)
    assert str(info.value).startswith(
        f"{path}:6: mappings[0].level: 'purple' is not a level of SMG tropical_cyclone"
    )
