"""Sign-in with a name and a password, beside the API tokens: `typhoon user add` prints a
one-time link, the person sets a password with it (argon2, never stored in clear), signs in
and gets an HttpOnly SameSite=Strict cookie; a change needs the session's CSRF token; the live
stream accepts the cookie from our own pages only; bearer tokens keep working. SQLite and
PostgreSQL."""

from __future__ import annotations

import pytest
from sqlmodel import select
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from emergency.auth.sessions.models import UserPassword
from emergency.auth.sessions.service import COOKIE
from tests.support import cli


def add_user(database_url: str, name: str, role: str = "operator") -> tuple[str, str]:
    out = cli.typhoon(
        "user", "add", name, "--role", role, env={"TYPHOON_DATABASE_URL": database_url}
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    [link] = [w for line in lines for w in line.split() if "/set-password#token=" in w]
    return link, lines[-1]


def set_password(app, link: str, password: str):
    token = link.split("#token=", 1)[1]
    return app.client.post("/api/v1/auth/password", json={"token": token, "password": password})


def test_password_from_a_one_time_link_then_a_cookie_session_with_csrf(app_server, database_url):
    app = app_server
    link, api_token = add_user(database_url, "carol")
    assert link.startswith("http://127.0.0.1:8000/set-password#token=")
    r = set_password(app, link, "short")
    assert r.status_code == 422 and r.json()["error"]["code"] == "weak_password"
    assert set_password(app, link, "typhoon-night-2024").status_code == 200
    r = set_password(app, link, "another-password-1")  # once only
    assert r.status_code == 401 and r.json()["error"]["code"] == "link_invalid"
    with app.db.session() as session:
        [stored] = session.exec(select(UserPassword)).all()
    assert stored.password_hash.startswith("$argon2id$")

    wrong = app.client.post("/api/v1/auth/login", json={"name": "carol", "password": "nope"})
    unknown = app.client.post("/api/v1/auth/login", json={"name": "nobody", "password": "x"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()  # the same answer: no hint which one was wrong
    r = app.client.post(
        "/api/v1/auth/login", json={"name": "carol", "password": "typhoon-night-2024"}
    )
    assert r.status_code == 200, r.text
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    csrf = r.json()["csrf_token"]
    session_cookie = app.client.cookies.get(COOKIE)
    assert session_cookie and session_cookie not in r.text

    me = app.client.get("/api/v1/me")
    assert me.status_code == 200 and me.json()["name"] == "carol"
    assert app.client.get("/api/v1/auth/session").json()["csrf_token"] == csrf
    signal = {"source": "SMG", "kind": "tropical_cyclone", "level": "1"}
    r = app.client.post("/api/v1/signals", json=signal)
    assert r.status_code == 403 and r.json()["error"]["code"] == "csrf_failed"
    r = app.client.post("/api/v1/signals", json=signal, headers={"X-CSRF-Token": "x" * 43})
    assert r.status_code == 403
    r = app.client.post("/api/v1/signals", json=signal, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200, r.text
    # The API token of the same user still works, without any cookie.
    bare = {"Authorization": f"Bearer {api_token}"}
    assert app.client.get("/api/v1/me", headers=bare, cookies={}).json()["name"] == "carol"

    r = app.client.post("/api/v1/auth/logout")
    assert r.status_code == 403  # no CSRF token: a link on another site cannot sign you out
    assert app.client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    app.client.cookies.set(COOKIE, session_cookie)  # the old cookie, replayed
    r = app.client.get("/api/v1/me")
    assert r.status_code == 401 and r.json()["error"]["code"] == "session_expired"


def test_live_stream_takes_the_cookie_from_our_own_pages_only(app_server, database_url):
    app = app_server
    link, _ = add_user(database_url, "dave", role="viewer")
    assert set_password(app, link, "wall-screen-4m").status_code == 200
    r = app.client.post("/api/v1/auth/login", json={"name": "dave", "password": "wall-screen-4m"})
    cookie = f"{COOKIE}={r.cookies[COOKIE]}"
    host = app.url.split("//", 1)[1]
    with connect(
        f"{app.ws_url}/ws/live",
        additional_headers={"Cookie": cookie, "Origin": app.url},
        open_timeout=30,
    ) as ws:
        assert '"snapshot"' in ws.recv(timeout=30)
    with (
        connect(
            f"{app.ws_url}/ws/live",
            additional_headers={"Cookie": cookie, "Origin": "http://evil.example"},
            open_timeout=30,
        ) as ws,
        pytest.raises(ConnectionClosed) as closed,
    ):
        ws.recv(timeout=30)
    assert closed.value.rcvd.code == 4401
    assert host  # (the page's own origin is http://<host>)


def test_sign_in_attempts_are_limited_per_address(app_server):
    codes = [
        app_server.client.post(
            "/api/v1/auth/login", json={"name": "eve", "password": f"guess-{i}"}
        ).status_code
        for i in range(12)
    ]
    assert codes[:10] == [401] * 10 and codes[10:] == [429, 429]


def test_a_new_password_link_replaces_the_older_one(app_server, database_url):
    env = {"TYPHOON_DATABASE_URL": database_url}
    first, _ = add_user(database_url, "dana")
    out = cli.typhoon("user", "password-link", "dana", env=env)
    assert out.returncode == 0, out.stderr
    second = out.stdout.strip()
    assert "/set-password#token=" in second and second != first
    r = set_password(app_server, first, "typhoon-night-2024")  # older links stop working
    assert r.status_code == 401 and r.json()["error"]["code"] == "link_invalid"
    assert set_password(app_server, second, "typhoon-night-2024").status_code == 200
    unknown = cli.typhoon("user", "password-link", "nobody", env=env)
    assert unknown.returncode == 2 and "no user 'nobody'" in unknown.stderr
