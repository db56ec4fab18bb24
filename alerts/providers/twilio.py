"""SMS through Twilio's Programmable Messaging API, with the official SDK's async client.

Why a subclass of the SDK's ``AsyncTwilioHttpClient`` (twilio 9.13, checked in its source):

- ``max_retries=N`` wraps the session in aiohttp_retry, which re-POSTs on every 5xx (an SMS
  can go out twice) and never retries 429. Worse, ``max_retries=0`` means *unbounded*
  retries on 5xx (its attempt counter starts at 1 and is compared with ``==`` to 0). Only
  ``None`` turns retries off. The dispatcher owns retries, so we never wrap.
- The ``timeout`` given to the constructor is ignored by ``request()`` (twilio-python
  issue #925) and the SDK passes ``timeout=None``, which aiohttp reads as *no timeout at
  all*. We apply our own per-request connect and read timeouts.
- Its ``ClientSession`` uses aiohttp's default pool of 100 connections and must be built
  inside a running loop; ours is sized by ``pool_size`` and built on first use.
- Its request log prints query parameters at INFO level, and listing messages by
  recipient puts the phone number there. Ours logs nothing per request.

The API base URL is per domain: ``client.api.base_url`` (default https://api.twilio.com).
We override it for tests, benchmarks and gateways, and then clear edge/region, because the
SDK rebuilds the host name from them (TWILIO_EDGE/TWILIO_REGION are read from the
environment) and would mangle a loopback address.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from functools import lru_cache, partial
from typing import Any
from urllib.parse import quote_plus

import aiohttp
from twilio.base.exceptions import TwilioException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from alerts.providers._http import classify_transport_error, client_timeout, parse_retry_after
from alerts.providers.base import Channel, Outcome, OutgoingMessage, SendResult
from alerts.text import MAX_BODY_CHARS

log = logging.getLogger(__name__)

# Twilio error codes (https://www.twilio.com/docs/api/errors) that say "this recipient,
# this way, never": record and move on.
PERMANENT_CODES = frozenset(
    {
        21211,  # invalid 'To' phone number
        21214,  # 'To' phone number cannot be reached
        21217,  # phone number does not appear to be valid
        21265,  # 'To' number cannot be a short code
        21408,  # permission to send to this region not enabled
        21602,  # message body is required
        21604,  # 'To' phone number is required
        21610,  # recipient replied STOP (unsubscribed)
        21612,  # cannot route to this number
        21614,  # 'To' number is not a valid mobile number
        21617,  # body exceeds 1,600 characters
        21635,  # 'To' number cannot receive messages from this sender type
    }
)
OPTED_OUT_CODES = frozenset({21610})
# Codes that are about our account or configuration, not the recipient: retrying each
# message will not help, failing each recipient would be wrong. Pause and alert instead.
SYSTEMIC_CODES = frozenset(
    {
        20003,  # authentication failed
        20005,  # account not active
        20404,  # resource not found (wrong account SID / base URL)
        21603,  # 'From' is required
        21606,  # 'From' is not a valid sender for this account
        21611,  # sender's queue is full (~10 h of its rate): send slower or add senders
        21659,  # 'From' is not a Twilio number
        21701,  # messaging service not found
        21703,  # messaging service has no senders
        30002,  # account suspended
    }
)
RATE_LIMIT_CODES = frozenset({20429, 14107})
# Reconciling an ambiguous send: a page of the recipient's messages per request, and how much
# earlier than our first attempt Twilio's clock may have stamped our message.
LOOKUP_PAGE_SIZE = 50
LOOKUP_CLOCK_SLACK = timedelta(seconds=5)
SYSTEMIC_RETRY_AFTER = 60.0  # seconds; long enough for a human to look

# Statuses a looked-up message can have: still on its way / delivered / given up.
FINAL_FAILURE_STATUSES = frozenset({"failed", "undelivered", "canceled"})

# Carries the last HTTP answer from our HTTP client back to send(): the SDK's exception
# drops the response headers (Retry-After). A ContextVar is per task, so concurrent sends
# never see each other's answers.
_last_answer: ContextVar[dict[str, Any] | None] = ContextVar("twilio_last_answer", default=None)


class PooledAsyncTwilioHttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]  # untyped SDK
    """The SDK's async client with a sized pool, real timeouts and no SDK retries."""

    def __init__(
        self,
        *,
        pool_size: int = 100,
        timeout: float = 10.0,
        connect_timeout: float = 5.0,
    ) -> None:
        # pool_connections=False: the parent would build a session here, outside any loop.
        super().__init__(pool_connections=False, timeout=timeout, max_retries=None)
        self.pool_size = pool_size
        self.connect_timeout = connect_timeout
        self.session: aiohttp.ClientSession | None = None
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}

    def _timeout(self, read: float) -> aiohttp.ClientTimeout:
        timeout = self._timeouts.get(read)
        if timeout is None:
            timeout = self._timeouts[read] = client_timeout(read=read, connect=self.connect_timeout)
        return timeout

    def _get_session(self) -> aiohttp.ClientSession:
        if self.session is None or self.session.closed:
            connector = aiohttp.TCPConnector(limit=self.pool_size, limit_per_host=self.pool_size)
            # No cookie jar: Twilio's API needs none, and the jar is work on every request.
            self.session = aiohttp.ClientSession(
                connector=connector, cookie_jar=aiohttp.DummyCookieJar()
            )
        return self.session

    async def request(
        self,
        method: str,
        url: str,
        params: Mapping[str, str | int | float] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        read_timeout = timeout if timeout is not None else self.timeout
        assert read_timeout is not None  # set in __init__
        headers = dict(headers or {})
        if auth:
            headers["Authorization"] = _basic_auth(*auth)
        body = None
        if data:
            # Encoded here: for a dict aiohttp builds a FormData with a multipart writer (and
            # a uuid4 boundary) on every request, and quoting the same text (a broadcast's
            # body, the callback URL) for every recipient is most of a send's own CPU.
            body = _form(data)
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        async with self._get_session().request(
            method.upper(),
            url,
            params=params,
            data=body,
            headers=headers,
            timeout=self._timeout(read_timeout),
            allow_redirects=allow_redirects,
        ) as answer:
            # Twilio's API answers UTF-8 JSON: skip the charset sniffing of answer.text().
            text = (await answer.read()).decode("utf-8", errors="replace")
        box = _last_answer.get()
        if box is not None:
            box["status"] = answer.status
            box["retry_after"] = answer.headers.get("Retry-After")
        return Response(answer.status, text, answer.headers)

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None


@lru_cache(maxsize=4096)
def _quoted_text(value: str) -> str:
    return quote_plus(value)


def _quoted(value: str) -> str:
    if value[:1] == "+" and value[1:].isascii() and value[1:].isdigit():  # a phone number
        return "%2B" + value[1:]
    return _quoted_text(value)


def _form(data: dict[str, object]) -> bytes:
    """``urlencode(data, doseq=True)``, with each distinct value quoted once per process."""
    parts = []
    for name, value in data.items():
        items = value if isinstance(value, (list, tuple)) else (value,)
        for item in items:
            text = item if isinstance(item, str) else str(item)
            parts.append(
                f"{_quoted(name)}={_quoted(text) if len(text) < 2000 else quote_plus(text)}"
            )
    return "&".join(parts).encode("ascii")


@lru_cache(maxsize=8)
def _basic_auth(login: str, password: str) -> str:
    # aiohttp 3.14 deprecates BasicAuth objects; the header is all we need.
    return "Basic " + base64.b64encode(f"{login}:{password}".encode("latin-1")).decode("ascii")


def classify_twilio_error(
    status: int, code: int | None, message: str | None, retry_after: str | None = None
) -> SendResult:
    """Map an error answer from Twilio's API to an outcome (see ``base`` for the meanings)."""
    # Every error answer names Twilio's status, code and message; the outcome differs.
    failed = partial(
        SendResult,
        provider_status=str(status),
        error_code=str(code if code is not None else status),
        error_message=message,
    )
    if status == 429 or code in RATE_LIMIT_CODES:
        # Too many concurrent requests: never processed, always safe to retry.
        return failed(outcome=Outcome.RETRY, retry_after=parse_retry_after(retry_after))
    if code in SYSTEMIC_CODES or status in (401, 403):
        return failed(
            outcome=Outcome.RETRY,
            retry_after=parse_retry_after(retry_after) or SYSTEMIC_RETRY_AFTER,
            systemic=True,
        )
    if status >= 500:
        # A gateway answering for Twilio cannot know whether Twilio took the message.
        return failed(
            outcome=Outcome.RETRY,
            retry_after=parse_retry_after(retry_after),
            ambiguous=status in (502, 504),
        )
    # Any other 4xx is about this request (number, body): retrying would fail the same way.
    return failed(outcome=Outcome.PERMANENT_FAILURE, opted_out=code in OPTED_OUT_CODES)


class TwilioProvider:
    """Sends SMS with ``client.messages.create_async``; one instance per process, shared."""

    channel = Channel.sms
    name = "twilio"

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        from_number: str | None = None,
        messaging_service_sid: str | None = None,
        api_base_url: str | None = None,
        timeout: float = 10.0,
        connect_timeout: float = 5.0,
        pool_size: int = 100,
        lookup_limit: int = 1000,
    ) -> None:
        if not (from_number or messaging_service_sid):
            raise ValueError("Twilio needs a from_number or a messaging_service_sid")
        self.from_number = from_number
        self.messaging_service_sid = messaging_service_sid
        self.lookup_limit = lookup_limit
        self.http_client = PooledAsyncTwilioHttpClient(
            pool_size=pool_size, timeout=timeout, connect_timeout=connect_timeout
        )
        self.client = Client(account_sid, auth_token, http_client=self.http_client)
        if api_base_url:
            self.client.api.base_url = api_base_url.rstrip("/")
            self.client.edge = None
            self.client.region = None

    async def send(self, message: OutgoingMessage) -> SendResult:
        if len(message.body) > MAX_BODY_CHARS:
            return SendResult(
                outcome=Outcome.PERMANENT_FAILURE,
                error_code="21617",
                error_message=f"body is {len(message.body)} characters, Twilio caps at {MAX_BODY_CHARS}",
            )
        params: dict[str, Any] = {"to": str(message.to), "body": message.body}
        if self.messaging_service_sid:
            params["messaging_service_sid"] = self.messaging_service_sid
        if self.from_number:
            params["from_"] = self.from_number
        if message.status_callback:
            params["status_callback"] = message.status_callback
        if message.validity_period:
            params["validity_period"] = min(max(int(message.validity_period), 1), 36_000)

        answer: dict[str, Any] = {}
        token = _last_answer.set(answer)
        try:
            created = await self.client.messages.create_async(**params)
        except TwilioException as exc:
            return self._classify_exception(exc, answer)
        except (TimeoutError, aiohttp.ClientError) as exc:
            result = classify_transport_error(exc)
            assert result is not None
            return result
        except ValueError as exc:  # a 2xx whose body is not JSON: it may have been created
            return SendResult(
                outcome=Outcome.RETRY,
                error_code="bad_response",
                error_message=str(exc)[:300],
                ambiguous=True,
            )
        finally:
            _last_answer.reset(token)
        return SendResult(
            outcome=Outcome.SENT,
            provider_id=created.sid,
            provider_status=str(created.status) if created.status is not None else None,
            # Through a Messaging Service Twilio reports 0 until it has picked a sender.
            segments=_int_or_none(created.num_segments) or None,
        )

    @staticmethod
    def _classify_exception(exc: TwilioException, answer: dict[str, Any]) -> SendResult:
        status = getattr(exc, "status", None) or answer.get("status")
        if status is None:  # not an HTTP answer (SDK-side problem): we cannot tell
            return SendResult(
                outcome=Outcome.RETRY,
                error_code="sdk_error",
                error_message=str(exc)[:300],
                ambiguous=True,
            )
        code = getattr(exc, "code", None)
        message = getattr(exc, "msg", None) or getattr(exc, "detail", None)
        return classify_twilio_error(
            int(status), int(code) if code else None, message, answer.get("retry_after")
        )

    async def lookup(self, message: OutgoingMessage) -> SendResult | None:
        """Reconcile an ambiguous send: did Twilio create this message after all?

        Twilio has no idempotency key for message creation, so we read the messages to the
        same number (from our sender), newest first, page by page, for one with the same
        body created no earlier than ``message.first_attempt_at`` (minus clock slack).

        ``None`` ("not there": sending it again is safe) only once every message to that
        number since the first attempt has been read. A number that got many messages since
        (a liaison contact gets every notice; in the fault run 25 reached one contact within
        a second) is read further back, up to ``lookup_limit`` messages; past that, or when
        a page fails, the answer is "cannot tell" (retry, ambiguous), never "not there".
        """
        since = _aware(message.first_attempt_at)
        oldest = since - LOOKUP_CLOCK_SLACK if since else None
        filters: dict[str, Any] = {"to": str(message.to)}
        if self.from_number and not self.messaging_service_sid:
            filters["from_"] = self.from_number
        read = 0
        try:
            records = await self.client.messages.stream_async(
                **filters, limit=self.lookup_limit, page_size=LOOKUP_PAGE_SIZE
            )
            async for record in records:
                read += 1
                created = record.date_created
                if oldest and created and created < oldest:
                    # Twilio lists newest first (by the time sent, else created): once both
                    # times are before the first attempt, nothing further down can be ours.
                    if (record.date_sent or created) < oldest:
                        return None
                    continue  # created before our first attempt: not ours
                if record.body == message.body:
                    return self._result_for_status(record.sid, record.status, record.error_code)
        except (TimeoutError, TwilioException, aiohttp.ClientError, ValueError) as exc:
            return SendResult(
                outcome=Outcome.RETRY,
                error_code="lookup_failed",
                error_message=f"{type(exc).__name__}: {exc}"[:300],
                ambiguous=True,
            )
        if read < self.lookup_limit:
            return None  # the list ended: every message to this number was read
        return SendResult(
            outcome=Outcome.RETRY,
            error_code="lookup_incomplete",
            error_message=f"more than {self.lookup_limit} messages to this number since the "
            "first attempt: cannot tell whether Twilio has it",
            ambiguous=True,
        )

    async def fetch_status(self, provider_id: str) -> SendResult:
        """Current state of a message by SID (for receipts that never arrived)."""
        try:
            record = await self.client.messages(provider_id).fetch_async()
        except TwilioException as exc:
            return self._classify_exception(exc, {})
        except (TimeoutError, aiohttp.ClientError) as exc:
            result = classify_transport_error(exc)
            assert result is not None
            return result
        return self._result_for_status(record.sid, record.status, record.error_code)

    @staticmethod
    def _result_for_status(sid: str | None, status: Any, error_code: Any) -> SendResult:
        status_text = str(status) if status is not None else None
        if status_text in FINAL_FAILURE_STATUSES:
            return SendResult(
                outcome=Outcome.PERMANENT_FAILURE,
                provider_id=sid,
                provider_status=status_text,
                error_code=str(error_code) if error_code else None,
            )
        return SendResult(outcome=Outcome.SENT, provider_id=sid, provider_status=status_text)

    async def close(self) -> None:
        await self.http_client.close()


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)  # our timestamps are stored in UTC


__all__ = [
    "PooledAsyncTwilioHttpClient",
    "TwilioProvider",
    "classify_twilio_error",
]
