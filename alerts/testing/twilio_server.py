"""A local Twilio-compatible Messages API, for tests and benchmarks (loopback only).

It speaks enough of Twilio's REST API for the official SDK to run unmodified against it:

- ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` (form: To, From or
  MessagingServiceSid, Body, StatusCallback, ValidityPeriod) with HTTP basic auth
  (account SID : auth token) → 201 with Twilio's message JSON (``sid`` "SM" + 32 hex,
  ``status`` "queued", or "accepted" through a Messaging Service), or Twilio's error JSON
  ``{"code", "message", "more_info", "status"}``: 21211 invalid number, 21610 unsubscribed,
  21602/21604/21603/21617 missing or too long fields, 20003 bad credentials.
- ``GET …/Messages/{Sid}.json`` and ``GET …/Messages.json?To=…`` (newest first, paged),
  enough to reconcile an ambiguous send.
- Status callbacks: when enabled, ``sent`` then ``delivered`` (or ``failed`` /
  ``undelivered`` for configured numbers) are POSTed form-encoded to the StatusCallback
  URL, signed in ``X-Twilio-Signature`` with the SDK's own ``RequestValidator``.
- Failure knobs, from Python (``handle.control(...)``) or over HTTP (``POST /_control``
  JSON): 429/20429 with Retry-After for the next N requests or for T seconds, 500s (next
  N, or at random with probability p), slow answers (after the message is recorded, so a
  client timeout is genuinely ambiguous). ``GET /_stats`` returns the counters.

Fast on purpose (no per-request logging, no per-request objects beyond one tuple). Records
are ``Received`` tuples; with ``record="counts"`` only counters and the per-recipient
count dict are kept (200,000 messages in a few MB).

Start it in-process with ``with run_twilio_server() as twilio: …`` or as its own process:
``python -m alerts.testing.twilio_server --port 8099``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import random
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from functools import lru_cache
from typing import Any, Literal, NamedTuple
from urllib.parse import parse_qsl, quote

import aiohttp
from aiohttp import web
from twilio.request_validator import RequestValidator

from alerts.testing._background import (
    AppServer,
    BackgroundLoop,
    Handle,
    command_line,
    serve_until_signal,
    serving,
)
from alerts.text import MAX_BODY_CHARS, segments

DEFAULT_ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
DEFAULT_AUTH_TOKEN = "fake-twilio-auth-token"
API = "/2010-04-01"
E164 = re.compile(r"^\+[1-9]\d{1,14}$")
RecordMode = Literal["full", "counts"]

_ERROR_TEXT = {
    20003: "Authenticate",
    20404: "The requested resource was not found",
    20429: "Too Many Requests",
    20500: "An internal server error has occurred",
    21211: "The 'To' number is not a valid phone number.",
    21602: "Message body is required.",
    21603: "A 'From' phone number is required.",
    21604: "A 'To' phone number is required.",
    21610: "Attempt to send to unsubscribed recipient",
    21614: "'To' number is not a valid mobile number",
    21617: "The concatenated message body exceeds the 1600 character limit.",
}
_FINAL_ERROR = {"failed": 30008, "undelivered": 30003}  # unknown error / unreachable handset


class Received(NamedTuple):
    """One accepted message, as the server saw it."""

    sid: str
    to: str
    from_: str | None
    messaging_service_sid: str | None
    body: str
    status_callback: str | None
    validity_period: str | None
    at: float  # time.time() when accepted


@dataclass
class Knobs:
    """Failure injection and behaviour; every field can be set with ``control(...)``."""

    fail_429_next: int = 0  # answer 429/20429 to the next N create requests
    fail_429_until: float = 0.0  # … and to every one until this time.monotonic()
    retry_after: float | None = 1.0  # Retry-After header on 429s (None: no header)
    fail_500_next: int = 0  # answer 500 to the next N create requests
    error_rate: float = 0.0  # probability of a 500 on each create request
    delay: float = 0.0  # seconds to wait before answering (after recording)
    callbacks: bool = False  # post status callbacks to StatusCallback URLs
    callback_delay: float = 0.0  # seconds before each status callback
    invalid_numbers: set[str] = field(default_factory=set)  # → 21211
    unsubscribed: set[str] = field(default_factory=set)  # → 21610
    number_errors: dict[str, int] = field(default_factory=dict)  # number → any 4xx code
    failed_numbers: set[str] = field(default_factory=set)  # callbacks end in "failed"
    undelivered_numbers: set[str] = field(default_factory=set)  # … in "undelivered"

    def apply(self, changes: dict[str, Any]) -> None:
        names = {f.name for f in fields(self)}
        changes = dict(changes)
        if "fail_429_for" in changes:  # seconds from now, easier than a monotonic deadline
            seconds = changes.pop("fail_429_for")
            changes["fail_429_until"] = time.monotonic() + float(seconds) if seconds else 0.0
        unknown = set(changes) - names
        if unknown:
            raise ValueError(f"unknown knobs: {sorted(unknown)}")
        for name, value in changes.items():
            current = getattr(self, name)
            if isinstance(current, set):
                value = set(value)
            elif isinstance(current, dict):
                value = {str(k): int(v) for k, v in dict(value).items()}
            setattr(self, name, value)

    def public(self) -> dict[str, Any]:
        out = asdict(self)
        for name, value in out.items():
            if isinstance(value, set):
                out[name] = sorted(value)
        return out


class TwilioFakeState:
    """What the server has seen, plus its knobs. Touched only from the server's loop."""

    def __init__(self, account_sid: str, auth_token: str, record: RecordMode = "full") -> None:
        if record not in ("full", "counts"):
            raise ValueError("record must be 'full' or 'counts'")
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.record = record
        credentials = f"{account_sid}:{auth_token}".encode()
        self.expected_auth = "Basic " + base64.b64encode(credentials).decode()
        self.validator = RequestValidator(auth_token)
        self.knobs = Knobs()
        self.reset()

    def reset(self) -> None:
        self.received: list[Received] = []
        self.per_recipient: dict[str, int] = {}
        self.by_to: dict[str, list[int]] = {}  # To → seqs ("full"): look-ups stay O(1)
        self.statuses: dict[int, str] = {}  # seq → status, once it moved past "queued"
        self.callbacks: list[tuple[str, str, int]] = []  # (sid, status, HTTP answer)
        self.counters: dict[str, int] = dict.fromkeys(
            (
                "requests",
                "created",
                "rejected",
                "throttled",
                "server_errors",
                "unauthorized",
                "callbacks_sent",
                "callbacks_failed",
            ),
            0,
        )
        self._seq = itertools.count()
        self._interned: dict[str, str] = {}

    def intern(self, text: str) -> str:
        """One copy of each body/callback URL: a broadcast repeats the same few texts."""
        if len(self._interned) >= 10_000:
            return text
        return self._interned.setdefault(text, text)

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.counters)
        out["recipients"] = len(self.per_recipient)
        out["duplicates"] = sum(1 for n in self.per_recipient.values() if n > 1)
        out["recorded"] = len(self.received)
        return out


