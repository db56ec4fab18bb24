"""POST /api/v1/cap over real HTTP: SMG- and CMA-style alerts change our signals through the
signal flow; a repeated alert changes nothing; hostile, invalid or oversized alerts get a 4xx
and store nothing; Test/Draft are only stored; Exercise changes the drill's levels only;
Update/Cancel chains, expiry and out-of-order delivery."""

from __future__ import annotations

import re
import socket

import pytest

from tests.emergency.cap.samples import fresh, minutes_ago, post_cap, sample


def active(app, exercise=False):
    r = app.client.get(
        f"/api/v1/signals/active?exercise={str(exercise).lower()}", headers=app.auth("viewer")
    )
    return {(s["source"], s["kind"]): s["level"] for s in r.json()}


def history(app):
    return app.client.get("/api/v1/signals", headers=app.auth("viewer")).json()


def received(app):
    return app.client.get("/api/v1/cap/received", headers=app.auth("viewer")).json()


def stored_counts(app) -> dict[str, int]:
    from sqlalchemy import text

    with app.db.session() as session:
        return {
            t: session.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
            for t in ("cap_received", "cap_published", "signal_change", "event", "audit_entry")
        }


def settled_counts(app) -> dict[str, int]:
    """The counts once the alert's liaison SMS are sent and what is due has run
    (`app.drain()`), so that nothing lands between a comparison's two sides."""
    app.drain()
    return stored_counts(app)


def test_smg_alert_raises_signal_with_sender_identifier_and_history(app_server):
    r = post_cap(app_server, fresh("smg_tc8ne.xml"))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["duplicate"] is False and body["outcome"] == "applied"
    assert body["identifier"] == "SMG-TC-20240905T220000-0008" and body["msg_type"] == "Update"
    [signal] = body["signals"]
    assert signal["signal"] == "SMG:tropical_cyclone:8NE" and signal["applied"] is True
    assert signal["rule"] == "smg-tropical-cyclone-code" and signal["change"] == "raise"
    assert active(app_server) == {("SMG", "tropical_cyclone"): "8NE"}
    [change] = history(app_server)
    assert change["origin"] == "cap" and change["actor"] == "smg.gov.mo"
    assert change["cap_identifier"] == "SMG-TC-20240905T220000-0008"
    assert change["cap_sender"] == "smg.gov.mo"
    assert change["at"].endswith("Z") or change["at"].endswith("+00:00")  # stored in UTC
    assert change["at_local"].endswith("+08:00")  # shown in Macau time
    [row] = received(app_server)
    assert row["outcome"] == "applied" and row["posted_by"].startswith("operator")
    assert row["status"] == "Actual" and row["size"] == len(fresh("smg_tc8ne.xml"))


def test_cma_style_alert_raises_zhuhai_typhoon(app_server):
    r = post_cap(app_server, fresh("cma_typhoon_orange.xml"))
    assert r.status_code == 201, r.text
    assert [s["signal"] for s in r.json()["signals"]] == ["ZHUHAI:typhoon:orange"]
    assert active(app_server)[("ZHUHAI", "typhoon")] == "orange"
    [change] = [h for h in history(app_server) if h["source"] == "ZHUHAI"]
    assert change["actor"] == "44040041600000" and change["origin"] == "cap"


def test_our_own_signal_form_round_trips(app_server):
    r = post_cap(app_server, fresh("ours_signal.xml"))
    assert r.status_code == 201, r.text
    assert r.json()["signals"][0]["rule"] == "SIGNAL"
    assert active(app_server)[("HENGQIN", "response_level")] == "II"


def test_same_identifier_twice_changes_nothing(app_server):
    data = fresh("smg_tc8ne.xml")
    assert post_cap(app_server, data).status_code == 201
    before = settled_counts(app_server)
    again = post_cap(app_server, data)
    assert again.status_code == 200
    assert again.json()["duplicate"] is True and again.json()["actions"] == []
    # Even re-sent later (another <sent>), the same sender+identifier is the same alert.
    later = post_cap(app_server, fresh("smg_tc8ne.xml", at=minutes_ago(-5)))
    assert later.status_code == 200 and later.json()["duplicate"] is True
    assert stored_counts(app_server) == before


def _oversized() -> bytes:
    text = fresh("smg_tc8ne.xml").decode()
    padding = "台风" * 180_000  # ~1.08 MB of UTF-8, over the 1 MB limit
    return text.replace("</description>", padding + "</description>", 1).encode()


