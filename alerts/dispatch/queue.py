"""The message queue: carries outbox message ids (never message content) to workers.

The outbox row is the truth; the queue only says "look at these ids". Delivery is
at-least-once, so a worker claims a row with a conditional UPDATE before sending, and an id
that arrives twice is harmless.

Ids travel in priority lanes (``alerts.dispatch.lanes``: emergency, high, normal); a consumer
reads the highest non-empty lane it is asked for first. ``lanes=False`` puts everything in
``normal`` (first in, first out: the benchmark's comparison).

- InProcessQueue (default, embedded): a thread-safe deque per lane in this process.
- RedisStreamQueue (TYPHOON_REDIS_URL): a Redis Stream per lane (``…:stream`` for normal,
  ``…:stream:high``, ``…:stream:emergency``) read through the consumer group ``workers``. Each entry carries up to ``ids_per_entry`` ids. A worker acknowledges an
  entry (XACK, then XDEL so the stream only holds work not yet done) after the results of
  all its ids are stored. Entries a dead worker left pending are taken over with XAUTOCLAIM
  once idle for ``min_idle`` seconds; a live worker keeps the entries it holds fresh (XCLAIM
  JUSTID, which does not count as a delivery), so only a dead worker's entries go idle. An
  entry delivered more than ``max_deliveries`` times is looked at: the worker marks failed
  (and parks a record of, in ``…:parked``) those of its messages that the database has seen
  claimed that often, rather than crash on them forever; the delivery count alone is only
  Redis's word.

Producers (``enqueue``) are synchronous and thread-safe: they run after the commit of a
request's or a job's unit of work. Workers use the asyncio consumer of each queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from alerts.dispatch.lanes import LANES, NORMAL, Priority

log = logging.getLogger(__name__)

IDS_PER_ENTRY = 100
GROUP = "workers"


class MessageQueue(Protocol):
    def enqueue(self, message_ids: Sequence[int], lane: Priority = NORMAL) -> None:
        """Thread-safe; called after the commit that stored the rows, in their broadcast's
        lane. Never raises for a queue that is down: the rows are stored and the reconciler
        re-queues them."""

    def backlog(self) -> int:
        """Roughly how much work waits in the queue (0: drained). For the reconciler."""

    def consumer(self, name: str) -> QueueConsumer:
        """The worker side (asyncio)."""


@dataclass(slots=True)
class QueueEntry:
    """One unit of delivery: some ids, and what the queue needs to acknowledge them."""

    ids: list[int]
    entry_id: str | None = None  # the stream entry id (Redis); None in-process
    deliveries: int = 1  # how many times the queue has handed this entry out
    lane: Priority = NORMAL  # the lane it came from (and is acknowledged in)


class QueueConsumer(Protocol):
    async def receive(
        self, max_entries: int, timeout: float, lanes: Sequence[Priority] = LANES
    ) -> list[QueueEntry]:
        """New entries of the highest non-empty lane among ``lanes``, waiting at most
        ``timeout`` seconds for the first."""

    async def reclaim(self) -> list[QueueEntry]:
        """Entries that a dead consumer left unacknowledged (with their delivery counts)."""

    async def keepalive(self, entries: Sequence[QueueEntry]) -> None:
        """Tell the queue that these entries are still being worked on."""

    async def ack(self, entries: Sequence[QueueEntry]) -> None:
        """The results of these entries' ids are stored: forget them."""

    async def park(self, entry: QueueEntry, reason: str) -> None:
        """Set a poison entry aside (kept for inspection) and forget it."""

    async def enqueue(self, message_ids: Sequence[int], lane: Priority = NORMAL) -> None:
        """Put ids (back) on the queue from the worker's loop (retries, hand-over)."""

    async def close(self) -> None: ...


def chunked(ids: Sequence[int], size: int) -> list[list[int]]:
    return [list(ids[i : i + size]) for i in range(0, len(ids), size)]


# ---------------------------------------------------------------------------------------
# In-process


