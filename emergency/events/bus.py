"""The event bus: how a committed event reaches every process that feeds websocket clients.

Two implementations behind one interface, chosen once from settings:
- InProcessBus (default): callbacks on this process's event loop.
- RedisBus (TYPHOON_REDIS_URL): Redis pub/sub, so every API replica feeds its own clients.
Pub/sub is at-most-once; that is fine because events are stored with `seq` and the live hub
fills any gap from the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any, Protocol

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
        self._task: asyncio.Task | None = None

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def publish(self, message: dict[str, Any]) -> None:
        self._publisher.publish(self.channel, json.dumps(message, ensure_ascii=False))

    def ping(self) -> None:
        self._publisher.ping()

    async def start(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._listeners and self._task is None:
            self._task = loop.create_task(self._listen(), name="redis-event-bus")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
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
                        message = json.loads(raw["data"])
                        for listener in self._listeners:
                            listener(message)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("redis event bus disconnected: %s; retrying", type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            finally:
                await client.aclose()


def build_bus(redis_url: str | None, *, channel: str = CHANNEL) -> EventBus:
    return RedisBus(redis_url, channel=channel) if redis_url else InProcessBus()
