"""CAP 1.2 out: every signal change becomes one of our alerts (Alert, then Updates referencing
the previous one, an all-clear Update when lowered), schema-valid, one <info> per language, with the
area of our zones; the Atom feed is valid Atom (tests/data/atom/atom.rng) with valid CAP
entries, public, with ETags; our own alert posted back round-trips."""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from emergency.cap import CAP_NS, cap_schema, parse_cap
from tests.emergency.cap.samples import CAP_HEADERS, fresh, post_cap

ROOT = Path(__file__).resolve().parents[3]
ATOM_RNG = etree.RelaxNG(etree.parse(str(ROOT / "tests" / "data" / "atom" / "atom.rng")))
ATOM = "{http://www.w3.org/2005/Atom}"
NS = {"cap": CAP_NS}


def set_signal(app, level, *, source="SMG", kind="tropical_cyclone", exercise=False):
    r = app.client.post(
        "/api/v1/signals",
        headers=app.auth("operator"),
        json={"source": source, "kind": kind, "level": level, "exercise": exercise},
    )
    assert r.status_code == 200, r.text
    return r.json()


def published(app, *, signals_only: bool = True) -> list[dict]:
    """Our alerts, newest first: those of signal changes (or also those of broadcasts, which
    the rules' broadcasts publish where the broadcasts domain is installed)."""
    r = app.client.get("/api/v1/cap/alerts")  # public
    assert r.status_code == 200
    return [a for a in r.json() if a["source"] or not signals_only]


def alert_xml(app, identifier: str) -> bytes:
    r = app.client.get(f"/api/v1/cap/alerts/{identifier}.xml")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/cap+xml")
    return r.content


def assert_valid_cap(data: bytes):
    tree = etree.fromstring(data)
    cap_schema().validate(tree.getroottree())  # raises on any schema error
    return parse_cap(data)


def test_signal_changes_publish_alert_update_all_clear(app_server):
    first = set_signal(app_server, "3")
    assert len(first["published"]) == 1
    set_signal(app_server, "8NE")
    set_signal(app_server, "8SE")
    set_signal(app_server, None)
    rows = list(reversed(published(app_server)))
    assert [(r["msg_type"], r["level"]) for r in rows] == [
        ("Alert", "3"),
        ("Update", "8NE"),
        ("Update", "8SE"),
        ("Update", None),  # lowered: an all-clear, not a Cancel (which means "in error")
    ]
    alerts = [assert_valid_cap(alert_xml(app_server, r["identifier"])) for r in rows]
    for previous, alert in zip(alerts, alerts[1:], strict=False):
        assert [ref.key for ref in alert.references] == [previous.reference.key]
        assert alert.references[0].sent == previous.sent
    for alert in alerts:
        assert alert.sender == "sanfang.hengqin.gov.cn" and alert.status == "Actual"
        assert [i.language for i in alert.infos] == ["zh-Hans", "zh-Hant", "pt", "en"]
        for info in alert.infos:
            [area] = info.areas
            assert area.polygons and len(area.polygons[0]) >= 4
            lat, lon = area.polygons[0][0]
            assert 22.0 < lat < 22.2 and 113.4 < lon < 113.6  # lat first, in Hengqin
    assert alerts[1].infos[3].event_code("SIGNAL") == "SMG:tropical_cyclone:8NE"
    assert alerts[1].infos[3].headline == "Macau: Gale or Storm Signal No. 8 Northeast"
    assert alerts[3].infos[0].event_code("SIGNAL") == "SMG:tropical_cyclone"
    assert alerts[3].infos[3].headline == "Macau: Gale or Storm Signal No. 8 Southeast lowered"
    assert alerts[3].infos[3].response_types == ["AllClear"]
    assert b"+08:00</sent>" in alert_xml(app_server, rows[0]["identifier"])


