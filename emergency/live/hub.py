"""The live hub: fans committed events out to this process's websocket clients, in seq order.

Each client has its own bounded queue, so one slow screen never delays the others; a client
whose queue overflows is closed with CLOSE_TOO_SLOW and resumes with `?since=N`. Events come
from the bus; a gap in seq (out-of-order publish, a lost pub/sub message, a Redis restart) is
filled from the event table, so every client sees every event once and in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from datetime import UTC, datetime
from typing import Any

from fastapi import WebSocket

from emergency import metrics
from emergency.events import service as event_service

log = logging.getLogger(__name__)

CLOSE_UNAUTHORIZED = 4401  # missing or invalid token
CLOSE_TOO_SLOW = 4008  # fell too far behind: reconnect with ?since=<last seq received>
CLOSE_SHUTDOWN = 1001


class LiveClient:
    def __init__(self, ws: WebSocket, queue_size: int) -> None:
        self.ws = ws
        self.queue: asyncio.Queue[tuple[int, str]] = asyncio.Queue(maxsize=queue_size)
        self.lagging = False
        self.sent_seq = 0  # the last event seq written to this client
        self.sender: asyncio.Task | None = None


class LiveHub:
    def __init__(self, db, *, queue_size: int = 1000, ping_seconds: float = 15.0) -> None:
        self.db = db
        self.queue_size = queue_size
        self.ping_seconds = ping_seconds
        self.clients: set[LiveClient] = set()
        self.last_seq = 0
        self._held: dict[int, dict[str, Any]] = {}
        self._catching_up = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ticker: asyncio.Task | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.last_seq = await asyncio.to_thread(self._db_last_seq)
        self._ticker = self._loop.create_task(self._tick(), name="live-hub-tick")

    async def stop(self) -> None:
        if self._ticker:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        for client in list(self.clients):
            with contextlib.suppress(Exception):
                await client.ws.close(code=CLOSE_SHUTDOWN, reason="server shutting down")
        self.clients.clear()

    # --- events in ----------------------------------------------------------------------
    def on_bus_message(self, message: dict[str, Any]) -> None:
        """Called on the event loop for each message from the bus."""
        if message.get("type") == "_bus.connected":
            self._schedule_catch_up()
            return
        seq = message.get("seq")
        if not isinstance(seq, int) or seq <= self.last_seq:
            return  # already delivered (a replay, or the same event twice)
        if seq == self.last_seq + 1:
            self._deliver(message)
            self._release_held()
        else:
            self._held[seq] = message
            self._schedule_catch_up()

    def _release_held(self) -> None:
        while (nxt := self._held.pop(self.last_seq + 1, None)) is not None:
            self._deliver(nxt)
        for seq in [s for s in self._held if s <= self.last_seq]:
            del self._held[seq]

    def _schedule_catch_up(self) -> None:
        if not self._catching_up and self._loop:
            self._catching_up = True
            self._loop.create_task(self._catch_up())

    async def _catch_up(self) -> None:
        try:
            while True:
                missed = await asyncio.to_thread(self._db_events_since, self.last_seq)
                for message in missed:
                    if message["seq"] == self.last_seq + 1:
                        self._deliver(message)
                self._release_held()
                if not missed or len(missed) < 1000:
                    break
        except Exception:
            log.exception("live hub could not read missed events")
        finally:
            self._catching_up = False

    def _deliver(self, message: dict[str, Any]) -> None:
        self.last_seq = message["seq"]
        metrics.EVENTS_STREAMED.labels(type=message["type"]).inc()
        encoded = json.dumps(message, ensure_ascii=False)  # once for all clients
        for client in list(self.clients):
            self._offer(client, message["seq"], encoded)

    def _offer(self, client: LiveClient, seq: int, encoded: str) -> None:
        if client.lagging:
            return
        try:
            client.queue.put_nowait((seq, encoded))
        except asyncio.QueueFull:
            client.lagging = True
            metrics.WS_DROPPED.inc()
            log.warning("live client too slow, closing", extra={"sent_seq": client.sent_seq})
            asyncio.get_running_loop().create_task(self._drop(client))

    async def _drop(self, client: LiveClient) -> None:
        # Its sender may be stuck writing to a frozen socket: stop it, then close politely
        # if the socket still takes a frame, and tell the screen where to resume.
        if client.sender:
            client.sender.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(
                client.ws.close(
                    code=CLOSE_TOO_SLOW, reason=f"too slow; reconnect with since={client.sent_seq}"
                ),
                timeout=2,
            )

    async def _tick(self) -> None:
        # Keep-alive for screens (browsers cannot see protocol pings) and a safety net that
        # picks up any event whose bus message was lost.
        while True:
            await asyncio.sleep(self.ping_seconds)
            ping = json.dumps({"type": "ping", "at": _now(), "last_seq": self.last_seq})
            for client in list(self.clients):
                self._offer(client, 0, ping)
            try:
                if await asyncio.to_thread(self._db_last_seq) > self.last_seq:
                    self._schedule_catch_up()
            except Exception:
                log.warning("live hub could not read the event counter")

    # --- clients ------------------------------------------------------------------------
    async def serve(self, ws: WebSocket, *, since: int | None, snapshot_fn) -> None:
        """Run one client: snapshot, missed events, then live events until it leaves."""
        client = LiveClient(ws, self.queue_size)
        self.clients.add(client)  # buffer live events while we read the snapshot
        metrics.WS_CLIENTS.inc()
        try:
            snapshot, snapshot_seq = await asyncio.to_thread(snapshot_fn)
            await ws.send_text(
                json.dumps(
                    {"type": "snapshot", "at": _now(), "seq": snapshot_seq, "data": snapshot},
                    ensure_ascii=False,
                )
            )
            sent = snapshot_seq
            if since is not None:
                sent = since
                for message in await asyncio.to_thread(self._db_events_since, since, None):
                    await ws.send_text(json.dumps(message, ensure_ascii=False))
                    sent = message["seq"]
            client.sent_seq = sent
            sender = client.sender = asyncio.create_task(self._send_loop(client))
            receiver = asyncio.create_task(self._receive(ws))
            # Whichever ends first (client left, or we closed a slow one) ends the other.
            _, pending = await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        finally:
            self.clients.discard(client)
            metrics.WS_CLIENTS.dec()

    async def _send_loop(self, client: LiveClient) -> None:
        while True:
            seq, encoded = await client.queue.get()
            if seq and seq <= client.sent_seq:
                continue  # already sent in the replay
            await client.ws.send_text(encoded)
            if seq:
                client.sent_seq = seq

    @staticmethod
    async def _receive(ws: WebSocket) -> None:
        # The only thing a screen says is ping; reading also tells us when it leaves.
        with contextlib.suppress(Exception):
            while True:
                text = await ws.receive_text()
                if '"ping"' in text or text == "ping":
                    await ws.send_text(json.dumps({"type": "pong", "at": _now()}))

    # --- database reads (run in threads) ------------------------------------------------
    def _db_last_seq(self) -> int:
        with self.db.session() as session:
            return event_service.last_seq(session)

    def _db_events_since(self, since: int, limit: int | None = 1000) -> list[dict[str, Any]]:
        with self.db.session() as session:
            return event_service.events_since(session, since, limit=limit or 100_000)


def _now() -> str:
    return datetime.now(UTC).isoformat()
