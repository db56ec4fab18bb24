"""The worker embedded in the API process (the default `typhoon serve`): a broadcast goes out
through the real Twilio SDK to the local server, and /ws/live shows its progress several
times a second and its completion exactly once."""

from __future__ import annotations

import time

import pytest

from alerts.dispatch.testing import seed_broadcast
from alerts.outbox import enqueue_after_commit
from alerts.testing import run_twilio_server
from tests.support import server
from tests.support.live import LiveClient

FROM = "+15005550006"


@pytest.fixture
def twilio():
    with run_twilio_server(record="counts") as fake:
        yield fake


def test_progress_on_the_live_stream_and_one_completion(database_url, settings_for, twilio):
    settings = settings_for(
        database_url,
        TWILIO_ACCOUNT_SID=twilio.account_sid,
        TWILIO_AUTH_TOKEN=twilio.auth_token,
        TWILIO_FROM_NUMBER=FROM,
        TWILIO_API_BASE_URL=twilio.base_url,
        TYPHOON_SMS_RATE=400,  # 1,200 messages take about three seconds
    )
    with server.run(settings) as app, LiveClient(app.ws_url, app.token("viewer")) as live:
        assert live.next()["type"] == "snapshot"
        runtime = app.app.state.runtime
        with app.db.unit_of_work() as session:  # what start_sending leaves behind
            seeded = seed_broadcast(session, count=1200, expect=False)
            enqueue_after_commit(session, runtime.queue, seeded.message_ids)
        started = time.monotonic()
        progress, completed = [], []
        deadline = started + 60
        while not completed and time.monotonic() < deadline:
            event = live.next_event(timeout=10)
            if event["data"].get("id") != seeded.broadcast_id:
                continue
            if event["type"] == "broadcast.progress":
                progress.append((time.monotonic(), event["data"]))
            elif event["type"] == "broadcast.completed":
                completed.append(event)
        assert completed, "no broadcast.completed"
        # nothing more for this broadcast: completion is announced once
        extra = []
        end = time.monotonic() + 2.5
        while time.monotonic() < end:
            try:
                event = live.next_event(timeout=max(0.05, end - time.monotonic()))
            except TimeoutError:
                break
            if event["data"].get("id") == seeded.broadcast_id:
                extra.append(event["type"])
        assert extra == []
    sending = [(t, d) for t, d in progress if d["counts"]["queued"] + d["counts"]["sending"]]
    span = sending[-1][0] - sending[0][0]
    assert span > 1.5 and len(sending) / span >= 2.5, (len(sending), span)
    last = progress[-1][1]
    assert last["counts"] == {
        "queued": 0,
        "sending": 0,
        "sent": 1200,
        "delivered": 0,
        "failed": 0,
        "cancelled": 0,
        "total": 1200,
    }
    middle = sending[len(sending) // 2][1]
    assert 250 <= middle["rate"] <= 420 and middle["eta_seconds"] is not None
    assert completed[0]["data"]["counts"]["sent"] == 1200
    assert twilio.stats()["created"] == 1200 and twilio.stats()["duplicates"] == 0
