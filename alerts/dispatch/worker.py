"""The dispatch worker: takes outbox ids from the queue, claims, sends, records, acknowledges.

One asyncio worker per process (embedded in the API, or `typhoon worker`), shaped as a
small pipeline so that no stage waits for another more than it must:

    queue ──► feeder ──claim (1 UPDATE … RETURNING per batch, in a thread)──► rate ceiling
          ──► local queue ──► N senders (the provider's pooled HTTP client) ──► results
          ──► writer (batched UPDATEs, in a thread) ──► acknowledge the queue entries

- **Claim**: ``queued → sending`` for this worker, only for due rows of broadcasts that are
  not cancelled. Nothing else leads to a send, so duplicates from the queue are harmless.
- **Claims are leases** (with ``claim_ttl``): the reconciler takes a claim over when it looks
  abandoned (older than its timeouts), so this worker renews its claims' ``claimed_at`` every
  ``claim_ttl / 3``, and sends a row only while its claim was confirmed (claimed or renewed)
  less than ``claim_ttl`` ago. A worker slowed down (or whose renewals fail) gives the row
  back instead of sending it after another worker may have been handed it.
- **Skipping** entries that need nothing (a cancelled broadcast's, already sent) is cheap:
  once a batch needed nothing, the feeder reads many entries at once (growing to
  ``SKIP_READ_MAX``), sorts all their ids with one read (``store.triage``) and acknowledges
  the entries with nothing to send together, so a new warning queued behind a cancelled
  200,000-recipient broadcast waits a second or so, not minutes. Triage never claims: the
  ids that need sending go through the claim as always, and no rate budget is spent on the
  rest. It stops as soon as a batch holds work (or the queue is empty), so a worker never
  takes more than one large batch of live entries for itself.
- **Priority lanes** (``alerts.dispatch.lanes``): the feeder reads the highest non-empty lane
  first, and what it has received waits in this worker per lane; claimed rows wait for a
  sender (and, for SMS under a rate ceiling, for a slot) per lane too, so an evacuation
  order claimed now goes before bulk rows claimed a second ago. The ``max_held`` budget
  counts a lane's rows with those of the lanes above it: bulk rows filling it never stop
  an emergency's from being claimed. SMS take their rate slot in a few *pacers* (about two
  blocks of the ceiling), each holding one row: a new emergency row waits for those few
  slots, not for every claimed row ahead of it.
- **Back-pressure**: at most ``max_held`` rows of a lane are claimed and not yet stored. With a rate
  ceiling that is about two seconds of the rate, so a claim is never held long and a cancel
  stops nearly everything that has not left (a sender also checks the broadcast's status,
  refreshed twice a second, just before sending).
- **Results** are stored in batches; the queue entry is acknowledged only after all its
  ids' results are stored. The database may be down for a while (a PostgreSQL restart):
  the writer retries with a bounded back-off and the entries stay unacknowledged.
- **Retries** (429, 5xx, network): back to ``queued`` with ``next_attempt_at`` = now +
  back-off (100 ms × 2^attempt ± 10 %, capped at 30 s, at least Retry-After), and a timer
  in this worker re-enqueues them then; the reconciler re-queues them if this worker dies.
- **Ambiguous** answers (a timeout after the request left): look the message up at the
  provider first; if it is there, it is recorded sent; if the provider cannot tell, the row
  stays ``sending`` and the reconciler looks again after the claim timeout.
- **Systemic** failures (our credentials, our sender): the channel pauses for the
  provider's Retry-After and the messages are re-queued, instead of failing every recipient.

Blocking database work runs in the worker's own small thread pool, never on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import json
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from alerts.cancellation import cancel_and_wait
from alerts.dispatch import store
from alerts.dispatch.lanes import LANES, NORMAL, Priority
from alerts.dispatch.queue import QueueConsumer, QueueEntry
from alerts.dispatch.sms_ceiling import SmsCeiling
from alerts.dispatch.store import BroadcastInfo, Claimed, Result
from alerts.providers.base import Outcome, OutgoingMessage, Provider, SendResult, SupportsLookup
from alerts.sqltypes import utcnow

log = logging.getLogger(__name__)

FALLBACK_LANGUAGES = ("zh-Hant", "zh-Hans", "en", "pt")
# Queue entries read at once while entries need nothing: the first large read, and its cap.
# The cap bounds the live entries one worker may take with its last skipping read.
SKIP_READ_FIRST = 50
SKIP_READ_MAX = 500
# While a lower lane's budget is full, how often the feeder looks for higher-lane work.
ROOM_POLL = 0.05
# While a lane waits for a refill's room (a second of rows still in hand), how long the
# feeder's blocking read on the lanes above lasts: their work is taken the moment it comes.
REFILL_POLL = 0.25
# Under a rate ceiling, SMS results gather until about this many can be stored in one write
# (at 100 SMS/s: every 0.2 s, not ~5 rows twenty times a second), for at most
# CEILING_FLUSH_INTERVAL: longer would also make the progress figures lumpy (a screen's rate
# is read from stored results). SMS only: a worker killed before storing an SMS result is
# followed by a look-up at the provider, while a push sent but not stored would be pushed
# again, so a batch holding one is stored sooner.
CEILING_FLUSH_ROWS = 20
CEILING_FLUSH_INTERVAL = 0.2
DEFAULT_PUSH_TITLE = "颱風警告 Typhoon warning"


def backoff(
    attempts: int,
    retry_after: float | None = None,
    *,
    base: float = 0.1,
    cap: float = 30.0,
    jitter: float = 0.1,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds before the next attempt after ``attempts`` attempts (1 = the first failed)."""
    delay = min(cap, base * (2.0 ** max(0, attempts - 1)))
    delay *= 1.0 + jitter * (2.0 * rand() - 1.0)
    if retry_after:
        delay = max(delay, min(float(retry_after), 3600.0))
    return delay


