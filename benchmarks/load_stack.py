"""The stack the load benchmarks run against (bench_load_reports, bench_load_websocket,
bench_load_signal), started with the tests' process harness (tests/support/processes.py): a
fresh PostgreSQL database (dropped after), Redis with a key prefix of this run's own, ``typhoon
serve --no-worker --no-scheduler`` API processes (replicas, as deployed; events between them
through Redis) and ``typhoon worker`` processes; users made with the auth service, residents
seeded like ``bench_broadcast`` (inside the communities)."""

from __future__ import annotations

import contextlib
import os
import resource
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.processes import Proc, running, start_apis, start_worker
from tests.support.server import free_port

ROOT = Path(__file__).resolve().parents[1]
FROM = "+15005550006"
DEFAULT_PG = os.environ.get("TYPHOON_TEST_DATABASE_URL") or (
    "postgresql://postgres@127.0.0.1:5432/postgres"
)
DEFAULT_REDIS = (
    os.environ.get("TYPHOON_BENCH_REDIS_URL")
    or os.environ.get("TYPHOON_TEST_REDIS_URL")
    or "redis://127.0.0.1:6379/0"
)
TEXTS = {
    "zh-Hans": "【横琴三防】八号风球生效，请留在室内，远离窗户。",
    "zh-Hant": "【橫琴三防】八號風球生效，請留在室內，遠離窗戶。",
    "pt": "Sinal n.º 8 em vigor. Fique em casa, longe das janelas.",
    "en": "Signal No. 8 is in force. Stay indoors, away from windows.",
}
SIGNAL = {"source": "SMG", "kind": "tropical_cyclone"}
RESIDENTS = "+86139"  # bench_broadcast.seed's phones; liaison contacts (+853…) get SMS too