def test_cap_in_change_is_published_too_and_repeat_publishes_nothing(app_server):
    body = post_cap(app_server, fresh("smg_tc8ne.xml")).json()
    [identifier] = body["published"]
    assert published(app_server)[0]["identifier"] == identifier
    everything = len(published(app_server, signals_only=False))
    post_cap(app_server, fresh("smg_tc8ne.xml"))
    set_signal(app_server, "8NE")  # already in force: nothing new
    assert len(published(app_server)) == 1
    assert len(published(app_server, signals_only=False)) == everything


def test_exercise_alerts_have_status_exercise(app_server):
    set_signal(app_server, "8SE", exercise=True)
    [row] = published(app_server)
    alert = assert_valid_cap(alert_xml(app_server, row["identifier"]))
    assert alert.status == "Exercise"
    # A drill's broadcast, if the rules made one, is an Exercise alert too.
    assert {r["status"] for r in published(app_server, signals_only=False)} == {"Exercise"}


def test_atom_feed_is_valid_public_and_conditional(app_server):
    for level in ("3", "8NE", None):
        set_signal(app_server, level)
    set_signal(app_server, "yellow", source="ZHUHAI", kind="typhoon")
    r = app_server.client.get("/api/v1/cap/feed.atom")  # no token: a public feed
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/atom+xml")
    feed = etree.fromstring(r.content)
    assert ATOM_RNG.validate(feed), ATOM_RNG.error_log
    assert feed.find(f"{ATOM}author/{ATOM}name") is not None  # entries have no own author
    entries = feed.findall(f"{ATOM}entry")
    # SMG 3, 8NE, lowered; ZHUHAI yellow; the response level III the rules set for it (and
    # the alerts of the rules' public broadcasts, where the broadcasts domain is installed).
    everything = len(published(app_server, signals_only=False))
    assert len(published(app_server)) == 5 and len(entries) == everything
    ids = set()
    for entry in entries:
        [alert] = entry.find(f"{ATOM}content")
        cap_schema().validate(etree.ElementTree(alert))
        link = entry.find(f"{ATOM}link[@rel='alternate']")
        assert link.get("type") == "application/cap+xml"
        path = link.get("href").split("127.0.0.1:8000", 1)[1]
        assert app_server.client.get(path).content.startswith(b"<?xml")
        ids.add(entry.findtext(f"{ATOM}id"))
    assert len(ids) == everything
    etag = r.headers["etag"]
    assert (
        app_server.client.get("/api/v1/cap/feed.atom", headers={"If-None-Match": etag}).status_code
        == 304
    )
    set_signal(app_server, "3")
    again = app_server.client.get("/api/v1/cap/feed.atom", headers={"If-None-Match": etag})
    assert again.status_code == 200 and again.headers["etag"] != etag
    assert (
        len(etree.fromstring(again.content).findall(f"{ATOM}entry"))
        == len(published(app_server, signals_only=False))
        > everything
    )


def test_empty_feed_is_valid(app_server):
    r = app_server.client.get("/api/v1/cap/feed.atom")
    assert ATOM_RNG.validate(etree.fromstring(r.content)), ATOM_RNG.error_log


def test_unknown_alert_is_404(app_server):
    r = app_server.client.get("/api/v1/cap/alerts/HQ-nothing.xml")
    assert r.status_code == 404 and r.json()["error"]["code"] == "cap_alert_not_found"


def test_our_own_alert_round_trips(app_server):
    set_signal(app_server, "II", source="HENGQIN", kind="response_level")
    [row] = published(app_server)
    ours = alert_xml(app_server, row["identifier"])
    # Posted back (as a partner system re-sharing our feed would): recognised by its SIGNAL
    # eventCode, already in force, so nothing changes.
    r = app_server.client.post(
        "/api/v1/cap", content=ours, headers={**app_server.auth("operator"), **CAP_HEADERS}
    )
    assert r.status_code == 201, r.text
    [signal] = r.json()["signals"]
    assert signal["signal"] == "HENGQIN:response_level:II" and signal["rule"] == "SIGNAL"
    assert signal["applied"] is False and signal["reason"] == "already_in_force"
