"""Real processes for the multi-process tests and the benchmarks (one harness for both):
`python -m emergency serve|worker|scheduler`, the Twilio-compatible server or any other
module, each started in a `with` block that stops it even when a test or a benchmark fails.

- ``running(args, env, log, …)``: ``python -m <args>``, ready when its HTTP ``ready_path``
  answers 200 or its ``ready()`` holds; SIGTERM at the end (SIGKILL if it lingers).
- ``start_api`` / ``start_apis`` (replicas, one after the other), ``start(role)`` for a worker
  or the scheduler, ``start_worker`` (ready once it shows in Redis's live workers).
- ``live_workers(redis_url, prefix)``: the dispatch workers alive now.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

from tests.support.server import free_port

ROOT = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 90.0  # generous: CI starts many processes on 2 cores


class Proc:
    def __init__(self, popen: subprocess.Popen[bytes], port: int | None, log: Path | None) -> None:
        self.popen = popen
        self.port = port
        self.log = log
        self.url = f"http://127.0.0.1:{port}" if port else None
        self.ws_url = f"ws://127.0.0.1:{port}" if port else None

    def kill(self, sig: int = signal.SIGKILL, timeout: float = 20.0) -> None:
        """Send `sig` and wait; a process still there after `timeout` gets SIGKILL, so a
        test never leaves one behind."""
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def tail(self) -> str:
        """The end of its log, for an error message."""
        return self.log.read_text()[-2000:] if self.log and self.log.exists() else "(no log)"


def spawn(args: list[str], env: Mapping[str, str], log: Path | None) -> subprocess.Popen[bytes]:
    """``python -m <args>`` from the repository's root, with ``env`` over this environment;
    its output appended to ``log`` (None: dropped)."""
    full_env = {**os.environ, "TYPHOON_LOG_FORMAT": "text", **env}
    handle = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        env=full_env,
        stdout=handle,
        stderr=subprocess.STDOUT,
    )


def _wait_ready(proc: Proc, ready: Callable[[], bool], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.popen.poll() is not None:
            raise RuntimeError(f"{what} exited: {proc.tail()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not get ready: {proc.tail()}")
        time.sleep(0.1)


def answers(url: str) -> bool:
    """GET ``url`` answers 200 now."""
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def running(
    args: list[str],
    env: Mapping[str, str],
    log: Path | None,
    *,
    port: int | None = None,
    ready_path: str | None = None,
    ready: Callable[[], bool] | None = None,
    timeout: float = STARTUP_SECONDS,
) -> Iterator[Proc]:
    """``python -m <args>`` until the block ends; yielded once ``ready_path`` (on ``port``)
    answers 200 and ``ready()`` holds."""
    proc = Proc(spawn(args, env, log), port, log)
    try:
        if ready_path:
            url = f"{proc.url}{ready_path}"
            _wait_ready(proc, lambda: answers(url), " ".join(args[:2]), timeout)
        if ready:
            _wait_ready(proc, ready, " ".join(args[:2]), timeout)
        yield proc
    finally:
        proc.kill(signal.SIGTERM)


@contextmanager
def start_api(env: Mapping[str, str], log: Path, *extra: str) -> Iterator[Proc]:
    """`typhoon serve` without its embedded worker and scheduler, as deployed; ready at /readyz."""
    port = free_port()
    args = ["emergency", "serve", "--port", str(port), "--no-worker", "--no-scheduler"]
    with running(
        [*args, "--no-migrate", *extra], env, log, port=port, ready_path="/readyz"
    ) as proc:
        yield proc


@contextmanager
def start_apis(count: int, env: Mapping[str, str], logs: Path) -> Iterator[list[Proc]]:
    """``count`` API replicas sharing the database and Redis. One after the other: two first
    starts on an empty database race to seed the facilities table."""
    with ExitStack() as stack:
        yield [stack.enter_context(start_api(env, logs / f"api-{i}.log")) for i in range(count)]


@contextmanager
def start(
    role: str,
    env: Mapping[str, str],
    log: Path,
    *extra: str,
    ready: Callable[[], bool] | None = None,
) -> Iterator[Proc]:
    """A worker or scheduler process (`typhoon worker|scheduler`)."""
    with running(["emergency", role, *extra], env, log, ready=ready) as proc:
        yield proc


def live_workers(redis_url: str, prefix: str) -> list[str]:
    """The dispatch workers whose heartbeat in Redis is current (none while Redis is down)."""
    import redis

    from emergency.dispatch.service import WORKERS_KEY

    client = redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
    try:
        key = f"{prefix}:dispatch:{WORKERS_KEY}"
        return [m.decode() for m in client.zrangebyscore(key, time.time(), "+inf")]
    except redis.RedisError:
        return []
    finally:
        client.close()


@contextmanager
def start_worker(
    env: Mapping[str, str], log: Path, *, redis_url: str, prefix: str
) -> Iterator[Proc]:
    """A worker process, yielded once one more worker is live in Redis than before."""
    before = len(live_workers(redis_url, prefix))
    with start(
        "worker", env, log, ready=lambda: len(live_workers(redis_url, prefix)) > before
    ) as proc:
        yield proc
