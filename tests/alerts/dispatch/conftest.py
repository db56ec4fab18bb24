"""Fixtures for the dispatch engine: a database, the local Twilio-compatible server, and a
helper that runs a real worker on its own event loop until the outbox says it is done."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from alerts.dispatch import store
from alerts.dispatch.queue import MessageQueue
from alerts.dispatch.worker import Worker
from alerts.providers.twilio import TwilioProvider
from alerts.testing import run_twilio_server
from alerts.testing.twilio_server import TwilioServerHandle

FROM = "+15005550006"
CALLBACK = "http://127.0.0.1:9/webhooks/twilio/status"
_ids = itertools.count(1)


@pytest.fixture
def db(database_url):
    from emergency.db import Database

    database = Database(database_url)
    yield database
    database.dispose()


@pytest.fixture(scope="module")
def _twilio_server() -> Iterator[TwilioServerHandle]:
    with run_twilio_server() as server:
        yield server


@pytest.fixture
def twilio(_twilio_server: TwilioServerHandle) -> TwilioServerHandle:
    _twilio_server.reset()
    return _twilio_server


def twilio_provider(server: TwilioServerHandle, **overrides: Any) -> TwilioProvider:
    options: dict[str, Any] = dict(
        account_sid=server.account_sid,
        auth_token=server.auth_token,
        from_number=FROM,
        api_base_url=server.base_url,
        timeout=5.0,
        pool_size=100,
    )
    options.update(overrides)
    return TwilioProvider(**options)


def counts(db, broadcast_id: int) -> dict[str, int]:
    with db.session() as session:
        return store.count_by_status(session, broadcast_id)


def finished(db, broadcast_id: int) -> Callable[[], bool]:
    def check() -> bool:
        c = counts(db, broadcast_id)
        return c.get("queued", 0) + c.get("sending", 0) == 0

    return check


def run_worker(
    db,
    queue: MessageQueue,
    providers: Mapping[str, Any],
    *,
    until: Callable[[], bool],
    timeout: float = 120.0,  # a bound on a condition: generous for a loaded machine
    during: Callable[[Worker, float], None] | None = None,
    unit_of_work: Any = None,
    **options: Any,
) -> Worker:
    """Run one worker until ``until()`` holds (checked in a thread every 0.1 s)."""
    options.setdefault("status_callback", CALLBACK)
    options.setdefault("concurrency", 100)

    async def main() -> Worker:
        worker_id = f"test-worker-{next(_ids)}"
        worker = Worker(
            unit_of_work=unit_of_work or db.unit_of_work,
            consumer=queue.consumer(worker_id),
            providers=providers,
            worker_id=worker_id,
            **options,
        )
        await worker.start()
        started = time.monotonic()
        try:
            while True:
                elapsed = time.monotonic() - started
                if during is not None:
                    during(worker, elapsed)
                if await asyncio.to_thread(until):
                    break
                assert elapsed < timeout, f"not done after {timeout}s: {worker.stats}"
                await asyncio.sleep(0.1)
        finally:
            await worker.stop(timeout=10)
            for provider in providers.values():
                await provider.close()
        return worker

    return asyncio.run(main())
