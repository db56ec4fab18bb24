"""Stopping tasks whose cancellation a library swallows (alerts.cancellation).

The CI run that failed at the end of a session: a dispatch worker's stop waited forever for
its writer, whose cancel redis-py had swallowed inside a pipeline (the task went back to
waiting for results). `cancel_and_wait` repeats the cancel until it takes and bounds the wait.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from alerts.cancellation import cancel_and_wait

pytestmark = pytest.mark.one_db  # no database: tasks on an event loop (and Redis)


async def _swallows_one_cancel(ended: list[str]) -> None:
    """What redis-py does now and then: a cancel landing inside a command is lost."""
    with contextlib.suppress(asyncio.CancelledError):  # swallowed, as the library does
        await asyncio.Event().wait()
    ended.append("carried on")
    await asyncio.Event().wait()  # back to waiting, like the writer for its next results


async def _swallows_every_cancel() -> None:
    while True:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            continue


def test_a_swallowed_cancel_is_repeated_until_it_takes():
    async def main() -> tuple[set[asyncio.Future[None]], asyncio.Task[None], list[str]]:
        ended: list[str] = []
        task = asyncio.create_task(_swallows_one_cancel(ended), name="writer")
        await asyncio.sleep(0)  # it is waiting
        left = await cancel_and_wait([task, None], 30.0)
        return left, task, ended

    left, task, ended = asyncio.run(main())
    assert left == set()
    assert task.cancelled()
    assert ended == ["carried on"]  # the first cancel really was swallowed


def test_a_task_that_never_ends_is_left_after_the_timeout_not_waited_for(caplog):
    async def main() -> tuple[set[asyncio.Future[None]], asyncio.Task[None]]:
        stubborn = asyncio.create_task(_swallows_every_cancel(), name="stubborn")
        await asyncio.sleep(0)
        left = await cancel_and_wait([stubborn], 0.2, what="test tasks")
        # asyncio.run would wait for it forever at the end: this test's own clean-up
        stubborn.get_coro().close()
        return left, stubborn

    left, stubborn = asyncio.run(main())
    assert left == {stubborn}
    assert "test tasks still running" in caplog.text and "stubborn" in caplog.text


def test_failed_tasks_are_retrieved_not_raised():
    async def main() -> set[asyncio.Future[None]]:
        async def fails() -> None:
            raise RuntimeError("boom")

        task = asyncio.create_task(fails())
        await asyncio.sleep(0)
        return await cancel_and_wait([task], 5.0)

    assert asyncio.run(main()) == set()


@pytest.mark.redis
def test_tasks_in_redis_pipelines_all_stop(redis_url):
    """Against the real Redis: many tasks cancelled in the middle of pipelines (redis-py loses
    some of these cancels) all end."""
    import redis.asyncio as aioredis

    async def main() -> tuple[int, int]:
        client = aioredis.Redis.from_url(redis_url, socket_timeout=10)
        rounds: list[int] = []

        async def ack_forever(n: int) -> None:
            while True:
                pipe = client.pipeline(transaction=True)
                pipe.xack(f"test-cancel-{n}", "g", "1-1")
                pipe.xdel(f"test-cancel-{n}", "1-1")
                await pipe.execute()
                rounds.append(n)

        tasks = [asyncio.create_task(ack_forever(n)) for n in range(50)]
        while len(rounds) < 200:  # all of them busy with Redis
            await asyncio.sleep(0.01)
        left = await cancel_and_wait(tasks, 30.0)
        await client.aclose()
        return len(left), sum(1 for task in tasks if task.done())

    assert asyncio.run(main()) == (0, 50)
