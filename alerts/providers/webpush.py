"""Web push (RFC 8030) with VAPID (RFC 8292) and aes128gcm payload encryption (RFC 8291).

Built on pywebpush 2.x's aiohttp path (``WebPusher.send_async``), checked in its source:

- We sign the VAPID JWT ourselves and cache it per push-service origin: signing per message
  is wasted CPU, and ``webpush_async`` *mutates* the claims dict it is given (it stores the
  first endpoint's ``aud`` in it), so a shared claims dict would carry the wrong audience to
  every other push service.
- pywebpush's default TTL is 0 ("drop it if the device is offline"), wrong for a typhoon
  warning; we send the message's validity period (or ``default_ttl``) and ``Urgency: high``.
- ``timeout=None`` reaches aiohttp as "no timeout"; we always pass a ClientTimeout.

The encryption (an ephemeral ECDH key per message) runs on the event loop: about a
millisecond of CPU, cheaper than a thread hop.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid, Vapid01
from pywebpush import WebPusher, WebPushException

from alerts.providers._http import classify_transport_error, client_timeout, parse_retry_after
from alerts.providers.base import Channel, Outcome, OutgoingMessage, SendResult

log = logging.getLogger(__name__)

# One aes128gcm record of 4096 bytes, minus its 86-byte header and the padding delimiter.
MAX_PAYLOAD_BYTES = 3993
VAPID_RENEW_MARGIN = 600  # seconds before a cached JWT expires that we sign a new one


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def generate_vapid_keys() -> tuple[str, str]:
    """A fresh VAPID key pair for development: ``(private_key, public_key)``.

    Both are base64url without padding: the private key is the raw 32-byte scalar (what
    ``VAPID_PRIVATE_KEY`` holds), the public key the 65-byte uncompressed point that a
    browser takes as ``applicationServerKey`` in ``pushManager.subscribe``.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    private_raw = key.private_numbers().private_value.to_bytes(32, "big")
    return _b64url(private_raw), vapid_public_key_of(key)


def load_vapid_key(private_key: str) -> Vapid01:
    """Accepts the raw base64url scalar, base64url DER, or a PEM (as py-vapid writes it)."""
    if "-----BEGIN" in private_key:
        return Vapid.from_pem(private_key.encode())
    return Vapid.from_string(private_key)


def vapid_public_key_of(private_key: str | ec.EllipticCurvePrivateKey) -> str:
    """The browser-facing public key (base64url uncompressed point) of a private key."""
    key: ec.EllipticCurvePrivateKey = (
        load_vapid_key(private_key).private_key if isinstance(private_key, str) else private_key
    )
    point = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return _b64url(point)


def parse_subscription(to: str | dict[str, Any]) -> dict[str, Any]:
    """The browser's PushSubscription JSON, checked for the fields we need."""
    subscription = json.loads(to) if isinstance(to, str) else to
    if not isinstance(subscription, dict):
        raise ValueError("subscription is not a JSON object")
    endpoint = subscription.get("endpoint")
    keys = subscription.get("keys") or {}
    if not isinstance(endpoint, str) or urlsplit(endpoint).scheme not in ("http", "https"):
        raise ValueError("subscription has no http(s) endpoint")
    if not keys.get("p256dh") or not keys.get("auth"):
        raise ValueError("subscription lacks keys.p256dh / keys.auth")
    return subscription


