"""ASGI middleware: a request id per request, metrics, a ceiling on request bodies, and one on
the requests a process works on at once."""

from __future__ import annotations

import logging
import time
import uuid

from emergency import metrics
from emergency.exceptions import error_body
from emergency.logs import request_id

log = logging.getLogger("emergency.http")


class RequestContextMiddleware:
    def __init__(self, app, *, max_body_bytes: int = 12 * 1024 * 1024) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        rid = headers.get(b"x-request-id", b"").decode("latin-1")[:64] or uuid.uuid4().hex[:16]
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500
        length = headers.get(b"content-length")
        if length and length.isdigit() and int(length) > self.max_body_bytes:
            await _reject_too_large(send, self.max_body_bytes)
            request_id.reset(token)
            return

        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise _BodyTooLarge()
            return message

        async def send_with_id(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", rid.encode()))
            await send(message)

        try:
            await self.app(scope, limited_receive, send_with_id)
        except _BodyTooLarge:
            await _reject_too_large(send, self.max_body_bytes)
            status = 413
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            elapsed = time.perf_counter() - started
            metrics.REQUESTS.labels(scope["method"], path, str(status)).inc()
            metrics.LATENCY.labels(scope["method"], path).observe(elapsed)
            if status >= 500 or path.startswith(("/api", "/webhooks")) and scope["method"] != "GET":
                log.info("%s %s %s %.1fms", scope["method"], path, status, elapsed * 1000)
            request_id.reset(token)


class _BodyTooLarge(Exception):
    pass


async def _reject_too_large(send, limit: int) -> None:
    import json

    body = json.dumps(error_body("payload_too_large", f"request body over {limit} bytes")).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class AdmissionMiddleware:
    """At most `limit` HTTP requests in progress in this process; the next is answered 503
    with Retry-After at once. Past what the thread and database pools can work on, more
    requests only wait in line, each for longer than the one before, until clients time out
    and the process spends minutes on answers nobody reads. Shedding them keeps the accepted
    ones fast, and the field form's outbox retries a 503. Websockets and the health probes
    are not counted (a probe must answer while the process is busy)."""

    EXEMPT = ("/healthz", "/readyz", "/metrics")

    def __init__(self, app, *, limit: int) -> None:
        self.app = app
        self.limit = limit
        self.in_progress = 0  # the event loop's thread only: no lock needed

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not self.limit or scope["path"].startswith(self.EXEMPT):
            return await self.app(scope, receive, send)
        if self.in_progress >= self.limit:
            metrics.SHED.inc()
            return await _reject_busy(send)
        self.in_progress += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_progress -= 1


async def _reject_busy(send) -> None:
    import json

    body = json.dumps(
        error_body("busy", "this server is working on as many requests as it can; try again")
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", b"1"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