class InProcessQueue:
    def __init__(self, *, lanes: bool = True) -> None:
        self.lanes = lanes
        self._lanes: dict[Priority, deque[int]] = {name: deque() for name in LANES}
        self._ready = threading.Condition()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    def enqueue(self, message_ids: Sequence[int], lane: Priority = NORMAL) -> None:
        with self._ready:
            self._lanes[lane if self.lanes else NORMAL].extend(message_ids)
            self._ready.notify_all()
            waiters = list(self._waiters)
        for loop, ready in waiters:
            with contextlib.suppress(RuntimeError):  # that loop is closed
                loop.call_soon_threadsafe(ready.set)

    def _take(self, max_items: int, lanes: Sequence[Priority]) -> tuple[Priority, list[int]]:
        """Up to max_items ids of the highest non-empty lane among ``lanes`` (lock held)."""
        for name in LANES:
            items = self._lanes[name]
            if name in lanes and items:
                batch: list[int] = []
                while items and len(batch) < max_items:
                    batch.append(items.popleft())
                return name, batch
        return NORMAL, []

    def take(self, max_items: int, timeout: float) -> list[int]:
        """Up to max_items ids (of the highest non-empty lane), waiting at most `timeout`
        seconds for the first."""
        with self._ready:
            if not self.backlog() and timeout > 0:
                self._ready.wait(timeout)
            return self._take(max_items, LANES)[1]

    async def take_async(
        self, max_items: int, timeout: float, lanes: Sequence[Priority] = LANES
    ) -> tuple[Priority, list[int]]:
        """``take`` for an event loop: waits without holding a thread; and the lane."""
        with self._ready:
            found = self._take(max_items, lanes)
        if found[1] or timeout <= 0:
            return found
        waiter = (asyncio.get_running_loop(), asyncio.Event())
        with self._ready:
            if any(self._lanes[name] for name in lanes):
                waiter[1].set()
            self._waiters.append(waiter)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter[1].wait(), timeout)
        finally:
            with self._ready:
                self._waiters.remove(waiter)
        with self._ready:
            return self._take(max_items, lanes)

    def backlog(self) -> int:
        return sum(len(items) for items in self._lanes.values())

    def clear(self) -> None:
        with self._ready:
            for items in self._lanes.values():
                items.clear()

    def consumer(self, name: str = "in-process") -> InProcessConsumer:
        return InProcessConsumer(self)

    def __len__(self) -> int:
        return self.backlog()


class InProcessConsumer:
    """Nothing to acknowledge: if this process dies its deque dies with it, and the
    reconciler re-queues the rows still `queued` (and reclaims those left `sending`)."""

    def __init__(self, queue: InProcessQueue, ids_per_entry: int = IDS_PER_ENTRY) -> None:
        self.queue = queue
        self.ids_per_entry = ids_per_entry

    async def receive(
        self, max_entries: int, timeout: float, lanes: Sequence[Priority] = LANES
    ) -> list[QueueEntry]:
        name, ids = await self.queue.take_async(max_entries * self.ids_per_entry, timeout, lanes)
        return [QueueEntry(chunk, lane=name) for chunk in chunked(ids, self.ids_per_entry)]

    async def reclaim(self) -> list[QueueEntry]:
        return []

    async def keepalive(self, entries: Sequence[QueueEntry]) -> None:
        return None

    async def ack(self, entries: Sequence[QueueEntry]) -> None:
        return None

    async def park(self, entry: QueueEntry, reason: str) -> None:
        return None

    async def enqueue(self, message_ids: Sequence[int], lane: Priority = NORMAL) -> None:
        self.queue.enqueue(message_ids, lane)

    async def close(self) -> None:
        return None


# ---------------------------------------------------------------------------------------
# Redis Streams


def _ids_field(ids: Sequence[int]) -> str:
    return ",".join(str(int(i)) for i in ids)


