"""A provider that only logs: used when no Twilio credentials (or VAPID keys) are configured.

It logs the message id, channel and segment count, never the number, subscription or body,
and answers ``sent`` with a made-up id so the whole pipeline can run on a laptop.
"""

from __future__ import annotations

import logging
import uuid

from alerts.providers.base import Channel, Outcome, OutgoingMessage, SendResult
from alerts.text import segments

log = logging.getLogger(__name__)


class ConsoleProvider:
    name = "console"

    def __init__(self, channel: Channel | str = Channel.sms) -> None:
        self.channel = Channel(channel)
        self.count = 0

    async def send(self, message: OutgoingMessage) -> SendResult:
        self.count += 1
        parts = segments(message.body) if self.channel is Channel.sms else None
        log.info(
            "console %s message %s (%s segments) not sent: no provider configured",
            self.channel.value,
            message.message_id,
            parts if parts is not None else "-",
        )
        return SendResult(
            outcome=Outcome.SENT,
            provider_id=f"console-{uuid.uuid4().hex}",
            provider_status="logged",
            segments=parts,
        )

    async def close(self) -> None:
        return None
