"""Stopping background tasks whose cancellation a library may swallow.

redis-py (every version tried, 5.2 to 8.2) now and then swallows a ``CancelledError`` that
lands inside a command: the task carries on to its next ``await`` as if nothing happened, so
``task.cancel(); await task`` waits forever (a dispatch worker's stop hung this way until
pytest's timeout; tests/alerts/test_cancellation.py reproduces it). Here the cancel is
repeated until it takes, and the wait is bounded: shutting down never hangs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import TypeVar

log = logging.getLogger(__name__)

# How often a cancel is repeated while a task has not ended: a swallowed one is noticed
# within this, and a task that honours it ends at its first await anyway. Measured: a task
# looping on Redis pipelines swallows most cancels (with 0.5 s, 31 of 50 such tasks were
# still running after 30 s; with 0.05 s none after a second or so). The price: a repeated
# cancel may cut short a task's own clean-up (a connection left to the garbage collector at
# shutdown), never a hang.
RECANCEL_EVERY = 0.05

T = TypeVar("T")


async def cancel_and_wait(
    tasks: Iterable[asyncio.Future[T] | None], timeout: float, *, what: str = "tasks"
) -> set[asyncio.Future[T]]:
    """Cancel ``tasks`` and wait until they have ended, at most ``timeout`` seconds.

    Returns those still running then (logged; the caller goes on without them). Exceptions
    of the tasks are retrieved, never raised: they are being stopped."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    running = {task for task in tasks if task is not None and not task.done()}
    everything = set(running)
    while running:
        for task in running:
            task.cancel()
        left = deadline - loop.time()
        if left <= 0:
            break
        _, running = await asyncio.wait(running, timeout=min(RECANCEL_EVERY, left))
    for task in everything - running:
        if not task.cancelled():
            task.exception()  # retrieved: "exception was never retrieved" is not our news
    if running:
        log.warning(
            "%s still running %.1fs after being cancelled: %s",
            what,
            timeout,
            ", ".join(sorted(_name(task) for task in running)),
        )
    return running


def _name(task: asyncio.Future[T]) -> str:
    return task.get_name() if isinstance(task, asyncio.Task) else repr(task)
