"""The dispatch worker through the real Twilio SDK against the local Twilio-compatible server:
everyone gets the warning exactly once, in their language, through 429 storms and 500s;
permanent errors are recorded once; ambiguous timeouts are reconciled, not re-sent; a cancel
stops what has not left; result writes survive a database that is briefly away."""

from __future__ import annotations

import collections

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError

from alerts.dispatch.queue import InProcessQueue
from alerts.dispatch.sms_ceiling import LocalSmsCeiling
from alerts.dispatch.store import B, M, S
from alerts.dispatch.testing import TEXTS, phone, seed_broadcast
from alerts.dispatch.worker import backoff, text_for
from tests.alerts.dispatch.conftest import counts, finished, run_worker, twilio_provider


def seed(db, count: int, **kw):
    with db.unit_of_work() as session:
        return seed_broadcast(session, count=count, **kw)


def received_by_recipient(twilio) -> dict[str, list[str]]:
    by_to: dict[str, list[str]] = collections.defaultdict(list)
    for rec in twilio.received:
        by_to[rec.to].append(rec.body)
    return by_to


def test_thousands_in_four_languages_each_exactly_once(db, twilio):
    # 30 rounds of the worker's 100 sends in flight (200,000 at once: benchmarks/bench_dispatch)
    seeded = seed(db, 3_000)
    queue = InProcessQueue()
    queue.enqueue(seeded.message_ids)
    # A generous timeout: on a loaded machine the local server can take over the default 5 s
    # to answer, and a timed-out send is (rightly) retried after a lookup; the check below
    # that nothing was retried is about the worker, not the machine.
    provider = twilio_provider(twilio, timeout=60.0)
    worker = run_worker(
        db, queue, {"sms": provider}, until=finished(db, seeded.broadcast_id), timeout=300
    )
    assert counts(db, seeded.broadcast_id) == {"sent": 3_000}
    got = received_by_recipient(twilio)
    assert len(got) == 3_000
    assert {to: bodies for to, bodies in got.items() if len(bodies) != 1} == {}
    wrong = [to for to, bodies in got.items() if bodies[0] != seeded.expected[to]]
    assert wrong == []
    assert {TEXTS[lang] for lang in TEXTS} == {bodies[0] for bodies in got.values()}
    assert all(r.status_callback.endswith("/webhooks/twilio/status") for r in twilio.received)
    # every row carries the SID the provider gave it
    with db.session() as session:
        sids = dict(
            session.execute(
                select(M.c.address, M.c.provider_id).where(M.c.broadcast_id == seeded.broadcast_id)
            )
            .tuples()
            .all()
        )
    assert {r.to: r.sid for r in twilio.received} == sids
    assert worker.stats.sent == 3_000 and worker.stats.retried == 0


def test_429_storm_and_random_500s_lose_nothing_and_send_nothing_twice(db, twilio):
    seeded = seed(db, 2000)
    # The storm counted in requests, not seconds: a worker slow to start on a loaded machine
    # would otherwise miss a 2-second storm altogether.
    twilio.control(fail_429_next=300, retry_after=0.5, error_rate=0.05)
    queue = InProcessQueue()
    queue.enqueue(seeded.message_ids)
    worker = run_worker(
        db,
        queue,
        {"sms": twilio_provider(twilio)},
        until=finished(db, seeded.broadcast_id),
        timeout=90,
    )
    stats = twilio.stats()
    assert stats["throttled"] > 0 and stats["server_errors"] > 0
    assert counts(db, seeded.broadcast_id) == {"sent": 2000}
    assert stats["recipients"] == 2000 and stats["duplicates"] == 0
    assert set(twilio.per_recipient.values()) == {1}
    assert worker.stats.retried >= stats["throttled"] + stats["server_errors"]


def test_permanent_errors_are_recorded_once_and_never_retried(db, twilio):
    seeded = seed(db, 40)
    invalid, unsubscribed = [phone(3), phone(7)], [phone(11), phone(20)]
    twilio.control(invalid_numbers=invalid, unsubscribed=unsubscribed)
    queue = InProcessQueue()
    queue.enqueue(seeded.message_ids)
    run_worker(db, queue, {"sms": twilio_provider(twilio)}, until=finished(db, seeded.broadcast_id))
    assert twilio.stats()["rejected"] == 4  # exactly one request each
    assert counts(db, seeded.broadcast_id) == {"sent": 36, "failed": 4}
    with db.session() as session:
        failed = session.execute(
            select(M.c.address, M.c.error_code, M.c.attempts).where(M.c.status == "failed")
        ).all()
        opted_out = set(session.execute(select(S.c.phone).where(S.c.opted_out)).scalars())
    assert {(a, code, n) for a, code, n in failed} == {
        *((a, "21211", 1) for a in invalid),
        *((a, "21610", 1) for a in unsubscribed),
    }
    assert opted_out == set(unsubscribed)  # STOP is remembered for the next broadcast


