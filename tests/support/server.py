"""Running the real app with uvicorn on a free loopback port, inside the test process.

`run(settings)` starts the app the way `typhoon serve --no-worker --no-scheduler` does: no
dispatch worker and no scheduler running in the background (timed jobs are still stored).
A test makes due work happen with `RunningApp.drain()` (after `app.clock.advance(...)` for
work due later), then asserts, on what happened and on what did not. A test of the
background machinery itself passes `embedded_worker=True, embedded_scheduler=True` (or uses
`@pytest.mark.background` with the app fixtures, see tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from alerts.dispatch.queue import InProcessQueue
from tests.support import dbstate

# One TLS context for every test client: building one reads the CA bundle (~80 ms), and the
# apps are plain HTTP on the loopback anyway.
_SSL = ssl.create_default_context()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RunningApp:
    def __init__(self, app, port: int, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.app = app
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}"
        self.client = httpx.Client(base_url=self.url, timeout=30, verify=_SSL)
        self.loop = loop
        self._tokens: dict[str, str] = {}
        self._pristine: _Pristine | None = None

    @property
    def db(self):
        return self.app.state.db

    @property
    def runtime(self):
        return self.app.state.runtime

    @property
    def clock(self):
        """The clock scheduled work is judged by: `app.clock.advance(minutes=16)`, then
        `app.drain()` runs what became due."""
        return self.runtime.clock

    def token(self, role: str, name: str | None = None) -> str:
        """A new user with `role` (cached per role unless a name is given)."""
        from emergency.auth import service as auth_service

        if name is None and role in self._tokens:
            return self._tokens[role]
        with self.db.unit_of_work() as session:
            _, token = auth_service.create_user(
                session, name=name or f"{role}-{uuid.uuid4().hex[:6]}", role=role, actor="test"
            )
        if name is None:
            self._tokens[role] = token
        return token

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role)}"}

    def drain(self, **kwargs: Any):
        """Run the dispatch queue and the due scheduled work until nothing is left
        (`emergency.drain.drain`); returns what it did. For apps without a background worker
        and scheduler (the default here)."""
        from emergency.drain import drain

        return drain(self.runtime, scheduler=self.app.state.scheduler, **kwargs)

    def call_soon(self, fn: Callable[[], Any]) -> Any:
        """Run `fn` on the server's event loop and return its result."""

        async def call() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(call(), self.loop).result(timeout=60)

    # -- one app for many tests -------------------------------------------------------------

    def remember_pristine(self, data_dir: Path | None = None) -> None:
        """Note the state right after start-up (rows seeded, in-memory parts), so that
        `reset()` can bring it back between tests."""
        state = self.app.state._state
        self._pristine = _Pristine(
            rows=dbstate.take(self.db.engine),
            restorer=dbstate.Restorer(self.db.engine),
            state=dict(state),
            data_dir=data_dir,
        )

    def reset(self) -> None:
        """Back to the state right after start-up, as a new app on a new database would be:
        rows, the live hub's position, the queue, caches made since, the clock, Redis keys."""
        pristine = self._pristine
        assert pristine is not None, "remember_pristine() first"
        self._tokens.clear()
        runtime = self.runtime
        pristine.restorer.restore(pristine.rows)
        runtime.forget_state()
        state = self.app.state._state
        for key in set(state) - set(pristine.state):
            gone = state.pop(key)
            close = getattr(gone, "close", None)
            if callable(close) and key == "rate_limit_redis":
                close()
        state.update(pristine.state)
        runtime.clock.reset()
        queue = runtime.queue
        if isinstance(queue, InProcessQueue):  # ids of a previous test's broadcasts
            queue.clear()
        settings = runtime.settings
        if settings.redis_url:
            _delete_redis_keys(settings.redis_url, settings.redis_prefix)
        hub = self.app.state.hub

        def rewind() -> None:  # the event counter starts again
            hub.last_seq = 0

        self.call_soon(rewind)
        if pristine.data_dir is not None and pristine.data_dir.exists():
            for child in pristine.data_dir.iterdir():  # photos; the secret key stays
                if child.name == "secret.key":
                    continue
                if child.is_dir():
                    shutil.rmtree(child)
                else:
                    child.unlink()


class _Pristine:
    def __init__(self, *, rows, restorer, state, data_dir) -> None:
        self.rows = rows
        self.restorer = restorer
        self.state = state
        self.data_dir = data_dir


def _delete_redis_keys(url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        keys = list(client.scan_iter(f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@contextmanager
def run(settings, *, embedded_worker: bool = False, embedded_scheduler: bool = False, **app_kwargs):
    from emergency.app import create_app
    from emergency.serving import uvicorn_options

    app = create_app(
        settings,
        embedded_worker=embedded_worker,
        embedded_scheduler=embedded_scheduler,
        **app_kwargs,
    )
    # The listening socket is ours from the start: no other test (or xdist worker) can take
    # the port between choosing it and uvicorn binding it.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        **uvicorn_options(settings),  # as `typhoon serve` does: trusted proxies, keep-alive
        log_config=None,
        ws_ping_interval=20,
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"uvicorn-{port}", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 90  # generous: a loaded machine
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the app did not start")
        time.sleep(0.005)
    running = RunningApp(app, port, app.state.hub._loop)  # the server's loop
    try:
        yield running
    finally:
        running.client.close()
        server.should_exit = True
        thread.join(timeout=60)
        sock.close()
