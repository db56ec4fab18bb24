"""An event loop in a daemon thread, so a fake server can run beside a test's own loop.

The fake servers are asyncio code; tests and benchmarks drive them from synchronous code
(context managers, pytest fixtures) or from another loop. Everything that touches server
state is scheduled onto this loop, so no locks are needed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, Generic, Protocol, TypeVar, cast

from aiohttp import web

T = TypeVar("T")


async def listen(
    app: web.Application, host: str, port: int, *, backlog: int = 128
) -> tuple[web.AppRunner, str]:
    """Serve ``app`` on ``host``:``port`` (0: a free port): its runner and base URL."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=backlog, reuse_address=True)
    await site.start()
    server = cast("asyncio.Server | None", site._server)  # uvloop's Server has sockets too
    assert server is not None and server.sockets
    return runner, f"http://{host}:{server.sockets[0].getsockname()[1]}"


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed (it roughly doubles a small HTTP server's throughput)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class AppServer:
    """A fake service's aiohttp application (`app()`: its routes) served on a port."""

    backlog = 128

    def __init__(self) -> None:
        self.base_url = ""
        self._runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        raise NotImplementedError

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._runner, self.base_url = await listen(self.app(), host, port, backlog=self.backlog)
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


class LocalServer(Protocol):
    async def start(self, host: str = ..., port: int = ...) -> str: ...

    async def stop(self) -> None: ...


def command_line(description: str, port: int) -> argparse.ArgumentParser:
    """A fake service's command line: --host (loopback by default) and --port (`port`)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=port)
    return parser


def serve_until_signal(make: Callable[[], LocalServer], host: str, port: int, banner: str) -> None:
    """A fake service's command line: ``make()`` its server on a loop of its own, print
    ``banner`` (``{url}``: where it listens), and serve until SIGINT or SIGTERM."""

    async def serve() -> None:
        server = make()
        url = await server.start(host, port)
        print(banner.replace("{url}", url), flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await server.stop()

    loop = new_event_loop()
    try:
        loop.run_until_complete(serve())
    finally:
        loop.close()


class BackgroundLoop:
    def __init__(self, name: str) -> None:
        self.loop = new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        """Run a coroutine on the background loop and wait (bounded) for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call_soon(self, func: Any, *args: Any) -> None:
        self.loop.call_soon_threadsafe(func, *args)

    def stop(self, timeout: float = 10.0) -> None:
        if not self._thread.is_alive():
            return
        try:
            self.call(_cancel_other_tasks(), timeout=timeout)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout)


async def _cancel_other_tasks() -> None:
    current = asyncio.current_task()
    tasks = [t for t in asyncio.all_tasks() if t is not current]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


ServerT = TypeVar("ServerT", bound=AppServer)


class Handle(Generic[ServerT]):
    """What a test holds of a fake server that runs on a background loop."""

    def __init__(self, server: ServerT, background: BackgroundLoop) -> None:
        self._server = server
        self._background = background
        self.base_url = server.base_url

    def _on_loop(self, func: Callable[..., T], *args: Any) -> T:
        """``func(*args)`` on the server's loop, where its state is changed."""

        async def run() -> T:
            return func(*args)

        return self._background.call(run())

    def wait_for(
        self, predicate: Callable[[], bool], timeout: float = 5.0, interval: float = 0.01
    ) -> bool:
        """Poll until ``predicate()`` is true (e.g. callbacks arrived); False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(interval)
        return predicate()


S = TypeVar("S", bound=LocalServer)


@contextlib.contextmanager
def serving(
    name: str, make: Callable[[], S], host: str, port: int
) -> Iterator[tuple[S, BackgroundLoop]]:
    """``make()`` a server and serve it on a loopback port from a loop in a background
    thread (``name``) for the ``with`` block."""
    background = BackgroundLoop(name)
    background.start()
    try:

        async def start() -> S:
            server = make()
            await server.start(host, port)
            return server

        server = background.call(start())
        try:
            yield server, background
        finally:
            background.call(server.stop())
    finally:
        background.stop()
