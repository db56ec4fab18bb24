"""Benchmark: field reports under a broadcast (issue #8 item 3a), against the real processes
of the load stack (benchmarks/load_stack.py: two API processes, a worker, PostgreSQL, Redis).

First the capacity: 8 clients in a closed loop, no broadcast, and the CPU one report takes (API
processes and PostgreSQL, from /proc). Then ``POST /api/v1/field-reports`` (hazard reports, each
with its own ``Idempotency-Key``, round-robin over field tokens) at a fixed rate, open loop (each
request leaves at its planned time whatever the others do; latency is counted from that planned
time, so a stalled server cannot hide its queue), while a broadcast to every resident (drafted
and approved through the API) is being sent by a worker: once at TYPHOON_SMS_RATE's default (as
deployed: the sender pool's ceiling), once with no ceiling (the heaviest the dispatch can load
the machine). Peer: the same load, same generator, to a trivial FastAPI endpoint
(``benchmarks/floor_app.py``) while the unthrottled broadcast still runs: the floor.

    python -m benchmarks.bench_load_reports [--subscribers 200000] [--report-rate 200]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from benchmarks.load_stack import (
    FROM,
    Stack,
    broadcast_to_everyone,
    count,
    ms,
    note,
    percentile,
    populate,
    stack,
)

GOAL_REPORT_P99_MS = 100.0
DEPLOYED_SMS_RATE = 100.0  # TYPHOON_SMS_RATE's default: one short code's 100 segments/s


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
    note(
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
        broadcast = broadcast_to_everyone(client, s)
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
        note(
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
                "benchmark": f"field reports {rep['rate']:g}/s during a {count(rep['n'])} "
                f"broadcast, SMS {'at ' + format(rep['sms_rate'], 'g') + '/s' if rep['sms_rate'] else 'unthrottled'}: p99",
                "ours": ms(p99),
                "peer": ms(percentile(floor["latencies"], 99)),
                "peer_name": "trivial FastAPI POST (floor), broadcast unthrottled",
                "unit": "ms",
                "goal": f"< {GOAL_REPORT_P99_MS:g} ms",
                "met": p99 * 1000 < GOAL_REPORT_P99_MS and ok == ours["count"],
                "note": (
                    f"{ours['count']:,} hazard reports open loop over {rep['seconds']:g} s to "
                    f"{rep['apis']} API processes, {ok:,} × 201 (answers {ours['statuses']}; "
                    f"{ok / ours['seconds']:.0f}/s answered); p50 {ms(p50)} ms, max "
                    f"{ms(max(ours['latencies']))} ms; meanwhile the worker {ceiling} sent "
                    f"{ours['sms_during']:,} SMS ({ours['sms_rate_during']:.0f}/s) of "
                    f"{rep['recipients']:,}, still sending at the end: "
                    f"{'yes' if ours['broadcast_running_at_end'] else 'no'}; broadcast drafted "
                    f"+ approved in {rep['create_approve_s']:.1f} s before; after the load the "
                    f"API needed {rep['recovery_s']:.0f} s to answer within 1 s again. "
                    f"Capacity (closed loop, 8 clients, no broadcast): {capacity['rate']:.0f}/s "
                    f"at p99 {ms(percentile(capacity['latencies'], 99))} ms; CPU per report "
                    f"{capacity['api_cpu_ms']:.1f} ms in the API processes + "
                    f"{capacity['pg_cpu_ms']:.1f} ms in PostgreSQL"
                    + (
                        f"; floor p50 {ms(percentile(floor['latencies'], 50))} ms, right after"
                        if "floor" in rep
                        else ""
                    )
                ),
            }
        )
    return rows


def measure(
    *,
    pg: str | None = None,
    subscribers: int = 200_000,
    report_rate: float = 200.0,
    report_seconds: float = 10.0,
    apis: int = 2,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with stack(pg) as s, s.api(apis):
        out["capacity"] = report_capacity(s)
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
        out["logs"] = str(s.logs)
    return out


def run(
    *,
    pg: str | None = None,
    subscribers: int = 200_000,
    report_rate: float = 200.0,
    report_seconds: float = 10.0,
    **_: Any,
) -> list[dict[str, Any]]:
    return rows_from(
        measure(
            pg=pg,
            subscribers=subscribers,
            report_rate=report_rate,
            report_seconds=report_seconds,
        )
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", default=None, help="PostgreSQL admin URL")
    parser.add_argument("--subscribers", type=int, default=200_000)
    parser.add_argument("--report-rate", type=float, default=200.0)
    parser.add_argument("--report-seconds", type=float, default=10.0)
    args = parser.parse_args(argv)
    result = measure(
        pg=args.pg,
        subscribers=args.subscribers,
        report_rate=args.report_rate,
        report_seconds=args.report_seconds,
    )
    print_rows(rows_from(result), result["logs"])


def print_rows(rows: list[dict[str, Any]], logs: str) -> None:
    for row in rows:
        print(
            f"{row['benchmark']}: ours {row['ours']} {row['unit']}, peer {row['peer']} "
            f"({row['peer_name']}); goal {row['goal']}: {'met' if row['met'] else 'NOT met'}"
        )
        print(f"  {row['note']}")
    print(f"logs: {logs}")


if __name__ == "__main__":
    main()