class WebPushProvider:
    """Sends one encrypted push message per call through a pooled aiohttp session."""

    channel = Channel.push
    name = "webpush"

    def __init__(
        self,
        *,
        vapid_private_key: str,
        vapid_subject: str,
        timeout: float = 10.0,
        connect_timeout: float = 5.0,
        pool_size: int = 100,
        default_ttl: int = 3600,
        urgency: str = "high",
        token_lifetime: int = 12 * 3600,
    ) -> None:
        if not vapid_subject.startswith(("mailto:", "https:")):
            raise ValueError("VAPID subject must be a mailto: or https: URL")
        self._vapid = load_vapid_key(vapid_private_key)
        self.vapid_subject = vapid_subject
        self.public_key = vapid_public_key_of(self._vapid.private_key)
        self.default_ttl = default_ttl
        self.urgency = urgency
        self.token_lifetime = min(token_lifetime, 24 * 3600)  # RFC 8292: at most 24 h
        self.pool_size = pool_size
        self._timeout = client_timeout(read=timeout, connect=connect_timeout)
        self._session: aiohttp.ClientSession | None = None
        self._vapid_cache: dict[str, tuple[int, dict[str, str]]] = {}

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self.pool_size)
            self._session = aiohttp.ClientSession(connector=connector)
        return self._session

    def vapid_headers(self, endpoint: str) -> dict[str, str]:
        """``Authorization: vapid t=<JWT>,k=<public key>`` for the endpoint's origin."""
        parts = urlsplit(endpoint)
        audience = f"{parts.scheme}://{parts.netloc}"
        now = int(time.time())
        cached = self._vapid_cache.get(audience)
        if cached and cached[0] - now > VAPID_RENEW_MARGIN:
            return cached[1]
        expires = now + self.token_lifetime
        claims = {"sub": self.vapid_subject, "aud": audience, "exp": expires}
        headers: dict[str, str] = self._vapid.sign(claims)
        self._vapid_cache[audience] = (expires, headers)
        return headers

    async def send(self, message: OutgoingMessage) -> SendResult:
        try:
            subscription = parse_subscription(message.to)
        except ValueError as exc:
            return _permanent("invalid_subscription", str(exc))
        payload = message.body.encode("utf-8")
        if len(payload) > MAX_PAYLOAD_BYTES:
            return _permanent("payload_too_large", f"{len(payload)} bytes > {MAX_PAYLOAD_BYTES}")
        headers = dict(self.vapid_headers(subscription["endpoint"]))
        headers["Urgency"] = self.urgency
        ttl = int(message.validity_period or self.default_ttl)
        try:
            pusher = WebPusher(subscription, aiohttp_session=self._get_session())
            answer = await pusher.send_async(
                payload, headers, ttl=ttl, content_encoding="aes128gcm", timeout=self._timeout
            )
        except WebPushException as exc:  # raised before sending: malformed keys
            return _permanent("invalid_subscription", exc.message)
        except (ValueError, TypeError) as exc:  # keys that do not decode to a P-256 point
            return _permanent("invalid_subscription", str(exc))
        except (TimeoutError, aiohttp.ClientError) as exc:
            result = classify_transport_error(exc)
            assert result is not None
            return result
        assert isinstance(answer, aiohttp.ClientResponse)
        return classify_push_answer(answer.status, answer.headers, answer.reason)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def classify_push_answer(status: int, headers: Any, reason: str | None = None) -> SendResult:
    """Map a push service's HTTP answer to an outcome."""
    provider_status = str(status)
    if status in (200, 201, 202):
        # The push service names the message it queued in Location.
        return SendResult(
            outcome=Outcome.SENT, provider_id=headers.get("Location"), provider_status="201"
        )
    retry_after = parse_retry_after(headers.get("Retry-After"))
    # Every error answer names the HTTP status and reason; the outcome differs.
    failed = partial(
        SendResult,
        provider_status=provider_status,
        error_code=provider_status,
        error_message=reason,
    )
    if status in (404, 410):  # subscription expired or unsubscribed: remove it
        return failed(outcome=Outcome.PERMANENT_FAILURE, gone=True)
    if status == 429 or status >= 500:
        return failed(outcome=Outcome.RETRY, retry_after=retry_after)
    if status == 401:  # our VAPID token was refused: our configuration, not the recipient
        return failed(outcome=Outcome.RETRY, retry_after=retry_after or 60.0, systemic=True)
    # 400 malformed, 403 subscribed with another applicationServerKey, 413 too large.
    return failed(outcome=Outcome.PERMANENT_FAILURE)


def _permanent(code: str, message: str) -> SendResult:
    return SendResult(outcome=Outcome.PERMANENT_FAILURE, error_code=code, error_message=message)
