"""Benchmark: load on loopback (issue #8 item 3), against the real processes.

One stack for the three measurements: a fresh PostgreSQL database (dropped after), Redis
with a key prefix of this run's own, two ``typhoon serve --no-worker --no-scheduler`` API
processes (replicas, as deployed; events between them through Redis) and ``typhoon worker``
processes, the local Twilio-compatible server; users made
with the auth service, residents seeded like ``bench_broadcast`` (inside the communities).

a. **Field reports under a broadcast**: first the capacity: 8 clients in a closed loop, no
   broadcast, and the CPU one report takes (API processes and PostgreSQL, from /proc). Then
   ``POST /api/v1/field-reports`` (hazard reports, each with its own ``Idempotency-Key``,
   round-robin over field tokens) at a fixed rate, open loop (each request leaves at its
   planned time whatever the others do; latency is counted from that planned time, so a
   stalled server cannot hide its queue), while a broadcast to every resident (drafted and
   approved through the API) is being sent by a worker: once at TYPHOON_SMS_RATE's default
   (as deployed: the sender pool's ceiling), once with no ceiling (the heaviest the dispatch
   can load the machine). Peer: the same load, same generator, to a trivial FastAPI endpoint
   (``benchmarks/floor_app.py``) while the unthrottled broadcast still runs: the floor.
b. **Websocket fan-out**: N clients (``websockets``, asyncio, in two child processes) on
   ``/ws/live`` (snapshot first), then signal changes posted one a second (SMG tropical
   cyclone No. 1 raised and lowered: no rule fires); latency from just before the POST to
   each client's receipt of ``signal.changed``. Peer: the same clients on a bare FastAPI
   websocket fan-out (``floor_app``), the same number of messages.
c. **Signal → first SMS**: SMG No. 8NE raised by an operator: the rules run in that request
   and the ``smg_tc_8`` rule's pre-approved broadcast to every community is written and
   queued; the time from just before the POST to the first message's arrival at the local
   Twilio server (its own clock stamp); then the broadcast is cancelled, the signal lowered
   and, once nothing more arrives, again. Done with a small population and with the full
   one (the signal's transaction counts the whole audience and writes the first 2,000
   outbox rows; the rest is written in chunks after its commit). No peer: nothing else does
   this path.

    python -m benchmarks.bench_load [--subscribers 200000] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import select
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

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
GOAL_REPORT_P99_MS = 100.0
DEPLOYED_SMS_RATE = 100.0  # TYPHOON_SMS_RATE's default: one short code's 100 segments/s
GOAL_WS_P99_MS = 500.0
GOAL_SIGNAL_P99_S = 1.0
TEXTS = {
    "zh-Hans": "【横琴三防】八号风球生效，请留在室内，远离窗户。",
    "zh-Hant": "【橫琴三防】八號風球生效，請留在室內，遠離窗戶。",
    "pt": "Sinal n.º 8 em vigor. Fique em casa, longe das janelas.",
    "en": "Signal No. 8 is in force. Stay indoors, away from windows.",
}
SIGNAL = {"source": "SMG", "kind": "tropical_cyclone"}
WS_MARKER = '"signal.changed"'
RESIDENTS = "+86139"  # bench_broadcast.seed's phones; liaison contacts (+853…) get SMS too


# -- small helpers ---------------------------------------------------------------------------


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


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc: subprocess.Popen, log: Path, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not get ready: {log.read_text()[-2000:]}")
        time.sleep(0.2)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


# -- the stack ---------------------------------------------------------------------------------


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
            **os.environ,
            "TYPHOON_DATABASE_URL": self.db_url,
            "TYPHOON_REDIS_URL": self.redis_url,
            "TYPHOON_REDIS_PREFIX": self.prefix,
            "TYPHOON_PUBLIC_URL": "http://127.0.0.1:9",
            "TYPHOON_LOG_FORMAT": "text",
            "TYPHOON_LOG_LEVEL": "WARNING",
            "TYPHOON_DATA_DIR": str(self.logs / "data"),
            # the field tokens here stand for many phones: no per-phone rate limit
            "TYPHOON_FIELD_RATE_LIMIT": "0",
            **extra,
        }

    def spawn(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = self.logs / f"{name}.log"
        return subprocess.Popen(
            args,
            cwd=ROOT,
            env=env,
            stdout=open(log, "ab"),  # noqa: SIM115 - closed with the process
            stderr=subprocess.STDOUT,
        )

    @contextlib.contextmanager
    def api(self, count: int = 1) -> Iterator[list[str]]:
        """``count`` API processes (replicas sharing PostgreSQL and Redis, as deployed)."""
        procs: list[subprocess.Popen] = []
        urls: list[str] = []
        try:
            # One after the other: two first starts on an empty database race to seed the
            # facilities table (unique violation, start-up fails).
            for i in range(count):
                port = free_port()
                proc = self.spawn(
                    f"api-{i}",
                    [sys.executable, "-m", "emergency", "serve", "--port", str(port)]
                    + ["--no-worker", "--no-scheduler", "--no-migrate"],
                    self.env(),
                )
                procs.append(proc)
                urls.append(f"http://127.0.0.1:{port}")
                _wait_http(f"{urls[-1]}/readyz", proc, self.logs / f"api-{i}.log")
            self.api_url, self.api_urls = urls[0], urls
            yield urls
        finally:
            for proc in procs:
                _stop(proc)

    @contextlib.contextmanager
    def worker(self, name: str, **extra: str) -> Iterator[subprocess.Popen]:
        import redis

        proc = self.spawn(name, [sys.executable, "-m", "emergency", "worker"], self.env(**extra))
        client = redis.Redis.from_url(self.redis_url)
        try:
            deadline = time.monotonic() + 60
            key = f"{self.prefix}:dispatch:workers"
            while client.zcount(key, time.time(), "+inf") < 1:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"worker did not start; see {self.logs / name}.log")
                time.sleep(0.1)
            yield proc
        finally:
            _stop(proc)
            client.close()

    @contextlib.contextmanager
    def floor(self) -> Iterator[str]:
        port = free_port()
        proc = self.spawn(
            "floor",
            [sys.executable, "-m", "uvicorn", "benchmarks.floor_app:app", "--port", str(port)]
            + ["--log-level", "warning", "--no-access-log"],
            {**os.environ},
        )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_http(f"{url}/healthz", proc, self.logs / "floor.log")
            yield url
        finally:
            _stop(proc)

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


@contextlib.contextmanager
def stack(pg: str | None, *, field_users: int = 20) -> Iterator[Stack]:
    import redis

    from benchmarks.bench_dispatch import bench_database
    from emergency.auth import service as auth_service
    from emergency.db import Database

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


def _broadcast_ids(actions: Any) -> list[int]:
    found: list[int] = []
    if isinstance(actions, dict):
        if isinstance(actions.get("broadcast_id"), int):
            found.append(actions["broadcast_id"])
        for value in actions.values():
            found += _broadcast_ids(value)
    elif isinstance(actions, list):
        for value in actions:
            found += _broadcast_ids(value)
    return found


def post_signal(client: httpx.Client, s: Stack, level: str | None) -> dict[str, Any]:
    answer = client.post(
        "/api/v1/signals", json={**SIGNAL, "level": level}, headers=s.auth("operator")
    )
    answer.raise_for_status()
    return answer.json()


# -- a. field reports while a broadcast runs -------------------------------------------------


async def open_loop(
    urls: list[str],
    *,
    rate: float,
    seconds: float,
    request: Callable[[int], tuple[dict[str, str], dict[str, Any]]],
    timeout: float = 30.0,
) -> dict[str, Any]:
    """``rate × seconds`` POSTs, request i leaving at start + i / rate whatever the others do;
    each latency runs from that planned moment to the full answer read."""
    import aiohttp

    count = max(1, int(rate * seconds))
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    lateness: list[float] = []
    connector = aiohttp.TCPConnector(limit=2000)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=timeout)
    ) as session:
        loop = asyncio.get_running_loop()
        start = loop.time() + 0.5

        async def one(i: int) -> None:
            planned = start + i / rate
            delay = planned - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            lateness.append(loop.time() - planned)
            headers, body = request(i)
            try:
                target = urls[i % len(urls)]
                async with session.post(target, json=body, headers=headers) as answer:
                    await answer.read()
                    statuses[str(answer.status)] += 1
            except Exception as exc:  # a timeout or reset is a result too
                statuses[type(exc).__name__] += 1
            latencies.append(loop.time() - planned)

        await asyncio.gather(*(one(i) for i in range(count)))
        elapsed = loop.time() - start
    return {
        "count": count,
        "latencies": latencies,
        "statuses": dict(statuses),
        "seconds": elapsed,
        "generator_late_p99": percentile(lateness, 99),
    }


async def closed_loop(
    urls: list[str],
    *,
    concurrency: int,
    seconds: float,
    request: Callable[[int], tuple[dict[str, str], dict[str, Any]]],
) -> dict[str, Any]:
    """``concurrency`` clients, each sending its next request when the last is answered:
    the throughput the service sustains (no queue builds up), and its latency then."""
    import aiohttp

    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    counter = iter(range(10**9))
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds

        async def client() -> None:
            while loop.time() < end:
                i = next(counter)
                headers, body = request(i)
                t0 = loop.time()
                try:
                    async with session.post(
                        urls[i % len(urls)], json=body, headers=headers
                    ) as answer:
                        await answer.read()
                        statuses[str(answer.status)] += 1
                except Exception as exc:
                    statuses[type(exc).__name__] += 1
                latencies.append(loop.time() - t0)

        started = loop.time()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        elapsed = loop.time() - started
    return {
        "rate": statuses.get("201", 0) / elapsed,
        "latencies": latencies,
        "statuses": dict(statuses),
        "concurrency": concurrency,
    }


def _cpu_seconds(pids: list[int]) -> dict[int, float]:
    """User + system CPU of each of these processes so far (one that exited is left out)."""
    seconds = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        seconds[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return seconds


def _cpu_since(before: dict[int, float], pids: list[int]) -> float:
    """CPU these processes used since ``before`` (a process started since counts whole)."""
    return sum(now - before.get(pid, 0.0) for pid, now in _cpu_seconds(pids).items())


def _pids(match: Callable[[str, bytes], bool]) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if match(entry.name, (entry / "cmdline").read_bytes()):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _report_body(s: Stack, i: int) -> tuple[dict[str, str], dict[str, Any]]:
    token = s.field_tokens[i % len(s.field_tokens)]
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())}
    body = {
        "kind": "hazard",
        "hazard_kind": ("fallen_tree", "flooding", "loose_object")[i % 3],
        "severity": ("low", "medium", "high")[i % 3],
        "lat": 22.10 + (i % 500) * 0.0001,
        "lon": 113.52 + (i % 300) * 0.0001,
        "note": f"bench report {i}",
    }
    return headers, body


def report_capacity(s: Stack, *, seconds: float = 10.0) -> dict[str, Any]:
    """What one report costs when nothing queues and no broadcast runs: 8 phones, each sending
    its next report when the last is answered; and the CPU each report took, in the API
    processes and in PostgreSQL (all its processes: on a quiet machine, all of it is ours)."""
    ports = {url.rsplit(":", 1)[1] for url in s.api_urls}
    apis = _pids(lambda _, cmd: b"serve" in cmd and any(p.encode() in cmd for p in ports))
    postgres = _pids(lambda _, cmd: cmd.startswith(b"postgres"))
    reports = [f"{url}/api/v1/field-reports" for url in s.api_urls]
    api_cpu, pg_cpu = _cpu_seconds(apis), _cpu_seconds(postgres)
    got = asyncio.run(
        closed_loop(reports, concurrency=8, seconds=seconds, request=lambda i: _report_body(s, i))
    )
    postgres = _pids(lambda _, cmd: cmd.startswith(b"postgres"))  # backends come and go
    stored = max(1, got["statuses"].get("201", 0))
    got["api_cpu_ms"] = _cpu_since(api_cpu, apis) * 1000 / stored
    got["pg_cpu_ms"] = _cpu_since(pg_cpu, postgres) * 1000 / stored
    _note(
        f"field reports, closed loop: {got['rate']:.0f}/s; CPU per report: API "
        f"{got['api_cpu_ms']:.1f} ms, PostgreSQL {got['pg_cpu_ms']:.1f} ms"
    )
    return got


def field_report_load(
    s: Stack,
    *,
    n: int,
    rate: float,
    seconds: float,
    sms_rate: float | None,
    floor: bool = False,
) -> dict[str, Any]:
    """Field reports at ``rate`` for ``seconds``, open loop, while a broadcast to ``n``
    residents is sent by a worker at ``sms_rate`` msg/s (None: no ceiling)."""
    from benchmarks.bench_dispatch import SID, TOKEN, server_stats, twilio_server

    populate(s, n)
    client = httpx.Client(base_url=s.api_url, timeout=600)
    out: dict[str, Any] = {"rate": rate, "seconds": seconds, "n": n, "sms_rate": sms_rate}
    with (
        twilio_server("counts") as twilio,
        s.worker(
            "worker-a",
            TWILIO_ACCOUNT_SID=SID,
            TWILIO_AUTH_TOKEN=TOKEN,
            TWILIO_FROM_NUMBER=FROM,
            TWILIO_API_BASE_URL=twilio,
            TYPHOON_SMS_RATE=str(sms_rate or 1_000_000_000),
        ),
        s.floor() if floor else contextlib.nullcontext() as floor_url,
    ):
        t0 = time.perf_counter()
        drafted = client.post(
            "/api/v1/broadcasts",
            json={"messages": TEXTS, "zones": community_ids(), "channels": ["sms"]},
            headers={**s.auth("operator"), "Idempotency-Key": uuid.uuid4().hex},
        )
        drafted.raise_for_status()
        broadcast = drafted.json()
        if broadcast["status"] == "awaiting_approval":
            client.post(
                f"/api/v1/broadcasts/{broadcast['id']}/approve", headers=s.auth("approver")
            ).raise_for_status()
        out["create_approve_s"] = time.perf_counter() - t0
        out["recipients"] = broadcast["recipients"]
        deadline = time.monotonic() + 120
        while server_stats(twilio)["created"] == 0:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the broadcast sent nothing; logs in {s.logs}")
            time.sleep(0.05)

        def timed(urls: list[str]) -> dict[str, Any]:
            before = server_stats(twilio)["created"]
            got = asyncio.run(
                open_loop(urls, rate=rate, seconds=seconds, request=lambda i: _report_body(s, i))
            )
            after = server_stats(twilio)["created"]
            got["sms_during"] = after - before
            got["sms_rate_during"] = (after - before) / got["seconds"]
            got["broadcast_running_at_end"] = _queued(s, broadcast["id"]) > 0
            return got

        out["apis"] = len(s.api_urls)
        out["ours"] = timed([f"{url}/api/v1/field-reports" for url in s.api_urls])
        _note(
            f"field reports during the broadcast (SMS ceiling {sms_rate or 'none'}): p99 "
            f"{percentile(out['ours']['latencies'], 99):.3f} s, {out['ours']['statuses']}"
        )
        # An open loop above capacity leaves a backlog in the API processes (requests the
        # client gave up on are still run): how long until they answer again.
        out["recovery_s"] = _recovery(s)
        if floor_url:
            out["floor"] = timed([f"{floor_url}/echo"])
        with contextlib.suppress(httpx.HTTPError):
            client.post(
                f"/api/v1/broadcasts/{broadcast['id']}/cancel",
                headers=s.auth("operator"),
                timeout=60,
            )
    client.close()
    return out


def _note(text: str) -> None:
    print(f"   bench_load: {text}", file=sys.stderr, flush=True)


def _queued(s: Stack, broadcast_id: int) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(s.db_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    text(
                        "SELECT count(*) FROM message WHERE broadcast_id = :b AND status = 'queued'"
                    ),
                    {"b": broadcast_id},
                ).scalar_one()
            )
    finally:
        engine.dispose()


def _recovery(s: Stack, *, limit: float = 120.0) -> float:
    """Seconds until every API process answers GET /api/v1/me within a second again."""
    started = time.monotonic()
    pending = list(s.api_urls)
    while pending and time.monotonic() - started < limit:
        url = pending[0]
        try:
            t0 = time.monotonic()
            answer = httpx.get(f"{url}/api/v1/me", headers=s.auth("viewer"), timeout=2)
            if answer.status_code == 200 and time.monotonic() - t0 < 1.0:
                pending.pop(0)
                continue
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    return time.monotonic() - started


# -- b. websocket fan-out ----------------------------------------------------------------------


async def ws_child(url: str, count: int, concurrency: int = 50) -> dict[str, Any]:
    """``count`` clients on ``url``; receipt times of each WS_MARKER message per client; runs
    until a line on stdin. Prints "ready N" once connected, then the JSON result."""
    from websockets.asyncio.client import connect

    raise_nofile()
    times: list[list[float]] = [[] for _ in range(count)]
    sockets: list[Any] = [None] * count
    failures: Counter[str] = Counter()
    gate = asyncio.Semaphore(concurrency)
    snapshot = "/ws/live" in url

    async def open_one(i: int) -> None:
        for attempt in range(5):
            try:
                async with gate:
                    ws = await connect(url, open_timeout=60, max_size=2**24, ping_interval=None)
                    if snapshot:  # ours: the snapshot comes first
                        await asyncio.wait_for(ws.recv(), 60)
                sockets[i] = ws
                return
            except Exception as exc:
                if attempt == 4:
                    failures[type(exc).__name__] += 1
                await asyncio.sleep(0.5 + attempt)

    async def read(i: int, ws: Any) -> None:
        mine = times[i]
        with contextlib.suppress(Exception):
            async for message in ws:
                if WS_MARKER in message:
                    mine.append(time.time())

    started = time.monotonic()
    await asyncio.gather(*(open_one(i) for i in range(count)))
    connected = sum(1 for ws in sockets if ws is not None)
    readers = [asyncio.create_task(read(i, ws)) for i, ws in enumerate(sockets) if ws is not None]
    print(f"ready {connected} {time.monotonic() - started:.1f}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    for task in readers:
        task.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    closing = [ws.close() for ws in sockets if ws is not None]
    with contextlib.suppress(Exception):
        await asyncio.wait_for(asyncio.gather(*closing, return_exceptions=True), 20)
    return {"connected": connected, "failures": dict(failures), "times": times}


def _readline(proc: subprocess.Popen, deadline: float) -> str:
    assert proc.stdout is not None
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise RuntimeError("a websocket client process did not answer in time")
        ready, _, _ = select.select([proc.stdout], [], [], remaining)
        if ready:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                raise RuntimeError("a websocket client process exited")
            return line


def ws_fanout(
    urls: list[str],
    *,
    clients: int,
    events: int,
    emit: Callable[[int], None],
    gap: float = 1.0,
    processes: int = 2,
    logs: Path,
) -> dict[str, Any]:
    """Clients spread over ``processes`` children; ``emit(i)`` sends event i (``gap`` apart)."""
    shares = [
        clients // processes + (1 if i < clients % processes else 0) for i in range(processes)
    ]
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "benchmarks.bench_load", "--ws-child", urls[i % len(urls)]]
            + ["--count", str(k)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=open(logs / "ws-clients.log", "ab"),  # noqa: SIM115
            text=True,
        )
        for i, k in enumerate(shares)
        if k
    ]
    try:
        deadline = time.monotonic() + 300
        connected, connect_s = 0, 0.0
        for child in children:
            words = _readline(child, deadline).split()
            connected += int(words[1])
            connect_s = max(connect_s, float(words[2]))
        time.sleep(1.0)  # let the last snapshots and first pings settle
        sent: list[float] = []
        for i in range(events):
            sent.append(time.time())
            emit(i)
            time.sleep(max(0.0, sent[-1] + gap - time.time()))
        time.sleep(3.0)  # stragglers
        results = []
        deadline = time.monotonic() + 120
        for child in children:
            assert child.stdin is not None
            child.stdin.write("stop\n")
            child.stdin.flush()
        for child in children:
            line = ""
            while not line.startswith("{"):
                line = _readline(child, deadline)
            results.append(json.loads(line))
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
            child.wait(10)
    latencies: list[float] = []
    received = 0
    for result in results:
        for times in result["times"]:
            received += len(times)
            latencies += [t - sent[j] for j, t in enumerate(times[:events])]
    failures: Counter[str] = Counter()
    for result in results:
        failures.update(result["failures"])
    return {
        "clients": clients,
        "connected": connected,
        "connect_s": connect_s,
        "events": events,
        "expected": connected * events,
        "received": received,
        "latencies": latencies,
        "failures": dict(failures),
    }


def websocket_load(s: Stack, *, clients: int, events: int) -> dict[str, Any]:
    client = httpx.Client(base_url=s.api_url, timeout=60)
    post_signal(client, s, None)  # not in force: the first event raises it

    def ours(i: int) -> None:
        post_signal(client, s, "1" if i % 2 == 0 else None)

    out = {
        "ours": ws_fanout(
            [
                f"{url.replace('http', 'ws', 1)}/ws/live?token={s.tokens['viewer']}"
                for url in s.api_urls
            ],
            clients=clients,
            events=events,
            emit=ours,
            logs=s.logs,
        )
    }
    post_signal(client, s, None)
    client.close()
    with s.floor() as floor, httpx.Client(base_url=floor, timeout=60) as bare:

        def emit(i: int) -> None:
            bare.post("/emit", json={"type": "signal.changed", "n": i}).raise_for_status()

        out["floor"] = ws_fanout(
            [f"{floor.replace('http', 'ws', 1)}/ws"],
            clients=clients,
            events=events,
            emit=emit,
            logs=s.logs,
        )
    return out


# -- c. signal change → first SMS at the provider --------------------------------------------


def _drain(s: Stack, *, limit: float) -> dict[str, float]:
    """Until the dispatch stream is empty (the worker has skipped the cancelled broadcasts'
    entries: ≤ 100 ids each, taken in order), at most ``limit`` seconds: how fast it went."""
    import redis

    client = redis.Redis.from_url(s.redis_url)
    stream = f"{s.prefix}:dispatch:stream"
    started = time.monotonic()
    try:
        before = left = client.xlen(stream)
        while left and time.monotonic() - started < limit:
            time.sleep(0.05)
            left = client.xlen(stream)
    finally:
        client.close()
    seconds = time.monotonic() - started
    rate = (before - left) / seconds if seconds > 0 else 0.0
    return {
        "entries": before,
        "left": left,
        "seconds": seconds,
        "entries_per_s": rate,
        "estimate_s": before / rate if rate else float("inf"),
    }


def _quiet(twilio: Any, *, seconds: float = 1.0, limit: float = 60.0) -> None:
    """Until the provider has received nothing for ``seconds`` (at most ``limit``)."""
    last, since = len(twilio.received), time.monotonic()
    deadline = since + limit
    while time.monotonic() - since < seconds and time.monotonic() < deadline:
        time.sleep(0.05)
        if len(twilio.received) != last:
            last, since = len(twilio.received), time.monotonic()


def signal_to_sms(
    s: Stack, *, repeats: int, population: int, drain_limit: float = 120.0
) -> dict[str, Any]:
    from alerts.testing import run_twilio_server

    seeded_s = populate(s, population)
    client = httpx.Client(base_url=s.api_url, timeout=600)
    latencies: list[float] = []
    responses: list[float] = []
    recipients: list[int] = []
    drains: list[float] = []
    duplicates = 0
    with (
        run_twilio_server() as twilio,
        s.worker(
            "worker-c",
            TWILIO_ACCOUNT_SID=twilio.account_sid,
            TWILIO_AUTH_TOKEN=twilio.auth_token,
            TWILIO_FROM_NUMBER=FROM,
            TWILIO_API_BASE_URL=twilio.base_url,
            TYPHOON_SMS_RATE="100",
        ),
    ):
        post_signal(client, s, None)
        _quiet(twilio)  # liaison SMS queued by earlier signal changes go out first
        twilio.reset()
        for round_ in range(repeats):
            seen = 0
            started = time.time()
            result = post_signal(client, s, "8NE")
            responses.append(time.time() - started)
            ids = _broadcast_ids(result.get("actions"))
            if not result.get("changed") or not ids:
                raise RuntimeError(f"No. 8NE made no broadcast: {str(result)[:1000]}")
            deadline = time.monotonic() + 60
            first = None
            while first is None:  # the first SMS to a resident (not a liaison contact's)
                received = twilio.received
                for rec in received[seen:]:
                    if rec.to.startswith(RESIDENTS) and rec.at >= started:
                        first = rec.at
                        break
                seen = len(received)
                if first is None:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"no SMS within 60 s; logs in {s.logs}")
                    time.sleep(0.002)
            latencies.append(first - started)
            # lowering runs the rule's reverse: a "signal lowered" broadcast; cancel both
            ids += _broadcast_ids(post_signal(client, s, None).get("actions"))
            for broadcast_id in ids:
                answer = client.post(
                    f"/api/v1/broadcasts/{broadcast_id}/cancel", headers=s.auth("operator")
                )
                if answer.status_code == 200:
                    recipients.append(answer.json().get("recipients", 0))
            # The queue is one FIFO stream of ids: the cancelled broadcasts' entries are
            # skipped in order before a new broadcast's. Measure from a drained queue, and
            # report how fast the draining is (a broadcast made meanwhile waits for it).
            drains.append(_drain(s, limit=drain_limit))
            if drains[-1]["left"] and round_ < repeats - 1:
                raise RuntimeError("the queue did not drain between rounds; fewer repeats?")
            # what was claimed before the cancel still goes out: wait for quiet
            _quiet(twilio)
            # each round's broadcasts are new ones to the same people: the same text to the
            # same phone twice within a round would be a duplicate
            sent = Counter((rec.to, rec.body) for rec in twilio.received)
            duplicates += sum(1 for count in sent.values() if count > 1)
            twilio.reset()
    client.close()
    return {
        "repeats": repeats,
        "population": population,
        "seed_s": seeded_s,
        "latencies": latencies,
        "responses": responses,
        "recipients": max(recipients, default=0),
        "drains": drains,
        "duplicates": duplicates,
    }


# -- the benchmark ---------------------------------------------------------------------------


def measure(
    *,
    pg: str | None = None,
    subscribers: int = 200_000,
    report_rate: float = 200.0,
    report_seconds: float = 10.0,
    ws_clients: int = 2000,
    ws_events: int = 10,
    signal_repeats: int = 10,
    signal_repeats_full: int = 1,
    signal_population: int = 1000,
    apis: int = 2,
) -> dict[str, Any]:
    limits = raise_nofile()
    out: dict[str, Any] = {"nofile": limits[0]}
    stages: dict[str, float] = {}
    clock = time.perf_counter()

    def stage(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        stages[name] = round(now - clock, 1)
        clock = now

    with stack(pg) as s, s.api(apis):
        stage("start")
        out["api_urls"] = list(s.api_urls)
        out["websocket"] = websocket_load(s, clients=ws_clients, events=ws_events)
        stage("websocket")
        ws = out["websocket"]
        _note(
            f"websocket p99 {percentile(ws['ours']['latencies'], 99):.3f} s "
            f"(floor {percentile(ws['floor']['latencies'], 99):.3f} s), "
            f"{len(ws['ours']['latencies'])} of {ws['ours']['expected']} receipts"
        )
        out["signal_small"] = signal_to_sms(
            s, repeats=signal_repeats, population=min(signal_population, subscribers)
        )
        stage("signal_small")
        _note(f"signal → SMS: {out['signal_small']['latencies']}")
        if subscribers > signal_population and signal_repeats_full:
            # 200,000 cancelled ids take the worker minutes to skip at 100/s (see the note):
            # one round, its drain rate measured over a bounded time; the no-ceiling worker
            # of the next benchmark skips the rest quickly.
            out["signal_full"] = signal_to_sms(
                s, repeats=signal_repeats_full, population=subscribers, drain_limit=30.0
            )
            stage("signal_full")
            _note(f"signal → SMS, full: {out['signal_full']['latencies']}")
        out["capacity"] = report_capacity(s)
        stage("capacity")
        # As deployed, the worker sends at the sender pool's ceiling (TYPHOON_SMS_RATE's
        # default: one short code); then with no ceiling, the most the dispatch can load the
        # machine, beside the floor measured under that same load.
        out["reports"] = [
            field_report_load(
                s,
                n=subscribers,
                rate=report_rate,
                seconds=report_seconds,
                sms_rate=rate,
                floor=rate is None,
            )
            for rate in (DEPLOYED_SMS_RATE, None)
        ]
        stage("reports")
        out["logs"] = str(s.logs)
    out["stages"] = stages
    print(f"bench_load stages (s): {stages}", file=sys.stderr)
    return out


def _count(n: int) -> str:
    from benchmarks.bench_import import _count as count

    return count(n)


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def rows_from(result: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    capacity = result["capacity"]
    floor = next(rep["floor"] for rep in result["reports"] if "floor" in rep)
    for rep in result["reports"]:
        ours = rep["ours"]
        ok = ours["statuses"].get("201", 0)
        p99, p50 = percentile(ours["latencies"], 99), percentile(ours["latencies"], 50)
        ceiling = (
            f"at {rep['sms_rate']:g} msg/s (TYPHOON_SMS_RATE's default, as deployed)"
            if rep["sms_rate"]
            else "with no rate ceiling (the most the dispatch can load the machine)"
        )
        rows.append(
            {
                "benchmark": f"field reports {rep['rate']:g}/s during a {_count(rep['n'])} "
                f"broadcast, SMS {'at ' + format(rep['sms_rate'], 'g') + '/s' if rep['sms_rate'] else 'unthrottled'}: p99",
                "ours": _ms(p99),
                "peer": _ms(percentile(floor["latencies"], 99)),
                "peer_name": "trivial FastAPI POST (floor), broadcast unthrottled",
                "unit": "ms",
                "goal": f"< {GOAL_REPORT_P99_MS:g} ms",
                "met": p99 * 1000 < GOAL_REPORT_P99_MS and ok == ours["count"],
                "note": (
                    f"{ours['count']:,} hazard reports open loop over {rep['seconds']:g} s to "
                    f"{rep['apis']} API processes, {ok:,} × 201 (answers {ours['statuses']}; "
                    f"{ok / ours['seconds']:.0f}/s answered); p50 {_ms(p50)} ms, max "
                    f"{_ms(max(ours['latencies']))} ms; meanwhile the worker {ceiling} sent "
                    f"{ours['sms_during']:,} SMS ({ours['sms_rate_during']:.0f}/s) of "
                    f"{rep['recipients']:,}, still sending at the end: "
                    f"{'yes' if ours['broadcast_running_at_end'] else 'no'}; broadcast drafted "
                    f"+ approved in {rep['create_approve_s']:.1f} s before; after the load the "
                    f"API needed {rep['recovery_s']:.0f} s to answer within 1 s again. "
                    f"Capacity (closed loop, 8 clients, no broadcast): {capacity['rate']:.0f}/s "
                    f"at p99 {_ms(percentile(capacity['latencies'], 99))} ms; CPU per report "
                    f"{capacity['api_cpu_ms']:.1f} ms in the API processes + "
                    f"{capacity['pg_cpu_ms']:.1f} ms in PostgreSQL"
                    + (
                        f"; floor p50 {_ms(percentile(floor['latencies'], 50))} ms, right after"
                        if "floor" in rep
                        else ""
                    )
                ),
            }
        )
    ws = result["websocket"]
    ours, floor = ws["ours"], ws["floor"]
    p99 = percentile(ours["latencies"], 99)
    lost = ours["expected"] - len(ours["latencies"])
    rows.append(
        {
            "benchmark": f"{ours['clients']:,} websocket clients on /ws/live: event p99",
            "ours": _ms(p99),
            "peer": _ms(percentile(floor["latencies"], 99)),
            "peer_name": "bare FastAPI websocket fan-out (floor)",
            "unit": "ms",
            "goal": f"< {GOAL_WS_P99_MS:g} ms",
            "met": p99 * 1000 < GOAL_WS_P99_MS
            and ours["connected"] == ours["clients"]
            and lost == 0,
            "note": (
                f"{ours['connected']:,} of {ours['clients']:,} connected (snapshot each, "
                f"{ours['connect_s']:.0f} s), {ours['events']} signal changes 1 s apart, "
                f"{len(ours['latencies']):,} of {ours['expected']:,} receipts ({lost} missing); "
                f"p50 {_ms(percentile(ours['latencies'], 50))} ms, max "
                f"{_ms(max(ours['latencies'], default=0))} ms; POST → receipt, clients in 2 "
                f"processes on {len(result.get('api_urls', [])) or 'the'} API processes "
                f"(events through Redis); floor (1 process) p50 {_ms(percentile(floor['latencies'], 50))} ms, "
                f"{floor['connected']:,} connected"
            ),
        }
    )
    for key in ("signal_small", "signal_full"):
        sig = result.get(key)
        if not sig:
            continue
        p99 = percentile(sig["latencies"], 99)
        drained = max(sig["drains"], key=lambda d: d["entries"])
        rows.append(
            {
                "benchmark": f"signal No. 8 → first SMS at the provider, "
                f"{_count(sig['population'])} residents: p99",
                "ours": round(p99, 3),
                "peer": None,
                "peer_name": "— (no other system runs signal → rules → broadcast)",
                "unit": "s",
                "goal": f"< {GOAL_SIGNAL_P99_S:g} s",
                "met": p99 < GOAL_SIGNAL_P99_S,
                "note": (
                    (
                        f"{sig['repeats']} raises of SMG 8NE (p99 of {sig['repeats']} = the "
                        f"{'max' if sig['repeats'] < 100 else '99th'}); "
                        if sig["repeats"] > 1
                        else "one raise of SMG 8NE (a single sample); "
                    )
                    + f"median {percentile(sig['latencies'], 50):.3f} s; the signal POST itself "
                    f"(rules, "
                    f"CAP, liaison, the audience of {sig['recipients']:,} counted, the first "
                    f"chunk of its outbox written and queued) median {percentile(sig['responses'], 50):.3f} s, max "
                    f"{max(sig['responses']):.3f} s; rate ceiling 100/s; "
                    f"{sig['duplicates']} duplicates at the provider; timed from a drained "
                    f"queue: each round's two broadcasts (the raise's and the lowering's) are "
                    f"cancelled and the worker skips their {drained['entries']:,} queue entries "
                    f"at {drained['entries_per_s']:.0f} entries/s (≤ 100 ids each) = "
                    f"{drained['estimate_s']:.0f} s (a worker checks a run of cancelled "
                    f"entries in one query and acknowledges them together)"
                ),
            }
        )
    return rows


def run(
    *,
    pg: str | None = None,
    subscribers: int = 200_000,
    report_rate: float = 200.0,
    report_seconds: float = 10.0,
    ws_clients: int = 2000,
    ws_events: int = 10,
    signal_repeats: int = 10,
    signal_repeats_full: int = 1,
    **_: Any,
) -> list[dict[str, Any]]:
    return rows_from(
        measure(
            pg=pg,
            subscribers=subscribers,
            report_rate=report_rate,
            report_seconds=report_seconds,
            ws_clients=ws_clients,
            ws_events=ws_events,
            signal_repeats=signal_repeats,
            signal_repeats_full=signal_repeats_full,
        )
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", default=None, help="PostgreSQL admin URL")
    parser.add_argument("--subscribers", type=int, default=200_000)
    parser.add_argument("--report-rate", type=float, default=200.0)
    parser.add_argument("--report-seconds", type=float, default=10.0)
    parser.add_argument("--ws-clients", type=int, default=2000)
    parser.add_argument("--ws-events", type=int, default=10)
    parser.add_argument("--signal-repeats", type=int, default=10)
    parser.add_argument("--signal-repeats-full", type=int, default=1)
    parser.add_argument("--ws-child", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.ws_child:
        print(json.dumps(asyncio.run(ws_child(args.ws_child, args.count))), flush=True)
        return
    result = measure(
        pg=args.pg,
        subscribers=args.subscribers,
        report_rate=args.report_rate,
        report_seconds=args.report_seconds,
        ws_clients=args.ws_clients,
        ws_events=args.ws_events,
        signal_repeats=args.signal_repeats,
        signal_repeats_full=args.signal_repeats_full,
    )
    for row in rows_from(result):
        print(
            f"{row['benchmark']}: ours {row['ours']} {row['unit']}, peer {row['peer']} "
            f"({row['peer_name']}); goal {row['goal']}: {'met' if row['met'] else 'NOT met'}"
        )
        print(f"  {row['note']}")
    print(f"logs: {result['logs']}")


if __name__ == "__main__":
    main()