def test_ambiguous_timeout_is_looked_up_not_sent_again(db, twilio):
    seeded = seed(db, 6)
    twilio.control(delay=1.0)  # the server records the message, then answers too late
    queue = InProcessQueue()
    queue.enqueue(seeded.message_ids)
    worker = run_worker(
        db,
        queue,
        {"sms": twilio_provider(twilio, timeout=0.3)},
        until=finished(db, seeded.broadcast_id),
    )
    assert counts(db, seeded.broadcast_id) == {"sent": 6}
    assert set(twilio.per_recipient.values()) == {1}
    assert worker.stats.reconciled == 6
    with db.session() as session:
        sids = set(session.execute(select(M.c.provider_id)).scalars())
    assert sids == {r.sid for r in twilio.received}


def test_cancel_mid_send_stops_what_has_not_left(db, twilio):
    seeded = seed(db, 400)
    queue = InProcessQueue()
    queue.enqueue(seeded.message_ids)
    cancelled_at: list[int] = []

    # Cancelled once 100 have left (counted in requests, not seconds: a loaded machine sends
    # slower than the ceiling)
    def cancel_after_100(worker, elapsed):
        if len(twilio.received) >= 100 and not cancelled_at:
            with db.unit_of_work() as session:  # what the broadcasts service's cancel does
                session.execute(
                    update(B).where(B.c.id == seeded.broadcast_id).values(status="cancelled")
                )
                session.execute(
                    update(M)
                    .where(M.c.broadcast_id == seeded.broadcast_id, M.c.status == "queued")
                    .values(status="cancelled")
                )
            cancelled_at.append(len(twilio.received))

    run_worker(
        db,
        queue,
        {"sms": twilio_provider(twilio)},
        limiter=LocalSmsCeiling(100.0),
        during=cancel_after_100,
        until=finished(db, seeded.broadcast_id),
    )
    final = counts(db, seeded.broadcast_id)
    sent_at_cancel = cancelled_at[0]
    assert 100 <= sent_at_cancel <= 200  # mid-send
    assert final["sent"] == len(twilio.received)  # everything that left is recorded
    assert final["cancelled"] == 400 - final["sent"]
    # after the cancel only what was already claimed and paced could leave: < 1 s of rate
    assert len(twilio.received) - sent_at_cancel <= 100


def test_result_writes_wait_for_the_database(db, twilio, monkeypatch):
    """A database restart while results are written: the writer retries; nothing is lost
    and nothing is sent again."""
    from alerts.dispatch import store

    seeded = seed(db, 300)
    queue = InProcessQueue()
    queue.enqueue(seeded.message_ids)
    failures = {"left": 4}
    real_record = store.record

    def record_then_lose_the_connection(session, results, **kw):
        real_record(session, results, **kw)
        if failures["left"] > 0:  # the transaction is rolled back
            failures["left"] -= 1
            raise OperationalError("UPDATE", {}, Exception("server closed the connection"))

    monkeypatch.setattr(store, "record", record_then_lose_the_connection)
    worker = run_worker(
        db, queue, {"sms": twilio_provider(twilio)}, until=finished(db, seeded.broadcast_id)
    )
    assert failures["left"] == 0 and worker.stats.write_errors >= 4
    assert counts(db, seeded.broadcast_id) == {"sent": 300}
    assert set(twilio.per_recipient.values()) == {1} and len(twilio.per_recipient) == 300


def test_an_id_enqueued_twice_is_sent_once(db, twilio):
    seeded = seed(db, 50)
    queue = InProcessQueue()
    queue.enqueue(seeded.message_ids)
    queue.enqueue(seeded.message_ids)
    queue.enqueue(seeded.message_ids[:10])
    run_worker(
        db,
        queue,
        {"sms": twilio_provider(twilio)},
        until=lambda: len(queue) == 0 and finished(db, seeded.broadcast_id)(),
    )
    assert counts(db, seeded.broadcast_id) == {"sent": 50}
    assert set(twilio.per_recipient.values()) == {1}


def test_backoff_doubles_with_jitter_caps_and_honours_retry_after():
    assert backoff(1, rand=lambda: 0.5) == pytest.approx(0.1)
    assert backoff(4, rand=lambda: 0.5) == pytest.approx(0.8)
    assert backoff(4, rand=lambda: 1.0) == pytest.approx(0.88)
    assert backoff(4, rand=lambda: 0.0) == pytest.approx(0.72)
    assert backoff(30, rand=lambda: 0.5) == pytest.approx(30.0)
    assert backoff(1, 2.5, rand=lambda: 0.5) == pytest.approx(2.5)


def test_text_for_falls_back_when_a_language_is_missing():
    assert text_for({"en": "E", "zh-Hant": "T"}, "pt") == "T"
    assert text_for({"en": "E"}, "zh-Hans") == "E"
    assert text_for({"pt": "P"}, "pt") == "P"
    assert text_for({}, "pt") is None