def raise_nofile() -> tuple[int, int]:
    """Soft RLIMIT_NOFILE up to the hard limit (children inherit it): 2,000 sockets each side."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100): an observed value, never an interpolation."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil(n q / 100)
    return ordered[int(rank) - 1]


def note(text: str) -> None:
    print(f"   bench_load: {text}", file=sys.stderr, flush=True)


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def count(n: int) -> str:
    from benchmarks.bench_import import _count

    return _count(n)


@dataclass
class Stack:
    db_url: str
    redis_url: str
    prefix: str
    logs: Path
    tokens: dict[str, str] = field(default_factory=dict)
    field_tokens: list[str] = field(default_factory=list)
    api_url: str = ""
    api_urls: list[str] = field(default_factory=list)
    population: int = 0

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "TYPHOON_DATABASE_URL": self.db_url,
            "TYPHOON_REDIS_URL": self.redis_url,
            "TYPHOON_REDIS_PREFIX": self.prefix,
            "TYPHOON_PUBLIC_URL": "http://127.0.0.1:9",
            "TYPHOON_LOG_LEVEL": "WARNING",
            "TYPHOON_DATA_DIR": str(self.logs / "data"),
            # the field tokens here stand for many phones: no per-phone rate limit; one viewer
            # token for 2,000 screens, one loopback address for every client
            "TYPHOON_FIELD_RATE_LIMIT": "0",
            "TYPHOON_WS_PER_TOKEN": "0",
            "TYPHOON_MAX_REQUESTS_PER_ADDRESS": "0",
            **extra,
        }

    @contextlib.contextmanager
    def api(self, count: int = 1) -> Iterator[list[str]]:
        """``count`` API processes (replicas sharing PostgreSQL and Redis, as deployed)."""
        with start_apis(count, self.env(), self.logs) as procs:
            self.api_urls = [str(proc.url) for proc in procs]
            self.api_url = self.api_urls[0]
            yield self.api_urls

    @contextlib.contextmanager
    def worker(self, name: str, **extra: str) -> Iterator[Proc]:
        log = self.logs / f"{name}.log"
        env = self.env(**extra)
        with start_worker(env, log, redis_url=self.redis_url, prefix=self.prefix) as proc:
            yield proc

    @contextlib.contextmanager
    def floor(self) -> Iterator[str]:
        """The peer: a trivial FastAPI app (benchmarks/floor_app.py) under uvicorn."""
        port = free_port()
        args = ["uvicorn", "benchmarks.floor_app:app", "--port", str(port)]
        args += ["--log-level", "warning", "--no-access-log"]
        log = self.logs / "floor.log"
        with running(args, {}, log, port=port, ready_path="/healthz") as proc:
            yield str(proc.url)

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


@contextlib.contextmanager
def stack(pg: str | None, *, field_users: int = 20) -> Iterator[Stack]:
    import redis

    from benchmarks.bench_dispatch import bench_database
    from emergency.auth import service as auth_service
    from emergency.db import Database

    raise_nofile()
    redis_url = DEFAULT_REDIS
    redis.Redis.from_url(redis_url, socket_connect_timeout=2).ping()  # fail early, clearly
    prefix = f"bench-load-{uuid.uuid4().hex[:8]}"
    logs = Path(tempfile.mkdtemp(prefix="typhoon-bench-load-"))
    (logs / "data").mkdir()
    with bench_database(pg or DEFAULT_PG) as db_url:
        s = Stack(db_url=db_url, redis_url=redis_url, prefix=prefix, logs=logs)
        db = Database(db_url)
        with db.unit_of_work() as session:
            for role in ("operator", "approver", "viewer"):
                _, s.tokens[role] = auth_service.create_user(
                    session, name=f"bench-{role}", role=role, actor="bench"
                )
            for i in range(field_users):
                _, token = auth_service.create_user(
                    session, name=f"bench-field-{i}", role="field", actor="bench"
                )
                s.field_tokens.append(token)
        db.dispose()
        try:
            yield s
        finally:
            client = redis.Redis.from_url(redis_url)
            for key in client.scan_iter(f"{prefix}:*"):
                client.delete(key)
            client.close()


def populate(s: Stack, n: int) -> float:
    """Residents up to ``n`` (the same seeded people: re-seeding updates, never duplicates)."""
    from benchmarks.bench_broadcast import seed

    if n <= s.population:
        return 0.0
    started = time.perf_counter()
    seed(s.db_url, n)
    s.population = n
    return time.perf_counter() - started


def community_ids() -> list[str]:
    from geo.zones import load_zones

    return [z.id for z in load_zones(ROOT / "config" / "zones").of_kind("community")]


def broadcast_ids(actions: Any) -> list[int]:
    found: list[int] = []
    if isinstance(actions, dict):
        if isinstance(actions.get("broadcast_id"), int):
            found.append(actions["broadcast_id"])
        for value in actions.values():
            found += broadcast_ids(value)
    elif isinstance(actions, list):
        for value in actions:
            found += broadcast_ids(value)
    return found


def broadcast_to_everyone(client: httpx.Client, s: Stack) -> dict[str, Any]:
    """A broadcast to every community's residents (SMS), drafted by an operator and approved
    by an approver when it waits for one: as it is sent, the API's answer."""
    drafted = client.post(
        "/api/v1/broadcasts",
        json={"messages": TEXTS, "zones": community_ids(), "channels": ["sms"]},
        headers={**s.auth("operator"), "Idempotency-Key": uuid.uuid4().hex},
    )
    drafted.raise_for_status()
    broadcast: dict[str, Any] = drafted.json()
    if broadcast["status"] == "awaiting_approval":
        client.post(
            f"/api/v1/broadcasts/{broadcast['id']}/approve", headers=s.auth("approver")
        ).raise_for_status()
    return broadcast


def post_signal(client: httpx.Client, s: Stack, level: str | None) -> dict[str, Any]:
    answer = client.post(
        "/api/v1/signals", json={**SIGNAL, "level": level}, headers=s.auth("operator")
    )
    answer.raise_for_status()
    return answer.json()
