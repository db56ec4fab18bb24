"""A local web-push service (RFC 8030) that plays the browser's part too, for tests.

``new_subscription()`` does what a browser's ``pushManager.subscribe()`` does: a fresh
P-256 key pair and 16-byte auth secret, and an endpoint URL on this server. It returns
the PushSubscription JSON ``{"endpoint", "expirationTime", "keys": {"p256dh", "auth"}}``
that the application stores.

``POST /push/{id}`` then behaves like a push service: it requires a VAPID
``Authorization: vapid t=<JWT>,k=<key>`` whose ES256 signature verifies against ``k``
(and, if the subscription was made with an ``application_server_key``, that ``k`` is that
key: 403 otherwise), with ``aud`` equal to this server's origin and an ``exp`` no more than
24 h ahead; a ``TTL`` header; ``Content-Encoding: aes128gcm``. It decrypts the payload
with the subscription's private key and auth secret (http_ece), records the plaintext and
answers 201 with a ``Location``. Knobs make it answer 410 Gone / 404 for a subscription
(to test removal), 429 with Retry-After, 500, or slowly.

In-process: ``with run_push_endpoint() as push: sub = push.new_subscription()``.
Own process: ``python -m alerts.testing.push_endpoint --port 8098``; then
``POST /_subscriptions`` creates a subscription and ``GET /_received`` lists plaintexts.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from typing import Any, NamedTuple

import http_ece
from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import jwt as vapid_jwt

from alerts.testing._background import (
    AppServer,
    Handle,
    command_line,
    serve_until_signal,
    serving,
)

MAX_RECORD = 4096  # RFC 8291: push services must accept 4096-byte payloads; we allow no more
MAX_VAPID_LIFETIME = 24 * 3600


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class PushReceived(NamedTuple):
    """One delivered push message, decrypted."""

    subscription_id: str
    plaintext: bytes
    ttl: int
    urgency: str | None
    topic: str | None
    claims: dict[str, Any]  # the verified VAPID JWT claims (aud, exp, sub)
    at: float

    @property
    def text(self) -> str:
        return self.plaintext.decode("utf-8")


@dataclass
class _Subscription:
    id: str
    private_key: ec.EllipticCurvePrivateKey
    auth_secret: bytes
    application_server_key: str | None


@dataclass
class PushKnobs:
    gone: set[str] = field(default_factory=set)  # subscription ids answering 410
    not_found: set[str] = field(default_factory=set)  # … answering 404
    fail_429_next: int = 0
    retry_after: float | None = 1.0
    fail_500_next: int = 0
    delay: float = 0.0

    def apply(self, changes: dict[str, Any]) -> None:
        names = {f.name for f in fields(self)}
        unknown = set(changes) - names
        if unknown:
            raise ValueError(f"unknown knobs: {sorted(unknown)}")
        for name, value in changes.items():
            if isinstance(getattr(self, name), set):
                value = {_subscription_id(v) for v in value}
            setattr(self, name, value)


def _subscription_id(ref: str | dict[str, Any]) -> str:
    """Accept a subscription dict, its endpoint URL, or its id."""
    endpoint = str(ref["endpoint"]) if isinstance(ref, dict) else ref
    return endpoint.rstrip("/").rsplit("/", 1)[-1]


def _parse_vapid(header: str) -> tuple[str, str] | None:
    scheme, _, rest = header.partition(" ")
    if scheme.lower() != "vapid":
        return None
    parts = {}
    for item in rest.split(","):
        name, _, value = item.strip().partition("=")
        parts[name] = value
    if not parts.get("t") or not parts.get("k"):
        return None
    return parts["t"], parts["k"]


class PushEndpointServer(AppServer):
    def __init__(self) -> None:
        super().__init__()
        self.subscriptions: dict[str, _Subscription] = {}
        self.received: list[PushReceived] = []
        self.knobs = PushKnobs()
        self.counters: dict[str, int] = {"requests": 0, "delivered": 0, "rejected": 0}

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024)
        app.router.add_post("/push/{id}", self.push)
        app.router.add_post("/_subscriptions", self.subscribe_http)
        app.router.add_get("/_received", self.received_http)
        app.router.add_post("/_control", self.control_http)
        return app

    def new_subscription(self, application_server_key: str | None = None) -> dict[str, Any]:
        """What ``pushManager.subscribe()`` gives a page: endpoint and keys (base64url)."""
        sub_id = uuid.uuid4().hex
        private_key = ec.generate_private_key(ec.SECP256R1())
        auth_secret = os.urandom(16)
        self.subscriptions[sub_id] = _Subscription(
            sub_id, private_key, auth_secret, application_server_key
        )
        public = private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {
            "endpoint": f"{self.base_url}/push/{sub_id}",
            "expirationTime": None,
            "keys": {"p256dh": _b64url(public), "auth": _b64url(auth_secret)},
        }

    def _reject(self, status: int, reason: str, **headers: str) -> web.Response:
        self.counters["rejected"] += 1
        return web.json_response(
            {"code": status, "errno": status, "error": reason}, status=status, headers=headers
        )

    async def push(self, request: web.Request) -> web.Response:
        self.counters["requests"] += 1
        knobs = self.knobs
        sub_id = request.match_info["id"]
        sub = self.subscriptions.get(sub_id)
        if sub is None or sub_id in knobs.not_found:
            return self._reject(404, "subscription not found")
        if sub_id in knobs.gone:
            return self._reject(410, "subscription expired")
        if knobs.fail_429_next > 0:
            knobs.fail_429_next -= 1
            extra = {"Retry-After": f"{knobs.retry_after:g}"} if knobs.retry_after else {}
            return self._reject(429, "too many requests", **extra)
        if knobs.fail_500_next > 0:
            knobs.fail_500_next -= 1
            return self._reject(500, "internal error")

        vapid = _parse_vapid(request.headers.get("Authorization", ""))
        if vapid is None:
            return self._reject(401, "missing or malformed VAPID authorization")
        token, key = vapid
        try:
            claims = vapid_jwt.decode(token, key)
        except (InvalidSignature, ValueError, KeyError):
            return self._reject(401, "VAPID signature does not verify")
        now = time.time()
        if claims.get("aud") != self.base_url:
            return self._reject(401, "VAPID aud is not this push service's origin")
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or not (now < exp <= now + MAX_VAPID_LIFETIME + 60):
            return self._reject(401, "VAPID exp missing, past, or more than 24 h ahead")
        if not claims.get("sub"):
            return self._reject(401, "VAPID sub missing")
        if sub.application_server_key and key != sub.application_server_key:
            return self._reject(403, "VAPID key differs from the subscription's")

        ttl_header = request.headers.get("TTL")
        if ttl_header is None or not ttl_header.isdigit():
            return self._reject(400, "TTL header missing or not a number")
        if request.headers.get("Content-Encoding", "").lower() != "aes128gcm":
            return self._reject(415, "Content-Encoding must be aes128gcm")
        body = await request.read()
        if len(body) > MAX_RECORD:
            return self._reject(413, "payload too large")
        try:
            plaintext = http_ece.decrypt(
                body, private_key=sub.private_key, auth_secret=sub.auth_secret, version="aes128gcm"
            )
        except Exception as exc:  # http_ece raises several types for a bad record
            return self._reject(400, f"cannot decrypt: {type(exc).__name__}")

        self.received.append(
            PushReceived(
                subscription_id=sub_id,
                plaintext=plaintext,
                ttl=int(ttl_header),
                urgency=request.headers.get("Urgency"),
                topic=request.headers.get("Topic"),
                claims=claims,
                at=now,
            )
        )
        self.counters["delivered"] += 1
        if knobs.delay:
            await asyncio.sleep(knobs.delay)
        location = f"{self.base_url}/m/{uuid.uuid4().hex}"
        return web.Response(status=201, headers={"Location": location, "TTL": ttl_header})

    async def subscribe_http(self, request: web.Request) -> web.Response:
        key = request.query.get("application_server_key")
        return web.json_response(self.new_subscription(key), status=201)

    async def received_http(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "counters": self.counters,
                "received": [
                    {"subscription_id": r.subscription_id, "text": r.text, "ttl": r.ttl}
                    for r in self.received
                ],
            }
        )

    async def control_http(self, request: web.Request) -> web.Response:
        try:
            self.knobs.apply(await request.json())
        except (ValueError, TypeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"ok": True})


class PushEndpointHandle(Handle[PushEndpointServer]):
    @property
    def received(self) -> list[PushReceived]:
        return self._server.received

    @property
    def counters(self) -> dict[str, int]:
        return self._server.counters

    def new_subscription(self, application_server_key: str | None = None) -> dict[str, Any]:
        return self._on_loop(self._server.new_subscription, application_server_key)

    def control(self, **knobs: Any) -> None:
        """``gone=[subscription…]``, ``not_found=[…]``, ``fail_429_next``, ``retry_after``,
        ``fail_500_next``, ``delay`` (subscriptions as dicts, endpoint URLs or ids)."""
        self._on_loop(self._server.knobs.apply, knobs)

    def expire(self, subscription: str | dict[str, Any]) -> None:
        """From now on this subscription answers 410 Gone (the user revoked permission)."""
        self._on_loop(self._server.knobs.gone.add, _subscription_id(subscription))


@contextlib.contextmanager
def run_push_endpoint(port: int = 0, *, host: str = "127.0.0.1") -> Iterator[PushEndpointHandle]:
    """Serve the push endpoint on a loopback port in a background thread."""
    with serving("push-endpoint-fake", PushEndpointServer, host, port) as (server, background):
        yield PushEndpointHandle(server, background)


def main(argv: list[str] | None = None) -> None:
    parser = command_line("Local web-push service endpoint", port=8098)
    args = parser.parse_args(argv)
    serve_until_signal(PushEndpointServer, args.host, args.port, "fake push service on {url}")


if __name__ == "__main__":
    main()
