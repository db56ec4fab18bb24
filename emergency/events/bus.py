"""The event bus: how a committed event reaches every process that feeds websocket clients.

Two implementations behind one interface, chosen once from settings:
- InProcessBus (default): callbacks on this process's event loop.
- RedisBus (TYPHOON_REDIS_URL): Redis pub/sub, so every API replica feeds its own clients.
A message is a wake-up, not an event: it carries the last seq of a committed unit of work,
and a listener (the live hub) reads the events themselves from the database (the seq only
spares a hub a read when it has delivered that far). Redis is not
trusted with their content (anyone who can publish there could forge it), and pub/sub is
at-most-once, which a wake-up can afford: the hub also reads the table on its own tick.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Protocol

import orjson

from alerts.cancellation import cancel_and_wait

log = logging.getLogger(__name__)

Listener = Callable[[dict[str, Any]], None]
CHANNEL = "typhoon:events"  # the default; settings.redis_key("events")


class EventBus(Protocol):
    def publish(self, message: dict[str, Any]) -> None:
        """Thread-safe; called after commit from any thread."""

    def subscribe(self, listener: Listener) -> None:
        """`listener` is called on the event loop given to start()."""

    async def start(self, loop: asyncio.AbstractEventLoop) -> None: ...

    async def stop(self) -> None: ...

    def ping(self) -> None: ...


class InProcessBus:
    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    async def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    async def stop(self) -> None:
        self._loop = None

    def publish(self, message: dict[str, Any]) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return  # no live listeners in this process (CLI, tests without a server)
        for listener in self._listeners:
            loop.call_soon_threadsafe(listener, message)

    def ping(self) -> None:
        return None


class RedisBus:
    def __init__(self, url: str, *, channel: str = CHANNEL) -> None:
        import redis

        self.url = url
        self.channel = channel
        self._publisher = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self._listeners: list[Listener] = []
        self._task: asyncio.Task[None] | None = None

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def publish(self, message: dict[str, Any]) -> None:
        # orjson: json.dumps with an option builds an encoder per call (~1.4 % of a field
        # report's CPU, issue 18)
        self._publisher.publish(self.channel, orjson.dumps(message))

    def ping(self) -> None:
        self._publisher.ping()

    async def start(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._listeners and self._task is None:
            self._task = loop.create_task(self._listen(), name="redis-event-bus")

    async def stop(self) -> None:
        if self._task:
            await cancel_and_wait([self._task], 5.0, what="redis event bus")
            self._task = None
        self._publisher.close()

    async def _listen(self) -> None:
        import redis.asyncio as aioredis

        # Reconnect forever: a Redis restart must not end the live stream. Events published
        # while we were away are recovered from the database by the hub (seq gap).
        delay = 0.2
        while True:
            client = aioredis.Redis.from_url(self.url)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(self.channel)
                    delay = 0.2
                    for listener in self._listeners:
                        listener({"type": "_bus.connected"})
                    async for raw in pubsub.listen():
                        if raw.get("type") != "message":
                            continue
                        # Whatever it says, it only means "read the table"; the seq it names
                        # lets a hub that has delivered that far already skip the read.
                        wake = {"type": "_bus.wake", "seq": _seq_of(raw.get("data"))}
                        for listener in self._listeners:
                            listener(wake)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("redis event bus disconnected: %s; retrying", type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            finally:
                await client.aclose()


def _seq_of(data: object) -> int | None:
    """The seq a wake-up names ({"seq": N}, as published), else None; a hint only."""
    if not isinstance(data, bytes) or len(data) > 64:
        return None
    try:
        seq = orjson.loads(data).get("seq")
    except (ValueError, AttributeError):
        return None
    return seq if type(seq) is int else None


def build_bus(redis_url: str | None, *, channel: str = CHANNEL) -> EventBus:
    return RedisBus(redis_url, channel=channel) if redis_url else InProcessBus()
