"""docker-compose.yml stays valid and runnable: the compose tool's own check (no Docker engine
is needed for `config`), and every command it runs exists in our CLI."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"


def _compose_tool() -> list[str] | None:
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    ):
        return [docker, "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def test_compose_file_is_valid_for_compose():
    tool = _compose_tool()
    if tool is None:
        pytest.skip(
            "neither `docker compose` nor `docker-compose` is installed (.ci/run installs it)"
        )
    out = subprocess.run(
        [*tool, "-f", str(COMPOSE), "config", "-q"], capture_output=True, text=True, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr


def test_compose_services_commands_and_health_checks():
    spec = yaml.safe_load(COMPOSE.read_text())
    services = spec["services"]
    assert {"postgres", "redis", "api", "worker", "scheduler"} <= set(services)
    for name in ("postgres", "redis", "api", "worker", "scheduler"):
        assert "healthcheck" in services[name], f"{name} has no health check"
    for name in ("api", "worker", "scheduler"):
        assert services[name]["build"] == "."  # one Dockerfile for every role
        env = services[name]["environment"]
        assert env["TYPHOON_DATABASE_URL"].startswith("postgresql://")
        assert env["TYPHOON_REDIS_URL"].startswith("redis://")
    # Every `typhoon …` command the file runs exists (checked through the real CLI).
    commands = [services[n]["command"] for n in services if "command" in services[n]]
    checks = [s["healthcheck"]["test"] for s in services.values() if "healthcheck" in s]
    commands += [test[1:] for test in checks if test[1:2] == ["typhoon"]]
    for command in commands:
        if command[0] != "typhoon":
            continue
        args = [a for a in command[1:] if not a.startswith("--") and a not in ("0.0.0.0", "8000")]
        out = subprocess.run(
            [sys.executable, "-m", "emergency", *args, "--help"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, f"`typhoon {' '.join(args)}` does not exist: {out.stderr}"
