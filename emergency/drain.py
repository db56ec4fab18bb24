"""drain(): run everything that is due, here and now, until nothing is left.

What a background worker and scheduler would do over the next seconds, done at once in the
caller's thread: the dispatch queue, by one worker built like the embedded one (same
providers, rate ceiling and status callback), and the scheduler's due work, judged by the
Runtime's clock (`runtime.clock`): the one-off jobs whose time has come (a broadcast's
send_at) and one run of each periodic job that acts on stored state. Rounds repeat until
one changes nothing (no job did anything, no queue entry came, no event was emitted).

So a test (or a one-shot tool) asserts on what happened, and on what did NOT happen,
without waiting for "a quiet second": when drain() returns, everything due has run.
Use it on a process without a running embedded worker or scheduler (`typhoon serve
--no-worker --no-scheduler`, the tests' apps); beside a live worker it drains only what
its own worker took. Retries due later than `retries_within` seconds stay scheduled (the
worker hands them back to the queue when it stops), like any not-yet-due work.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from emergency.runtime import Runtime
from emergency.scheduler import Scheduler

log = logging.getLogger(__name__)

MAX_ROUNDS = 50


def _progress_once(runtime: Runtime, now: datetime) -> int:
    """One tick of `dispatch-progress` (the job ticks for a second): progress, completion."""
    from alerts.dispatch.progress import tick
    from emergency.journal import JOURNAL

    with runtime.db.unit_of_work() as session:
        tick(session, tracker=runtime.progress, journal=JOURNAL)
    return 0  # what it changed shows as events


# How drain() runs a periodic job, where it is not simply `job.func(runtime=…[, now=…])`.
SPECIAL: dict[str, Callable[[Runtime, datetime], Any]] = {"dispatch-progress": _progress_once}

# The periodic jobs drain() leaves alone, and why. Every other job of
# emergency.scheduled.PERIODIC_JOBS runs once per round (they are idempotent), given the
# clock's now when it takes `now`.
NOT_DRAINED = {
    "heartbeat": "the liveness of a scheduler process, not stored work",
    "feeds-poll": "reaches out to the feed servers; call feeds.service.poll_due(now=…)",
    "dispatch-reconcile": "repairs what a dead worker or a lost queue left; drain loses "
    "nothing (call reconcile_outbox to test it)",
    "retention-purge": "erases residents' data by age, not work that is due; call "
    "privacy.service.purge(now=…) to test it",
    "audit-anchor": "writes a file outside the database; call audit.service.write_anchor",
}


def _drained_jobs() -> dict[str, Callable[[Runtime, datetime], Any]]:
    from emergency.scheduled import PERIODIC_JOBS

    def plain(func: Callable[..., Any]) -> Callable[[Runtime, datetime], Any]:
        if "now" in inspect.signature(func).parameters:
            return lambda runtime, now: func(runtime=runtime, now=now)
        return lambda runtime, now: func(runtime=runtime)

    return {
        job.name: SPECIAL.get(job.name) or plain(job.func)
        for job in PERIODIC_JOBS
        if job.name not in NOT_DRAINED
    }


@dataclass
class Drained:
    rounds: int = 0
    jobs: int = 0  # one-off jobs run, and what periodic jobs reported doing
    received: int = 0  # message ids the worker took from the queue
    sent: int = 0
    failed: int = 0
    retried: int = 0


def drain(
    runtime: Runtime,
    *,
    scheduler: Scheduler | None = None,
    timeout: float = 60.0,
    retries_within: float = 5.0,
) -> Drained:
    """Run the queue and the due jobs until idle (see the module docstring). `scheduler`:
    the process's (paused) Scheduler, for its one-off jobs; by default the one the app
    of the Runtime (`runtime.scheduler`). Raises TimeoutError if work is still coming after
    `timeout` seconds. Not from inside an event loop: it runs one of its own."""
    scheduler = scheduler or runtime.scheduler
    return asyncio.run(_drain(runtime, scheduler, timeout, retries_within))


async def _drain(
    runtime: Runtime, scheduler: Scheduler | None, timeout: float, within: float
) -> Drained:
    from emergency.dispatch.service import DispatchHost
    from emergency.events import service as event_service

    jobs = _drained_jobs()
    deadline = time.monotonic() + timeout
    report = Drained()

    def last_seq() -> int:
        with runtime.db.session() as session:
            return event_service.last_seq(session)

    def run_jobs() -> int:
        now = runtime.clock.now()
        done = scheduler.run_due(now) if scheduler is not None else 0
        for name, job in jobs.items():
            result = job(runtime, now)
            done += result if isinstance(result, int) else 0
            log.debug("drain: %s -> %s", name, result)
        return done

    host = DispatchHost(runtime, worker_id=f"drain-{id(runtime):x}")
    worker = await host.start()
    try:
        while True:
            report.rounds += 1
            if report.rounds > MAX_ROUNDS:
                raise TimeoutError(f"drain: still busy after {MAX_ROUNDS} rounds: {report}")
            seq, received = await asyncio.to_thread(last_seq), worker.stats.received
            done = await asyncio.to_thread(run_jobs)
            report.jobs += done
            while not (
                worker.idle(retries_within=within)
                and await asyncio.to_thread(runtime.queue.backlog) == 0
            ):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"drain: not idle after {timeout}s: {worker.stats}")
                await asyncio.sleep(0.005)
            quiet = not done and worker.stats.received == received
            if quiet and await asyncio.to_thread(last_seq) == seq:
                break
    finally:
        await host.stop(timeout=10)
        report.received = worker.stats.received
        report.sent, report.failed = worker.stats.sent, worker.stats.failed
        report.retried = worker.stats.retried
    return report
