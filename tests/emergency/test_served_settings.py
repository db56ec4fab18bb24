"""`typhoon serve --port P` without TYPHOON_PUBLIC_URL: the links it makes (field links and
their QR codes, liaison acknowledgement links) point at the port it serves, not at 8000."""

from __future__ import annotations

import pytest

from emergency.serving import served_settings
from emergency.settings import Settings


def test_links_follow_the_served_port_unless_the_public_url_is_set(monkeypatch):
    monkeypatch.delenv("TYPHOON_PUBLIC_URL", raising=False)
    default = Settings(TYPHOON_DATABASE_URL="sqlite:///x.db")
    assert served_settings(default, "127.0.0.1", 18716).public_url == "http://127.0.0.1:18716"
    assert served_settings(default, "0.0.0.0", 8080).public_url == "http://127.0.0.1:8080"
    assert served_settings(default, "::1", 9000).public_url == "http://[::1]:9000"
    chosen = Settings(
        TYPHOON_DATABASE_URL="sqlite:///x.db", TYPHOON_PUBLIC_URL="https://cp.example.org/"
    )
    assert served_settings(chosen, "0.0.0.0", 8080).public_url == "https://cp.example.org"


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0"])
def test_other_settings_are_kept(monkeypatch, host):
    monkeypatch.delenv("TYPHOON_PUBLIC_URL", raising=False)
    default = Settings(TYPHOON_DATABASE_URL="sqlite:///x.db", TYPHOON_SMS_RATE=40)
    served = served_settings(default, host, 8001)
    assert served.sms_rate == 40 and served.database_url == default.database_url
