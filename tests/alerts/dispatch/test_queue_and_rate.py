"""The queues (in-process, Redis Streams with a consumer group) and the rate ceiling."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from types import SimpleNamespace

import pytest

from alerts.dispatch.lanes import LANES
from alerts.dispatch.queue import GROUP, InProcessQueue, RedisStreamQueue
from alerts.dispatch.sms_ceiling import LocalSmsCeiling, RedisSmsCeiling
from alerts.dispatch.testing import max_in_window


def test_in_process_queue_wakes_an_async_consumer_from_another_thread():
    """A consumer parked in receive() with an hour to wait gets the ids another thread
    enqueues: only the wake-up can end its wait before the test's deadline (no clock read)."""
    queue = InProcessQueue()

    async def main() -> list[int]:
        consumer = queue.consumer()
        waiting = asyncio.create_task(consumer.receive(10, timeout=3600))

        async def parked() -> None:
            while not queue._waiters:
                await asyncio.sleep(0.01)

        await asyncio.wait_for(parked(), 60)
        assert not waiting.done()  # nothing queued: it waits
        thread = threading.Thread(target=queue.enqueue, args=([1, 2, 3],))
        thread.start()
        entries = await asyncio.wait_for(waiting, 60)
        thread.join()
        return [i for e in entries for i in e.ids]

    assert asyncio.run(main()) == [1, 2, 3]
    assert asyncio.run(queue.consumer().receive(1, timeout=0.05)) == []


@pytest.fixture
def stream(redis_url):
    queue = RedisStreamQueue(
        redis_url, namespace=f"test:{uuid.uuid4().hex[:8]}", min_idle=2.0, max_deliveries=2
    )
    yield queue
    client = queue._redis()
    client.delete(queue.stream, queue.parked)
    queue.close()


async def idle_for(queue, entries, seconds: float) -> None:
    """Until Redis counts each of `entries` idle (not delivered nor kept alive) `seconds`."""

    def idle(entry) -> float:
        [row] = queue._redis().xpending_range(
            queue.stream_of(entry.lane), GROUP, min=entry.entry_id, max=entry.entry_id, count=1
        )
        return row["time_since_delivered"] / 1000

    deadline = time.monotonic() + 30 + seconds
    while min(idle(e) for e in entries) < seconds:
        assert time.monotonic() < deadline, "the entries never went idle"
        await asyncio.sleep(0.05)


def test_stream_entries_acked_reclaimed_kept_alive_and_parked(stream):
    """Waits on Redis's own idle times, not on sleeps: an entry is reclaimed once idle for
    `min_idle`, and a keepalive makes an idle one fresh again (with `min_idle` of room for a
    stalled machine between the keepalive and the reclaim)."""
    stream.enqueue(list(range(1, 251)))  # 3 entries of ≤ 100 ids
    assert stream.backlog() == 3

    async def main():
        a, b = stream.consumer("worker-a"), stream.consumer("worker-b")
        entries = await a.receive(10, timeout=30)
        assert [len(e.ids) for e in entries] == [100, 100, 50]
        assert entries[0].ids[:3] == [1, 2, 3] and entries[0].deliveries == 1
        await a.ack(entries[:1])  # stored: forgotten (XACK + XDEL)
        assert stream.backlog() == 2
        assert await b.receive(10, timeout=0.1) == []  # nothing new
        await idle_for(stream, entries[1:], stream.min_idle)  # both could be reclaimed now
        await a.keepalive(entries[1:2])  # worker-a still works on the second one
        taken = await b.reclaim()  # only the third is still idle
        assert [(e.ids[0], e.deliveries) for e in taken] == [(201, 2)]
        await idle_for(stream, entries[1:], stream.min_idle)
        again = await a.reclaim()  # worker-b died too: a third delivery is poison
        assert {e.ids[0]: e.deliveries for e in again} == {101: 2, 201: 3}
        poison = next(e for e in again if e.deliveries > stream.max_deliveries)
        await a.park(poison, "delivered 3 times")
        await a.ack([e for e in again if e is not poison])
        assert stream.backlog() == 0
        await a.close()
        await b.close()

    asyncio.run(main())
    [parked] = stream.parked_entries()
    assert parked["ids"].startswith("201,202") and parked["deliveries"] == "3"


def test_stream_survives_losing_its_group(stream):
    async def main():
        consumer = stream.consumer("w")
        stream.enqueue([1])
        assert [e.ids for e in await consumer.receive(1, timeout=30)] == [[1]]
        stream._redis().delete(stream.stream)  # a Redis restart without persistence
        stream.enqueue([2])
        assert [e.ids for e in await consumer.receive(1, timeout=30)] == [[2]]
        await consumer.close()

    asyncio.run(main())


def test_enqueue_never_raises_when_redis_is_down():
    queue = RedisStreamQueue("redis://127.0.0.1:1/0")  # nothing listens there
    queue.enqueue([1, 2, 3])  # logged; the reconciler re-queues the stored rows
    queue.close()


