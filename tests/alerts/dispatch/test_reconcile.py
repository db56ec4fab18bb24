"""The reconciler: lost ids are re-queued; a dead worker's claims are looked up at the
provider before anything is sent again; live workers and fresh rows are left alone."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select, update

from alerts.dispatch.queue import InProcessQueue
from alerts.dispatch.reconcile import reconcile
from alerts.dispatch.store import M
from alerts.dispatch.testing import seed_broadcast
from alerts.providers.base import OutgoingMessage
from alerts.sqltypes import utcnow
from tests.alerts.dispatch.conftest import counts, finished, run_worker, twilio_provider


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
