"""The message queue: carries outbox message ids (never message content) to workers.

The outbox row is the truth; the queue only says "look at these ids". Delivery is
at-least-once, so a worker claims a row with a conditional UPDATE before sending, and an id
that arrives twice is harmless.

- InProcessQueue (default, embedded): a thread-safe deque in this process.
- RedisStreamQueue (TYPHOON_REDIS_URL): a Redis Stream read through the consumer group
  ``workers``. Each entry carries up to ``ids_per_entry`` ids. A worker acknowledges an
  entry (XACK, then XDEL so the stream only holds work not yet done) after the results of
  all its ids are stored. Entries a dead worker left pending are taken over with XAUTOCLAIM
  once idle for ``min_idle`` seconds; a live worker keeps the entries it holds fresh (XCLAIM
  JUSTID, which does not count as a delivery), so only a dead worker's entries go idle. An
  entry delivered more than ``max_deliveries`` times is parked (copied to ``…:parked``): the
  worker marks its messages failed with a clear error rather than crash on it forever.

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

log = logging.getLogger(__name__)

IDS_PER_ENTRY = 100
GROUP = "workers"


class MessageQueue(Protocol):
    def enqueue(self, message_ids: Sequence[int]) -> None:
        """Thread-safe; called after the commit that stored the rows. Never raises for a
        queue that is down: the rows are stored and the reconciler re-queues them."""

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


class QueueConsumer(Protocol):
    async def receive(self, max_entries: int, timeout: float) -> list[QueueEntry]:
        """New entries, waiting at most ``timeout`` seconds for the first."""

    async def reclaim(self) -> list[QueueEntry]:
        """Entries that a dead consumer left unacknowledged (with their delivery counts)."""

    async def keepalive(self, entries: Sequence[QueueEntry]) -> None:
        """Tell the queue that these entries are still being worked on."""

    async def ack(self, entries: Sequence[QueueEntry]) -> None:
        """The results of these entries' ids are stored: forget them."""

    async def park(self, entry: QueueEntry, reason: str) -> None:
        """Set a poison entry aside (kept for inspection) and forget it."""

    async def enqueue(self, message_ids: Sequence[int]) -> None:
        """Put ids (back) on the queue from the worker's loop (retries, hand-over)."""

    async def close(self) -> None: ...


def chunked(ids: Sequence[int], size: int) -> list[list[int]]:
    return [list(ids[i : i + size]) for i in range(0, len(ids), size)]


# ---------------------------------------------------------------------------------------
# In-process


class InProcessQueue:
    def __init__(self) -> None:
        self._items: deque[int] = deque()
        self._ready = threading.Condition()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    def enqueue(self, message_ids: Sequence[int]) -> None:
        with self._ready:
            self._items.extend(message_ids)
            self._ready.notify_all()
            waiters = list(self._waiters)
        for loop, ready in waiters:
            with contextlib.suppress(RuntimeError):  # that loop is closed
                loop.call_soon_threadsafe(ready.set)

    def take(self, max_items: int, timeout: float) -> list[int]:
        """Up to max_items ids, waiting at most `timeout` seconds for the first."""
        with self._ready:
            if not self._items and timeout > 0:
                self._ready.wait(timeout)
            batch = []
            while self._items and len(batch) < max_items:
                batch.append(self._items.popleft())
            return batch

    async def take_async(self, max_items: int, timeout: float) -> list[int]:
        """``take`` for an event loop: waits without holding a thread."""
        batch = self.take(max_items, 0)
        if batch or timeout <= 0:
            return batch
        waiter = (asyncio.get_running_loop(), asyncio.Event())
        with self._ready:
            if self._items:
                waiter[1].set()
            self._waiters.append(waiter)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter[1].wait(), timeout)
        finally:
            with self._ready:
                self._waiters.remove(waiter)
        return self.take(max_items, 0)

    def backlog(self) -> int:
        return len(self._items)

    def consumer(self, name: str = "in-process") -> InProcessConsumer:
        return InProcessConsumer(self)

    def __len__(self) -> int:
        return len(self._items)