async def _pace(limiter, seconds: float, segments: int = 1) -> list[float]:
    stamps, end = [], time.monotonic() + seconds
    while time.monotonic() < end:
        await limiter.acquire(segments)
        stamps.append(time.monotonic())
    return stamps


class VirtualTime:
    """The limiter's clock, moved only by its own sleeps (each `late` one wakes `late_by`
    after its time, as on a starved CPU), so the pacing arithmetic is checked exactly, on a
    loaded machine too; the real-time rate is the benchmark's (`bench_rate_ceiling`)."""

    def __init__(self, *, late_every: int = 0, late_by: float = 0.0) -> None:
        self.now = 1000.0
        self.sleeps = 0
        self.late_every = late_every
        self.late_by = late_by
        self._sleep = asyncio.sleep

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        late = self.late_every and self.sleeps % self.late_every == 0
        self.now += max(0.0, seconds) + (self.late_by if late else 0.0)
        await self._sleep(0)


class _AsyncioWith:
    """`asyncio` with some of its functions replaced."""

    def __init__(self, **replaced) -> None:
        self._replaced = replaced

    def __getattr__(self, name: str):
        return self._replaced[name] if name in self._replaced else getattr(asyncio, name)


async def _pace_virtual(limiter, clock: VirtualTime, seconds: float) -> list[float]:
    stamps, end = [], clock.now + seconds
    while clock.now < end:
        await limiter.acquire()
        stamps.append(clock.now)
    return stamps


@pytest.mark.parametrize("late_every", [0, 150], ids=["on_time", "woken_late"])
def test_local_ceiling_never_exceeded_in_any_second(monkeypatch, late_every):
    from alerts.dispatch import sms_ceiling

    clock = VirtualTime(late_every=late_every, late_by=0.5)
    # The limiter module's own names only: other threads' event loops keep real time.
    monkeypatch.setattr(sms_ceiling, "time", SimpleNamespace(monotonic=clock.monotonic))
    monkeypatch.setattr(sms_ceiling, "asyncio", _AsyncioWith(sleep=clock.sleep))
    limiter = LocalSmsCeiling(200.0)
    stamps = asyncio.run(_pace_virtual(limiter, clock, 5.0))
    assert max_in_window(stamps) <= 200
    if not late_every:  # every slot used: the ceiling less its headroom, no more, no less
        assert abs(len(stamps) - limiter.effective_rate * 5.0) <= 1
        assert limiter.missed == 0
    else:  # a late waiter takes a new slot: the ones it slept through are lost, not crowded
        assert limiter.missed > 0
        assert len(stamps) < limiter.effective_rate * 5.0 - limiter.missed


def test_multi_segment_messages_take_their_share():
    stamps = asyncio.run(_pace(LocalSmsCeiling(100.0), 1.5, segments=2))
    assert max_in_window(stamps) <= 50  # 2 segments each: 50 messages a second


def test_redis_ceiling_is_shared_by_two_workers(redis_url):
    key = f"test:{uuid.uuid4().hex[:8]}:rate"

    async def main():
        first = RedisSmsCeiling(redis_url, 100.0, key=key)
        second = RedisSmsCeiling(redis_url, 100.0, key=key)
        try:
            a, b = await asyncio.gather(_pace(first, 2.0), _pace(second, 2.0))
        finally:
            await first.close()
            await second.close()
        return a, b

    a, b = asyncio.run(main())
    assert a and b  # both got a share
    assert max_in_window(a + b) <= 100
    # The mean rate is not checked here: a starved CPU loses slots (by design, never made up
    # in a burst), so on a loaded machine it says nothing about the limiter. It is a
    # benchmark row (bench_rate_ceiling: within 5 % over 60 s, two worker processes).
    assert len(a) + len(b) <= 100 * 2 + 2


def test_stop_wakes_a_feeder_waiting_for_entries():
    """A worker with nothing to do waits in receive() (up to a second each time); stop()
    wakes it instead of waiting that out, and ids that arrive afterwards stay on the queue
    for the next worker."""
    from alerts.dispatch.queue import InProcessConsumer
    from alerts.dispatch.worker import Worker

    queue = InProcessQueue()
    outcomes: list[str] = []

    class Watched(InProcessConsumer):
        async def receive(self, max_entries, timeout, lanes=LANES):
            try:
                entries = await super().receive(max_entries, timeout, lanes)
            except asyncio.CancelledError:
                outcomes.append("woken")
                raise
            outcomes.append("timed out" if not entries else "got work")
            return entries

    async def main() -> None:
        worker = Worker(
            unit_of_work=None,  # never reached: there is no work
            consumer=Watched(queue),
            providers={},
            worker_id="idle",
        )
        await worker.start()
        await asyncio.sleep(0)  # the feeder is now waiting in receive()
        await worker.stop()

    asyncio.run(main())
    assert outcomes == ["woken"]
    queue.enqueue([1, 2, 3])
    assert queue.take(10, timeout=0) == [1, 2, 3]
