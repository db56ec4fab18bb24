"""The app with what mass-alert tests need: no embedded dispatch worker (so the outbox rows
and the queue are what `start_sending` left), Twilio credentials (so webhooks can be signed),
and the loopback allowed as a push service."""

from __future__ import annotations

import pytest

from tests.support import server

TWILIO_SID = "AC" + "0" * 32
TWILIO_TOKEN = "test-auth-token-for-signatures"
PUBLIC_URL = "https://alerts.hengqin.example"


@pytest.fixture
def alerts_settings(database_url, settings_for):
    def build(**overrides):
        values = dict(
            TWILIO_ACCOUNT_SID=TWILIO_SID,
            TWILIO_AUTH_TOKEN=TWILIO_TOKEN,
            TWILIO_FROM_NUMBER="+15005550006",
            TYPHOON_PUBLIC_URL=PUBLIC_URL,
            TYPHOON_PUSH_ENDPOINT_HOSTS="127.0.0.1",
        )
        values.update(overrides)
        return settings_for(database_url, **values)

    return build


@pytest.fixture
def alerts_app(alerts_settings):
    with server.run(alerts_settings(), embedded_worker=False) as running:
        yield running