def text_for(messages: Mapping[str, str], language: str) -> str | None:
    """The broadcast's text in the recipient's language, else the nearest we have."""
    text = messages.get(language)
    if text:
        return text
    for candidate in FALLBACK_LANGUAGES:
        if messages.get(candidate):
            return messages[candidate]
    return next((t for t in messages.values() if t), None)


class _Lanes:
    """Claimed rows waiting in this worker, handed out highest lane first (one event loop).

    Each item put adds a token to an asyncio queue and a getter takes whatever is highest
    when it gets a token, so the order is by lane, then first in first out."""

    def __init__(self) -> None:
        self._items: dict[Priority, deque[tuple[Claimed, OutgoingMessage]]] = {
            lane: deque() for lane in LANES
        }
        self._tokens: asyncio.Queue[bool] = asyncio.Queue()

    def put(self, lane: Priority, item: tuple[Claimed, OutgoingMessage]) -> None:
        self._items[lane].append(item)
        self._tokens.put_nowait(True)

    async def get(self) -> tuple[Claimed, OutgoingMessage] | None:
        """The next item; None once `stop` was called and what was there is taken."""
        while True:
            if not await self._tokens.get():
                return None
            for lane in LANES:
                if self._items[lane]:
                    return self._items[lane].popleft()
            # drained meanwhile (stopping): wait for the next token

    def stop(self, getters: int) -> None:
        for _ in range(getters):
            self._tokens.put_nowait(False)

    def drain(self) -> list[tuple[Claimed, OutgoingMessage]]:
        out = [item for lane in LANES for item in self._items[lane]]
        for items in self._items.values():
            items.clear()
        return out

    def __len__(self) -> int:
        return sum(len(items) for items in self._items.values())


def _lane_of(entry: Any) -> Priority:
    """The lane a claimed row (or a result) came in: its queue entry's."""
    return entry.entry.lane if isinstance(entry, _Entry) else NORMAL


@dataclass(eq=False)
class _Entry:
    """A queue entry in this worker, until its ids' results are stored and it is acked."""

    entry: QueueEntry
    remaining: int
    received_at: float = field(default_factory=time.monotonic)


@dataclass(slots=True)
class WorkerStats:
    received: int = 0
    claimed: int = 0
    sent: int = 0
    failed: int = 0
    retried: int = 0
    cancelled: int = 0
    skipped: int = 0  # ids that needed nothing, sorted out by triage without a claim
    reconciled: int = 0
    parked: int = 0
    write_errors: int = 0


