"""drain(): the queue and the due scheduled work run to the end in the caller's thread, at
the Runtime's clock, so tests assert on what happened (and did not) without waiting."""

from __future__ import annotations

from datetime import timedelta

from emergency.db import utcnow
from emergency.drain import NOT_DRAINED, _drained_jobs
from emergency.scheduled import PERIODIC_JOBS
from tests.emergency.broadcasts.factories import TEXTS, seed
from tests.emergency.broadcasts.test_broadcasts_api import outbox, post, zones_of


def test_every_periodic_job_is_drained_unless_said_why_not():
    names = {job.name for job in PERIODIC_JOBS}
    assert set(NOT_DRAINED) <= names  # no stale name
    assert set(_drained_jobs()) == names - set(NOT_DRAINED)
    assert {"broadcasts-start-due", "dispatch-progress", "signals-expire"} <= set(_drained_jobs())


def broadcast(app, **extra) -> dict:
    r = post(app, {"messages": TEXTS, "zones": ["xiaohengqin"], "channels": ["sms"], **extra})
    assert r.status_code == 201, r.text
    return r.json()


def status(app, broadcast_id: int) -> dict:
    r = app.client.get(f"/api/v1/broadcasts/{broadcast_id}", headers=app.auth("viewer"))
    assert r.status_code == 200, r.text
    return r.json()


def test_drain_sends_the_queue_and_completes_the_broadcast(app_server):
    app = app_server  # no background worker: nothing moves until drain()
    phones = seed(app.db, zones_of(app), 7)
    b = broadcast(app)
    assert status(app, b["id"])["counts"]["queued"] == 7
    done = app.drain()
    assert (done.received, done.sent, done.failed) == (7, 7, 0)
    after = status(app, b["id"])
    assert after["status"] == "completed" and after["counts"]["sent"] == 7
    assert sorted(m.address for m in outbox(app, b["id"])) == sorted(phones)
    again = app.drain()  # nothing left: one round, nothing received
    assert (again.rounds, again.received, again.jobs) == (1, 0, 0)


def test_the_clock_decides_what_is_due(app_server):
    app = app_server
    seed(app.db, zones_of(app), 3)
    b = broadcast(app, send_at=(utcnow() + timedelta(hours=1)).isoformat())
    assert app.drain().received == 0
    assert status(app, b["id"])["status"] == "scheduled"
    app.clock.advance(minutes=61)
    done = app.drain()
    assert done.received == 3 and done.jobs >= 1  # the broadcast's own timed job
    assert status(app, b["id"])["status"] == "completed"
    assert app.clock.now() - utcnow() > timedelta(minutes=60)
