"""The live hub: fans committed events out to this process's websocket clients, in seq order.

Each client has its own bounded queue, so one slow screen never delays the others; a client
whose queue overflows is closed with CLOSE_TOO_SLOW and resumes with `?since=N`.

The bus (Redis pub/sub between processes) is only a wake-up: whatever a bus message says, the
hub reads the events after the last one it delivered from the event table, which numbers them
in commit order (emergency.sequences), and delivers those. So anyone able to publish on Redis
can at most make the hub read the database: a forged event never reaches a screen, and a forged
seq cannot make the hub skip real events. A lost message (a Redis restart) only delays the read
to the next wake-up or tick.

The events this process commits itself are handed to the hub after their commit, as written
(`committed`): when they follow the last event delivered they go out without being read back
(issue 18: a read per report cost every API process four round trips). A wake-up naming a seq
delivered already is then not read for: a forged one can only spare a read that would have found
nothing, since every real wake-up names its own, later, seq.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import WebSocket

from alerts.cancellation import cancel_and_wait
from emergency import metrics, visibility
from emergency.db import Database
from emergency.events import service as event_service

log = logging.getLogger(__name__)

CLOSE_UNAUTHORIZED = 4401  # missing, invalid, revoked or expired token
CLOSE_TOO_SLOW = 4008  # fell too far behind: reconnect with ?since=<last seq received>
CLOSE_TOO_MANY = 4429  # this token has TYPHOON_WS_PER_TOKEN live websockets open already
CLOSE_SHUTDOWN = 1001
TOKEN_CHECK_SECONDS = 2.0  # how often open websockets' tokens are checked (revoked, expired)


class LiveClient:
    def __init__(self, ws: WebSocket, queue_size: int, *, role: str, credential: str) -> None:
        self.ws = ws
        self.role = role  # what it may read (emergency.visibility)
        # `token:<id>` or `session:<id>`: closed when it is revoked, ends or expires
        self.credential = credential
        self.queue: asyncio.Queue[tuple[int, str]] = asyncio.Queue(maxsize=queue_size)
        self.lagging = False
        self.closing = False
        self.sent_seq = 0  # the last event seq written to this client
        self.sender: asyncio.Task[None] | None = None


class LiveHub:
    def __init__(
        self,
        db: Database,
        *,
        queue_size: int = 1000,
        ping_seconds: float = 15.0,
        per_token: int = 20,
        token_check_seconds: float = TOKEN_CHECK_SECONDS,
    ) -> None:
        self.db = db
        self.queue_size = queue_size
        self.ping_seconds = ping_seconds
        self.per_token = per_token
        self.token_check_seconds = token_check_seconds
        self.clients: set[LiveClient] = set()
        self.last_seq = 0
        self._catching_up = False
        self._wanted = False  # a wake-up came while reading: read again
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._watcher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.last_seq = await asyncio.to_thread(self._db_last_seq)
        self._ticker = self._loop.create_task(self._tick(), name="live-hub-tick")
        self._watcher = self._loop.create_task(self._watch_tokens(), name="live-hub-tokens")

    async def stop(self) -> None:
        await cancel_and_wait([self._ticker, self._watcher], 5.0, what="live hub")
        for client in list(self.clients):
            with contextlib.suppress(Exception):
                await client.ws.close(code=CLOSE_SHUTDOWN, reason="server shutting down")
        self.clients.clear()

    # --- events in ----------------------------------------------------------------------
    def on_bus_message(self, message: dict[str, Any]) -> None:
        """Called on the event loop for each message from the bus: a wake-up, never data
        (see the module's docstring)."""
        seq = message.get("seq")
        if type(seq) is int and seq <= self.last_seq:
            return  # delivered already (this process's own events, or read with others)
        self.wake()

    def committed(self, messages: list[dict[str, Any]]) -> None:
        """Events this process has just committed (emergency.events.service), from the thread
        that committed them: delivered on the event loop."""
        loop = self._loop
        if messages and loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._own, messages)

    def _own(self, messages: list[dict[str, Any]]) -> None:
        if messages[0]["seq"] == self.last_seq + 1:  # the next ones: no read needed
            for message in messages:
                self._deliver(message)
        elif messages[-1]["seq"] > self.last_seq:  # others' events come first: read them all
            self.wake()

    def wake(self) -> None:
        """Read and deliver what the event table has after `last_seq`; wake-ups that come
        while a read runs make one more read, never a pile of them."""
        self._wanted = True
        if not self._catching_up and self._loop:
            self._catching_up = True
            self._loop.create_task(self._catch_up())

    async def _catch_up(self) -> None:
        try:
            while self._wanted:
                self._wanted = False
                while True:
                    missed = await asyncio.to_thread(self._db_events_since, self.last_seq)
                    for message in missed:
                        if message["seq"] > self.last_seq:  # in seq order: commit order
                            self._deliver(message)
                    if len(missed) < 1000:
                        break
        except Exception:
            log.exception("live hub could not read missed events")
        finally:
            self._catching_up = False

    def _deliver(self, message: dict[str, Any]) -> None:
        self.last_seq = message["seq"]
        metrics.EVENTS_STREAMED.labels(type=message["type"]).inc()
        encoded: dict[str, str] = {}  # once per role, not per client
        for client in list(self.clients):
            if client.role not in encoded:
                encoded[client.role] = _encode(message, client.role)
            self._offer(client, message["seq"], encoded[client.role])

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

    async def _close(self, client: LiveClient, code: int, reason: str) -> None:
        if client.closing:
            return
        client.closing = True
        if client.sender:
            client.sender.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.ws.close(code=code, reason=reason), timeout=2)

    async def _watch_tokens(self) -> None:
        # A revoked or expired token's websockets close within seconds, on every API
        # process: each asks the database (the truth) about the tokens it serves.
        while True:
            await asyncio.sleep(self.token_check_seconds)
            credentials = {client.credential for client in self.clients}
            if not credentials:
                continue
            try:
                invalid = await asyncio.to_thread(self._db_invalid, credentials)
            except Exception:
                log.warning("live hub could not check its clients' tokens")
                continue
            for client in [c for c in self.clients if c.credential in invalid]:
                log.info("live client's token revoked or expired, closing")
                await self._close(client, CLOSE_UNAUTHORIZED, "token revoked or expired")

    def open_for(self, credential: str) -> int:
        return sum(1 for client in self.clients if client.credential == credential)

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
                    self.wake()
            except Exception:
                log.warning("live hub could not read the event counter")

    # --- clients ------------------------------------------------------------------------
    async def serve(
        self,
        ws: WebSocket,
        *,
        since: int | None,
        snapshot_fn: Callable[[], tuple[dict[str, Any], int]],
        role: str,
        credential: str,
    ) -> None:
        """Run one client: snapshot, missed events, then live events until it leaves. A
        token with `per_token` websockets open here already is closed with CLOSE_TOO_MANY."""
        if self.per_token and self.open_for(credential) >= self.per_token:
            metrics.WS_REFUSED.inc()
            await ws.close(
                code=CLOSE_TOO_MANY,
                reason=f"too many live connections for this token (at most {self.per_token})",
            )
            return
        client = LiveClient(ws, self.queue_size, role=role, credential=credential)
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
                    await ws.send_text(_encode(message, role))
                    sent = message["seq"]
            client.sent_seq = sent
            sender = client.sender = asyncio.create_task(self._send_loop(client))
            receiver = asyncio.create_task(self._receive(ws))
            # Whichever ends first (client left, or we closed a slow one) ends the other.
            done, pending = await asyncio.wait(
                {sender, receiver}, return_when=asyncio.FIRST_COMPLETED
            )
            for task in done:  # a client that left mid-send is no error: retrieve, not log
                if not task.cancelled():
                    task.exception()
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

    def _db_invalid(self, credentials: set[str]) -> set[str]:
        from emergency.auth import service as auth_service

        with self.db.session() as session:
            return auth_service.invalid_credentials(session, credentials)

    def _db_events_since(self, since: int, limit: int | None = 1000) -> list[dict[str, Any]]:
        with self.db.session() as session:
            return event_service.events_since(session, since, limit=limit or 100_000)


def _encode(message: dict[str, Any], role: str) -> str:
    """The event as `role` may read it: the same rules as the REST reads."""
    return json.dumps(visibility.event_for(message, role), ensure_ascii=False)


def _now() -> str:
    return datetime.now(UTC).isoformat()
