"""Outages on demand, for tests and benchmarks that must ride them out (loopback only).

- ``OutageProxy``: a TCP proxy in front of a server (PostgreSQL) whose ``outage(seconds)``
  drops every connection and refuses new ones for a while: a "restart" of a server that is
  shared with everything else on the machine, without touching it.
- ``redis_server()`` (``RedisServer``: ``stop()``, ``start()``) and ``private_redis()``: a
  ``redis-server`` of our own on a free port, without persistence,
  that ``restart(down)`` kills and starts again empty (never the shared one at :6379).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

from tests.support.server import free_port


class Unavailable(RuntimeError):
    """A tool the outage needs is not installed (tests skip, benchmarks report it)."""


class OutageProxy:
    """TCP proxy to a server; ``outage(seconds)`` drops all connections and refuses new ones."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = free_port()
        self._down_until = 0.0
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if time.monotonic() < self._down_until:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def outage(self, seconds: float) -> None:
        self._down_until = time.monotonic() + seconds
        with self._lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
                conn.close()
            except OSError:
                pass

    def close(self) -> None:
        self._stop = True
        self._listener.close()
        self.outage(0)


def redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.05)


class RedisServer:
    """A ``redis-server`` of our own on a free port, without persistence: ``stop()`` kills
    it (nothing listens at its address), ``start()`` starts it again, empty."""

    def __init__(self, *options: str) -> None:
        if not shutil.which("redis-server"):
            raise Unavailable("redis-server is not installed")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.options = options
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                *self.options,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_until(lambda: redis_answers(self.port), 60, "redis-server")
        except TimeoutError:
            proc.kill()
            proc.wait(10)
            raise
        self.proc = proc

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def restart(self, down: float) -> None:
        """Kill it, wait ``down`` seconds, start it again, empty."""
        self.stop()
        time.sleep(down)
        self.start()


@contextmanager
def redis_server(*options: str) -> Iterator[RedisServer]:
    """A private Redis (``RedisServer``), started; always stopped at the end."""
    server = RedisServer(*options)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def private_redis(*options: str) -> Iterator[tuple[str, Callable[[float], None]]]:
    """Yields ``(url, restart)``; ``restart(down)`` kills the server, waits ``down`` seconds
    and starts it again, empty. The server is always stopped at the end. ``options``: more
    redis-server options (e.g. "--aclfile", path)."""
    with redis_server(*options) as server:
        yield server.url, server.restart