# ---------------------------------------------------------------------------------------
# JSON shapes


@lru_cache(maxsize=1)
def _rfc2822(second: int) -> str:
    return time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(second))


@lru_cache(maxsize=256)
def _segments(body: str) -> int:
    return segments(body)


def _error(status: int, code: int, message: str | None = None, **headers: str) -> web.Response:
    payload = {
        "code": code,
        "message": message or _ERROR_TEXT.get(code, "Error"),
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return web.Response(
        status=status, text=json.dumps(payload), content_type="application/json", headers=headers
    )


def _message_json(state: TwilioFakeState, rec: Received, status: str) -> dict[str, Any]:
    created = _rfc2822(int(rec.at))
    uri = f"{API}/Accounts/{state.account_sid}/Messages/{rec.sid}.json"
    error_code = _FINAL_ERROR.get(status)
    return {
        "account_sid": state.account_sid,
        "api_version": "2010-04-01",
        "body": rec.body,
        "date_created": created,
        "date_sent": None if status in ("queued", "accepted") else created,
        "date_updated": created,
        "direction": "outbound-api",
        "error_code": error_code,
        "error_message": None,
        "from": rec.from_,
        "messaging_service_sid": rec.messaging_service_sid,
        "num_media": "0",
        # A Messaging Service picks the sender later, so Twilio reports 0 segments at first.
        "num_segments": "0" if rec.from_ is None else str(_segments(rec.body)),
        "price": None,
        "price_unit": "USD",
        "sid": rec.sid,
        "status": status,
        "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
        "to": rec.to,
        "uri": uri,
    }


def _initial_status(rec: Received) -> str:
    return "accepted" if rec.from_ is None else "queued"


# ---------------------------------------------------------------------------------------
# The HTTP application


class TwilioFakeServer(AppServer):
    """The aiohttp application and its callback workers, run on the current loop."""

    backlog = 1024

    def __init__(
        self,
        *,
        account_sid: str = DEFAULT_ACCOUNT_SID,
        auth_token: str = DEFAULT_AUTH_TOKEN,
        record: RecordMode = "full",
        callback_workers: int = 16,
    ) -> None:
        super().__init__()
        self.state = TwilioFakeState(account_sid, auth_token, record)
        self.callback_workers = callback_workers
        self._queue: asyncio.Queue[tuple[int, Received]] = asyncio.Queue()
        self._workers: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None

    def app(self) -> web.Application:
        app = web.Application()
        base = API + "/Accounts/{account}"
        app.router.add_post(base + "/Messages.json", self.create)
        app.router.add_get(base + "/Messages.json", self.list_messages)
        app.router.add_get(base + "/Messages/{sid}.json", self.fetch)
        app.router.add_post("/_control", self.control_http)
        app.router.add_get("/_control", self.control_http)
        app.router.add_get("/_stats", self.stats_http)
        app.router.add_post("/_reset", self.reset_http)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        base_url = await super().start(host, port)
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=15)  # Twilio waits at most 15 s too
        )
        self._workers = [
            asyncio.create_task(self._callback_worker()) for _ in range(self.callback_workers)
        ]
        return base_url

    async def stop(self) -> None:
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
        await super().stop()

    # -- the Messages resource ------------------------------------------------------------

    def _authorized(self, request: web.Request) -> bool:
        state = self.state
        return (
            request.headers.get("Authorization") == state.expected_auth
            and request.match_info["account"] == state.account_sid
        )

    async def create(self, request: web.Request) -> web.Response:
        state, knobs, counters = self.state, self.state.knobs, self.state.counters
        counters["requests"] += 1
        if not self._authorized(request):
            counters["unauthorized"] += 1
            return _error(401, 20003)
        if knobs.fail_429_next > 0 or (
            knobs.fail_429_until and time.monotonic() < knobs.fail_429_until
        ):
            knobs.fail_429_next = max(0, knobs.fail_429_next - 1)
            counters["throttled"] += 1
            extra = {"Retry-After": f"{knobs.retry_after:g}"} if knobs.retry_after else {}
            return _error(429, 20429, **extra)
        if knobs.fail_500_next > 0 or (knobs.error_rate and random.random() < knobs.error_rate):
            knobs.fail_500_next = max(0, knobs.fail_500_next - 1)
            counters["server_errors"] += 1
            return _error(500, 20500)

        form = dict(parse_qsl(await request.text(), keep_blank_values=True))
        to = form.get("To")
        body = form.get("Body")
        from_ = form.get("From") or None
        service = form.get("MessagingServiceSid") or None
        code = self._reject_code(to, body, from_, service)
        if code:
            counters["rejected"] += 1
            return _error(400, code)
        assert to is not None and body is not None

        seq = next(state._seq)
        callback = form.get("StatusCallback") or None
        rec = Received(
            sid=f"SM{seq:012x}{secrets.token_hex(10)}",  # the sequence makes GET-by-SID O(1)
            to=to,
            from_=from_,
            messaging_service_sid=service,
            body=state.intern(body),
            status_callback=state.intern(callback) if callback else None,
            validity_period=form.get("ValidityPeriod"),
            at=time.time(),
        )
        if state.record == "full":
            state.received.append(rec)
            state.by_to.setdefault(to, []).append(seq)
        state.per_recipient[to] = state.per_recipient.get(to, 0) + 1
        counters["created"] += 1
        if knobs.callbacks and callback:
            self._queue.put_nowait((seq, rec))
        if knobs.delay:
            await asyncio.sleep(knobs.delay)
        return web.Response(
            status=201,
            text=json.dumps(_message_json(state, rec, _initial_status(rec))),
            content_type="application/json",
        )

    def _reject_code(
        self, to: str | None, body: str | None, from_: str | None, service: str | None
    ) -> int | None:
        knobs = self.state.knobs
        if not to:
            return 21604
        if not E164.match(to) or to in knobs.invalid_numbers:
            return 21211
        if to in knobs.unsubscribed:
            return 21610
        if to in knobs.number_errors:
            return knobs.number_errors[to]
        if not from_ and not service:
            return 21603
        if not body:
            return 21602
        if len(body) > MAX_BODY_CHARS:
            return 21617
        return None

    def _lookup(self, sid: str) -> tuple[int, Received] | None:
        try:
            seq = int(sid[2:14], 16)
        except ValueError:
            return None
        received = self.state.received
        if sid.startswith("SM") and 0 <= seq < len(received) and received[seq].sid == sid:
            return seq, received[seq]
        return None

    def _status_of(self, seq: int, rec: Received) -> str:
        return self.state.statuses.get(seq) or _initial_status(rec)

    async def fetch(self, request: web.Request) -> web.Response:
        self.state.counters["requests"] += 1
        if not self._authorized(request):
            return _error(401, 20003)
        found = self._lookup(request.match_info["sid"])
        if found is None:
            return _error(404, 20404)
        seq, rec = found
        return web.json_response(_message_json(self.state, rec, self._status_of(seq, rec)))

    async def list_messages(self, request: web.Request) -> web.Response:
        state = self.state
        state.counters["requests"] += 1
        if not self._authorized(request):
            return _error(401, 20003)
        query = request.query
        to, from_ = query.get("To"), query.get("From")
        page_size = max(1, min(int(query.get("PageSize", "50")), 1000))
        page = max(0, int(query.get("Page", "0")))
        skip = page * page_size
        items: list[dict[str, Any]] = []
        more = False
        # Newest first, as Twilio lists; by To through the index (a reconciler asks about
        # hundreds of numbers after a worker dies, each a scan of 50,000 messages otherwise).
        seqs = reversed(state.by_to.get(to, [])) if to else range(len(state.received) - 1, -1, -1)
        for seq in seqs:
            rec = state.received[seq]
            if (to and rec.to != to) or (from_ and rec.from_ != from_):
                continue
            if skip:
                skip -= 1
                continue
            if len(items) == page_size:
                more = True
                break
            items.append(_message_json(state, rec, self._status_of(seq, rec)))
        uri = f"{API}/Accounts/{state.account_sid}/Messages.json"
        filters = "".join(f"&{k}={quote(v)}" for k, v in (("To", to), ("From", from_)) if v)
        return web.json_response(
            {
                "messages": items,
                "end": page * page_size + max(len(items) - 1, 0),
                "first_page_uri": f"{uri}?PageSize={page_size}&Page=0{filters}",
                "next_page_uri": (
                    f"{uri}?PageSize={page_size}&Page={page + 1}{filters}" if more else None
                ),
                "page": page,
                "page_size": page_size,
                "previous_page_uri": (
                    f"{uri}?PageSize={page_size}&Page={page - 1}{filters}" if page else None
                ),
                "start": page * page_size,
                "uri": f"{uri}?PageSize={page_size}&Page={page}{filters}",
            }
        )

    # -- status callbacks -------------------------------------------------------------------

    async def _callback_worker(self) -> None:
        while True:
            seq, rec = await self._queue.get()
            knobs = self.state.knobs
            if rec.to in knobs.failed_numbers:
                final = "failed"
            elif rec.to in knobs.undelivered_numbers:
                final = "undelivered"
            else:
                final = "delivered"
            steps = ("sent", final) if final != "failed" else ("failed",)
            for status in steps:
                if knobs.callback_delay:
                    await asyncio.sleep(knobs.callback_delay)
                if self.state.record == "full":
                    self.state.statuses[seq] = status
                await self._post_callback(rec, status)

    async def _post_callback(self, rec: Received, status: str) -> None:
        state = self.state
        assert rec.status_callback is not None and self._session is not None
        params = {
            "AccountSid": state.account_sid,
            "ApiVersion": "2010-04-01",
            "From": rec.from_ or "",
            "MessageSid": rec.sid,
            "MessageStatus": status,
            "SmsSid": rec.sid,
            "SmsStatus": status,
            "To": rec.to,
        }
        if rec.messaging_service_sid:
            params["MessagingServiceSid"] = rec.messaging_service_sid
        if status in _FINAL_ERROR:
            params["ErrorCode"] = str(_FINAL_ERROR[status])
        if status == "delivered":
            params["RawDlrDoneDate"] = time.strftime("%y%m%d%H%M", time.gmtime())
        signature = state.validator.compute_signature(rec.status_callback, params)
        headers = {
            "X-Twilio-Signature": signature,
            "I-Twilio-Idempotency-Token": secrets.token_hex(16),
        }
        http_status = 0
        try:
            async with self._session.post(
                rec.status_callback, data=params, headers=headers
            ) as answer:
                await answer.read()
                http_status = answer.status
        except (TimeoutError, aiohttp.ClientError):
            pass
        ok = 200 <= http_status < 300
        state.counters["callbacks_sent" if ok else "callbacks_failed"] += 1
        if state.record == "full":
            state.callbacks.append((rec.sid, status, http_status))

    # -- control over HTTP ------------------------------------------------------------------

    async def control_http(self, request: web.Request) -> web.Response:
        if request.method == "POST":
            try:
                self.state.knobs.apply(await request.json())
            except (ValueError, TypeError) as exc:
                return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(self.state.knobs.public())

    async def stats_http(self, request: web.Request) -> web.Response:
        return web.json_response(self.state.stats())

    async def reset_http(self, request: web.Request) -> web.Response:
        self.state.reset()
        if request.query.get("knobs") == "1":
            self.state.knobs = Knobs()
        return web.json_response(self.state.stats())


