"""The app with what mass-alert tests need: no background dispatch worker (so the outbox rows
and the queue are what `start_sending` left; `alerts_app.drain()` sends them), Twilio
credentials (so webhooks can be signed), and the loopback allowed as a push service."""

from __future__ import annotations

import pytest

from tests.conftest import app_fixture, build_settings

TWILIO_SID = "AC" + "0" * 32
TWILIO_TOKEN = "test-auth-token-for-signatures"
PUBLIC_URL = "https://alerts.hengqin.example"


ALERTS_ENV = dict(
    TWILIO_ACCOUNT_SID=TWILIO_SID,
    TWILIO_AUTH_TOKEN=TWILIO_TOKEN,
    TWILIO_FROM_NUMBER="+15005550006",
    TYPHOON_PUBLIC_URL=PUBLIC_URL,
    TYPHOON_PUSH_ENDPOINT_HOSTS="127.0.0.1",
)


@pytest.fixture
def alerts_settings(database_url, settings_for):
    def build(**overrides):
        return settings_for(database_url, **{**ALERTS_ENV, **overrides})

    return build


alerts_app = app_fixture("alerts_app", lambda request, url, data: build_settings(url, **ALERTS_ENV))
