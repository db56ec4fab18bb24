"""Fixtures of the security tests: those of the mass-alert tests (Twilio credentials, so that
webhooks can be signed)."""

from tests.emergency.broadcasts.conftest import alerts_app, alerts_settings  # noqa: F401
