"""A broadcast bigger than one chunk through the application: the request commits with the
first chunk queued, a thread writes the rest right after; a process that stopped between
chunks leaves the rest to the periodic job (two at once write nothing twice); the broadcast
is not completed before its audience is all written; cancelling stops the chunks."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlmodel import col

from alerts.broadcasts import service as core
from alerts.dispatch.progress import ProgressTracker, tick
from alerts.models import Broadcast, Message
from alerts.sqltypes import utcnow
from alerts.testing import run_twilio_server
from emergency.broadcasts import scheduled as broadcast_jobs
from emergency.broadcasts import service as broadcast_service
from emergency.events import service as event_service
from emergency.journal import JOURNAL
from tests.alerts.dispatch.conftest import finished, run_worker, twilio_provider
from tests.emergency.broadcasts.factories import TEXTS, XIAOHENGQIN, seed
from tests.emergency.broadcasts.test_broadcasts_api import outbox, post, zones_of
from tests.support import server
from tests.support.waits import wait_for

N = 250


@pytest.fixture(scope="module")
def _twilio():
    with run_twilio_server() as handle:
        yield handle


@pytest.fixture
def twilio(_twilio):
    _twilio.reset()
    return _twilio


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(core, "FIRST_CHUNK", 30)
    monkeypatch.setattr(core, "CHUNK", 40)


@pytest.fixture
def app(alerts_settings, small_chunks):
    # No embedded worker or scheduler: the test runs them, so it knows when they run.
    settings = alerts_settings(TYPHOON_APPROVAL_THRESHOLD=100_000)
    with server.run(settings, embedded_worker=False, embedded_scheduler=False) as running:
        yield running


@pytest.fixture
def no_after_commit_writer(monkeypatch):
    """The process dies right after the signal's commit: its thread never writes the rest."""
    monkeypatch.setattr(
        broadcast_service, "finish_audience_soon", lambda runtime, bid, **kwargs: None
    )


def runtime_of(app):
    return app.app.state.runtime


def broadcast(app, broadcast_id) -> Broadcast:
    with app.db.session() as session:
        return session.get(Broadcast, broadcast_id)


def send_all(app, twilio, broadcast_id) -> None:
    run_worker(
        app.db,
        runtime_of(app).queue,
        {"sms": twilio_provider(twilio)},
        until=finished(app.db, broadcast_id),
    )


def progress_tick(app) -> None:
    tracker = ProgressTracker()
    with app.db.unit_of_work() as session:
        tick(session, tracker=tracker, journal=JOURNAL)


def start(app) -> dict:
    phones = seed(app.db, zones_of(app), N, at=XIAOHENGQIN)
    r = post(app, {"messages": TEXTS, "zones": ["xiaohengqin"], "channels": ["sms"]})
    assert r.status_code == 201, r.text
    b = r.json()
    assert (b["status"], b["recipients"], sum(b["by_language"].values())) == ("sending", N, N)
    b["phones"] = phones
    return b


def test_the_request_commits_the_first_chunk_and_a_thread_writes_the_rest(app, twilio):
    b = start(app)
    deadline = time.monotonic() + 30
    while not broadcast(app, b["id"]).audience_complete:
        assert time.monotonic() < deadline, "the rest of the outbox was never written"
        time.sleep(0.05)
    rows = outbox(app, b["id"])
    assert sorted(m.address for m in rows) == sorted(b["phones"])
    send_all(app, twilio, b["id"])
    assert twilio.per_recipient == dict.fromkeys(b["phones"], 1)
    progress_tick(app)
    assert broadcast(app, b["id"]).status == "completed"