def _parse_ids(fields: dict[Any, Any]) -> list[int]:
    raw = fields.get(b"ids") or fields.get("ids") or b""
    if isinstance(raw, bytes):
        raw = raw.decode()
    try:  # map over the split: a skipping worker parses hundreds of entries at a time
        return list(map(int, raw.split(","))) if raw else []
    except ValueError:  # an empty part ("1,,2"): skip it
        return [int(part) for part in raw.split(",") if part]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisStreamQueue:
    """Producer side (sync, thread-safe) and the factory of asyncio consumers."""

    def __init__(
        self,
        url: str,
        *,
        namespace: str = "typhoon:dispatch",
        ids_per_entry: int = IDS_PER_ENTRY,
        min_idle: float = 30.0,
        max_deliveries: int = 5,
        lanes: bool = True,
    ) -> None:
        self.url = url
        self.namespace = namespace
        self.stream = f"{namespace}:stream"  # the normal lane's (the one stream of old)
        self.streams: dict[Priority, str] = {
            name: self.stream if name == NORMAL else f"{self.stream}:{name}" for name in LANES
        }
        self.parked = f"{namespace}:parked"
        self.ids_per_entry = ids_per_entry
        self.min_idle = min_idle
        self.max_deliveries = max_deliveries
        self.lanes = lanes
        self._client: Any = None  # redis.Redis, built on first use (no connection at import)
        self._lock = threading.Lock()

    def _redis(self) -> Any:
        with self._lock:
            if self._client is None:
                import redis

                self._client = redis.Redis.from_url(
                    self.url, socket_timeout=5, socket_connect_timeout=5
                )
            return self._client

    def stream_of(self, name: Priority) -> str:
        return self.streams[name if self.lanes else NORMAL]

    def enqueue(self, message_ids: Sequence[int], lane: Priority = NORMAL) -> None:
        ids = list(message_ids)
        if not ids:
            return
        try:
            pipe = self._redis().pipeline(transaction=False)
            for chunk in chunked(ids, self.ids_per_entry):
                pipe.xadd(self.stream_of(lane), {"ids": _ids_field(chunk)})
            pipe.execute()
        except Exception as exc:  # the rows are stored: the reconciler re-queues them
            log.warning(
                "could not enqueue %d message ids (%s); the reconciler will re-queue them",
                len(ids),
                type(exc).__name__,
            )

    def backlog(self) -> int:
        """Entries in the streams: not yet read, or read and not yet acknowledged."""
        pipe = self._redis().pipeline(transaction=False)
        for stream in self.streams.values():
            pipe.xlen(stream)
        return sum(int(n) for n in pipe.execute())

    def parked_entries(self, count: int = 100) -> list[dict[str, str]]:
        rows = self._redis().xrange(self.parked, count=count)
        return [{_text(k): _text(v) for k, v in fields.items()} for _, fields in rows]

    def consumer(self, name: str) -> RedisStreamConsumer:
        return RedisStreamConsumer(self, name)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


