"""Starting real service processes (`python -m emergency serve|worker|scheduler`) for
multi-process tests, and stopping them even when a test fails."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support.server import free_port


class Proc:
    def __init__(self, popen: subprocess.Popen, port: int | None, log: Path) -> None:
        self.popen = popen
        self.port = port
        self.log = log
        self.url = f"http://127.0.0.1:{port}" if port else None
        self.ws_url = f"ws://127.0.0.1:{port}" if port else None

    def kill(self, sig=signal.SIGKILL, timeout: float = 20.0) -> None:
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


def _spawn(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    full_env = {**os.environ, "TYPHOON_LOG_FORMAT": "text", **env}
    handle = open(log, "ab")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [sys.executable, "-m", "emergency", *args],
        env=full_env,
        stdout=handle,
        stderr=subprocess.STDOUT,
    )


@contextmanager
def start_api(env: dict, log: Path, *extra: str):
    port = free_port()
    popen = _spawn(
        ["serve", "--port", str(port), "--no-worker", "--no-scheduler", "--no-migrate", *extra],
        env,
        log,
    )
    proc = Proc(popen, port, log)
    try:
        deadline = time.monotonic() + 60  # generous: CI starts many processes on 2 cores
        while True:
            if popen.poll() is not None:
                raise RuntimeError(f"api exited: {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{proc.url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"api did not get ready: {log.read_text()[-2000:]}")
            time.sleep(0.1)
        yield proc
    finally:
        proc.kill(signal.SIGTERM)


@contextmanager
def start(role: str, env: dict, log: Path, *extra: str):
    """A worker or scheduler process."""
    proc = Proc(_spawn([role, *extra], env, log), None, log)
    try:
        yield proc
    finally:
        proc.kill(signal.SIGTERM)
