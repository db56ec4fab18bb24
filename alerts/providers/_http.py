"""Shared HTTP plumbing for the providers: timeouts, Retry-After, and network-error classes.

The distinction that matters is *when* a network error happened. If the request never left
(connection refused, connect timeout) a retry cannot duplicate the message; if it failed
after the request was written (read timeout, connection dropped mid-answer) the provider
may have accepted it, so the result is marked ``ambiguous``.
"""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime

import aiohttp

from alerts.providers.base import Outcome, SendResult


def client_timeout(*, read: float, connect: float) -> aiohttp.ClientTimeout:
    """Per-request timeout that tells "never connected" apart from "no answer in time".

    No ``total``: a request waiting for a free pooled connection must not time out as if
    it had been sent (that would flag thousands of queued sends as ambiguous under load).
    """
    return aiohttp.ClientTimeout(total=None, connect=None, sock_connect=connect, sock_read=read)


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds (it may be a number of seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def classify_transport_error(exc: BaseException) -> SendResult | None:
    """Map a network-level exception to a retry; ``None`` if it is not one of ours to map."""
    # Order matters: ConnectionTimeoutError is a ServerTimeoutError is an asyncio.TimeoutError.
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return _retry("connect_timeout", exc, ambiguous=False)
    if isinstance(exc, TimeoutError):  # read timeout: the request was written
        return _retry("timeout", exc, ambiguous=True)
    if isinstance(exc, aiohttp.ClientConnectorError):  # refused / DNS: never sent
        return _retry("connect_error", exc, ambiguous=False)
    if isinstance(exc, aiohttp.ClientError):  # disconnected, reset, bad payload mid-answer
        return _retry("connection_lost", exc, ambiguous=True)
    return None


def _retry(code: str, exc: BaseException, *, ambiguous: bool) -> SendResult:
    return SendResult(
        outcome=Outcome.RETRY,
        error_code=code,
        error_message=f"{type(exc).__name__}: {exc}"[:300],
        ambiguous=ambiguous,
    )