class RedisStreamConsumer:
    """One worker's reading side of the streams, on redis.asyncio.

    Every call may meet a Redis that is restarting: connection errors propagate to the
    worker, which backs off and calls again; a group lost with its stream (a Redis restart
    without persistence) is re-created on NOGROUP.
    """

    def __init__(self, queue: RedisStreamQueue, name: str) -> None:
        self.queue = queue
        self.name = name
        self._client: Any = None
        self._group_ready = False

    def _redis(self) -> Any:
        if self._client is None:
            import redis.asyncio as aioredis

            self._client = aioredis.Redis.from_url(
                self.queue.url, socket_timeout=10, socket_connect_timeout=5
            )
        return self._client

    async def _ensure_group(self) -> None:
        import redis

        for stream in self.queue.streams.values():
            try:
                await self._redis().xgroup_create(stream, GROUP, id="0", mkstream=True)
            except redis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
        self._group_ready = True

    async def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        import redis

        if not self._group_ready:
            await self._ensure_group()
        try:
            return await getattr(self._redis(), method)(*args, **kwargs)
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            await self._ensure_group()
            return await getattr(self._redis(), method)(*args, **kwargs)

    def _lanes(self, lanes: Sequence[Priority]) -> list[Priority]:
        if not self.queue.lanes:
            return [NORMAL]
        return [name for name in LANES if name in lanes]

    def _entries(self, answer: Any) -> list[QueueEntry]:
        by_stream = {stream: name for name, stream in self.queue.streams.items()}
        entries = []
        for stream, rows in answer or []:
            name = by_stream.get(_text(stream), NORMAL)
            for entry_id, fields in rows:
                entries.append(QueueEntry(_parse_ids(fields), _text(entry_id), 1, name))
        # the highest lane first (a blocking read may answer from several streams)
        entries.sort(key=lambda e: LANES.index(e.lane))
        return entries

    async def receive(
        self, max_entries: int, timeout: float, lanes: Sequence[Priority] = LANES
    ) -> list[QueueEntry]:
        wanted = self._lanes(lanes)
        if not wanted:
            return []
        # The highest non-empty lane first: one look at each, without waiting...
        if len(wanted) > 1:
            for name in wanted:
                answer = await self._call(
                    "xreadgroup",
                    GROUP,
                    self.name,
                    {self.queue.streams[name]: ">"},
                    count=max_entries,
                )
                if answer:
                    return self._entries(answer)
        # ...then wait on all of them for whatever comes first.
        answer = await self._call(
            "xreadgroup",
            GROUP,
            self.name,
            {self.queue.streams[name]: ">" for name in wanted},
            count=max_entries,
            block=max(1, int(timeout * 1000)),
        )
        return self._entries(answer)

    async def reclaim(self, max_entries: int = 100) -> list[QueueEntry]:
        found: list[QueueEntry] = []
        for name in self._lanes(LANES):
            found += await self._reclaim(name, max_entries)
        return found

    async def _reclaim(self, name: Priority, max_entries: int) -> list[QueueEntry]:
        queue = self.queue
        stream = queue.streams[name]
        answer = await self._call(
            "xautoclaim",
            stream,
            GROUP,
            self.name,
            min_idle_time=int(queue.min_idle * 1000),
            start_id="0-0",
            count=max_entries,
        )
        rows = answer[1] if answer else []
        entries = {
            _text(entry_id): QueueEntry(_parse_ids(fields or {}), _text(entry_id), 1, name)
            for entry_id, fields in rows
        }
        if not entries:
            return []
        # XAUTOCLAIM counted this as a delivery; read the counts to spot poison entries.
        first, last = min(entries, key=_stream_order), max(entries, key=_stream_order)
        pending = await self._call(
            "xpending_range",
            stream,
            GROUP,
            min=first,
            max=last,
            count=len(entries) + 1000,
            consumername=self.name,
        )
        for item in pending:
            entry = entries.get(_text(item["message_id"]))
            if entry is not None:
                entry.deliveries = int(item["times_delivered"])
        return list(entries.values())

    def _by_stream(self, entries: Sequence[QueueEntry]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for entry in entries:
            if entry.entry_id:
                out.setdefault(self.queue.stream_of(entry.lane), []).append(entry.entry_id)
        return out

    async def keepalive(self, entries: Sequence[QueueEntry]) -> None:
        for stream, ids in self._by_stream(entries).items():
            await self._call("xclaim", stream, GROUP, self.name, 0, ids, justid=True)

    async def ack(self, entries: Sequence[QueueEntry]) -> None:
        by_stream = self._by_stream(entries)
        if not by_stream:
            return
        pipe = self._redis().pipeline(transaction=True)
        for stream, ids in by_stream.items():
            pipe.xack(stream, GROUP, *ids)
            pipe.xdel(stream, *ids)
        await pipe.execute()

    async def park(self, entry: QueueEntry, reason: str) -> None:
        stream = self.queue.stream_of(entry.lane)
        pipe = self._redis().pipeline(transaction=True)
        pipe.xadd(
            self.queue.parked,
            {
                "ids": _ids_field(entry.ids),
                "entry": entry.entry_id or "",
                "lane": entry.lane,
                "deliveries": str(entry.deliveries),
                "reason": reason,
            },
            maxlen=10_000,
            approximate=True,
        )
        if entry.entry_id:
            pipe.xack(stream, GROUP, entry.entry_id)
            pipe.xdel(stream, entry.entry_id)
        await pipe.execute()

    async def enqueue(self, message_ids: Sequence[int], lane: Priority = NORMAL) -> None:
        ids = list(message_ids)
        if not ids:
            return
        pipe = self._redis().pipeline(transaction=False)
        for chunk in chunked(ids, self.queue.ids_per_entry):
            pipe.xadd(self.queue.stream_of(lane), {"ids": _ids_field(chunk)})
        await pipe.execute()

    async def close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.aclose()
            self._client = None


def _stream_order(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)
