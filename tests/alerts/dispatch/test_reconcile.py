"""The reconciler: lost ids are re-queued; a dead worker's claims are looked up at the
provider before anything is sent again; live workers and fresh rows are left alone."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from alerts.dispatch import store
from alerts.dispatch.queue import InProcessQueue
from alerts.dispatch.reconcile import ReconcileReport, reconcile
from alerts.dispatch.sms_ceiling import LocalSmsCeiling
from alerts.dispatch.store import M
from alerts.dispatch.testing import seed_broadcast
from alerts.dispatch.worker import Worker
from alerts.providers.base import OutgoingMessage
from alerts.sqltypes import utcnow
from tests.alerts.dispatch.conftest import counts, finished, run_worker, twilio_provider
from tests.support.waits import wait_for


def seed(db, count: int, **kw):
    with db.unit_of_work() as session:
        return seed_broadcast(session, count=count, **kw)


def age(db, ids, seconds: float, **values) -> None:
    past = utcnow() - timedelta(seconds=seconds)
    with db.unit_of_work() as session:
        session.execute(
            update(M).where(M.c.id.in_(list(ids))).values(updated_at=past, queued_at=past, **values)
        )


def test_a_queued_row_never_enqueued_is_requeued_once(db):
    seeded = seed(db, 5)  # committed, but the process died before enqueueing
    queue = InProcessQueue()
    assert reconcile(unit_of_work=db.unit_of_work, queue=queue, grace=30).requeued == 0
    age(db, seeded.message_ids, 60)
    report = reconcile(unit_of_work=db.unit_of_work, queue=queue, grace=30)
    assert report.requeued == 5 and sorted(queue.take(100, 0)) == seeded.message_ids
    # touched: the next run leaves them to the queue for another grace period
    assert reconcile(unit_of_work=db.unit_of_work, queue=queue, grace=30).requeued == 0


def test_rows_waiting_behind_a_backlog_are_not_requeued(db):
    seeded = seed(db, 3)
    age(db, seeded.message_ids, 60)
    queue = InProcessQueue()
    queue.enqueue([999_999])  # the queue is busy: they are probably in it
    report = reconcile(unit_of_work=db.unit_of_work, queue=queue, grace=30, stale_after=600)
    assert report.requeued == 0
    report = reconcile(unit_of_work=db.unit_of_work, queue=queue, grace=30, stale_after=10)
    assert report.requeued == 3


def test_a_retry_not_yet_due_is_left_alone(db):
    seeded = seed(db, 2)
    age(db, seeded.message_ids, 60, next_attempt_at=utcnow() + timedelta(seconds=20))
    report = reconcile(unit_of_work=db.unit_of_work, queue=InProcessQueue(), grace=30)
    assert report.requeued == 0


def test_stuck_sending_is_looked_up_before_it_is_sent_again(db, twilio):
    seeded = seed(db, 3)
    sent_before_crash, never_sent, live = seeded.message_ids
    by_id = {mid: addr for addr, mid in zip(seeded.expected, seeded.message_ids, strict=True)}
    # A worker claimed all three; it sent the first, then died before recording it.
    age(
        db,
        [sent_before_crash, never_sent],
        600,
        status="sending",
        claimed_by="dead:1:aaa",
        claimed_at=utcnow() - timedelta(seconds=600),
        attempts=1,
    )
    age(
        db,
        [live],
        20,
        status="sending",
        claimed_by="alive:2:bbb",
        claimed_at=utcnow() - timedelta(seconds=20),
        attempts=1,
    )
    text = seeded.expected[by_id[sent_before_crash]]

    async def send_it() -> str:
        provider = twilio_provider(twilio)
        try:
            result = await provider.send(
                OutgoingMessage(
                    message_id=sent_before_crash,
                    channel="sms",
                    to=by_id[sent_before_crash],
                    body=text,
                )
            )
        finally:
            await provider.close()
        return result.provider_id

    sid = asyncio.run(send_it())
    queue = InProcessQueue()
    report = reconcile(
        unit_of_work=db.unit_of_work,
        queue=queue,
        providers=lambda: {"sms": twilio_provider(twilio)},
        live_workers={"alive:2:bbb"},
        claim_timeout=120,
        dead_after=15,
    )
    assert (report.reclaimed, report.found_sent, report.resent) == (2, 1, 1)
    assert queue.take(10, 0) == [never_sent]
    with db.session() as session:
        rows = dict(session.execute(select(M.c.id, M.c.status)).tuples().all())
        stored_sid = session.execute(
            select(M.c.provider_id).where(M.c.id == sent_before_crash)
        ).scalar_one()
    assert rows == {sent_before_crash: "sent", never_sent: "queued", live: "sending"}
    assert stored_sid == sid
    # the live worker's claim is reclaimed only once it leaves the registry
    report = reconcile(
        unit_of_work=db.unit_of_work,
        queue=queue,
        providers=lambda: {"sms": twilio_provider(twilio)},
        live_workers=set(),
        claim_timeout=120,
        dead_after=15,
    )
    assert report.resent == 1
    queue.enqueue([never_sent])
    run_worker(db, queue, {"sms": twilio_provider(twilio)}, until=finished(db, seeded.broadcast_id))
    assert counts(db, seeded.broadcast_id) == {"sent": 3}
    assert twilio.per_recipient == {addr: 1 for addr in seeded.expected}  # nobody twice


class HeldLimiter(LocalSmsCeiling):
    """The first send waits for its rate slot until ``release`` is set: a worker slowed down
    (a loaded machine, the rate ceiling's Redis restarting) with a claim in hand."""

    def __init__(self) -> None:
        super().__init__(1000)
        self.release = asyncio.Event()
        self.held = False

    async def acquire(self, segments: int = 1) -> None:
        if not self.held:
            self.held = True
            await self.release.wait()
        await super().acquire(segments)


@pytest.mark.parametrize("renewals", ["renewed", "failing", "failing, no take-over"])
def test_a_live_workers_claim_held_past_the_takeover_age_is_never_sent_twice(
    db, twilio, renewals, monkeypatch
):
    """Issue 19: the reconciler takes over claims older than its timeouts, and a claim of any
    worker once the live-worker registry is empty (a Redis restart). A live worker whose send
    waited that long keeps its claim, since it renews it; if its renewals fail (the database
    away for it), the claim is taken over and the slowed-down worker does not send it; nor
    does it once its claim has lapsed, taken over or not (it gives the row back)."""
    if renewals != "renewed":

        def unreachable(*args, **kwargs):
            raise OSError("the database is unreachable from this worker")

        monkeypatch.setattr(store, "renew_claims", unreachable)
    seeded = seed(db, 1)
    [message_id] = seeded.message_ids
    queue = InProcessQueue()
    queue.enqueue([message_id])
    takeover = 3.0  # the reconciler's dead-worker age and claim timeout here
    limiter = HeldLimiter()

    def claimed() -> bool:
        with db.session() as session:
            status = session.execute(select(M.c.status).where(M.c.id == message_id)).scalar_one()
        return status == "sending"

    async def main() -> tuple[ReconcileReport, int]:
        provider = twilio_provider(twilio)
        worker = Worker(
            unit_of_work=db.unit_of_work,
            consumer=queue.consumer(),
            providers={"sms": provider},
            worker_id="live:1:aaa",
            limiter=limiter,
            concurrency=10,
            claim_ttl=1.0,  # renewed every 1/3 s; sent only if confirmed within 1 s
        )
        await worker.start()
        try:
            await asyncio.to_thread(wait_for, claimed, what="the claim")
            held_since = time.monotonic()
            # The claim is held past the take-over age, its worker alive but slowed down.
            await asyncio.to_thread(
                wait_for, lambda: time.monotonic() - held_since > takeover, what="the age"
            )
            if renewals == "failing, no take-over":
                report = ReconcileReport()
            else:
                report = await asyncio.to_thread(
                    reconcile,
                    unit_of_work=db.unit_of_work,
                    queue=queue,
                    providers=lambda: {"sms": twilio_provider(twilio)},
                    live_workers=set(),  # the registry, emptied by a Redis restart
                    claim_timeout=takeover,
                    dead_after=takeover,
                )
            if report.resent:  # taken over: the new claim's send goes out first
                assert await asyncio.to_thread(twilio.wait_for, lambda: twilio.received, 30)
            limiter.release.set()  # the slowed-down worker goes on
            await asyncio.to_thread(
                wait_for, finished(db, seeded.broadcast_id), what="the message sent"
            )
        finally:
            await worker.stop(timeout=10)
            await provider.close()
        return report, worker.stats.claimed

    report, claims = asyncio.run(main())
    assert len(twilio.received) == 1, f"sent {len(twilio.received)} times"
    assert counts(db, seeded.broadcast_id) == {"sent": 1}
    if renewals == "renewed":
        assert (report.reclaimed, report.resent) == (0, 0)  # a live worker's claim stays its own
    elif renewals == "failing":
        assert report.resent == 1  # taken over, sent by the new claim only
    else:  # given back when its claim lapsed, claimed again and sent
        assert claims == 2
