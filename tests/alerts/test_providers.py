"""Providers against the local fakes, through the real SDKs (twilio's async client, pywebpush).

Nothing here mocks an SDK: requests go over loopback HTTP to servers that answer as Twilio
and a push service do, and the assertions look at what those servers received.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from alerts.providers import Channel, Outcome, SendResult, SupportsLookup, build_providers
from alerts.providers._http import parse_retry_after
from alerts.providers.base import OutgoingMessage
from alerts.providers.console import ConsoleProvider
from alerts.providers.fake import FakeProvider, invalid_number, rate_limited, server_error
from alerts.providers.twilio import TwilioProvider, classify_twilio_error
from alerts.providers.webpush import (
    WebPushProvider,
    generate_vapid_keys,
    vapid_public_key_of,
)
from alerts.testing import run_push_endpoint, run_twilio_server
from alerts.testing.push_endpoint import PushEndpointHandle
from alerts.testing.twilio_server import TwilioServerHandle

FROM = "+15005550006"
SUBJECT = "mailto:duty-officer@hengqin.example"
pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def _twilio_server() -> Iterator[TwilioServerHandle]:
    with run_twilio_server() as server:
        yield server


@pytest.fixture
def twilio(_twilio_server: TwilioServerHandle) -> TwilioServerHandle:
    _twilio_server.reset()
    return _twilio_server


def make_twilio(server: TwilioServerHandle, **overrides: Any) -> TwilioProvider:
    options: dict[str, Any] = dict(
        account_sid=server.account_sid,
        auth_token=server.auth_token,
        from_number=FROM,
        api_base_url=server.base_url,
        timeout=5.0,
    )
    options.update(overrides)
    return TwilioProvider(**options)


def sms(message_id: int | str, to: str, body: str = "Signal 8 in force", **kw: Any):
    return OutgoingMessage(message_id=message_id, channel="sms", to=to, body=body, **kw)


# --------------------------------------------------------------------------- Twilio


async def test_send_returns_sent_with_sid_and_server_records_it(twilio) -> None:
    provider = make_twilio(twilio)
    body = "八號烈風或暴風信號現正生效。Signal 8 is in force."
    try:
        result = await provider.send(
            sms(
                41,
                "+85366123456",
                body,
                status_callback="https://ops.example/webhooks/twilio/status?m=41",
                validity_period=7200,
            )
        )
    finally:
        await provider.close()
    assert result.outcome is Outcome.SENT
    assert result.provider_id and result.provider_id.startswith("SM")
    assert len(result.provider_id) == 34
    assert result.provider_status == "queued"
    assert result.segments == 1
    [received] = twilio.received
    assert received.sid == result.provider_id
    assert received.to == "+85366123456"
    assert received.from_ == FROM
    assert received.body == body
    assert received.status_callback == "https://ops.example/webhooks/twilio/status?m=41"
    assert received.validity_period == "7200"


async def test_messaging_service_is_accepted(twilio) -> None:
    provider = make_twilio(twilio, from_number=None, messaging_service_sid="MG" + "1" * 32)
    try:
        result = await provider.send(sms(1, "+85366000001"))
    finally:
        await provider.close()
    assert result.outcome is Outcome.SENT
    assert result.provider_status == "accepted"
    assert result.segments is None  # Twilio says 0 until it has picked a sender
    assert twilio.received[0].messaging_service_sid == "MG" + "1" * 32


async def test_429_is_retry_with_retry_after(twilio) -> None:
    twilio.control(fail_429_next=1, retry_after=2.5)
    provider = make_twilio(twilio)
    try:
        result = await provider.send(sms(1, "+85366000001"))
    finally:
        await provider.close()
    assert result.outcome is Outcome.RETRY
    assert result.error_code == "20429"
    assert result.retry_after == 2.5
    assert not result.ambiguous
    assert twilio.received == []


async def test_500_is_retry_and_the_sdk_does_not_retry_by_itself(twilio) -> None:
    twilio.control(fail_500_next=1)
    provider = make_twilio(twilio)
    try:
        result = await provider.send(sms(1, "+85366000001"))
    finally:
        await provider.close()
    assert result.outcome is Outcome.RETRY
    assert result.provider_status == "500"
    assert twilio.stats()["requests"] == 1  # exactly one POST: no SDK retry


async def test_sdk_max_retries_zero_means_unbounded_5xx_retries(twilio) -> None:
    """Why the provider never passes max_retries: 0 does not mean "off" in twilio 9.13."""
    twilio.control(fail_500_next=2)
    http_client = AsyncTwilioHttpClient(max_retries=0)
    client = Client(twilio.account_sid, twilio.auth_token, http_client=http_client)
    client.api.base_url = twilio.base_url
    try:
        created = await client.messages.create_async(to="+85366000001", from_=FROM, body="x")
    finally:
        await http_client.close()
    assert created.sid.startswith("SM")  # the POST was silently re-sent until it worked
    assert twilio.stats()["requests"] == 3


@pytest.mark.parametrize(
    "knob,code,opted_out",
    [
        ({"invalid_numbers": ["+85366000002"]}, "21211", False),
        ({"unsubscribed": ["+85366000002"]}, "21610", True),
        ({"number_errors": {"+85366000002": 21614}}, "21614", False),
    ],
)
async def test_recipient_errors_are_permanent(twilio, knob, code, opted_out) -> None:
    twilio.control(**knob)
    provider = make_twilio(twilio)
    try:
        result = await provider.send(sms(1, "+85366000002"))
    finally:
        await provider.close()
    assert result.outcome is Outcome.PERMANENT_FAILURE
    assert result.error_code == code
    assert result.provider_status == "400"
    assert result.opted_out is opted_out


async def test_not_e164_is_invalid_number(twilio) -> None:
    provider = make_twilio(twilio)
    try:
        result = await provider.send(sms(1, "66123456"))
    finally:
        await provider.close()
    assert (result.outcome, result.error_code) == (Outcome.PERMANENT_FAILURE, "21211")


async def test_body_over_1600_characters_fails_without_a_request(twilio) -> None:
    provider = make_twilio(twilio)
    try:
        result = await provider.send(sms(1, "+85366000001", "a" * 1601))
    finally:
        await provider.close()
    assert (result.outcome, result.error_code) == (Outcome.PERMANENT_FAILURE, "21617")
    assert twilio.stats()["requests"] == 0


async def test_bad_credentials_are_systemic_not_the_recipients_fault(twilio) -> None:
    provider = make_twilio(twilio, auth_token="wrong")
    try:
        result = await provider.send(sms(1, "+85366000001"))
    finally:
        await provider.close()
    assert result.outcome is Outcome.RETRY
    assert result.systemic is True
    assert result.error_code == "20003"
    assert result.retry_after and result.retry_after >= 30


async def test_slow_answer_beyond_timeout_is_ambiguous_and_lookup_reconciles(twilio) -> None:
    twilio.control(delay=1.5)
    provider = make_twilio(twilio, timeout=0.3)
    message = sms(7, "+85366000007", "Signal 9 expected", first_attempt_at=datetime.now(UTC))
    try:
        result = await provider.send(message)  # a sent answer would mean it waited 1.5 s
        assert result.outcome is Outcome.RETRY
        assert result.ambiguous is True
        assert result.error_code == "timeout"

        # The server did take it: look it up instead of sending it again.
        twilio.control(delay=0)
        assert isinstance(provider, SupportsLookup)
        found = await provider.lookup(message)
        assert found is not None and found.outcome is Outcome.SENT
        assert found.provider_id == twilio.received[0].sid
        assert await provider.lookup(sms(8, "+85366000007", "another text")) is None
        assert await provider.lookup(sms(9, "+85366000099", "Signal 9 expected")) is None
    finally:
        await provider.close()


async def test_lookup_reads_back_to_the_first_attempt_past_many_later_messages(twilio) -> None:
    """A liaison contact gets every notice: the one looked up may be far down the list of
    messages to that number (issue 19: past the newest 20, it was taken for "not there")."""
    to = "+85300000001"
    started = datetime.now(UTC)
    first = sms(1, to, "notice 1", first_attempt_at=started)
    provider = make_twilio(twilio)
    short = make_twilio(twilio, lookup_limit=30)
    try:
        accepted = await provider.send(first)
        for n in range(2, 80):  # later notices to the same contact, a burst
            assert (await provider.send(sms(n, to, f"notice {n}"))).ok
        found = await provider.lookup(first)
        assert found is not None and found.outcome is Outcome.SENT
        assert found.provider_id == accepted.provider_id
        # Every message to the number since the first attempt read, none is it: not there.
        assert await provider.lookup(sms(99, to, "never sent", first_attempt_at=started)) is None
        # The same text sent before our first attempt is not ours, and reading stops there.
        later = sms(1, to, "notice 1", first_attempt_at=started + timedelta(seconds=30))
        assert await provider.lookup(later) is None
        # More messages since the first attempt than it may read: it cannot tell, and says so.
        unknown = await short.lookup(sms(99, to, "never sent", first_attempt_at=started))
        assert unknown is not None and unknown.outcome is Outcome.RETRY and unknown.ambiguous
        assert unknown.error_code == "lookup_incomplete"
    finally:
        await provider.close()
        await short.close()


async def test_connection_refused_is_retry_and_not_ambiguous(twilio) -> None:
    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    provider = make_twilio(twilio, api_base_url=f"http://127.0.0.1:{port}", timeout=10.0)
    try:
        result = await provider.send(sms(1, "+85366000001"))
    finally:
        await provider.close()
    assert result.outcome is Outcome.RETRY
    assert result.ambiguous is False
    assert result.error_code == "connect_error"


async def test_thousand_concurrent_sends_each_arrive_exactly_once(twilio) -> None:
    provider = make_twilio(twilio, pool_size=50)
    numbers = [f"+8536{n:07d}" for n in range(1000)]
    try:
        results = await asyncio.wait_for(
            asyncio.gather(*(provider.send(sms(i, to)) for i, to in enumerate(numbers))),
            timeout=60,
        )
    finally:
        await provider.close()
    assert {r.outcome for r in results} == {Outcome.SENT}
    assert len({r.provider_id for r in results}) == 1000
    assert twilio.stats()["requests"] == 1000
    assert twilio.per_recipient == dict.fromkeys(numbers, 1)


@pytest.fixture
async def callback_receiver():
    """A tiny webhook receiver on loopback that keeps what Twilio (the fake) posted."""
    posted: list[tuple[str, dict[str, str], str]] = []

    async def status(request: web.Request) -> web.Response:
        form = await request.post()
        posted.append(
            (
                str(request.rel_url),
                {k: str(v) for k, v in form.items()},
                request.headers.get("X-Twilio-Signature", ""),
            )
        )
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/webhooks/twilio/status", status)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", posted
    finally:
        await runner.cleanup()


async def wait_until(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.02)


async def test_status_callbacks_arrive_signed_and_validate(twilio, callback_receiver) -> None:
    base, posted = callback_receiver
    twilio.control(callbacks=True, failed_numbers=["+85366000003"])
    provider = make_twilio(twilio)
    urls = {n: f"{base}/webhooks/twilio/status?message={n}" for n in (1, 3)}
    try:
        ok = await provider.send(sms(1, "+85366000001", status_callback=urls[1]))
        failed = await provider.send(sms(3, "+85366000003", status_callback=urls[3]))
        await wait_until(lambda: len(posted) == 3)
        # GET by SID reflects the last status the callbacks announced.
        assert (await provider.fetch_status(ok.provider_id)).provider_status == "delivered"
        fetched = await provider.fetch_status(failed.provider_id)
        assert fetched.outcome is Outcome.PERMANENT_FAILURE
        assert fetched.error_code == "30008"
    finally:
        await provider.close()

    validator = RequestValidator(twilio.auth_token)
    by_sid: dict[str, list[str]] = {}
    for path, params, signature in posted:
        url = base + path  # the public URL we handed to Twilio, query string included
        assert validator.validate(url, params, signature), params
        assert not validator.validate(url, {**params, "MessageStatus": "read"}, signature)
        assert params["AccountSid"] == twilio.account_sid
        assert params["From"] == FROM
        by_sid.setdefault(params["MessageSid"], []).append(params["MessageStatus"])
        if params["MessageStatus"] == "failed":
            assert params["ErrorCode"] == "30008"
    assert by_sid == {ok.provider_id: ["sent", "delivered"], failed.provider_id: ["failed"]}
    assert twilio.stats()["callbacks_sent"] == 3


def test_classify_twilio_error_table() -> None:
    assert classify_twilio_error(429, 20429, "busy", "3").retry_after == 3.0
    assert classify_twilio_error(400, 21610, "STOP").opted_out is True
    assert classify_twilio_error(400, 21611, "queue full").systemic is True
    assert classify_twilio_error(503, None, None).outcome is Outcome.RETRY
    assert classify_twilio_error(504, None, None).ambiguous is True
    assert classify_twilio_error(400, 99999, "?").outcome is Outcome.PERMANENT_FAILURE
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert parse_retry_after("soon") is None


# --------------------------------------------------------------------------- web push


@pytest.fixture(scope="module")
def _push_endpoint() -> Iterator[PushEndpointHandle]:
    with run_push_endpoint() as endpoint:
        yield endpoint


@pytest.fixture
def push(_push_endpoint: PushEndpointHandle) -> PushEndpointHandle:
    _push_endpoint.control(fail_429_next=0, fail_500_next=0, delay=0)
    _push_endpoint.received.clear()
    return _push_endpoint


@pytest.fixture(scope="module")
def vapid() -> tuple[str, str]:
    return generate_vapid_keys()


def push_message(message_id: int, subscription: dict[str, Any], body: str, **kw: Any):
    return OutgoingMessage(message_id=message_id, channel="push", to=subscription, body=body, **kw)


async def test_push_is_received_and_decrypted_exactly(push, vapid) -> None:
    private, public = vapid
    subscription = push.new_subscription(application_server_key=public)
    payload = json.dumps(
        {"title": "八號風球 Sinal n.º 8", "body": "Stay indoors 🙏", "url": "/alerts/1"},
        ensure_ascii=False,
    )
    provider = WebPushProvider(vapid_private_key=private, vapid_subject=SUBJECT)
    try:
        # The stored form is the JSON string the browser posted; the dict works as well.
        first = await provider.send(push_message(1, json.dumps(subscription), payload))
        second = await provider.send(push_message(2, subscription, "second", validity_period=900))
    finally:
        await provider.close()
    assert first.outcome is Outcome.SENT and second.outcome is Outcome.SENT
    assert first.provider_id and first.provider_id.startswith(push.base_url + "/m/")
    one, two = push.received
    assert one.text == payload
    assert two.text == "second"
    assert (one.ttl, two.ttl) == (3600, 900)
    assert one.urgency == "high"
    assert one.claims["sub"] == SUBJECT and one.claims["aud"] == push.base_url


async def test_push_gone_or_not_found_is_permanent_with_gone(push, vapid) -> None:
    expired, unknown = push.new_subscription(), push.new_subscription()
    push.expire(expired)
    push.control(not_found=[unknown["endpoint"]])
    provider = WebPushProvider(vapid_private_key=vapid[0], vapid_subject=SUBJECT)
    try:
        gone = await provider.send(push_message(1, expired, "x"))
        missing = await provider.send(push_message(2, unknown, "x"))
    finally:
        await provider.close()
    assert (gone.outcome, gone.error_code, gone.gone) == (Outcome.PERMANENT_FAILURE, "410", True)
    assert (missing.outcome, missing.gone) == (Outcome.PERMANENT_FAILURE, True)


async def test_push_429_and_500_are_retries(push, vapid) -> None:
    subscription = push.new_subscription()
    push.control(fail_429_next=1, retry_after=7, fail_500_next=1)
    provider = WebPushProvider(vapid_private_key=vapid[0], vapid_subject=SUBJECT)
    try:
        throttled = await provider.send(push_message(1, subscription, "x"))
        broken = await provider.send(push_message(2, subscription, "x"))
        fine = await provider.send(push_message(3, subscription, "x"))
    finally:
        await provider.close()
    assert (throttled.outcome, throttled.retry_after) == (Outcome.RETRY, 7.0)
    assert (broken.outcome, broken.error_code) == (Outcome.RETRY, "500")
    assert fine.outcome is Outcome.SENT


async def test_push_signed_with_another_key_is_refused(push, vapid) -> None:
    subscription = push.new_subscription(application_server_key=vapid[1])
    other_private, _ = generate_vapid_keys()
    provider = WebPushProvider(vapid_private_key=other_private, vapid_subject=SUBJECT)
    try:
        result = await provider.send(push_message(1, subscription, "x"))
    finally:
        await provider.close()
    assert (result.outcome, result.error_code) == (Outcome.PERMANENT_FAILURE, "403")
    assert push.received == []


async def test_push_malformed_subscription_is_permanent(push, vapid) -> None:
    provider = WebPushProvider(vapid_private_key=vapid[0], vapid_subject=SUBJECT)
    bad = {"endpoint": push.base_url + "/push/x", "keys": {"p256dh": "abc", "auth": "def"}}
    try:
        results = [
            await provider.send(push_message(1, bad, "x")),
            await provider.send(push_message(2, {"keys": {}}, "x")),  # type: ignore[arg-type]
            await provider.send(push_message(3, "not json", "x")),  # type: ignore[arg-type]
            await provider.send(push_message(4, push.new_subscription(), "x" * 5000)),
        ]
    finally:
        await provider.close()
    assert [r.error_code for r in results] == [
        "invalid_subscription",
        "invalid_subscription",
        "invalid_subscription",
        "payload_too_large",
    ]


def test_vapid_keys_are_what_a_browser_and_py_vapid_expect() -> None:
    import base64

    private, public = generate_vapid_keys()
    raw_public = base64.urlsafe_b64decode(public + "=" * (-len(public) % 4))
    raw_private = base64.urlsafe_b64decode(private + "=" * (-len(private) % 4))
    assert len(raw_public) == 65 and raw_public[0] == 4  # uncompressed P-256 point
    assert len(raw_private) == 32
    assert vapid_public_key_of(private) == public
    provider = WebPushProvider(vapid_private_key=private, vapid_subject=SUBJECT)
    assert provider.public_key == public
    # One signature per push service origin, reused until close to expiry.
    first = provider.vapid_headers("https://fcm.googleapis.com/fcm/send/abc")
    assert provider.vapid_headers("https://fcm.googleapis.com/fcm/send/def") is first
    assert provider.vapid_headers("https://updates.push.services.mozilla.com/x") != first


# --------------------------------------------------------------------------- factory, console, fake


def test_build_providers_chooses_from_settings() -> None:
    chosen = build_providers()
    assert isinstance(chosen[Channel.sms], ConsoleProvider)
    assert isinstance(chosen[Channel.push], ConsoleProvider)

    private, _ = generate_vapid_keys()
    chosen = build_providers(
        twilio_account_sid="AC" + "0" * 32,
        twilio_auth_token="token",
        twilio_from_number=FROM,
        twilio_api_base_url="http://127.0.0.1:9",
        vapid_private_key=private,
        vapid_subject=SUBJECT,
    )
    sms_provider = chosen[Channel.sms]
    assert isinstance(sms_provider, TwilioProvider)
    assert sms_provider.client.api.base_url == "http://127.0.0.1:9"
    assert isinstance(chosen[Channel.push], WebPushProvider)


async def test_console_logs_ids_never_numbers_or_bodies(caplog) -> None:
    provider = ConsoleProvider("sms")
    with caplog.at_level(logging.INFO, logger="alerts.providers.console"):
        result = await provider.send(sms("msg-77", "+85366999888", "secret body text " * 12))
    assert result.outcome is Outcome.SENT and result.segments == 2
    assert "msg-77" in caplog.text and "2 segments" in caplog.text
    assert "+85366999888" not in caplog.text and "secret" not in caplog.text


async def test_fake_provider_scripts_outcomes_and_reconciles() -> None:
    fake = FakeProvider()
    fake.script(rate_limited(2.0), server_error())
    fake.set_outcome("+85366000002", invalid_number())
    fake.timeout_next(1, accepted=True)
    answers: list[SendResult] = [await fake.send(sms(i, "+85366000001")) for i in range(4)]
    assert [a.outcome for a in answers] == [Outcome.RETRY] * 3 + [Outcome.SENT]
    assert answers[2].ambiguous and await fake.lookup(sms(2, "+85366000001")) is not None
    assert (await fake.send(sms(9, "+85366000002"))).error_code == "21211"
    assert await fake.lookup(sms(9, "+85366000002")) is None
    assert fake.calls_for(2) == 1 and fake.per_recipient["+85366000001"] == 2