class Worker:
    def __init__(
        self,
        *,
        unit_of_work: Callable[[], AbstractContextManager[Session]],
        consumer: QueueConsumer,
        providers: Mapping[str, Provider],
        worker_id: str,
        limiter: SmsCeiling | None = None,
        status_callback: str | None = None,
        validity_period: int | None = None,
        concurrency: int = 500,
        claim_batch: int = 1000,
        max_held: int | None = None,
        hold_seconds: float = 2.0,
        max_attempts: int = 50,
        max_deliveries: int = 5,
        reclaim_every: float = 10.0,
        keepalive_every: float = 10.0,
        flush_interval: float = 0.05,
        flush_size: int = 1000,
        heartbeat: Callable[[], Awaitable[None]] | None = None,
        heartbeat_every: float = 3.0,
        db_threads: int = 4,
        claim_ttl: float | None = None,
    ) -> None:
        self.unit_of_work = unit_of_work
        self.consumer = consumer
        self.providers = {str(k): v for k, v in providers.items()}
        self.worker_id = worker_id
        self.limiter = limiter
        self.status_callback = status_callback
        self.validity_period = validity_period
        self.concurrency = concurrency
        # Rows stay held from their claim until their result is stored, so the budget must
        # cover the sends in flight, the batch being written and the next claim; too small
        # and the senders starve while the feeder waits for room (measured: -40 %).
        held = max_held or max(concurrency * 4, claim_batch * 3)
        if limiter is not None:
            # Claim no more than a couple of seconds of the ceiling: rows are not held
            # long, and a cancel stops nearly everything that has not left.
            held = min(held, max(10, int(limiter.effective_rate * hold_seconds)))
        self.max_held = held
        self.claim_batch = max(1, min(claim_batch, held))
        # Rows of a lane in hand: the next claim waits until this much room has opened (about
        # a second of the ceiling), rather than claiming the few rows each stored batch
        # frees: one claim a second, not twenty, and still a second of rows in hand.
        self.refill = max(1, min(self.claim_batch, held // 2))
        self.max_attempts = max_attempts
        self.max_deliveries = max_deliveries
        self.reclaim_every = reclaim_every
        self.keepalive_every = keepalive_every
        self.flush_interval = flush_interval
        self.sms_flush_interval = flush_interval
        if limiter is not None:
            gather = min(CEILING_FLUSH_INTERVAL, CEILING_FLUSH_ROWS / limiter.effective_rate)
            self.sms_flush_interval = max(flush_interval, gather)
        self._push_results = False  # a push result among those gathering
        self.flush_size = flush_size
        self.heartbeat = heartbeat
        self.heartbeat_every = heartbeat_every
        # Shorter than the reconciler's youngest take-over age by the time a send needs to
        # reach the provider once started (None: no lease, e.g. without a reconciler).
        self.claim_ttl = claim_ttl
        self.stats = WorkerStats()

        # SMS rows take their rate slot in this many pacers (about two blocks of slots: every
        # slot used, and a new emergency row waits for no more than these few).
        self.pacers = max(2, 2 * limiter.block) if limiter is not None else 0

        self._executor = ThreadPoolExecutor(db_threads, thread_name_prefix="dispatch-db")
        self._local: _Lanes | None = None  # claimed rows ready to send (slot taken if need be)
        self._paced: _Lanes | None = None  # claimed SMS rows waiting for a rate slot
        self._pacer_tasks: list[asyncio.Task[Any]] = []
        # received, not yet claimed: (id, its entry) per lane
        self._pending: dict[Priority, deque[tuple[int, _Entry]]] = {lane: deque() for lane in LANES}
        self._held_by_lane: dict[Priority, int] = dict.fromkeys(LANES, 0)
        self._batch_needed = False  # a claim since the pending work was last empty needed a send
        self._results: list[Result] = []
        self._results_ready: asyncio.Event | None = None
        self._room: asyncio.Event | None = None
        self._held = 0
        self._entries: dict[int, _Entry] = {}  # id(_Entry) → entry, for keepalive
        self._to_ack: list[_Entry] = []
        self._broadcasts: dict[int, BroadcastInfo] = {}
        self._push_keys: dict[int, dict[str, Any]] = {}
        # (due bucket of 50 ms, lane) → ids to re-enqueue
        self._timers: dict[tuple[int, Priority], list[int]] = {}
        self._timer_handles: list[asyncio.TimerHandle] = []
        self._paused_until: dict[str, float] = {}
        self._stopping = False
        self._receiving = False  # the feeder is parked in consumer.receive (holds nothing)
        self._tasks: list[asyncio.Task[Any]] = []
        self._senders: list[asyncio.Task[Any]] = []
        self._feeder: asyncio.Task[Any] | None = None
        self._writer: asyncio.Task[Any] | None = None
        self._last_reclaim = 0.0
        self._skip_read = 0  # > 0: entries lately needed nothing; read this many and triage
        # held id → (its claim's attempt number, monotonic time the claim was last confirmed)
        self._leases: dict[int, tuple[int, float]] = {}
        self._last_lease_warning = 0.0
        # When work in hand last moved on (received, claimed, sent, stored, acknowledged):
        # `stalled_for` tells a live worker from a stuck one (`typhoon health worker`).
        self._progress_at = time.monotonic()

    # -- life cycle ---------------------------------------------------------------------

    async def start(self) -> None:
        self._local = _Lanes()
        self._paced = _Lanes()
        self._results_ready = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._last_reclaim = time.monotonic() - self.reclaim_every / 2
        self._senders = [
            asyncio.create_task(self._sender(), name=f"dispatch-sender-{i}")
            for i in range(self.concurrency)
        ]
        self._pacer_tasks = [
            asyncio.create_task(self._pacer(), name=f"dispatch-pacer-{i}")
            for i in range(self.pacers)
        ]
        self._writer = asyncio.create_task(self._write_loop(), name="dispatch-writer")
        self._feeder = asyncio.create_task(self._feed_loop(), name="dispatch-feeder")
        self._tasks = [asyncio.create_task(self._maintain(), name="dispatch-maintenance")]
        if self.claim_ttl is not None:
            self._tasks.append(asyncio.create_task(self._renew_loop(), name="dispatch-leases"))
        log.info(
            "dispatch worker %s started (concurrency %d, max held %d, rate %s)",
            self.worker_id,
            self.concurrency,
            self.max_held,
            f"{self.limiter.rate:g}/s" if self.limiter else "unlimited",
        )

    async def stop(self, timeout: float = 30.0) -> None:
        """Stop taking work; finish in-flight sends, store their results, acknowledge."""
        if self._feeder is None:
            return
        self._stopping = True
        deadline = time.monotonic() + timeout
        # Wake the feeder rather than wait out its receive (up to a second) or its wait for
        # room: parked in receive it holds nothing yet. In-process, the ids stay in the
        # deque; a Redis entry read at this very instant stays pending in the group and
        # comes back through XAUTOCLAIM (at-least-once, and the claim is conditional).
        if self._receiving:
            self._feeder.cancel()
        if self._room is not None:
            self._room.set()
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(self._feeder), max(1.0, timeout / 3))
        await cancel_and_wait([self._feeder], 5.0, what="dispatch feeder")
        # Received and never claimed: the queue's again.
        await self._hand_back(self._take_pending())
        # What waits for a slot or a sender has not left: give it back.
        await cancel_and_wait(self._pacer_tasks, 5.0, what="dispatch pacers")
        assert self._local is not None and self._paced is not None
        for row, _message in self._paced.drain() + self._local.drain():
            self._give_back(row)
        self._local.stop(len(self._senders))
        _, late = await asyncio.wait(self._senders, timeout=max(1.0, deadline - time.monotonic()))
        await cancel_and_wait(late, 2.0, what="dispatch senders")
        # Hand retry timers over now: the next worker's claim defers them to their due time.
        for handle in self._timer_handles:
            handle.cancel()
        pending_retries: dict[Priority, list[int]] = {}
        for (_bucket, lane), ids in self._timers.items():
            pending_retries.setdefault(lane, []).extend(ids)
        self._timers.clear()
        assert self._writer is not None
        if self._results_ready is not None:
            self._results_ready.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._drained(), max(1.0, deadline - time.monotonic()))
        await cancel_and_wait([self._writer, *self._tasks], 5.0, what="dispatch worker tasks")
        for lane, ids in pending_retries.items():
            with contextlib.suppress(Exception):
                await self.consumer.enqueue(ids, lane)
        await self._ack_pending(final=True)
        await self.consumer.close()
        if self.limiter is not None:
            await self.limiter.close()
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._feeder = None
        log.info(
            "dispatch worker %s stopped: %s; rate slots missed: %s",
            self.worker_id,
            self.stats,
            self.limiter.missed if self.limiter else 0,
        )

    def idle(self, *, retries_within: float = 0.0) -> bool:
        """Nothing in hand: every entry received is finished, stored and acknowledged, and
        no retry of ours is due within `retries_within` seconds (`emergency.drain` waits on
        this; the queue's own backlog is the caller's to check)."""
        if self._entries or self._held or self._results or self._to_ack:
            return False
        if any(self._pending.values()) or (self._local and len(self._local)):
            return False
        if self._paced is not None and len(self._paced):
            return False
        next_retry = (
            min(bucket for bucket, _ in self._timers) / 20 - time.monotonic()
            if self._timers
            else None
        )
        return next_retry is None or next_retry > retries_within

    def stalled_for(self) -> float:
        """Seconds this worker has held work without moving any of it on; 0 while it moves
        or has nothing in hand (waiting for work is not being stuck)."""
        in_hand = self._entries or self._held or self._results or self._to_ack
        waiting = any(self._pending.values()) or any(
            lanes is not None and len(lanes) for lanes in (self._local, self._paced)
        )
        if not in_hand and not waiting:
            return 0.0
        return max(0.0, time.monotonic() - self._progress_at)

    async def _drained(self) -> None:
        while self._results or self._held > 0:
            await asyncio.sleep(0.02)

    # -- database -----------------------------------------------------------------------

    async def _db(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        def run() -> Any:
            with self.unit_of_work() as session:
                return fn(session, *args, **kwargs)

        return await asyncio.get_running_loop().run_in_executor(self._executor, run)

    async def _db_retrying(
        self,
        what: str,
        fn: Callable[..., Any],
        *args: Any,
        give_up_when_stopping: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Retry until the database answers (bounded back-off): losing a result is not an
        option, and the queue entry stays unacknowledged meanwhile."""
        delay = 0.1
        while True:
            try:
                return await self._db(fn, *args, **kwargs)
            except Exception as exc:
                self.stats.write_errors += 1
                if give_up_when_stopping and self._stopping:
                    raise
                log.warning(
                    "dispatch %s failed (%s: %s); retrying in %.1fs",
                    what,
                    type(exc).__name__,
                    str(exc)[:200],
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    # -- feeding --------------------------------------------------------------------------

    async def _feed_loop(self) -> None:
        delay = 0.1
        while not self._stopping:
            try:
                await self._feed_once()
                delay = 0.1
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the queue is down (Redis restarting): back off
                log.warning(
                    "dispatch queue unavailable (%s: %s); retrying in %.1fs",
                    type(exc).__name__,
                    str(exc)[:200],
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _room_for(self, lane: Priority) -> int:
        """How many more rows of ``lane`` may be claimed: its rows and those of the lanes
        above it, claimed and not yet stored, stay under ``max_held``."""
        ahead = sum(self._held_by_lane[other] for other in LANES[: LANES.index(lane) + 1])
        return self.max_held - ahead

    def _open_lanes(self) -> list[Priority]:
        return [lane for lane in LANES if self._room_for(lane) > 0]

    async def _feed_once(self) -> None:
        """One step: read the lanes above the work in hand, else claim some of that work."""
        open_lanes = self._open_lanes()
        if not open_lanes:
            await self._wait_for_room()
            return
        ready = next((lane for lane in open_lanes if self._pending[lane]), None)
        # The lanes above the work in hand (every open lane when there is none) come first.
        ahead = open_lanes if ready is None else open_lanes[: open_lanes.index(ready)]
        if ready is not None and self._room_for(ready) < self.refill and not self._stopping:
            # Enough of this lane in hand: wait for a refill's room, watching the lanes above
            # (a blocking read: their work is taken the moment it comes).
            if ahead:
                entries = await self._next_entries(ahead, REFILL_POLL)
                if entries:
                    await self._accept(entries)
            else:
                await self._wait_for_room(self.refill, lane=ready)
            return
        if ahead:
            if ready is not None:
                wait = 0.0  # work in hand: only a look
            elif len(open_lanes) == len(LANES):
                wait = 1.0
            else:  # a lower lane waits for room: come back for it soon
                wait = ROOM_POLL
            entries = await self._next_entries(ahead, wait)
            if entries:
                await self._accept(entries)
                return
        if ready is not None and not self._stopping:
            await self._claim_pending(ready)

    async def _next_entries(self, lanes: list[Priority], wait: float) -> list[QueueEntry]:
        now = time.monotonic()
        if now - self._last_reclaim >= self.reclaim_every:
            self._last_reclaim = now
            reclaimed = await self.consumer.reclaim()
            if reclaimed:
                log.warning(
                    "dispatch worker %s took over %d queue entries left idle",
                    self.worker_id,
                    len(reclaimed),
                )
                return reclaimed
        max_entries = min(10, max(1, self._room_for(lanes[-1]) // 100))
        self._receiving = True
        try:
            entries = await self.consumer.receive(
                max(max_entries, self._skip_read), timeout=wait, lanes=lanes
            )
        finally:
            self._receiving = False
        if not entries and wait > 0 and len(lanes) == len(LANES):
            # Drained: what comes next is new work, read at the normal pace.
            self._skip_read = 0
        return entries

    async def _wait_for_room(
        self, rows: int = 1, *, lane: Priority | None = None, timeout: float | None = None
    ) -> None:
        """Until ``rows`` of room opened for ``lane`` (None: for any lane), or ``timeout``."""
        assert self._room is not None
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._stopping:
            if lane is None and self._open_lanes():
                return
            if lane is not None and self._room_for(lane) >= rows:
                return
            left = 1.0 if deadline is None else deadline - time.monotonic()
            if left <= 0:
                return
            self._room.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._room.wait(), min(1.0, left))

    async def _accept(self, entries: list[QueueEntry]) -> None:
        """Received entries: poison ones parked, the rest waiting per lane to be claimed
        (sorted out first by triage while entries lately needed nothing)."""
        self._progress_at = time.monotonic()
        batch: list[tuple[_Entry, list[int]]] = []
        for queue_entry in entries:
            self.stats.received += len(queue_entry.ids)
            if queue_entry.deliveries > self.max_deliveries:
                queue_entry = await self._park(queue_entry)
            entry = _Entry(queue_entry, remaining=len(queue_entry.ids))
            self._entries[id(entry)] = entry
            if not queue_entry.ids:
                self._complete(entry, 0)
            batch.append((entry, queue_entry.ids))
        if self._skip_read and batch:
            triaged = await self._triage(batch)
            if triaged is None:
                return
            batch = triaged
        for entry, ids in batch:
            self._pending[entry.entry.lane].extend((message_id, entry) for message_id in ids)

    async def _claim_pending(self, lane: Priority) -> None:
        pending = self._pending[lane]
        room = max(1, min(self.claim_batch, self._room_for(lane)))
        chunk = [pending.popleft() for _ in range(min(room, len(pending)))]
        self._batch_needed = await self._claim_and_queue(chunk) or self._batch_needed
        if not any(self._pending.values()):
            if not self._batch_needed:
                # What was received needed nothing: likely more of the same ahead (a
                # cancelled broadcast's entries). Read many at once, sort them with one query.
                self._skip_read = max(SKIP_READ_FIRST, self._skip_read)
            self._batch_needed = False

    def _take_pending(self) -> list[tuple[int, _Entry]]:
        out = [item for lane in LANES for item in self._pending[lane]]
        for pending in self._pending.values():
            pending.clear()
        return out

    async def _triage(
        self, batch: list[tuple[_Entry, list[int]]]
    ) -> list[tuple[_Entry, list[int]]] | None:
        """Skipping: keep only the ids that need a claim; entries with none are done and
        acknowledged at once. ``None``: stopping, the batch was handed back. Per entry, not
        per id: a batch holds tens of thousands of ids."""
        try:
            triage = await self._db_retrying(
                "triage",
                store.triage,
                list(itertools.chain.from_iterable(ids for _, ids in batch)),
                now=utcnow(),
                give_up_when_stopping=True,
            )
        except Exception:
            await self._hand_back([(i, entry) for entry, ids in batch for i in ids])
            return None
        lanes = {i: entry.entry.lane for entry, ids in batch for i in ids}
        for message_id, due in triage.deferred.items():
            self._schedule(message_id, due, lanes.get(message_id, NORMAL))
        self.stats.cancelled += triage.cancelled
        claimable = triage.claimable
        keep = []
        for entry, ids in batch:
            needed = [i for i in ids if i in claimable] if claimable else []
            if len(needed) < len(ids):
                self.stats.skipped += len(ids) - len(needed)
                self._complete(entry, len(ids) - len(needed))
            if needed:
                keep.append((entry, needed))
        if keep:
            self._skip_read = 0  # live work: back to reading at the pace of the claims
        else:
            self._skip_read = min(SKIP_READ_MAX, self._skip_read * 4)
        await self._ack_pending()
        return keep

    async def _claim_and_queue(self, chunk: list[tuple[int, _Entry]]) -> bool:
        """Claim and hand to the senders; ``True`` if some ids needed (or will need) a send."""
        owner: dict[int, _Entry] = {}
        for message_id, entry in chunk:
            if message_id in owner:  # the same id twice: the second is already handled
                self._complete(entry, 1)
            else:
                owner[message_id] = entry
        asked = time.monotonic()  # the claim's time (claimed_at) is taken now
        try:
            outcome = await self._db_retrying(
                "claim",
                store.claim,
                list(owner),
                worker_id=self.worker_id,
                now=utcnow(),
                known_broadcasts=frozenset(self._broadcasts),
                give_up_when_stopping=True,
            )
        except Exception:
            await self._hand_back(list(owner.items()))
            return True
        self._progress_at = time.monotonic()
        self._broadcasts.update(outcome.broadcasts)
        self._push_keys.update(outcome.push_keys)
        missing = {row.broadcast_id for row in outcome.claimed} - self._broadcasts.keys()
        if missing:  # the cache was emptied while we claimed
            self._broadcasts.update(
                await self._db_retrying("broadcast load", store.load_broadcasts, missing)
            )
        claimed_ids = set()
        for row in outcome.claimed:
            row.entry = owner[row.id]
            claimed_ids.add(row.id)
            self._leases[row.id] = (row.attempts, asked)
        self.stats.claimed += len(outcome.claimed)
        self._held += len(outcome.claimed)
        for row in outcome.claimed:
            self._held_by_lane[_lane_of(row.entry)] += 1
        # Ids not claimed are someone else's business now (or not due yet: come back then).
        for message_id, entry in owner.items():
            if message_id not in claimed_ids:
                self._complete(entry, 1)
        for message_id, due in outcome.deferred.items():
            self._schedule(message_id, due, _lane_of(owner.get(message_id)))
        assert self._local is not None and self._paced is not None
        for index, row in enumerate(outcome.claimed):
            if self._stopping:  # claimed but not sent: give them back
                for rest in outcome.claimed[index:]:
                    self._put_result(Result(rest.id, "release", entry=rest.entry))
                return True
            message = self._outgoing(row)
            if isinstance(message, Result):
                self._put_result(message)
                continue
            if self.limiter is not None and row.channel == "sms":
                self._paced.put(_lane_of(row.entry), (row, message))
            else:
                self._local.put(_lane_of(row.entry), (row, message))
        return bool(outcome.claimed or outcome.deferred)

    def _outgoing(self, row: Claimed) -> OutgoingMessage | Result:
        broadcast = self._broadcasts.get(row.broadcast_id)
        if broadcast is None:
            return Result(
                row.id,
                "failed",
                error_code="no_broadcast",
                error_message="broadcast not found",
                entry=row.entry,
            )
        text = row.body or text_for(broadcast.messages, row.language)
        if not text:
            return Result(
                row.id,
                "failed",
                error_code="no_text",
                error_message="the broadcast has no text",
                entry=row.entry,
            )
        if row.channel == "push":
            subscription = self._push_keys.get(row.push_subscription_id or -1)
            if subscription is None:
                return Result(
                    row.id,
                    "failed",
                    error_code="no_subscription",
                    error_message="push subscription removed",
                    entry=row.entry,
                )
            payload = {
                "title": broadcast.title or DEFAULT_PUSH_TITLE,
                "body": text,
                "broadcast_id": broadcast.id,
                "language": row.language,
                "exercise": broadcast.exercise,
            }
            return OutgoingMessage(
                message_id=row.id,
                channel="push",
                to=subscription,
                body=json.dumps(payload, ensure_ascii=False),
                validity_period=self.validity_period,
            )
        return OutgoingMessage(
            message_id=row.id,
            channel=row.channel,
            to=row.address,
            body=text,
            status_callback=self.status_callback,
            validity_period=self.validity_period,
        )

    async def _park(self, queue_entry: QueueEntry) -> QueueEntry:
        """The queue says this entry keeps coming back. That is Redis's word (anyone who can
        write there can say it: XCLAIM … RETRYCOUNT): only the ids that the database has seen
        claimed `max_deliveries` times or more are failed as poison (and a record of them
        parked); the rest are what is returned, handled like any other entry."""
        reason = (
            f"queue entry {queue_entry.entry_id} delivered {queue_entry.deliveries} times "
            f"and its messages claimed {self.max_deliveries} times or more without a "
            f"result (limit {self.max_deliveries}): parked"
        )
        failed = await self._db_retrying(
            "park",
            store.fail_poison,
            queue_entry.ids,
            min_attempts=self.max_deliveries,
            code="poison",
            text=reason,
            now=utcnow(),
        )
        if failed:
            log.error("dispatch: %s; its %d messages are marked failed", reason, len(failed))
            self.stats.parked += len(failed)
            # A record for inspection only (no entry id): the entry itself is acknowledged
            # once the rest of its ids are done.
            parked = QueueEntry(failed, None, queue_entry.deliveries, queue_entry.lane)
            await self.consumer.park(parked, reason)
        else:
            log.warning(
                "dispatch: queue entry %s says it was delivered %d times, but the database "
                "never saw its messages claimed that often: handled as usual",
                queue_entry.entry_id,
                queue_entry.deliveries,
            )
        poisoned = set(failed)
        rest = [i for i in queue_entry.ids if i not in poisoned]
        return QueueEntry(rest, queue_entry.entry_id, queue_entry.deliveries, queue_entry.lane)

    async def _hand_back(self, work: Sequence[tuple[int, _Entry]]) -> None:
        """Stopping: ids received but not claimed go back on the queue, and their entries
        count as done (re-enqueued ids are the queue's again)."""
        by_lane: dict[Priority, list[int]] = {}
        for message_id, entry in work:
            by_lane.setdefault(_lane_of(entry), []).append(message_id)
        for lane, ids in by_lane.items():
            with contextlib.suppress(Exception):
                await self.consumer.enqueue(ids, lane)
        for _, entry in work:
            self._complete(entry, 1)

    # -- sending --------------------------------------------------------------------------

    def _give_back(self, row: Claimed) -> None:
        """A claimed row that will not be sent now (stopping): back to queued."""
        lapsed = self._lapsed(row)  # a superseded claim gives back nothing
        kind = "dropped" if lapsed is not None and lapsed.kind == "dropped" else "release"
        self._put_result(Result(row.id, kind, entry=row.entry))

    async def _pacer(self) -> None:
        """SMS rows, highest lane first, each to a sender once its rate slot has come."""
        assert self._paced is not None and self._local is not None and self.limiter is not None
        while True:
            item = await self._paced.get()
            if item is None:
                return
            if self._cancelled(item[0]):
                # Never sent, so it takes no slot: a cancelled broadcast's claimed rows
                # (up to ~2 s of the rate) would otherwise hold up the next warning.
                self._finish(item[0], self._lapsed(item[0]) or Result(item[0].id, "cancelled"))
                continue
            try:
                await self.limiter.acquire(item[0].segments or 1)
            except asyncio.CancelledError:
                self._give_back(item[0])
                raise
            self._local.put(_lane_of(item[0].entry), item)

    async def _sender(self) -> None:
        assert self._local is not None
        local = self._local
        while True:
            item = await local.get()
            if item is None:
                return
            row, message = item
            try:
                result = await self._send(row, message)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug; the send may have happened: reconcile later
                log.exception("dispatch: sending message %s raised", row.id)
                result = Result(
                    row.id,
                    "unresolved",
                    error_code="worker_error",
                    error_message=f"{type(exc).__name__}: {exc}"[:300],
                )
            self._finish(row, result)

    def _finish(self, row: Claimed, result: Result) -> None:
        result.entry = row.entry
        if row.channel != "sms":
            self._push_results = True
        self._put_result(result)

    def _cancelled(self, row: Claimed) -> bool:
        broadcast = self._broadcasts.get(row.broadcast_id)
        return broadcast is not None and broadcast.status == "cancelled"

    async def _send(self, row: Claimed, message: OutgoingMessage) -> Result:
        lapsed = self._lapsed(row)  # it may have waited long in the local queue
        if lapsed is not None:
            return lapsed
        # An SMS under a rate ceiling comes here when its slot has come (a pacer took it):
        # nothing waits from here to the request, so the provider sees our pacing.
        if self._cancelled(row):
            return Result(row.id, "cancelled")
        provider = self.providers.get(row.channel)
        if provider is None:
            return Result(
                row.id,
                "failed",
                error_code="no_provider",
                error_message=f"no provider for channel {row.channel}",
            )
        paused = self._paused_until.get(row.channel, 0.0) - time.monotonic()
        if paused > 0:
            return self._retry(
                row,
                SendResult(
                    outcome=Outcome.RETRY,
                    error_code="paused",
                    error_message="channel paused",
                    retry_after=paused,
                ),
            )
        try:
            answer = await provider.send(message)
        except Exception as exc:  # providers classify; an exception is a bug
            log.exception("dispatch: provider %s raised for message %s", row.channel, row.id)
            answer = SendResult(
                outcome=Outcome.RETRY,
                error_code="provider_error",
                error_message=f"{type(exc).__name__}: {exc}"[:300],
                ambiguous=True,
            )
        if answer.outcome is Outcome.RETRY and answer.ambiguous:
            known = await self._reconcile(provider, row, message, answer)
            if known is None:
                return Result(
                    row.id,
                    "unresolved",
                    error_code="ambiguous",
                    error_message="timed out; the provider could not say if it has it",
                )
            answer = known
        return self._result(row, answer)

    async def _reconcile(
        self, provider: Provider, row: Claimed, message: OutgoingMessage, answer: SendResult
    ) -> SendResult | None:
        """An ambiguous answer: find out whether the provider took it before sending again.
        ``None`` means it cannot tell yet (the row stays ``sending``)."""
        if not isinstance(provider, SupportsLookup):
            return answer  # nothing to ask: retrying is the only way not to lose it
        # The look-up only considers messages created since the row was written.
        message = dataclasses.replace(message, first_attempt_at=store.as_utc(row.queued_at))
        try:
            found = await provider.lookup(message)
        except Exception:
            log.exception("dispatch: lookup raised for message %s", row.id)
            return None
        if found is None:  # checked: it is not there, so re-sending is safe
            return SendResult(
                outcome=Outcome.RETRY,
                error_code=answer.error_code,
                error_message=answer.error_message,
                retry_after=answer.retry_after,
            )
        if found.outcome is Outcome.RETRY:
            return None
        self.stats.reconciled += 1
        return found

    def _result(self, row: Claimed, answer: SendResult) -> Result:
        if answer.outcome is Outcome.SENT:
            self.stats.sent += 1
            return Result(
                row.id,
                "sent",
                provider_id=answer.provider_id,
                provider_status=answer.provider_status,
            )
        if answer.outcome is Outcome.PERMANENT_FAILURE:
            self.stats.failed += 1
            return Result(
                row.id,
                "failed",
                provider_id=answer.provider_id,
                provider_status=answer.provider_status,
                error_code=answer.error_code,
                error_message=answer.error_message,
                opted_out_subscriber=row.subscriber_id if answer.opted_out else None,
                gone_subscription=row.push_subscription_id if answer.gone else None,
            )
        if answer.systemic:
            pause = answer.retry_after or 60.0
            until = time.monotonic() + pause
            if until > self._paused_until.get(row.channel, 0.0) + 1.0:
                log.error(
                    "dispatch: %s channel paused %.0fs: %s %s (our set-up, not the "
                    "recipient: check credentials and sender)",
                    row.channel,
                    pause,
                    answer.error_code,
                    answer.error_message,
                )
            self._paused_until[row.channel] = max(self._paused_until.get(row.channel, 0.0), until)
        return self._retry(row, answer)

    def _retry(self, row: Claimed, answer: SendResult) -> Result:
        if row.attempts >= self.max_attempts and answer.error_code != "paused":
            self.stats.failed += 1
            return Result(
                row.id,
                "failed",
                provider_status=answer.provider_status,
                error_code=answer.error_code,
                error_message=f"gave up after {row.attempts} attempts: "
                f"{answer.error_message or answer.error_code}",
            )
        self.stats.retried += 1
        delay = backoff(row.attempts, answer.retry_after)
        return Result(
            row.id,
            "retry",
            provider_status=answer.provider_status,
            error_code=answer.error_code,
            error_message=answer.error_message,
            next_attempt_at=utcnow() + timedelta(seconds=delay),
        )

    # -- results --------------------------------------------------------------------------

    def _put_result(self, result: Result) -> None:
        self._progress_at = time.monotonic()
        if result.kind == "cancelled":
            self.stats.cancelled += 1
        self._results.append(result)
        assert self._results_ready is not None
        if len(self._results) == 1 or len(self._results) >= self.flush_size:
            self._results_ready.set()

    async def _write_loop(self) -> None:
        assert self._results_ready is not None
        while True:
            await self._results_ready.wait()
            self._results_ready.clear()
            if not self._results:
                continue
            if len(self._results) < self.flush_size and not self._stopping:
                # let a batch gather (briefly when it holds a push: CEILING_FLUSH_INTERVAL)
                short = self._push_results
                await asyncio.sleep(self.flush_interval if short else self.sms_flush_interval)
            batch, self._results = self._results, []
            self._push_results = False
            await self._db_retrying(
                "result write", store.record, batch, worker_id=self.worker_id, now=utcnow()
            )
            self._stored(batch)
            if self._results:
                self._results_ready.set()
            await self._ack_pending()

    def _stored(self, batch: list[Result]) -> None:
        self._progress_at = time.monotonic()
        released: dict[Priority, list[int]] = {}
        for result in batch:
            lane = _lane_of(result.entry)
            if result.kind == "retry" and result.next_attempt_at is not None:
                self._schedule(result.id, result.next_attempt_at, lane)
            elif result.kind == "release":
                released.setdefault(lane, []).append(result.id)
            if result.entry is not None:
                self._complete(result.entry, 1)
            if result.kind != "dropped":  # a superseded claim's: the newer one stays
                self._leases.pop(result.id, None)
            self._held_by_lane[lane] = max(0, self._held_by_lane[lane] - 1)
        self._held -= len(batch)
        if self._room is not None:
            self._room.set()
        for lane, ids in released.items():
            asyncio.get_running_loop().create_task(self._enqueue_quietly(ids, lane))

    def _complete(self, entry: _Entry, count: int) -> None:
        entry.remaining -= count
        if entry.remaining <= 0 and self._entries.pop(id(entry), None) is not None:
            self._to_ack.append(entry)

    async def _ack_pending(self, final: bool = False) -> None:
        if not self._to_ack:
            return
        batch, self._to_ack = self._to_ack, []
        attempts = 3 if final else 1
        for attempt in range(attempts):
            try:
                await self.consumer.ack([e.entry for e in batch])
                self._progress_at = time.monotonic()
                return
            except Exception as exc:
                if attempt == attempts - 1:
                    # Unacknowledged entries come back (XAUTOCLAIM); their rows are no longer
                    # queued, so the claim skips them.
                    log.warning("dispatch ack failed (%s); will retry", type(exc).__name__)
                    if not final:
                        self._to_ack.extend(batch)
                    return
                await asyncio.sleep(0.2)

    # -- retry timers -----------------------------------------------------------------------

    def _schedule(self, message_id: int, due: datetime, lane: Priority = NORMAL) -> None:
        delay = max(0.0, (due - utcnow()).total_seconds()) + 0.02
        bucket = int((time.monotonic() + delay) * 20)  # 50 ms buckets
        key = (bucket, lane)
        ids = self._timers.get(key)
        if ids is None:
            self._timers[key] = [message_id]
            loop = asyncio.get_running_loop()
            handle = loop.call_later(bucket / 20 + 0.05 - time.monotonic(), self._fire, key)
            self._timer_handles.append(handle)
        else:
            ids.append(message_id)

    def _fire(self, key: tuple[int, Priority]) -> None:
        ids = self._timers.pop(key, None)
        self._timer_handles = [
            h
            for h in self._timer_handles
            if not h.cancelled() and h.when() > asyncio.get_running_loop().time()
        ]
        if ids:
            asyncio.get_running_loop().create_task(self._enqueue_quietly(ids, key[1]))

    async def _enqueue_quietly(self, ids: list[int], lane: Priority = NORMAL) -> None:
        for attempt in range(5):
            try:
                await self.consumer.enqueue(ids, lane)
                return
            except Exception as exc:
                await asyncio.sleep(0.2 * (attempt + 1))
                last = exc
        log.warning(
            "dispatch: could not re-enqueue %d ids (%s); the reconciler will",
            len(ids),
            type(last).__name__,
        )

    # -- claim leases -----------------------------------------------------------------------

    def _lapsed(self, row: Claimed) -> Result | None:
        """``None`` while this claim may be sent on; else what to store instead of sending:
        ``dropped`` when a newer claim of ours holds the row (the reconciler took this one
        over and we claimed it again), ``release`` when the claim was last confirmed more
        than ``claim_ttl`` ago (the reconciler may have handed it to another worker)."""
        if self.claim_ttl is None:
            return None
        lease = self._leases.get(row.id)
        if lease is None or lease[0] != row.attempts:
            return Result(row.id, "dropped")
        age = time.monotonic() - lease[1]
        if age <= self.claim_ttl:
            return None
        if time.monotonic() - self._last_lease_warning > 10.0:
            self._last_lease_warning = time.monotonic()
            log.warning(
                "dispatch worker %s: the claim of message %s was last confirmed %.0f s ago "
                "(limit %.0f s): given back, not sent",
                self.worker_id,
                row.id,
                age,
                self.claim_ttl,
            )
        return Result(row.id, "release")

    async def _renew_loop(self) -> None:
        """Renew the claims this worker holds, so none of them looks abandoned."""
        assert self.claim_ttl is not None
        while True:
            await asyncio.sleep(self.claim_ttl / 3)
            if not self._leases:
                continue
            asked = time.monotonic()
            try:
                kept = await self._db(
                    store.renew_claims, list(self._leases), worker_id=self.worker_id, now=utcnow()
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database away: rows past their lease go back
                log.warning("dispatch: claims not renewed (%s)", type(exc).__name__)
                continue
            for message_id in kept:
                lease = self._leases.get(message_id)
                if lease is not None:
                    self._leases[message_id] = (lease[0], asked)

    # -- upkeep ---------------------------------------------------------------------------

    async def _maintain(self) -> None:
        last_keepalive = time.monotonic()
        last_heartbeat = 0.0
        last_warning = 0.0
        while True:
            await asyncio.sleep(0.5)
            now = time.monotonic()
            try:
                await self._refresh_broadcasts()
                if self.heartbeat is not None and now - last_heartbeat >= self.heartbeat_every:
                    last_heartbeat = now
                    await self.heartbeat()
                if now - last_keepalive >= self.keepalive_every and self._entries:
                    last_keepalive = now
                    await self.consumer.keepalive([e.entry for e in self._entries.values()])
                if self._to_ack:
                    await self._ack_pending()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis or the database restarting: try next round
                if now - last_warning > 10.0:
                    last_warning = now
                    log.warning(
                        "dispatch upkeep failed (%s: %s)", type(exc).__name__, str(exc)[:200]
                    )

    async def _refresh_broadcasts(self) -> None:
        """Broadcast statuses twice a second: a cancel stops sends that have not left."""
        if not self._broadcasts:
            return
        if self._held == 0:  # idle: forget, and reload on the next claim
            self._broadcasts.clear()
            self._push_keys.clear()
            return
        statuses = await self._db(store.broadcast_statuses, list(self._broadcasts))
        for broadcast_id, info in list(self._broadcasts.items()):
            status = statuses.get(broadcast_id)
            if status is None:
                self._broadcasts.pop(broadcast_id, None)
            else:
                info.status = status
