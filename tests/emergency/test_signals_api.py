"""Signals over HTTP: raise, change, lower, history; and every kind of bad input gets the JSON
error of CONTRACT.md with a 4xx, never a 500, with nothing stored changed."""

from __future__ import annotations

import pytest

URL = "/api/v1/signals"


def post(app, body, role="operator", **kw):
    return app.client.post(URL, headers=app.auth(role), json=body, **kw)


def state(app):
    active = app.client.get(f"{URL}/active", headers=app.auth("viewer")).json()
    history = app.client.get(URL, headers=app.auth("viewer")).json()
    return active, history


def test_raise_change_lower_and_history(app_server):
    r = post(app_server, {"source": "SMG", "kind": "tropical_cyclone", "level": "8NE"})
    assert r.status_code == 200
    assert r.json()["changed"] is True and r.json()["change"]["change"] == "raise"
    assert (
        post(app_server, {"source": "SMG", "kind": "tropical_cyclone", "level": "8SE"}).json()[
            "change"
        ]["change"]
        == "change"
    )
    again = post(app_server, {"source": "SMG", "kind": "tropical_cyclone", "level": "8SE"})
    assert again.status_code == 200 and again.json()["changed"] is False
    lowered = post(app_server, {"source": "SMG", "kind": "tropical_cyclone", "level": None})
    assert lowered.json()["change"]["change"] == "lower"
    active, history = state(app_server)
    assert active == []
    assert [(h["previous_level"], h["level"]) for h in history] == [
        ("8SE", None),
        ("8NE", "8SE"),
        (None, "8NE"),
    ]
    assert all(h["origin"] == "operator" and h["at_local"].endswith("+08:00") for h in history)


def test_situation_shows_response_level(app_server):
    post(app_server, {"source": "HENGQIN", "kind": "response_level", "level": "III"})
    sit = app_server.client.get("/api/v1/situation", headers=app_server.auth("viewer")).json()
    assert sit["response_level"]["level"] == "III"
    assert sit["last_seq"] >= 1


BAD_BODIES = [
    ("malformed JSON", b'{"source": "SMG", ', "malformed_json"),
    (
        "unknown field",
        {"source": "SMG", "kind": "tropical_cyclone", "level": "3", "x": 1},
        "unknown_field",
    ),
    (
        "unknown level",
        {"source": "SMG", "kind": "tropical_cyclone", "level": "7"},
        "unknown_signal",
    ),
    ("unknown kind", {"source": "SMG", "kind": "tornado", "level": "1"}, "unknown_signal"),
    (
        "unknown source",
        {"source": "HKO", "kind": "tropical_cyclone", "level": "8"},
        "unknown_signal",
    ),
    ("missing level", {"source": "SMG", "kind": "tropical_cyclone"}, "invalid_input"),
    ("wrong type", {"source": "SMG", "kind": "tropical_cyclone", "level": 8}, "invalid_input"),
    ("array body", [1, 2], "invalid_input"),
]


@pytest.mark.one_db  # refused by validation before any SQL
@pytest.mark.parametrize("label,body,code", BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_bad_input_is_a_clear_4xx_and_changes_nothing(app_server, label, body, code):
    post(app_server, {"source": "SMG", "kind": "tropical_cyclone", "level": "3"})
    before = state(app_server)
    if isinstance(body, bytes):
        r = app_server.client.post(
            URL,
            headers={**app_server.auth("operator"), "content-type": "application/json"},
            content=body,
        )
    else:
        r = post(app_server, body)
    assert 400 <= r.status_code < 500, r.text
    error = r.json()["error"]
    assert error["code"] == code and error["message"]
    assert state(app_server) == before


@pytest.mark.one_db  # refused by the token check (one lookup by hash)
@pytest.mark.parametrize(
    "headers,status,code",
    [
        ({}, 401, "not_authenticated"),
        ({"Authorization": "Bearer tyh_not-a-real-token"}, 401, "invalid_token"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, 401, "not_authenticated"),
    ],
)
def test_missing_or_wrong_token(app_server, headers, status, code):
    r = app_server.client.post(
        URL, headers=headers, json={"source": "SMG", "kind": "tropical_cyclone", "level": "1"}
    )
    assert r.status_code == status and r.json()["error"]["code"] == code
    assert state(app_server) == ([], [])


@pytest.mark.one_db  # refused by the role check before the handler
@pytest.mark.parametrize("role", ["viewer", "field", "approver", "liaison"])
def test_wrong_role_cannot_raise_a_signal(app_server, role):
    r = post(app_server, {"source": "SMG", "kind": "tropical_cyclone", "level": "1"}, role=role)
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    assert role in r.json()["error"]["message"]
    assert state(app_server) == ([], [])


@pytest.mark.one_db  # refused by the token check before the handler
def test_reads_need_a_token(app_server):
    for path in (f"{URL}/active", URL, "/api/v1/situation"):
        assert app_server.client.get(path).status_code == 401


@pytest.mark.one_db  # refused before the body is read
def test_oversized_body_is_413(app_server):
    r = app_server.client.post(
        URL,
        headers={**app_server.auth("operator"), "content-type": "application/json"},
        content=b"{" + b" " * (13 * 1024 * 1024) + b"}",
    )
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"


@pytest.mark.one_db  # no route, no SQL
def test_unknown_route_is_json_404(app_server):
    r = app_server.client.get("/api/v1/nothing-here")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_every_change_is_audited(app_server):
    from emergency.audit import service as audit_service

    post(app_server, {"source": "SMG", "kind": "tropical_cyclone", "level": "1"})
    post(app_server, {"source": "SMG", "kind": "tropical_cyclone", "level": "3"})
    with app_server.db.session() as session:
        entries = [e for e in audit_service.entries(session) if e.target_type == "signal"]
        assert audit_service.verify(session).ok
    assert [e.action for e in entries] == ["signal.upgrade", "signal.raise"]
    assert entries[0].summary["before"] == {"level": "1"}
    assert entries[0].summary["after"] == {
        "level": "3",
        "origin": "operator",
        "cap_identifier": None,
        "exercise": False,
    }
    assert entries[0].actor.startswith("operator-")


def test_text_with_a_nul_character_is_422_on_both_databases_and_stores_nothing(app_server):
    """The red review of session 5: SQLite stored a NUL in a note, PostgreSQL refused it as
    "a value is out of range". Now both refuse it alike, naming the character."""
    r = post(
        app_server,
        {"source": "SMG", "kind": "tropical_cyclone", "level": "3", "note": "before\u0000after"},
    )
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid_input" and "NUL character" in error["message"]
    assert state(app_server) == ([], [])
    fine = post(app_server, {"source": "SMG", "kind": "tropical_cyclone", "level": "3"})
    assert fine.status_code == 200, fine.text