# ---------------------------------------------------------------------------------------
# Running it beside a test: a background thread with its own loop


class TwilioServerHandle(Handle[TwilioFakeServer]):
    """What ``run_twilio_server`` yields. Reads are safe from any thread (append-only data)."""

    def __init__(self, server: TwilioFakeServer, background: BackgroundLoop) -> None:
        super().__init__(server, background)
        self.account_sid = server.state.account_sid
        self.auth_token = server.state.auth_token

    @property
    def received(self) -> list[Received]:
        return self._server.state.received

    @property
    def per_recipient(self) -> dict[str, int]:
        return self._server.state.per_recipient

    @property
    def callbacks(self) -> list[tuple[str, str, int]]:
        """(message SID, status, HTTP status our receiver answered) per callback posted."""
        return self._server.state.callbacks

    def stats(self) -> dict[str, Any]:
        return self._on_loop(self._server.state.stats)

    def control(self, **knobs: Any) -> dict[str, Any]:
        """Change knobs (see ``Knobs``; ``fail_429_for=seconds`` too). Returns them all."""
        state = self._server.state

        def apply() -> dict[str, Any]:
            state.knobs.apply(knobs)
            return state.knobs.public()

        return self._on_loop(apply)

    def reset(self, *, knobs: bool = True) -> None:
        state = self._server.state

        def reset() -> None:
            state.reset()
            if knobs:
                state.knobs = Knobs()

        self._on_loop(reset)


