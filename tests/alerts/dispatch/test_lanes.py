"""Priority lanes: an emergency broadcast queued while a bulk one is being sent under the rate
ceiling overtakes it (its SMS reach the provider next, the bulk waits), in one process and
through Redis, on SQLite and PostgreSQL. Conditions, not time: the bulk SMS the provider
received between the emergency's enqueue and its last SMS are counted."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from alerts.dispatch.lanes import EMERGENCY, LANES, NORMAL
from alerts.dispatch.queue import InProcessQueue, RedisStreamQueue
from alerts.dispatch.sms_ceiling import LocalSmsCeiling
from alerts.dispatch.store import B
from alerts.dispatch.testing import seed_broadcast
from tests.alerts.dispatch.conftest import counts, run_worker, twilio_provider

BULK = 2_000
URGENT = 60
RATE = 200.0


def seed(db, count: int, *, start: int, priority: str):
    with db.unit_of_work() as session:
        seeded = seed_broadcast(session, count=count, start=start)
        session.execute(update(B).where(B.c.id == seeded.broadcast_id).values(priority=priority))
        return seeded


@pytest.fixture(params=["in-process", "redis"])
def queue(request):
    if request.param == "in-process":
        yield InProcessQueue()
        return
    stream = RedisStreamQueue(request.getfixturevalue("redis_url"), namespace="test-lanes")
    yield stream
    stream._redis().delete(*stream.streams.values(), stream.parked)
    stream.close()


def test_an_emergency_broadcast_overtakes_a_bulk_one(db, twilio, queue):
    bulk = seed(db, BULK, start=0, priority=NORMAL)
    urgent = seed(db, URGENT, start=BULK, priority=EMERGENCY)
    queue.enqueue(bulk.message_ids, NORMAL)
    enqueued_at: list[int] = []  # how many SMS the provider had when the emergency was queued

    def during(worker, elapsed: float) -> None:
        if not enqueued_at and len(twilio.received) >= 100:  # the bulk is in flight
            enqueued_at.append(len(twilio.received))
            queue.enqueue(urgent.message_ids, EMERGENCY)

    def urgent_sent() -> bool:
        return counts(db, urgent.broadcast_id).get("sent", 0) == URGENT

    run_worker(
        db,
        queue,
        {"sms": twilio_provider(twilio)},
        until=urgent_sent,
        during=during,
        limiter=LocalSmsCeiling(RATE),
    )
    received = [r.to for r in twilio.received]
    urgent_numbers = set(urgent.expected)
    last_urgent = max(i for i, to in enumerate(received) if to in urgent_numbers)
    # bulk SMS that reached the provider after the emergency was queued and before its last
    bulk_between = last_urgent + 1 - enqueued_at[0] - URGENT
    # FIFO would send the ~1,900 bulk SMS still queued first. With lanes, only rows already
    # past the queue go first: those holding a rate slot (0.1 s of the rate: 18 here) and a
    # claim under way (measured 35-70 in all on a loaded machine).
    assert bulk_between < 300, bulk_between
    assert counts(db, bulk.broadcast_id).get("sent", 0) < BULK  # it really was overtaken
    assert sorted(r.to for r in twilio.received if r.to in urgent_numbers) == sorted(
        urgent_numbers
    )  # each once


def test_in_process_queue_serves_the_highest_lane_first():
    queue = InProcessQueue()
    queue.enqueue([1, 2, 3], NORMAL)
    queue.enqueue([10, 11], "high")
    queue.enqueue([20], EMERGENCY)
    assert queue.backlog() == 6
    assert queue.take(10, timeout=0) == [20]
    assert queue.take(1, timeout=0) == [10]
    assert queue.take(10, timeout=0) == [11]
    assert queue.take(10, timeout=0) == [1, 2, 3]
    fifo = InProcessQueue(lanes=False)  # the benchmark's comparison: one lane
    fifo.enqueue([1], NORMAL)
    fifo.enqueue([2], EMERGENCY)
    assert fifo.take(10, timeout=0) == [1, 2]


def test_redis_consumer_reads_the_highest_lane_first(redis_url):
    import asyncio

    stream = RedisStreamQueue(redis_url, namespace="test-lanes-order")
    try:
        stream.enqueue([1, 2], NORMAL)
        stream.enqueue([5], "high")
        stream.enqueue([9], EMERGENCY)
        assert stream.backlog() == 3

        async def main() -> list[tuple[str, list[int]]]:
            consumer = stream.consumer("w")
            got = []
            for _ in range(3):
                for entry in await consumer.receive(10, timeout=0.5):
                    got.append((entry.lane, entry.ids))
                    await consumer.ack([entry])
            only_high = await consumer.receive(10, timeout=0.05, lanes=LANES[:2])
            await consumer.close()
            assert only_high == []
            return got

        assert asyncio.run(main()) == [(EMERGENCY, [9]), ("high", [5]), (NORMAL, [1, 2])]
        assert stream.backlog() == 0
    finally:
        stream._redis().delete(*stream.streams.values(), stream.parked)
        stream.close()


def test_with_the_queue_unreachable_the_outbox_is_read_highest_lane_first(db):
    """Redis down: workers read due rows from the outbox (emergency.dispatch.service's
    OutboxFallbackConsumer); an emergency broadcast's rows come before older bulk rows."""
    from alerts.dispatch.store import due_queued
    from alerts.sqltypes import utcnow

    bulk = seed(db, 30, start=0, priority=NORMAL)
    high = seed(db, 5, start=30, priority="high")
    urgent = seed(db, 10, start=35, priority=EMERGENCY)
    with db.session() as session:
        first = due_queued(session, now=utcnow(), limit=12)
        every = due_queued(session, now=utcnow(), limit=100)
    assert first == sorted(urgent.message_ids) + sorted(high.message_ids)[:2]
    assert every == sorted(urgent.message_ids) + sorted(high.message_ids) + sorted(bulk.message_ids)


def test_ids_given_back_with_redis_configured_keep_their_lane(db, redis_url):
    """With Redis configured a worker's consumer is emergency.dispatch.service's
    OutboxFallbackConsumer: ids it gives back (a retry, a stop's hand-back) go on the queue in
    their lane. It took no lane (found by mypy --strict): every give-back was a TypeError,
    and the ids waited for the reconciler."""
    import asyncio

    from emergency.dispatch.service import OutboxFallbackConsumer

    stream = RedisStreamQueue(redis_url, namespace="test-lanes-give-back")
    try:

        async def main() -> list[tuple[str, list[int]]]:
            consumer = OutboxFallbackConsumer(stream.consumer("w"), db.unit_of_work)
            await consumer.enqueue([3])
            await consumer.enqueue([7, 8], EMERGENCY)
            got = []
            for _ in range(2):
                for entry in await consumer.receive(10, timeout=0.5):
                    got.append((entry.lane, entry.ids))
                    await consumer.ack([entry])
            await consumer.close()
            return got

        assert asyncio.run(main()) == [(EMERGENCY, [7, 8]), (NORMAL, [3])]
    finally:
        stream._redis().delete(*stream.streams.values(), stream.parked)
        stream.close()
