"""API tokens end: `typhoon user revoke NAME` / `rotate NAME` and the admin API revoke them at
once; a field link made with `--expires` stops working then; a revoked token's open live
websockets close with 4401 within 5 s on every API process; one token holds at most
TYPHOON_WS_PER_TOKEN websockets (the next is closed with 4429); `--demo` never re-issues a
token for a real user."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlmodel import col, select
from websockets.exceptions import ConnectionClosed

from emergency.auth import service as auth_service
from emergency.auth.models import ApiToken
from emergency.db import utcnow
from tests.support import cli, server
from tests.support.live import LiveClient


def typhoon(*args, database_url: str):
    """The command in this process (tests.support.cli): quicker, and its code is measured."""
    return cli.typhoon(*args, env={"TYPHOON_DATABASE_URL": database_url})


def me(app, token: str) -> int:
    return app.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code


def audited(app, action: str) -> int:
    with app.db.session() as session:
        return session.execute(
            text("SELECT count(*) FROM audit_entry WHERE action = :a"), {"a": action}
        ).scalar_one()


def closed_code(client: LiveClient, timeout: float) -> int | None:
    """The close code the server sends within `timeout` seconds (events are skipped)."""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            client.next(timeout=max(0.01, deadline - time.monotonic()))
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None
    except TimeoutError:
        return None
    return None


def test_cli_revoke_and_rotate(app_server, database_url):
    token = app_server.token("operator", name="dora")
    assert me(app_server, token) == 200
    out = typhoon("user", "revoke", "dora", database_url=database_url)
    assert out.returncode == 0 and "revoked 1 token(s) of dora" in out.stdout, out.stderr
    assert me(app_server, token) == 401
    rotated = typhoon("user", "rotate", "dora", database_url=database_url)
    assert rotated.returncode == 0, rotated.stderr
    fresh = rotated.stdout.strip().splitlines()[-1]
    assert fresh.startswith("tyh_") and me(app_server, fresh) == 200
    again = typhoon("user", "rotate", "dora", database_url=database_url)
    assert me(app_server, fresh) == 401  # rotating again ends the token it gave before
    assert me(app_server, again.stdout.strip().splitlines()[-1]) == 200
    assert audited(app_server, "token.revoked") == 2  # the rotate after the revoke had none
    unknown = typhoon("user", "revoke", "nobody", database_url=database_url)
    assert unknown.returncode == 2 and "no user named 'nobody'" in unknown.stderr


def test_admin_api_revokes_and_rotates(app_server):
    admin = app_server.auth("admin")
    token = app_server.token("liaison", name="lina")
    r = app_server.client.post("/api/v1/users/lina/rotate", headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["revoked"] == 1 and me(app_server, token) == 401
    fresh = r.json()["token"]
    assert me(app_server, fresh) == 200
    r = app_server.client.post("/api/v1/users/lina/revoke", headers=admin)
    assert r.status_code == 200 and r.json() == {"user": "lina", "revoked": 1}
    assert me(app_server, fresh) == 401
    assert app_server.client.post("/api/v1/users/nobody/revoke", headers=admin).status_code == 404
    # an operator may not revoke anyone
    operator = app_server.auth("operator")
    assert app_server.client.post("/api/v1/users/lina/revoke", headers=operator).status_code == 403


def test_field_links_expire(app_server, database_url):
    r = app_server.client.post(
        "/api/v1/field/links",
        headers=app_server.auth("operator"),
        json={"label": "Group 9 phone", "expires_in_hours": 24},
    )
    assert r.status_code == 201, r.text
    token = r.json()["url"].split("#token=")[1]
    assert me(app_server, token) == 200
    out = typhoon("field", "link", "Crew 4 phone", "--expires", "24h", database_url=database_url)
    assert out.returncode == 0 and "it works until" in out.stdout, out.stderr
    cli_token = out.stdout.strip().splitlines()[-1].split("#token=")[1]
    with app_server.db.session() as session:
        expiries = session.exec(
            select(ApiToken.expires_at).where(col(ApiToken.expires_at).is_not(None))
        ).all()
    assert len(expiries) == 2
    for expires in expiries:
        in_a_day = utcnow().replace(tzinfo=None) + timedelta(hours=24)
        assert abs(expires.replace(tzinfo=None) - in_a_day) < timedelta(minutes=5)
    # the day has passed: both links are refused
    with app_server.db.unit_of_work() as session:
        session.execute(
            text("UPDATE api_token SET expires_at = :t WHERE expires_at IS NOT NULL"),
            {"t": utcnow() - timedelta(seconds=1)},
        )
    assert me(app_server, token) == 401 and me(app_server, cli_token) == 401
    bad = typhoon("field", "link", "Crew 5", "--expires", "soon", database_url=database_url)
    assert bad.returncode == 2 and "--expires" in bad.stderr


def test_revoked_tokens_websockets_close_within_5_s_on_every_process(database_url, settings_for):
    settings = settings_for(database_url, TYPHOON_WS_PING_SECONDS=60.0)
    with server.run(settings) as one, server.run(settings, embedded_worker=False) as two:
        token = one.token("viewer", name="wall-7")
        other = one.token("viewer", name="wall-8")
        clients = [LiveClient(app.ws_url, token) for app in (one, two)]
        bystander = LiveClient(two.ws_url, other)
        for client in [*clients, bystander]:
            assert client.next()["type"] == "snapshot"
        r = one.client.post("/api/v1/users/wall-7/revoke", headers=one.auth("admin"))
        assert r.status_code == 200, r.text
        assert [closed_code(client, 5.0) for client in clients] == [4401, 4401]
        # another token's screen stays open, and the revoked token cannot come back
        bystander.ws.ping().wait(30)
        with pytest.raises(ConnectionClosed) as refused:
            LiveClient(two.ws_url, token).next()
        assert refused.value.rcvd.code == 4401
        bystander.close()


def test_websockets_per_token_are_capped(database_url, settings_for):
    with server.run(settings_for(database_url, TYPHOON_WS_PER_TOKEN=3)) as app:
        token = app.token("field")
        open_ = [LiveClient(app.ws_url, token) for _ in range(3)]
        for client in open_:
            assert client.next()["type"] == "snapshot"
        with pytest.raises(ConnectionClosed) as refused:
            LiveClient(app.ws_url, token).next()
        assert refused.value.rcvd.code == 4429
        assert "too many live connections" in refused.value.rcvd.reason
        assert LiveClient(app.ws_url, app.token("operator")).next()["type"] == "snapshot"
        open_.pop().close()  # one leaves: room for one more
        deadline = time.monotonic() + 30
        while True:
            try:
                assert LiveClient(app.ws_url, token).next()["type"] == "snapshot"
                break
            except ConnectionClosed:
                assert time.monotonic() < deadline, "the closed socket's place never freed"


def test_the_default_cap_is_20():
    from emergency.settings import Settings

    assert Settings(TYPHOON_DATABASE_URL="sqlite:///x.db").ws_per_token == 20


def test_demo_never_reissues_a_token_for_a_real_user(database_url, settings_for):
    from emergency import demo

    settings = settings_for(database_url)
    with server.run(settings, embedded_worker=False) as app:
        real = app.token("admin", name="admin")  # a real admin, made with `typhoon user add`
        tokens = demo.load(app.runtime)
        assert "admin" not in tokens and "duty-operator" in tokens
        with app.db.session() as session:
            real_user = auth_service.get_by_name(session, "admin")
            issued = session.execute(
                text("SELECT count(*) FROM api_token WHERE user_id = :u"), {"u": real_user.id}
            ).scalar_one()
        assert issued == 1 and me(app, real) == 200
        again = demo.load(app.runtime)  # demo users themselves get fresh tokens
        assert me(app, again["duty-operator"]["token"]) == 200
    with server.run(settings, demo=True, embedded_worker=False) as app:
        page = app.client.get("/").text
        assert "duty-operator" in page and "data-demo-token" in page
        assert real not in page
        with app.db.session() as session:
            assert (
                session.execute(
                    text("SELECT count(*) FROM api_token WHERE user_id = :u"), {"u": real_user.id}
                ).scalar_one()
                == 1
            )
