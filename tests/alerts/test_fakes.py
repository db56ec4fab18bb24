"""The local fakes speak the real protocols: Twilio's REST shapes and errors, web push's
VAPID and aes128gcm rules, and their control knobs, over HTTP as well as from Python."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from py_vapid import Vapid
from pywebpush import WebPusher
from twilio.rest import Client

from alerts.providers.webpush import generate_vapid_keys, load_vapid_key
from alerts.testing import run_push_endpoint, run_twilio_server
from alerts.testing.push_endpoint import PushEndpointHandle
from alerts.testing.twilio_server import TwilioServerHandle

FROM = "+15005550006"
SID_RE = re.compile(r"^SM[0-9a-f]{32}$")


@pytest.fixture(scope="module")
def _server() -> Iterator[TwilioServerHandle]:
    with run_twilio_server() as server:
        yield server


@pytest.fixture
def twilio(_server: TwilioServerHandle) -> TwilioServerHandle:
    _server.reset()
    return _server


def api(server: TwilioServerHandle, *, token: str | None = None) -> httpx.Client:
    return httpx.Client(
        base_url=f"{server.base_url}/2010-04-01/Accounts/{server.account_sid}",
        auth=(server.account_sid, token or server.auth_token),
        timeout=5.0,
    )


def post_message(client: httpx.Client, **form: Any) -> httpx.Response:
    return client.post("/Messages.json", data=form)


# --------------------------------------------------------------------------- Twilio fake


def test_create_answers_with_twilios_message_json(twilio) -> None:
    with api(twilio) as client:
        answer = post_message(
            client, To="+85366000001", From=FROM, Body="a" * 161, StatusCallback="http://x/cb"
        )
    assert answer.status_code == 201
    message = answer.json()
    assert SID_RE.match(message["sid"])
    assert message["account_sid"] == twilio.account_sid
    assert (message["to"], message["from"], message["body"]) == ("+85366000001", FROM, "a" * 161)
    assert message["status"] == "queued"
    assert message["num_segments"] == "2"
    assert message["error_code"] is None
    assert message["direction"] == "outbound-api"
    assert message["uri"].endswith(f"/Messages/{message['sid']}.json")
    assert re.match(r"^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} \+0000$", message["date_created"])


@pytest.mark.parametrize(
    "form,code",
    [
        ({"From": FROM, "Body": "x"}, 21604),
        ({"To": "+85366000001", "Body": "x"}, 21603),
        ({"To": "+85366000001", "From": FROM}, 21602),
        ({"To": "+85366000001", "From": FROM, "Body": "x" * 1601}, 21617),
        ({"To": "0085366000001", "From": FROM, "Body": "x"}, 21211),
    ],
)
def test_invalid_requests_get_twilio_errors(twilio, form, code) -> None:
    with api(twilio) as client:
        answer = post_message(client, **form)
    assert answer.status_code == 400
    error = answer.json()
    assert error["code"] == code and error["status"] == 400
    assert error["more_info"] == f"https://www.twilio.com/docs/errors/{code}"
    assert twilio.received == []


def test_wrong_credentials_get_401_20003(twilio) -> None:
    with api(twilio, token="nope") as client:
        answer = post_message(client, To="+85366000001", From=FROM, Body="x")
    assert (answer.status_code, answer.json()["code"]) == (401, 20003)
    assert twilio.stats()["unauthorized"] == 1


def test_knobs_over_http_and_stats(twilio) -> None:
    control = f"{twilio.base_url}/_control"
    knobs = httpx.post(control, json={"fail_429_next": 2, "retry_after": 3}).json()
    assert knobs["fail_429_next"] == 2
    assert httpx.post(control, json={"no_such_knob": 1}).status_code == 400
    with api(twilio) as client:
        answers = [post_message(client, To="+85366000001", From=FROM, Body="x") for _ in range(3)]
    assert [a.status_code for a in answers] == [429, 429, 201]
    assert answers[0].headers["Retry-After"] == "3"
    assert answers[0].json()["code"] == 20429
    stats = httpx.get(f"{twilio.base_url}/_stats").json()
    assert (stats["requests"], stats["throttled"], stats["created"]) == (3, 2, 1)


THROTTLE = 2.0  # seconds of 429s in test_429_window_and_error_rate


def test_429_window_and_error_rate(twilio) -> None:
    with api(twilio) as client:
        # a window long enough for the next request to fall in it on a loaded machine; it
        # opened before control() returned, so it has surely closed THROTTLE seconds after
        twilio.control(fail_429_for=THROTTLE)
        opened_by = time.monotonic()
        assert post_message(client, To="+85366000001", From=FROM, Body="x").status_code == 429
        time.sleep(max(0.0, opened_by + THROTTLE + 0.05 - time.monotonic()))
        assert post_message(client, To="+85366000001", From=FROM, Body="x").status_code == 201
        twilio.control(error_rate=1.0)
        answers = [post_message(client, To="+85366000001", From=FROM, Body="x") for _ in range(5)]
        assert {a.status_code for a in answers} == {500}
        assert answers[0].json()["code"] == 20500
        twilio.control(error_rate=0.0)
        assert post_message(client, To="+85366000001", From=FROM, Body="x").status_code == 201


def test_sdk_lists_by_recipient_newest_first_and_fetches_by_sid(twilio) -> None:
    client = Client(twilio.account_sid, twilio.auth_token)  # the SDK's sync client, too
    client.api.base_url = twilio.base_url
    sent = [
        client.messages.create(to=to, from_=FROM, body=f"warning {i}")
        for i, to in enumerate(["+85366000001", "+85366000002"] * 3)
    ]
    mine = client.messages.list(to="+85366000001", page_size=2)  # follows next_page_uri
    assert [m.body for m in mine] == ["warning 4", "warning 2", "warning 0"]
    fetched = client.messages(sent[1].sid).fetch()
    assert (fetched.to, fetched.body, fetched.status) == ("+85366000002", "warning 1", "queued")
    with api(twilio) as raw:
        assert raw.get("/Messages/SM" + "f" * 32 + ".json").status_code == 404


def test_listing_by_recipient_uses_the_index_and_forgets_on_reset(twilio) -> None:
    # A reconciler asks about hundreds of numbers after a worker dies mid-broadcast: a list
    # by To reads that number's messages only, newest first, whatever else was sent.
    with api(twilio) as raw:
        for n in range(300):
            post_message(raw, To=f"+8536610{n:04d}", From=FROM, Body="other")
            if n % 100 == 0:
                post_message(raw, To="+85366000009", From=FROM, Body=f"mine {n}")
        listed = raw.get("/Messages.json", params={"To": "+85366000009", "PageSize": 2}).json()
        assert [m["body"] for m in listed["messages"]] == ["mine 200", "mine 100"]
        assert listed["next_page_uri"] and "To=%2B85366000009" in listed["next_page_uri"]
        twilio.reset()
        listed = raw.get("/Messages.json", params={"To": "+85366000009"}).json()
        assert listed["messages"] == []


def test_counts_mode_keeps_only_counters() -> None:
    with run_twilio_server(record="counts") as server, api(server) as client:
        for n in range(30):
            post_message(client, To=f"+8536600{n % 10:04d}", From=FROM, Body="x")
        assert server.received == []
        assert server.per_recipient["+85366000003"] == 3
        assert server.stats()["created"] == 30 and server.stats()["duplicates"] == 10


def test_callback_to_a_dead_receiver_is_counted_not_fatal(twilio) -> None:
    twilio.control(callbacks=True)
    with api(twilio) as client:
        post_message(
            client, To="+85366000001", From=FROM, Body="x", StatusCallback="http://127.0.0.1:9/cb"
        )
        assert twilio.wait_for(lambda: twilio.stats()["callbacks_failed"] == 2, timeout=60)
        # The server is still serving.
        assert post_message(client, To="+85366000001", From=FROM, Body="y").status_code == 201


def _read_first_line(process: subprocess.Popen[str], timeout: float) -> str:
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(process.stdout.readline()))  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout)
    return lines[0] if lines else ""


def test_cli_serves_in_its_own_process() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "alerts.testing.twilio_server", "--port", "0", "--record", "counts"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = _read_first_line(process, timeout=30)
        found = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert found, line
        base_url = found.group(0)
        client = Client("AC" + "0123456789abcdef" * 2, "fake-twilio-auth-token")
        client.api.base_url = base_url
        message = client.messages.create(to="+85366000001", from_=FROM, body="hello")
        assert SID_RE.match(message.sid)
        assert httpx.get(f"{base_url}/_stats").json()["created"] == 1
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0


# --------------------------------------------------------------------------- push fake


@pytest.fixture(scope="module")
def push() -> Iterator[PushEndpointHandle]:
    with run_push_endpoint() as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def vapid_key() -> str:
    return generate_vapid_keys()[0]


def encrypted(subscription: dict[str, Any], data: bytes) -> bytes:
    return WebPusher(subscription).encode(data, "aes128gcm")["body"]


def vapid_headers(private_key: str, aud: str, **claims: Any) -> dict[str, str]:
    claims = {"sub": "mailto:ops@hengqin.example", "aud": aud, **claims}
    return load_vapid_key(private_key).sign(claims)


def test_push_endpoint_decrypts_what_pywebpush_sends(push, vapid_key) -> None:
    subscription = push.new_subscription()
    headers = {
        **vapid_headers(vapid_key, push.base_url),
        "TTL": "60",
        "Content-Encoding": "aes128gcm",
    }
    answer = httpx.post(
        subscription["endpoint"], content=encrypted(subscription, b"hello"), headers=headers
    )
    assert answer.status_code == 201 and answer.headers["Location"]
    assert push.received[-1].plaintext == b"hello"


@pytest.mark.parametrize(
    "change,status",
    [
        ("no_authorization", 401),
        ("bad_signature", 401),
        ("wrong_audience", 401),
        ("no_ttl", 400),
        ("aesgcm_encoding", 415),
        ("garbage_body", 400),
    ],
)
def test_push_endpoint_refuses_what_a_push_service_refuses(push, vapid_key, change, status) -> None:
    subscription = push.new_subscription()
    body = encrypted(subscription, b"hello")
    headers = {
        **vapid_headers(vapid_key, push.base_url),
        "TTL": "60",
        "Content-Encoding": "aes128gcm",
    }
    if change == "no_authorization":
        del headers["Authorization"]
    elif change == "bad_signature":
        headers["Authorization"] = headers["Authorization"].replace("t=ey", "t=eZ")
    elif change == "wrong_audience":
        headers.update(vapid_headers(vapid_key, "https://push.example.com"))
    elif change == "no_ttl":
        del headers["TTL"]
    elif change == "aesgcm_encoding":
        headers["Content-Encoding"] = "aesgcm"
    elif change == "garbage_body":
        body = b"\x00" * 100
    before = len(push.received)
    answer = httpx.post(subscription["endpoint"], content=body, headers=headers)
    assert answer.status_code == status, answer.text
    assert len(push.received) == before


def test_push_endpoint_over_http(push) -> None:
    subscription = httpx.post(f"{push.base_url}/_subscriptions").json()
    assert set(subscription["keys"]) == {"p256dh", "auth"}
    assert subscription["endpoint"].startswith(push.base_url + "/push/")
    answer = httpx.post(f"{push.base_url}/_control", json={"gone": [subscription["endpoint"]]})
    assert answer.status_code == 200
    private = Vapid()
    private.generate_keys()
    headers = private.sign({"sub": "mailto:a@b.example", "aud": push.base_url})
    gone = httpx.post(
        subscription["endpoint"],
        content=encrypted(subscription, b"x"),
        headers={**headers, "TTL": "0", "Content-Encoding": "aes128gcm"},
    )
    assert gone.status_code == 410
    listing = httpx.get(f"{push.base_url}/_received").json()
    assert json.dumps(listing)  # plain JSON for cross-process benchmarks