BAD = [
    ("xxe", lambda: sample("xxe.xml"), 422, "cap_forbidden_dtd"),
    ("billion laughs", lambda: sample("billion_laughs.xml"), 422, "cap_forbidden_dtd"),
    ("schema invalid", lambda: sample("invalid_schema.xml"), 422, "cap_schema_invalid"),
    (
        "update without references",
        lambda: sample("update_without_references.xml"),
        422,
        "cap_rule_violation",
    ),
    ("bad polygon", lambda: sample("bad_polygon.xml"), 422, "cap_rule_violation"),
    ("not xml", lambda: b"signal 8 is up", 422, "cap_not_xml"),
    ("oversized", _oversized, 413, "cap_too_large"),
    (
        "unknown level",
        lambda: fresh("smg_tc8ne.xml").replace(b"<value>8NE</value>", b"<value>8XX</value>"),
        422,
        "cap_unknown_signal",
    ),
]


@pytest.mark.one_db  # refused while parsing, before any SQL
@pytest.mark.parametrize("label,make,status,code", BAD, ids=[b[0] for b in BAD])
def test_bad_alert_gets_4xx_and_stores_nothing(app_server, label, make, status, code):
    app_server.token("operator")
    before = stored_counts(app_server)
    r = post_cap(app_server, make())
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code
    assert stored_counts(app_server) == before
    assert active(app_server) == {}


@pytest.mark.one_db  # refused before the handler
def test_wrong_content_type_and_missing_token(app_server):
    app_server.token("operator"), app_server.token("viewer")
    before = stored_counts(app_server)
    r = app_server.client.post(
        "/api/v1/cap",
        content=fresh("smg_tc8ne.xml"),
        headers={**app_server.auth("operator"), "Content-Type": "application/json"},
    )
    assert r.status_code == 415 and r.json()["error"]["code"] == "unsupported_media_type"
    r = app_server.client.post(
        "/api/v1/cap",
        content=fresh("smg_tc8ne.xml"),
        headers={"Content-Type": "application/cap+xml"},
    )
    assert r.status_code == 401
    assert post_cap(app_server, fresh("smg_tc8ne.xml"), role="viewer").status_code == 403
    assert stored_counts(app_server) == before


@pytest.mark.one_db  # refused before the body is read
def test_oversize_is_refused_before_it_is_all_read(app_server):
    # Declared too large: answered 413 from the headers, the body is never read.
    token = app_server.token("operator")
    with socket.create_connection(("127.0.0.1", app_server.port), timeout=30) as conn:
        conn.sendall(
            b"POST /api/v1/cap HTTP/1.1\r\nHost: test\r\nContent-Type: application/cap+xml\r\n"
            + f"Authorization: Bearer {token}\r\nContent-Length: 1000000000\r\n\r\n".encode()
            + b"<alert"
        )
        assert conn.recv(200).startswith(b"HTTP/1.1 413")

    # Streamed without a length (chunked): cut off once past the limit.
    def chunks():
        for _ in range(120):
            yield b"x" * 10_000

    r = app_server.client.post(
        "/api/v1/cap",
        content=chunks(),
        headers={**app_server.auth("operator"), "Content-Type": "application/cap+xml"},
    )
    assert r.status_code == 413 and r.json()["error"]["code"] == "cap_too_large"


@pytest.mark.parametrize("status", ["Test", "Draft", "System"])
def test_test_draft_system_are_stored_and_never_acted_on(app_server, status):
    r = post_cap(app_server, fresh("smg_tc8ne.xml", status=status))
    assert r.status_code == 201, r.text
    assert r.json()["outcome"] == "not_actual" and r.json()["signals"] == []
    assert active(app_server) == {} and active(app_server, exercise=True) == {}
    assert history(app_server) == []
    assert received(app_server)[0]["status"] == status


def test_exercise_changes_the_drill_levels_only(app_server):
    r = post_cap(app_server, fresh("exercise.xml"))
    assert r.status_code == 201, r.text
    [signal] = r.json()["signals"]
    assert signal["exercise"] is True and signal["applied"] is True
    assert active(app_server) == {}  # never a real signal
    assert active(app_server, exercise=True) == {("SMG", "tropical_cyclone"): "8SE"}
    assert history(app_server)[0]["exercise"] is True
    # A real alert meanwhile is independent of the drill.
    assert post_cap(app_server, fresh("smg_tc3.xml")).status_code == 201
    assert active(app_server) == {("SMG", "tropical_cyclone"): "3"}
    assert active(app_server, exercise=True) == {("SMG", "tropical_cyclone"): "8SE"}