class InProcessConsumer:
    """Nothing to acknowledge: if this process dies its deque dies with it, and the
    reconciler re-queues the rows still `queued` (and reclaims those left `sending`)."""

    def __init__(self, queue: InProcessQueue, ids_per_entry: int = IDS_PER_ENTRY) -> None:
        self.queue = queue
        self.ids_per_entry = ids_per_entry

    async def receive(self, max_entries: int, timeout: float) -> list[QueueEntry]:
        ids = await self.queue.take_async(max_entries * self.ids_per_entry, timeout)
        return [QueueEntry(chunk) for chunk in chunked(ids, self.ids_per_entry)]

    async def reclaim(self) -> list[QueueEntry]:
        return []

    async def keepalive(self, entries: Sequence[QueueEntry]) -> None:
        return None

    async def ack(self, entries: Sequence[QueueEntry]) -> None:
        return None

    async def park(self, entry: QueueEntry, reason: str) -> None:
        return None

    async def enqueue(self, message_ids: Sequence[int]) -> None:
        self.queue.enqueue(message_ids)

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
    ) -> None:
        self.url = url
        self.namespace = namespace
        self.stream = f"{namespace}:stream"
        self.parked = f"{namespace}:parked"
        self.ids_per_entry = ids_per_entry
        self.min_idle = min_idle
        self.max_deliveries = max_deliveries
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

    def enqueue(self, message_ids: Sequence[int]) -> None:
        ids = list(message_ids)
        if not ids:
            return
        try:
            pipe = self._redis().pipeline(transaction=False)
            for chunk in chunked(ids, self.ids_per_entry):
                pipe.xadd(self.stream, {"ids": _ids_field(chunk)})
            pipe.execute()
        except Exception as exc:  # the rows are stored: the reconciler re-queues them
            log.warning(
                "could not enqueue %d message ids (%s); the reconciler will re-queue them",
                len(ids),
                type(exc).__name__,
            )

    def backlog(self) -> int:
        """Entries in the stream: not yet read, or read and not yet acknowledged."""
        return int(self._redis().xlen(self.stream))

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
    """One worker's reading side of the stream, on redis.asyncio.

    Every call may meet a Redis that is restarting: connection errors propagate to the
    worker, which backs off and calls again; a group lost with the stream (a Redis restart
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

        try:
            await self._redis().xgroup_create(self.queue.stream, GROUP, id="0", mkstream=True)
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

    async def receive(self, max_entries: int, timeout: float) -> list[QueueEntry]:
        answer = await self._call(
            "xreadgroup",
            GROUP,
            self.name,
            {self.queue.stream: ">"},
            count=max_entries,
            block=max(1, int(timeout * 1000)),
        )
        entries = []
        for _stream, rows in answer or []:
            for entry_id, fields in rows:
                entries.append(QueueEntry(_parse_ids(fields), _text(entry_id), 1))
        return entries

    async def reclaim(self, max_entries: int = 100) -> list[QueueEntry]:
        queue = self.queue
        answer = await self._call(
            "xautoclaim",
            queue.stream,
            GROUP,
            self.name,
            min_idle_time=int(queue.min_idle * 1000),
            start_id="0-0",
            count=max_entries,
        )
        rows = answer[1] if answer else []
        entries = {
            _text(entry_id): QueueEntry(_parse_ids(fields or {}), _text(entry_id), 1)
            for entry_id, fields in rows
        }
        if not entries:
            return []
        # XAUTOCLAIM counted this as a delivery; read the counts to spot poison entries.
        first, last = min(entries, key=_stream_order), max(entries, key=_stream_order)
        pending = await self._call(
            "xpending_range",
            queue.stream,
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

    async def keepalive(self, entries: Sequence[QueueEntry]) -> None:
        ids = [e.entry_id for e in entries if e.entry_id]
        if ids:
            await self._call("xclaim", self.queue.stream, GROUP, self.name, 0, ids, justid=True)

    async def ack(self, entries: Sequence[QueueEntry]) -> None:
        ids = [e.entry_id for e in entries if e.entry_id]
        if not ids:
            return
        pipe = self._redis().pipeline(transaction=True)
        pipe.xack(self.queue.stream, GROUP, *ids)
        pipe.xdel(self.queue.stream, *ids)
        await pipe.execute()

    async def park(self, entry: QueueEntry, reason: str) -> None:
        pipe = self._redis().pipeline(transaction=True)
        pipe.xadd(
            self.queue.parked,
            {
                "ids": _ids_field(entry.ids),
                "entry": entry.entry_id or "",
                "deliveries": str(entry.deliveries),
                "reason": reason,
            },
            maxlen=10_000,
            approximate=True,
        )
        if entry.entry_id:
            pipe.xack(self.queue.stream, GROUP, entry.entry_id)
            pipe.xdel(self.queue.stream, entry.entry_id)
        await pipe.execute()

    async def enqueue(self, message_ids: Sequence[int]) -> None:
        ids = list(message_ids)
        if not ids:
            return
        pipe = self._redis().pipeline(transaction=False)
        for chunk in chunked(ids, self.queue.ids_per_entry):
            pipe.xadd(self.queue.stream, {"ids": _ids_field(chunk)})
        await pipe.execute()

    async def close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.aclose()
            self._client = None


def _stream_order(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)
