"""The reconciler: the safety net under the queue (a periodic job; idempotent, bounded).

1. **Lost ids.** A row still ``queued``, due, and untouched for ``grace`` seconds while the
   queue is drained, is held by nobody: the process died between commit and enqueue, the
   queue lost it (a Redis restart without persistence), or the worker holding its retry
   timer died. It is enqueued again (and its ``updated_at`` touched, so the next run leaves
   it alone for another ``grace``). While the queue still has a backlog, rows are only
   re-queued after ``stale_after``: they are most likely waiting their turn in it.
2. **Dead claims.** A row ``sending`` for longer than ``claim_timeout``, or for longer than
   ``dead_after`` when its worker is no longer in the live-worker registry, was claimed by
   a worker that died. It may or may not have left: the provider is asked first
   (``SupportsLookup``). Found → recorded ``sent`` (or ``failed``); not found → back to
   ``queued`` and enqueued; the provider cannot tell → left for the next timeout. A channel
   without look-up (web push) is re-queued: losing an alert is worse than a duplicate.

Every verdict is a conditional UPDATE that applies only if the row has not moved since it
was read, so a worker that was merely slow, or a second reconciler, is never overruled.
Each run handles at most ``batch × max_batches`` rows of each kind.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Callable, Coroutine, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from sqlmodel import Session

from alerts.dispatch import store
from alerts.dispatch.lanes import NORMAL, Priority
from alerts.dispatch.queue import MessageQueue
from alerts.dispatch.store import Stuck
from alerts.dispatch.worker import text_for
from alerts.providers.base import Outcome, OutgoingMessage, Provider, SendResult, SupportsLookup
from alerts.sqltypes import utcnow

log = logging.getLogger(__name__)

UNKNOWN = "unknown"

T = TypeVar("T")


@dataclass
class ReconcileReport:
    requeued: int = 0  # lost queued ids put back on the queue
    reclaimed: int = 0  # dead claims looked at
    found_sent: int = 0  # … that the provider had: recorded sent
    found_failed: int = 0
    resent: int = 0  # … that never left: back to queued
    undecided: int = 0  # … the provider could not tell: next time


def reconcile(
    *,
    unit_of_work: Callable[[], AbstractContextManager[Session]],
    queue: MessageQueue,
    providers: Callable[[], Mapping[str, Provider]] | None = None,
    live_workers: set[str] | None = None,
    grace: float = 30.0,
    stale_after: float = 1800.0,
    claim_timeout: float = 120.0,
    dead_after: float = 15.0,
    batch: int = 1000,
    max_batches: int = 10,
) -> ReconcileReport:
    """One run. ``providers`` builds the providers for look-ups (closed after use);
    ``live_workers`` is the set of live worker ids, or None when unknown."""
    report = ReconcileReport()
    _requeue_lost(unit_of_work, queue, report, grace, stale_after, batch, max_batches)
    for _ in range(max_batches):
        with unit_of_work() as session:
            # Claims are stamped on the database's clock: their age is judged on it too.
            now = store.database_now(session)
            rows = store.stuck_sending(
                session,
                timeout_cutoff=now - timedelta(seconds=claim_timeout),
                dead_cutoff=now - timedelta(seconds=dead_after),
                live_workers=live_workers,
                limit=batch,
            )
            texts = store.load_broadcasts(session, {r.broadcast_id for r in rows}) if rows else {}
        if not rows:
            break
        verdicts = _look_up(rows, texts, providers)
        requeue: list[int] = []
        with unit_of_work() as session:
            now = store.database_now(session)
            for row in rows:
                verdict = verdicts.get(row.id)
                report.reclaimed += 1
                if verdict == UNKNOWN:
                    report.undecided += store.settle_stuck(session, row, kind="later", now=now)
                elif isinstance(verdict, SendResult):  # the provider has it, sent or failed
                    sent = verdict.outcome is Outcome.SENT
                    settled = store.settle_stuck(
                        session,
                        row,
                        kind="sent" if sent else "failed",
                        now=now,
                        provider_id=verdict.provider_id,
                        provider_status=verdict.provider_status,
                        error_code=verdict.error_code,
                    )
                    if sent:
                        report.found_sent += settled
                    else:
                        report.found_failed += settled
                elif store.settle_stuck(session, row, kind="requeue", now=now):
                    requeue.append(row.id)
        report.resent += len(requeue)
        # each back in its broadcast's lane
        by_lane: dict[Priority, list[int]] = {}
        lanes = {r.id: texts[r.broadcast_id].priority for r in rows if r.broadcast_id in texts}
        for message_id in requeue:
            by_lane.setdefault(lanes.get(message_id, NORMAL), []).append(message_id)
        for lane, ids in by_lane.items():
            queue.enqueue(ids, lane)
        if len(rows) < batch:
            break
    if report.requeued or report.reclaimed:
        log.warning("reconciler: %s", report)
    return report


def _requeue_lost(
    unit_of_work: Callable[[], AbstractContextManager[Session]],
    queue: MessageQueue,
    report: ReconcileReport,
    grace: float,
    stale_after: float,
    batch: int,
    max_batches: int,
) -> None:
    try:
        backlog = queue.backlog()
    except Exception as exc:  # the queue is down: nothing we enqueue would arrive
        log.warning("reconciler: queue unavailable (%s); lost ids wait", type(exc).__name__)
        return
    age = grace if backlog == 0 else stale_after
    for _ in range(max_batches):
        now = utcnow()
        with unit_of_work() as session:
            ids = store.stale_queued(
                session, cutoff=now - timedelta(seconds=age), now=now, limit=batch
            )
            lanes = store.by_lane(session, ids) if ids else {}
        if not ids:
            return
        for lane, some in lanes.items():
            queue.enqueue(some, lane)
        report.requeued += len(ids)
        if len(ids) < batch:
            return


def _look_up(
    rows: list[Stuck],
    broadcasts: Mapping[int, store.BroadcastInfo],
    providers: Callable[[], Mapping[str, Provider]] | None,
) -> dict[int, SendResult | None | str]:
    """Ask the provider about each row: SendResult (it has it), None (it does not), or
    UNKNOWN. Rows of channels without look-up get None (re-send)."""
    if providers is None:
        return {}
    wanted: list[tuple[Stuck, OutgoingMessage]] = []
    for row in rows:
        info = broadcasts.get(row.broadcast_id)
        text = row.body or (text_for(info.messages, row.language) if info else None)
        if text and row.channel == "sms":
            wanted.append(
                (
                    row,
                    OutgoingMessage(
                        message_id=row.id,
                        channel=row.channel,
                        to=row.address,
                        body=text,
                        first_attempt_at=row.queued_at,
                    ),
                )
            )
    if not wanted:
        return {}

    async def ask_all() -> dict[int, Any]:
        built = providers()
        answers: dict[int, Any] = {}
        limit = asyncio.Semaphore(20)

        async def ask(row: Stuck, message: OutgoingMessage) -> None:
            provider = built.get(row.channel)
            if not isinstance(provider, SupportsLookup):
                return
            async with limit:
                try:
                    found = await provider.lookup(message)
                except Exception:
                    log.exception("reconciler: look-up raised for message %s", row.id)
                    found = SendResult(outcome=Outcome.RETRY, ambiguous=True)
            if found is not None and found.outcome is Outcome.RETRY:
                answers[row.id] = UNKNOWN
            else:
                answers[row.id] = found

        try:
            await asyncio.gather(*(ask(row, message) for row, message in wanted))
        finally:
            for provider in built.values():
                await provider.close()
        return answers

    try:
        return run_coroutine(ask_all())
    except Exception:
        log.exception("reconciler: look-ups failed; trying again next run")
        return {row.id: UNKNOWN for row, _ in wanted}


def run_coroutine(coro: Coroutine[Any, Any, T]) -> T:
    """asyncio.run, also from a thread whose event loop is already running (the reconciler is
    plain sync code; a caller such as a test harness may hold a loop in this thread)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()
