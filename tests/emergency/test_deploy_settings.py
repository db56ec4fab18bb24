"""Settings of a deployment (issue 20.3): secrets from files (`*_FILE`, as Docker secrets are
mounted) held as SecretStr, never shown; a loopback TYPHOON_PUBLIC_URL refused when SMS go to
Twilio's real API, and warned about otherwise; the database password kept out of the URL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from emergency.settings import SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[2]
TWILIO = dict(
    TWILIO_ACCOUNT_SID="AC" + "1" * 32,
    TWILIO_FROM_NUMBER="+15005550006",
)


def test_secrets_come_from_files_and_never_show(tmp_path):
    token_file = tmp_path / "twilio_auth_token"
    token_file.write_text("s3cr3t-token\n")  # a trailing newline, as `echo` leaves it
    password_file = tmp_path / "db_password"
    password_file.write_text("pg-pass")
    settings = load_settings(
        **TWILIO,
        TWILIO_AUTH_TOKEN_FILE=str(token_file),
        TYPHOON_PUBLIC_URL="https://typhoon.hengqin.example",
        TYPHOON_DATABASE_URL="postgresql://typhoon_app@db:5432/typhoon",
        TYPHOON_DATABASE_PASSWORD_FILE=str(password_file),
    )
    assert settings.secret("twilio_auth_token") == "s3cr3t-token"
    assert "s3cr3t-token" not in repr(settings) and "pg-pass" not in repr(settings)
    assert "pg-pass" not in settings.database_url
    assert settings.connect_url() == "postgresql://typhoon_app:pg-pass@db:5432/typhoon"


def test_secret_file_problems_name_the_variable(tmp_path):
    with pytest.raises(SettingsError, match="TYPHOON_AUDIT_KEY_FILE: cannot read"):
        load_settings(TYPHOON_AUDIT_KEY_FILE=str(tmp_path / "missing"))
    empty = tmp_path / "empty"
    empty.write_text("\n")
    # An empty file is "not set" (the compose file mounts optional secrets empty).
    assert load_settings(TYPHOON_SECRET_KEY_FILE=str(empty)).secret_key is None
    with pytest.raises(SettingsError, match="TWILIO_AUTH_TOKEN and TWILIO_AUTH_TOKEN_FILE"):
        load_settings(TWILIO_AUTH_TOKEN="x", TWILIO_AUTH_TOKEN_FILE=str(empty))


@pytest.mark.parametrize(
    "public_url", ["http://127.0.0.1:8000", "http://localhost:8000", "https://[::1]"]
)
def test_loopback_public_url_is_refused_with_real_twilio(public_url):
    with pytest.raises(SettingsError, match="TYPHOON_PUBLIC_URL is .* a loopback address"):
        load_settings(**TWILIO, TWILIO_AUTH_TOKEN="t", TYPHOON_PUBLIC_URL=public_url)
    # A Twilio-compatible server of our own (tests, a local gateway) may be on this host.
    load_settings(
        **TWILIO,
        TWILIO_AUTH_TOKEN="t",
        TYPHOON_PUBLIC_URL=public_url,
        TWILIO_API_BASE_URL="http://127.0.0.1:9999",
    )
    # Without Twilio there is nothing to refuse; a scaled deployment is warned.
    settings = load_settings(
        TYPHOON_PUBLIC_URL=public_url, TYPHOON_DATABASE_URL="postgresql://u@db/typhoon"
    )
    assert any("TYPHOON_PUBLIC_URL" in w and "loopback" in w for w in settings.warnings())
    assert not any(
        "TYPHOON_PUBLIC_URL" in w
        for w in load_settings(
            TYPHOON_PUBLIC_URL="https://typhoon.hengqin.example",
            TYPHOON_DATABASE_URL="postgresql://u@db/typhoon",
        ).warnings()
    )


def test_serve_refuses_to_start_with_twilio_and_a_loopback_public_url(tmp_path):
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TWILIO_", "TYPHOON_PUBLIC_URL", "TYPHOON_DATABASE_URL"))
    }
    env.update(
        TWILIO,
        TWILIO_AUTH_TOKEN="t",
        TYPHOON_DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}",
        TYPHOON_PUBLIC_URL="http://127.0.0.1:8000",
    )
    out = subprocess.run(
        [sys.executable, "-m", "emergency", "serve", "--port", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=ROOT,
    )
    assert out.returncode == 2
    assert "TYPHOON_PUBLIC_URL is http://127.0.0.1:8000, a loopback address" in out.stderr
    assert not (tmp_path / "x.db").exists()  # refused before touching anything
