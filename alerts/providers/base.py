"""The one small interface every delivery provider implements (Twilio, web push, console, fake).

A provider turns one outbox row into one attempt and *classifies* the answer; it never
raises for what the provider said. The dispatcher owns retries, back-off and bookkeeping:

- ``sent``: the provider accepted the message (``provider_id`` is its id, e.g. a Twilio SID).
- ``retry``: not accepted this time, safe to try again later (429, 5xx, network). When
  ``ambiguous`` is set the request may have been accepted anyway (timeout after the request
  left, connection dropped mid-answer): reconcile (``SupportsLookup.lookup``) before
  re-sending so one recipient never gets the same warning twice. When ``systemic`` is set
  the failure is ours or the account's (bad credentials, sender not allowed), not the
  recipient's: pause the channel and tell an operator rather than burn through the outbox.
- ``permanent_failure``: this recipient cannot be reached this way; record it, do not retry.
  ``gone`` (push subscription expired: remove it) and ``opted_out`` (the number replied
  STOP: record the opt-out) say what to do about the recipient.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from alerts.models import Channel as Channel  # the outbox's channels are the providers'


class Outcome(StrEnum):
    SENT = "sent"
    RETRY = "retry"
    PERMANENT_FAILURE = "permanent_failure"


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One message to one recipient on one channel, as stored in the outbox."""

    message_id: str | int  # our outbox row id: the key for logs and idempotency
    channel: Channel | str  # "sms" | "push"
    to: str | dict[str, Any]  # E.164 number, or a push subscription (dict or its JSON)
    body: str  # SMS text, or the push payload (usually JSON) to encrypt
    status_callback: str | None = None  # public URL the provider posts delivery receipts to
    validity_period: int | None = None  # seconds the message stays worth delivering
    first_attempt_at: datetime | None = None  # bounds the reconciliation look-up


@dataclass(frozen=True, slots=True)
class SendResult:
    outcome: Outcome
    provider_id: str | None = None  # Twilio SID, push service message location, …
    provider_status: str | None = None  # provider's own word: "queued", "accepted", "201", …
    error_code: str | None = None  # Twilio error code ("21211"), HTTP status, or "timeout"
    error_message: str | None = None
    retry_after: float | None = None  # seconds the provider asked us to wait
    ambiguous: bool = False  # retry, but the provider may already have accepted it
    systemic: bool = False  # failure of our set-up/account, not of this recipient
    gone: bool = False  # push subscription no longer exists: delete it
    opted_out: bool = False  # recipient unsubscribed (STOP): record the opt-out
    segments: int | None = None  # SMS segments billed, when known
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.SENT


@runtime_checkable
class Provider(Protocol):
    """What the dispatcher needs from a provider."""

    channel: Channel

    async def send(self, message: OutgoingMessage) -> SendResult: ...

    async def close(self) -> None: ...


@runtime_checkable
class SupportsLookup(Protocol):
    """Optional capability: find out whether an ambiguous send was accepted after all.

    ``lookup`` answers ``SendResult(outcome=sent, provider_id=…)`` when the provider has the
    message, ``None`` when it has checked and found none (re-sending is reasonable), and
    ``SendResult(outcome=retry, ambiguous=True)`` when it could not tell (ask again later).
    """

    async def lookup(self, message: OutgoingMessage) -> SendResult | None: ...
