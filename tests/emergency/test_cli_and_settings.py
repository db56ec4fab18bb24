"""The command line and the settings check."""

from __future__ import annotations

import pytest

from emergency.settings import SettingsError, load_settings
from tests.support.cli import typhoon, typhoon_process


def test_user_add_prints_token_last_and_stores_only_its_hash(database_url):
    from emergency.auth import service as auth_service
    from emergency.db import Database

    out = typhoon(
        "user", "add", "alice", "--role", "operator", env={"TYPHOON_DATABASE_URL": database_url}
    )
    assert out.returncode == 0, out.stderr
    token = out.stdout.strip().splitlines()[-1]
    assert token.startswith("tyh_") and len(token) > 40
    db = Database(database_url)
    with db.session() as session:
        user = auth_service.user_for_token(session, token)
        from sqlmodel import select

        from emergency.auth.models import ApiToken

        stored = session.exec(select(ApiToken)).all()
    db.dispose()
    assert user.name == "alice" and user.role == "operator"
    assert all(token not in (t.token_hash, t.label) for t in stored)
    # the same name twice, and an unknown role, are clear errors
    again = typhoon(
        "user", "add", "alice", "--role", "operator", env={"TYPHOON_DATABASE_URL": database_url}
    )
    assert again.returncode == 2 and "already exists" in again.stderr
    bad = typhoon(
        "user", "add", "bob", "--role", "wizard", env={"TYPHOON_DATABASE_URL": database_url}
    )
    assert bad.returncode == 2 and "role: 'wizard' is not one of" in bad.stderr


def test_db_upgrade_command(tmp_path):
    out = typhoon("db", "upgrade", env={"TYPHOON_DATABASE_URL": f"sqlite:///{tmp_path}/x.db"})
    assert out.returncode == 0 and "up to date" in out.stdout


@pytest.mark.parametrize(
    "env,name",
    [
        ({"TYPHOON_SMS_RATE": "fast"}, "TYPHOON_SMS_RATE"),
        ({"TYPHOON_SMS_RATE": "-1"}, "TYPHOON_SMS_RATE"),
        ({"TYPHOON_DATABASE_URL": "mysql://x"}, "TYPHOON_DATABASE_URL"),
        ({"TYPHOON_REDIS_URL": "localhost:6379"}, "TYPHOON_REDIS_URL"),
        ({"TYPHOON_APPROVAL_THRESHOLD": "many"}, "TYPHOON_APPROVAL_THRESHOLD"),
        ({"TYPHOON_PUBLIC_URL": "hengqin.example"}, "TYPHOON_PUBLIC_URL"),
        # into every CAP alert's <web>: the schema refuses such a port, alert by alert
        ({"TYPHOON_PUBLIC_URL": "https://hq.example.org:99999"}, "TYPHOON_PUBLIC_URL"),
        ({"TYPHOON_PUBLIC_URL": "https://hq.example.org:web"}, "TYPHOON_PUBLIC_URL"),
        ({"TYPHOON_PUBLIC_URL": "https://"}, "TYPHOON_PUBLIC_URL"),
        ({"TWILIO_ACCOUNT_SID": "AC123"}, "TWILIO_AUTH_TOKEN"),
    ],
)
def test_bad_setting_names_the_variable(monkeypatch, env, name):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert name in str(info.value)


def test_cli_refuses_to_start_with_a_bad_setting():
    out = typhoon_process("db", "upgrade", env={"TYPHOON_SMS_RATE": "fast"})  # the real entry
    assert out.returncode == 2 and "TYPHOON_SMS_RATE" in out.stderr


@pytest.mark.one_db  # probes and metrics
def test_health_ready_metrics(app_server):
    c = app_server.client
    assert c.get("/healthz").json() == {"status": "ok"}
    ready = c.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "photos": "ok"}
    c.get("/api/v1/situation", headers=app_server.auth("viewer"))
    text = c.get("/metrics").text
    assert (
        'typhoon_http_requests_total{method="GET",route="/api/v1/situation",status="200"}' in text
    )
    assert "typhoon_ws_clients" in text
    page = c.get("/")
    assert page.status_code == 200 and "What is running" in page.text
    assert "sqlite" in page.text or "postgresql" in page.text


@pytest.mark.one_db  # logging
def test_logs_carry_request_id_and_no_secrets(app_server, caplog):
    import logging
    import time

    from emergency.logs import RedactingFilter, redact

    assert (
        redact("sent to +85366123456 with Bearer tyh_abcdefghijkl")
        == "sent to [phone] with [secret]"
    )
    token = app_server.token("operator")
    caplog.handler.addFilter(RedactingFilter())  # the filter our configured handler carries
    with caplog.at_level(logging.INFO, logger="emergency.http"):
        r = app_server.client.post(
            "/api/v1/signals",
            headers={"Authorization": f"Bearer {token}", "X-Request-ID": "req-42"},
            json={"source": "SMG", "kind": "tropical_cyclone", "level": "1"},
        )
        deadline = time.monotonic() + 30  # the access line is written after the response
        while not [r for r in caplog.records if r.name == "emergency.http"]:
            assert time.monotonic() < deadline
            time.sleep(0.02)
    assert r.headers["x-request-id"] == "req-42"
    lines = [rec for rec in caplog.records if rec.name == "emergency.http"]
    assert all(token not in rec.getMessage() for rec in caplog.records)
    assert lines and all(getattr(rec, "request_id", None) == "req-42" for rec in lines)
