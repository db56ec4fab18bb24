"""The `typhoon` command line, run as an operator runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from types import SimpleNamespace


def typhoon(*args: str, env: dict[str, str] | None = None) -> SimpleNamespace:
    """`typhoon ARGS` run in this process through its Typer app (what `python -m emergency`
    runs), without an interpreter start-up per call: `.returncode`, `.stdout`, `.stderr`."""
    from typer.testing import CliRunner

    from emergency.cli import app

    result = CliRunner().invoke(
        app, list(args), env={"TYPHOON_LOG_FORMAT": "text", **(env or {})}, catch_exceptions=False
    )
    return SimpleNamespace(returncode=result.exit_code, stdout=result.stdout, stderr=result.stderr)


def typhoon_process(*args: str, env: dict[str, str] | None = None, timeout: float = 60):
    """`python -m emergency ARGS` in a process of its own: for what only a real process shows
    (the entry point, how it exits before any command runs)."""
    return subprocess.run(
        [sys.executable, "-m", "emergency", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