@contextlib.contextmanager
def run_twilio_server(
    port: int = 0,
    *,
    account_sid: str = DEFAULT_ACCOUNT_SID,
    auth_token: str = DEFAULT_AUTH_TOKEN,
    record: RecordMode = "full",
    host: str = "127.0.0.1",
    **knobs: Any,
) -> Iterator[TwilioServerHandle]:
    """Serve the fake on a loopback port in a background thread for the ``with`` block."""

    def make() -> TwilioFakeServer:
        server = TwilioFakeServer(account_sid=account_sid, auth_token=auth_token, record=record)
        server.state.knobs.apply(knobs)
        return server

    with serving("twilio-fake", make, host, port) as (server, background):
        yield TwilioServerHandle(server, background)


# ---------------------------------------------------------------------------------------
# Command line: its own process, for benchmarks and manual runs


def main(argv: list[str] | None = None) -> None:
    parser = command_line("Local Twilio-compatible Messages API", port=8099)
    parser.add_argument("--account-sid", default=DEFAULT_ACCOUNT_SID)
    parser.add_argument("--auth-token", default=DEFAULT_AUTH_TOKEN)
    parser.add_argument("--record", choices=["full", "counts"], default="full")
    parser.add_argument("--callbacks", action="store_true", help="post status callbacks")
    parser.add_argument("--callback-delay", type=float, default=0.0)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before answering")
    parser.add_argument("--error-rate", type=float, default=0.0, help="probability of a 500")
    args = parser.parse_args(argv)

    def make() -> TwilioFakeServer:
        server = TwilioFakeServer(
            account_sid=args.account_sid, auth_token=args.auth_token, record=args.record
        )
        server.state.knobs.apply(
            {
                "callbacks": args.callbacks,
                "callback_delay": args.callback_delay,
                "delay": args.delay,
                "error_rate": args.error_rate,
            }
        )
        return server

    banner = f"fake Twilio API on {{url}} (account {args.account_sid})"
    serve_until_signal(make, args.host, args.port, banner)


if __name__ == "__main__":
    main()
