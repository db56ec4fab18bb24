"""Delivery providers behind one interface, and the factory that picks them from settings.

``build_providers(...)`` returns ``{"sms": …, "push": …}``: Twilio when an account SID and
auth token are set (else the console provider, which only logs), web push when VAPID keys
are set (else console). Provider modules are imported lazily so that importing the
interface does not pull in the Twilio SDK.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from alerts.providers.base import (
    Channel,
    Outcome,
    OutgoingMessage,
    Provider,
    SendResult,
    SupportsLookup,
)

log = logging.getLogger(__name__)

__all__ = [
    "Channel",
    "OutgoingMessage",
    "Outcome",
    "Provider",
    "SendResult",
    "SupportsLookup",
    "build_providers",
    "close_providers",
]


def build_providers(
    *,
    twilio_account_sid: str | None = None,
    twilio_auth_token: str | None = None,
    twilio_from_number: str | None = None,
    twilio_messaging_service_sid: str | None = None,
    twilio_api_base_url: str | None = None,
    twilio_timeout: float = 10.0,
    twilio_pool_size: int = 100,
    vapid_private_key: str | None = None,
    vapid_subject: str | None = None,
    push_timeout: float = 10.0,
    push_pool_size: int = 100,
    push_default_ttl: int = 3600,
) -> dict[Channel, Provider]:
    """One provider per channel, chosen from settings. Build once per process (lifespan)."""
    from alerts.providers.console import ConsoleProvider

    providers: dict[Channel, Provider] = {}
    if twilio_account_sid and twilio_auth_token:
        from alerts.providers.twilio import TwilioProvider

        providers[Channel.sms] = TwilioProvider(
            account_sid=twilio_account_sid,
            auth_token=twilio_auth_token,
            from_number=twilio_from_number,
            messaging_service_sid=twilio_messaging_service_sid,
            api_base_url=twilio_api_base_url,
            timeout=twilio_timeout,
            pool_size=twilio_pool_size,
        )
    else:
        log.warning("no Twilio credentials: SMS goes to the console provider (logged only)")
        providers[Channel.sms] = ConsoleProvider(Channel.sms)

    if vapid_private_key and vapid_subject:
        from alerts.providers.webpush import WebPushProvider

        providers[Channel.push] = WebPushProvider(
            vapid_private_key=vapid_private_key,
            vapid_subject=vapid_subject,
            timeout=push_timeout,
            pool_size=push_pool_size,
            default_ttl=push_default_ttl,
        )
    else:
        log.warning("no VAPID key: push goes to the console provider (logged only)")
        providers[Channel.push] = ConsoleProvider(Channel.push)
    return providers


async def close_providers(providers: Mapping[str, Provider]) -> None:
    """Close every provider's connections (call from the lifespan's shutdown)."""
    for provider in providers.values():
        await provider.close()
