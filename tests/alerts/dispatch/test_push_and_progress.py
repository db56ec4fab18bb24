"""Web push through the local push service (which decrypts like a browser), removal of a gone
subscription, and the progress/completion of a broadcast."""

from __future__ import annotations

import json

from sqlalchemy import select

from alerts.dispatch.progress import ProgressTracker, tick
from alerts.dispatch.queue import InProcessQueue
from alerts.dispatch.store import M, P
from alerts.dispatch.testing import TEXTS, seed_broadcast, seed_push_broadcast
from alerts.journal import RecordingJournal
from alerts.providers.webpush import WebPushProvider, generate_vapid_keys
from alerts.testing import run_push_endpoint
from tests.alerts.dispatch.conftest import counts, finished, run_worker


def test_push_is_received_decrypted_and_a_gone_subscription_is_removed(db):
    private_key, public_key = generate_vapid_keys()
    with run_push_endpoint() as push:
        alive = push.new_subscription(public_key)
        gone = push.new_subscription(public_key)
        push.expire(gone)
        with db.unit_of_work() as session:
            seeded = seed_push_broadcast(session, subscriptions=[alive, gone], language="pt")
        queue = InProcessQueue()
        queue.enqueue(seeded.message_ids)
        provider = WebPushProvider(
            vapid_private_key=private_key, vapid_subject="mailto:duty-officer@hengqin.example"
        )
        run_worker(db, queue, {"push": provider}, until=finished(db, seeded.broadcast_id))
        received = list(push.received)
    assert counts(db, seeded.broadcast_id) == {"sent": 1, "failed": 1}
    [message] = received
    payload = json.loads(message.text)
    assert payload["body"] == TEXTS["pt"] and payload["broadcast_id"] == seeded.broadcast_id
    assert message.urgency == "high" and message.ttl > 0
    with db.session() as session:
        endpoints = set(session.execute(select(P.c.endpoint)).scalars())
        failed = session.execute(
            select(M.c.address, M.c.error_code).where(M.c.status == "failed")
        ).one()
    assert endpoints == {alive["endpoint"]}  # the 410 removed the other subscription
    assert failed == (gone["endpoint"], "410")


def test_progress_counts_rate_eta_and_exactly_one_completion(db):
    from sqlalchemy import update

    with db.unit_of_work() as session:
        seeded = seed_broadcast(session, count=100, expect=False)
    journal, tracker = RecordingJournal(), ProgressTracker()

    def settle(n: int) -> None:
        with db.unit_of_work() as session:
            session.execute(
                update(M).where(M.c.id.in_(seeded.message_ids[:n])).values(status="sent")
            )

    def run_tick(now: float) -> list[dict]:
        with db.unit_of_work() as session:
            return tick(session, tracker=tracker, journal=journal, now=now)

    [first] = run_tick(100.0)
    assert first["counts"] == {
        "queued": 100,
        "sending": 0,
        "sent": 0,
        "delivered": 0,
        "failed": 0,
        "cancelled": 0,
        "total": 100,
    }
    assert first["rate"] == 0 and first["eta_seconds"] is None
    settle(40)
    [second] = run_tick(102.0)
    assert second["counts"]["sent"] == 40 and second["rate"] == 20.0
    assert second["eta_seconds"] == 3.0
    run_tick(102.5)  # nothing changed: no event
    assert [t for t, _ in journal.events] == ["broadcast.progress"] * 2
    settle(100)
    run_tick(103.0)
    assert run_tick(103.5) == []  # completed: no longer sending
    types = [t for t, _ in journal.events]
    assert types.count("broadcast.completed") == 1
    assert types[-2:] == ["broadcast.progress", "broadcast.completed"]
    assert journal.events[-1][1]["counts"]["sent"] == 100
    assert [a["action"] for a in journal.audits] == ["broadcast.completed"]
    with db.session() as session:
        from alerts.dispatch.store import B

        status, completed_at = session.execute(
            select(B.c.status, B.c.completed_at).where(B.c.id == seeded.broadcast_id)
        ).one()
    assert status == "completed" and completed_at is not None
    # a second emitter (a scheduler taking over) racing on the same state completes nothing
    other = RecordingJournal()
    with db.unit_of_work() as session:
        from alerts.dispatch.progress import _complete

        assert not _complete(session, seeded.broadcast_id, journal.events[-2][1], other)
    assert other.events == [] and other.audits == []