def test_yagi_chain_update_and_cancel(app_server):
    steps = [
        ("smg_tc3.xml", "3", "raise"),
        ("smg_tc8ne.xml", "8NE", "upgrade"),
        ("smg_update.xml", "3", "downgrade"),
        ("smg_cancel.xml", None, "lower"),
    ]
    for name, level, change in steps:
        r = post_cap(app_server, fresh(name))
        assert r.status_code == 201, (name, r.text)
        [signal] = r.json()["signals"]
        assert signal["applied"] is True and signal["change"] == change, (name, signal)
        assert active(app_server).get(("SMG", "tropical_cyclone")) == level
    assert [h["change"] for h in history(app_server)] == ["lower", "downgrade", "upgrade", "raise"]


def test_cancel_of_another_alert_does_not_lower(app_server):
    assert post_cap(app_server, fresh("smg_tc8ne.xml")).status_code == 201
    # A Cancel that references an alert we know, but which is not the one in force.
    assert (
        post_cap(app_server, fresh("smg_tc3.xml", at=minutes_ago(30))).json()["signals"][0][
            "reason"
        ]
        == "outdated"
    )
    cancel = fresh("smg_cancel.xml").replace(
        b"SMG-TC-20240906T140000-0003", b"SMG-TC-20240905T050000-0003"
    )
    r = post_cap(app_server, cancel)
    assert r.status_code == 201
    [signal] = r.json()["signals"]
    assert signal["applied"] is False and signal["reason"] == "not_referenced"
    assert active(app_server) == {("SMG", "tropical_cyclone"): "8NE"}
    assert r.json()["outcome"] == "no_change"


def test_cancel_across_a_missed_update_still_lowers(app_server):
    # We got No. 8, missed the Update to No. 3, then SMG cancels that Update: the sender that
    # set the level cancels it through an alert we never saw, so the signal must come down.
    assert post_cap(app_server, fresh("smg_tc8ne.xml", at=minutes_ago(60))).status_code == 201
    r = post_cap(app_server, fresh("smg_cancel.xml"))
    assert r.json()["signals"][0]["applied"] is True
    assert active(app_server) == {}


def test_operator_level_is_not_lowered_by_a_cancel(app_server):
    app_server.client.post(
        "/api/v1/signals",
        headers=app_server.auth("operator"),
        json={"source": "SMG", "kind": "tropical_cyclone", "level": "3"},
    )
    r = post_cap(app_server, fresh("smg_cancel.xml"))
    assert r.json()["signals"][0]["reason"] == "not_referenced"
    assert active(app_server) == {("SMG", "tropical_cyclone"): "3"}


def test_expired_alert_is_stored_but_not_applied(app_server):
    r = post_cap(app_server, sample("smg_tc8ne.xml"))  # Yagi, 2024: long expired
    assert r.status_code == 201
    assert r.json()["signals"][0]["reason"] == "expired"
    assert r.json()["outcome"] == "no_change" and active(app_server) == {}


def test_out_of_order_delivery_keeps_the_newer_level(app_server):
    assert post_cap(app_server, fresh("smg_tc8ne.xml")).status_code == 201
    older = fresh("smg_tc3.xml", at=minutes_ago(90))
    r = post_cap(app_server, older)
    assert r.json()["signals"][0]["reason"] == "outdated"
    assert active(app_server) == {("SMG", "tropical_cyclone"): "8NE"}


def test_received_alert_xml_is_kept(app_server):
    data = fresh("cma_typhoon_orange.xml")
    post_cap(app_server, data)
    row = received(app_server)[0]
    r = app_server.client.get(
        f"/api/v1/cap/received/{row['id']}.xml", headers=app_server.auth("viewer")
    )
    assert r.status_code == 200 and r.content == data
    assert re.search(rb"<identifier>44040041600000_20240905160000_0</identifier>", r.content)


def test_a_large_valid_alert_under_the_limit_is_accepted_and_kept_exactly(app_server):
    # Like the 459 kB IPAWS alert (its audio inline) that used to be refused: ~900 kB here.
    text = fresh("smg_tc8ne.xml").decode()
    data = text.replace("</description>", "x" * 900_000 + "</description>", 1).encode()
    assert 800_000 < len(data) < 1024 * 1024
    r = post_cap(app_server, data)
    assert r.status_code == 201, r.text[:300]
    stored = app_server.client.get(
        f"/api/v1/cap/received/{r.json()['id']}.xml", headers=app_server.auth("viewer")
    )
    assert stored.content == data
