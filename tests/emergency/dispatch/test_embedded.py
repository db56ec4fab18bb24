"""The worker embedded in the API process (the default `typhoon serve`): a broadcast goes out
through the real Twilio SDK to the local server, and /ws/live shows its progress several
times a second and its completion exactly once."""

from __future__ import annotations

import time

import pytest

from alerts.dispatch.store import enqueue_after_commit
from alerts.dispatch.testing import seed_broadcast
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
    background = dict(embedded_worker=True, embedded_scheduler=True)  # what this test is about
    with (
        server.run(settings, **background) as app,
        LiveClient(app.ws_url, app.token("viewer")) as live,
    ):
        assert live.next()["type"] == "snapshot"
        runtime = app.app.state.runtime
        with app.db.unit_of_work() as session:  # what start_sending leaves behind
            seeded = seed_broadcast(session, count=1200, expect=False)
            enqueue_after_commit(session, runtime.queue, seeded.message_ids)
        started = time.monotonic()
        progress, completed = [], []
        deadline = started + 60
        while not completed and time.monotonic() < deadline:
            event = live.next_event(timeout=30)
            if event["data"].get("id") != seeded.broadcast_id:
                continue
            if event["type"] == "broadcast.progress":
                progress.append((time.monotonic(), event["data"]))
            elif event["type"] == "broadcast.completed":
                completed.append(event)
        assert completed, "no broadcast.completed"
    # The app has stopped (its worker and scheduler with it): every event it emitted is in
    # the event table, and completion was announced once.
    from emergency.db import Database
    from emergency.events import service as event_service

    db = Database(database_url)
    with db.session() as session:
        stored = [
            e["type"]
            for e in event_service.events_since(session, 0)
            if e["data"].get("id") == seeded.broadcast_id
        ]
    db.dispose()
    assert stored.count("broadcast.completed") == 1
    assert stored[-1] == "broadcast.completed"  # nothing after it
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

    # The rate shown is the rate achieved: under the ceiling, and what the counts show (a
    # loaded machine sends slower than the ceiling; the figure must say so, not the setting).
    def sent(data: dict) -> int:
        return data["counts"]["sent"] + data["counts"]["failed"]

    observed = (sent(sending[-1][1]) - sent(sending[0][1])) / span
    middle = sending[len(sending) // 2][1]
    assert middle["rate"] <= 420 and middle["eta_seconds"] is not None
    assert 0.5 * observed <= middle["rate"] <= 1.5 * observed, (middle["rate"], observed)
    assert completed[0]["data"]["counts"]["sent"] == 1200
    assert twilio.stats()["created"] == 1200 and twilio.stats()["duplicates"] == 0
