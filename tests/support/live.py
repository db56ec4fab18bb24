"""A small websocket client for /ws/live tests (the `websockets` library's sync client). Its
waits default to 30 s: they end as soon as the message comes, and a loaded machine is slow."""

from __future__ import annotations

import json
import time

from websockets.sync.client import connect


class LiveClient:
    def __init__(self, ws_url: str, token: str, since: int | None = None) -> None:
        query = f"token={token}" + (f"&since={since}" if since is not None else "")
        # max_queue=None: a test reads only the events it asserts on; with the library's default
        # (16 frames) a client with more unread stops reading the socket, so close() waited
        # its 10 s timeout for the server's close frame behind them.
        self.ws = connect(
            f"{ws_url}/ws/live?{query}", open_timeout=30, max_size=2**24, max_queue=None
        )

    def next(self, timeout: float = 30.0) -> dict:
        return json.loads(self.ws.recv(timeout=timeout))

    def next_event(self, timeout: float = 30.0, *, skip=("ping", "pong")) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            message = self.next(max(0.01, deadline - time.monotonic()))
            if message["type"] not in skip:
                return message

    def events_until(self, predicate, timeout: float = 30.0) -> list[dict]:
        """Every event received until one satisfies `predicate` (included)."""
        seen = []
        deadline = time.monotonic() + timeout
        while True:
            message = self.next_event(max(0.01, deadline - time.monotonic()))
            seen.append(message)
            if predicate(message):
                return seen

    def close(self) -> None:
        self.ws.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