def test_after_a_stop_between_chunks_the_periodic_job_finishes_without_duplicates(
    app, twilio, no_after_commit_writer
):
    b = start(app)
    assert len(outbox(app, b["id"])) == 30
    send_all(app, twilio, b["id"])  # the first chunk leaves at once
    assert len(twilio.received) == 30
    progress_tick(app)  # nothing queued or sending, but the audience is not all written
    assert broadcast(app, b["id"]).status == "sending"

    # A writer that dies inside a chunk: its transaction rolls back, the cursor with it.
    runtime = runtime_of(app)
    with pytest.raises(RuntimeError), app.db.unit_of_work() as session:
        core.write_next_chunk(
            session, broadcast_id=b["id"], zones=runtime.zones, queue=runtime.queue
        )
        raise RuntimeError("killed mid-chunk")
    assert len(outbox(app, b["id"])) == 30

    # Two schedulers' jobs at once (a hand-over): each chunk is written once.
    written: list[int] = []
    jobs = [
        threading.Thread(
            target=lambda: written.append(broadcast_jobs.finish_audiences(runtime=runtime))
        )
        for _ in range(2)
    ]
    for job in jobs:
        job.start()
    for job in jobs:
        job.join(timeout=60)
    assert sum(written) == N - 30
    rows = outbox(app, b["id"])
    assert len(rows) == N and sorted(m.address for m in rows) == sorted(b["phones"])
    assert broadcast(app, b["id"]).audience_complete

    send_all(app, twilio, b["id"])
    assert twilio.per_recipient == dict.fromkeys(b["phones"], 1)
    progress_tick(app)
    done = broadcast(app, b["id"])
    assert (done.status, done.recipients) == ("completed", N)
    assert broadcast_jobs.finish_audiences(runtime=runtime) == 0


def test_cancelling_mid_way_stops_the_chunks(app, no_after_commit_writer):
    b = start(app)
    r = app.client.post(f"/api/v1/broadcasts/{b['id']}/cancel", headers=app.auth("operator"))
    assert r.status_code == 200, r.text
    assert r.json()["messages_cancelled"] == 30
    assert broadcast_jobs.finish_audiences(runtime=runtime_of(app)) == 0
    rows = outbox(app, b["id"])
    assert len(rows) == 30 and {m.status for m in rows} == {"cancelled"}
    with app.db.session() as session:
        assert core.incomplete_audiences(session) == []
        assert session.execute(select(Broadcast.status)).scalar_one() == "cancelled"


# --- SMS written a minute of the rate ceiling ahead, not all at once (issue 18) ----------------


@pytest.fixture
def minute_of_sms(alerts_settings, small_chunks):
    """A ceiling of one SMS a second: a minute of it is 60 rows (chunks of 30, then 40)."""
    settings = alerts_settings(TYPHOON_APPROVAL_THRESHOLD=100_000, TYPHOON_SMS_RATE=1)
    with server.run(settings, embedded_worker=False, embedded_scheduler=False) as running:
        yield running


@pytest.fixture
def held_pauses(monkeypatch) -> tuple[threading.Event, threading.Event]:
    """The outbox writer's pause, held until the test lets it go: (paused, resume)."""
    paused, resume = threading.Event(), threading.Event()

    def pause() -> None:
        paused.set()
        assert resume.wait(60), "the test never let the writer go on"
        resume.clear()

    monkeypatch.setattr(broadcast_service, "pause_writer", pause)
    return paused, resume


def sms_queued(app, broadcast_id: int) -> int:
    return sum(m.status == "queued" for m in outbox(app, broadcast_id))


def test_the_writer_keeps_a_minute_of_sms_ahead_of_the_ceiling(minute_of_sms, twilio, held_pauses):
    app, (paused, resume) = minute_of_sms, held_pauses
    b = start(app)  # the request writes the first 30
    written_at_pauses = []
    while True:
        wait_for(
            lambda: paused.is_set() or broadcast(app, b["id"]).audience_complete,
            what="the writer pausing or done",
        )
        if not paused.is_set():
            break
        written_at_pauses.append(len(outbox(app, b["id"])))
        assert 60 <= sms_queued(app, b["id"]) < 60 + 40  # a minute, and at most one chunk more
        send_all(app, twilio, b["id"])  # what the ceiling would have sent meanwhile
        paused.clear()
        resume.set()
    assert written_at_pauses == [70, 150, 230]  # 30 + 40; then 40 + 40 at a time
    send_all(app, twilio, b["id"])
    assert twilio.per_recipient == dict.fromkeys(b["phones"], 1)
    progress_tick(app)
    assert broadcast(app, b["id"]).status == "completed"


