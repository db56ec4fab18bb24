"""ASGI middleware: a request id per request, metrics, a ceiling on request bodies, and one on
the requests a process works on at once."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Sequence

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from emergency import metrics
from emergency.exceptions import error_body
from emergency.logs import request_id

log = logging.getLogger("emergency.http")


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int = 12 * 1024 * 1024) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
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

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise _BodyTooLarge()
            return message

        async def send_with_id(message: Message) -> None:
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


async def _reject_too_large(send: Send, limit: int) -> None:
    await _send_error(send, 413, "payload_too_large", f"request body over {limit} bytes")


async def _send_error(
    send: Send,
    status: int,
    code: str,
    message: str,
    headers: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    """Our JSON error, answered from middleware (before any route or handler)."""
    import json

    body = json.dumps(error_body(code, message)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class AdmissionMiddleware:
    """Who gets worked on, decided before any handler:

    - At most `limit` HTTP requests in progress in this process; the next is answered 503
      with Retry-After at once. Past what the thread and database pools can work on, more
      requests only wait in line, each for longer than the one before, until clients time
      out and the process spends minutes on answers nobody reads. Shedding them keeps the
      accepted ones fast, and the field form's outbox retries a 503. A request with a body
      is counted once its body has arrived: one that is still sending holds no thread and
      no connection, so a few dozen slow (or deliberately dribbling) uploads never make
      the process refuse everyone else.
    - A body must keep coming: `body_timeout` seconds without a byte, or longer in all than
      `body_timeout` plus a second per BODY_RATE bytes declared, is a 408 and the
      connection is closed.
    - At most `per_address` requests in progress from one client address (after the trusted
      proxies' X-Forwarded-For); the next is a 429 and its connection is closed.

    Websockets and the health probes are not counted (a probe must answer while the
    process is busy)."""

    EXEMPT = ("/healthz", "/readyz", "/metrics")
    BODY_RATE = 16 * 1024  # bytes a second a slow phone still manages

    def __init__(
        self, app: ASGIApp, *, limit: int, per_address: int = 0, body_timeout: float = 10.0
    ) -> None:
        self.app = app
        self.limit = limit
        self.per_address = per_address
        self.body_timeout = body_timeout
        # the event loop's thread only: no lock needed
        self.in_progress = 0
        self.by_address: dict[str, int] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.EXEMPT):
            return await self.app(scope, receive, send)
        address = (scope.get("client") or ("unknown", 0))[0]
        if self.per_address and self.by_address.get(address, 0) >= self.per_address:
            metrics.REFUSED.labels("per_address").inc()
            return await _send_error(
                send,
                429,
                "too_many_connections",
                f"more than {self.per_address} requests at once from this address",
                headers=[(b"retry-after", b"1"), (b"connection", b"close")],
            )
        self.by_address[address] = self.by_address.get(address, 0) + 1
        admitted = False
        refusal: _Refusal | None = None
        answered = False

        def admit() -> None:
            nonlocal admitted
            if admitted:
                return
            if self.limit and self.in_progress >= self.limit:
                metrics.SHED.inc()
                raise _Refusal(
                    503,
                    "busy",
                    "this server is working on as many requests as it can; try again",
                    [(b"retry-after", b"1")],
                )
            self.in_progress += 1
            admitted = True

        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length", b"")
        declared = int(length) if length.isdigit() else 0
        expects_body = declared > 0 or b"chunked" in headers.get(b"transfer-encoding", b"")
        arriving = expects_body
        deadline = asyncio.get_running_loop().time() + self.body_timeout
        deadline += declared / self.BODY_RATE

        async def timed_receive() -> Message:
            nonlocal refusal, arriving
            if refusal is not None:
                raise refusal
            if admitted:  # the body has arrived: what is left is waiting for a disconnect
                return await receive()
            loop = asyncio.get_running_loop()
            wait = min(self.body_timeout, deadline - loop.time())
            try:  # asyncio.timeout, not wait_for: no task made per message (issue 18)
                async with asyncio.timeout(max(wait, 0.001)):
                    message = await receive()
            except TimeoutError:
                metrics.REFUSED.labels("body_timeout").inc()
                refusal = _Refusal(
                    408,
                    "body_timeout",
                    f"the request body did not arrive in time (nothing for {self.body_timeout:g} s"
                    " or too slow)",
                    [(b"connection", b"close")],
                )
                raise refusal from None
            if message["type"] == "http.request" and not message.get("more_body", False):
                if arriving:
                    arriving = False
                    metrics.BODIES_ARRIVING.dec()
                try:
                    admit()
                except _Refusal as shed:
                    refusal = shed
                    raise
            return message

        async def guarded_send(message: Message) -> None:
            # Once we refused, the app's own answer (FastAPI turns an error while reading
            # the body into a 400) gives way to ours.
            nonlocal answered
            if refusal is not None:
                if message["type"] == "http.response.start" and not answered:
                    answered = True
                    await _send_error(send, *refusal.args)
                return
            if message["type"] == "http.response.start":
                answered = True
            await send(message)

        if arriving:
            metrics.BODIES_ARRIVING.inc()
        try:
            if not expects_body:
                admit()
            await self.app(scope, timed_receive, guarded_send)
        except _Refusal as refused:
            if not answered:
                answered = True
                await _send_error(send, *refused.args)
        except ClientDisconnect:
            pass  # the client left while sending its body: nothing to answer, nothing to log
        finally:
            if arriving:
                metrics.BODIES_ARRIVING.dec()
            if admitted:
                self.in_progress -= 1
            left = self.by_address[address] - 1
            if left:
                self.by_address[address] = left
            else:
                del self.by_address[address]


class _Refusal(Exception):
    """A refusal decided while the body is read: (status, code, message, headers)."""