def test_the_periodic_job_writes_up_to_a_minute_of_sms_and_returns(
    minute_of_sms, twilio, no_after_commit_writer
):
    app = minute_of_sms
    runtime = runtime_of(app)
    b = start(app)
    assert broadcast_jobs.finish_audiences(runtime=runtime) == 40  # 70 queued: a minute
    assert broadcast_jobs.finish_audiences(runtime=runtime) == 0  # none sent meanwhile
    written = []
    while not broadcast(app, b["id"]).audience_complete:
        send_all(app, twilio, b["id"])
        written.append(broadcast_jobs.finish_audiences(runtime=runtime))
    assert written == [80, 80, 20]
    send_all(app, twilio, b["id"])
    assert twilio.per_recipient == dict.fromkeys(b["phones"], 1)


def test_sms_waiting_out_a_retry_are_not_counted_ahead(minute_of_sms, no_after_commit_writer):
    app = minute_of_sms
    runtime = runtime_of(app)
    b = start(app)
    assert broadcast_jobs.finish_audiences(runtime=runtime) == 40  # 70 queued: a minute
    later = utcnow() + timedelta(minutes=10)  # the provider said "try later" to all 70
    with app.db.unit_of_work() as session:
        session.execute(
            update(Message)
            .where(col(Message.broadcast_id) == b["id"])
            .values(next_attempt_at=later)
        )
    assert broadcast_jobs.finish_audiences(runtime=runtime) == 80  # none of them due now


# --- a pre-approved broadcast starts before it is counted (issue 18) ---------------------------


def start_preapproved(app) -> Broadcast:
    """What the signal No. 8 rule does: a pre-approved template to a zone, sent at once."""
    seed(app.db, zones_of(app), N, at=XIAOHENGQIN)
    with app.db.unit_of_work() as session:
        return broadcast_service.create_broadcast(
            session,
            template="stay_indoors_signal8",
            variables={"issued_at": "22:00"},
            zones=["xiaohengqin"],
            channels=["sms", "push"],
            actor="rule:signal8",
            origin="rule:signal8",
            idempotency_key="signal8-run-1",
            preapproved_by="rule:signal8",
            runtime=runtime_of(app),
        )


def counted_events(app, broadcast_id: int) -> list[dict]:
    with app.db.session() as session:
        return [
            e["data"]
            for e in event_service.events_since(session, 0)
            if e["type"] == "broadcast.counted" and e["data"]["id"] == broadcast_id
        ]


def test_a_preapproved_broadcast_starts_from_a_first_chunk_and_is_counted_after_the_commit(
    app, monkeypatch
):
    monkeypatch.setattr(  # the process stops right after the commit: nothing after it ran
        broadcast_service, "finish_audience_soon", lambda runtime, bid, count=False: None
    )
    b = start_preapproved(app)
    # the commit holds the first chunk (found with a LIMIT query), queued; not yet counted
    assert (b.status, b.recipients, b.audience_complete) == ("sending", 30, False)
    assert len(outbox(app, b.id)) == 30
    assert counted_events(app, b.id) == []
    broadcast_service.count_audience(runtime_of(app), b.id)  # what runs after the commit
    counted = broadcast(app, b.id)
    assert (counted.recipients, sum(counted.by_language.values())) == (N, N)
    [event] = counted_events(app, b.id)
    assert (event["recipients"], event["status"]) == (N, "sending")
    # the periodic job writes the rest; the outbox's own count agrees
    assert broadcast_jobs.finish_audiences(runtime=runtime_of(app)) == N - 30
    done = broadcast(app, b.id)
    assert (done.audience_complete, done.recipients) == (True, N)
    # a count that comes after the outbox is complete tells what the rows say
    broadcast_service.count_audience(runtime_of(app), b.id)
    assert [e["recipients"] for e in counted_events(app, b.id)] == [N, N]
    # a cancelled broadcast is not counted
    app.client.post(f"/api/v1/broadcasts/{b.id}/cancel", headers=app.auth("operator"))
    broadcast_service.count_audience(runtime_of(app), b.id)
    assert len(counted_events(app, b.id)) == 2


def test_after_the_commit_threads_count_the_audience_and_write_the_rest(app, twilio):
    b = start_preapproved(app)
    wait_for(
        lambda: counted_events(app, b.id) and broadcast(app, b.id).audience_complete,
        what="the count and the rest of the outbox",
    )
    assert counted_events(app, b.id)[0]["recipients"] == N
    assert len(outbox(app, b.id)) == N and broadcast(app, b.id).recipients == N
    send_all(app, twilio, b.id)
    assert len(twilio.per_recipient) == N and set(twilio.per_recipient.values()) == {1}
