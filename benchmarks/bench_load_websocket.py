"""Benchmark: websocket fan-out (issue #8 item 3b), against the real processes of the load
stack (benchmarks/load_stack.py: two API processes, PostgreSQL, Redis).

N clients (``websockets``, asyncio, in two child processes) on ``/ws/live`` (snapshot first),
then signal changes posted one a second (SMG tropical cyclone No. 1 raised and lowered: no rule
fires); latency from just before the POST to each client's receipt of ``signal.changed``. Peer:
the same clients on a bare FastAPI websocket fan-out (``floor_app``), the same number of
messages.

    python -m benchmarks.bench_load_websocket [--ws-clients 2000] [--ws-events 10]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import select
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from benchmarks.load_stack import (
    ROOT,
    Stack,
    ms,
    note,
    percentile,
    post_signal,
    raise_nofile,
    stack,
)

GOAL_WS_P99_MS = 500.0
WS_MARKER = '"signal.changed"'


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
            [
                sys.executable,
                "-m",
                "benchmarks.bench_load_websocket",
                "--ws-child",
                urls[i % len(urls)],
            ]
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


def rows_from(result: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    ws = result["websocket"]
    ours, floor = ws["ours"], ws["floor"]
    p99 = percentile(ours["latencies"], 99)
    lost = ours["expected"] - len(ours["latencies"])
    rows.append(
        {
            "benchmark": f"{ours['clients']:,} websocket clients on /ws/live: event p99",
            "ours": ms(p99),
            "peer": ms(percentile(floor["latencies"], 99)),
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
                f"p50 {ms(percentile(ours['latencies'], 50))} ms, max "
                f"{ms(max(ours['latencies'], default=0))} ms; POST → receipt, clients in 2 "
                f"processes on {len(result.get('api_urls', [])) or 'the'} API processes "
                f"(events through Redis); floor (1 process) p50 {ms(percentile(floor['latencies'], 50))} ms, "
                f"{floor['connected']:,} connected"
            ),
        }
    )
    return rows


def measure(
    *, pg: str | None = None, ws_clients: int = 2000, ws_events: int = 10, apis: int = 2
) -> dict[str, Any]:
    with stack(pg) as s, s.api(apis):
        out: dict[str, Any] = {"api_urls": list(s.api_urls)}
        out["websocket"] = ws = websocket_load(s, clients=ws_clients, events=ws_events)
        note(
            f"websocket p99 {percentile(ws['ours']['latencies'], 99):.3f} s "
            f"(floor {percentile(ws['floor']['latencies'], 99):.3f} s), "
            f"{len(ws['ours']['latencies'])} of {ws['ours']['expected']} receipts"
        )
        out["logs"] = str(s.logs)
    return out


def run(
    *, pg: str | None = None, ws_clients: int = 2000, ws_events: int = 10, **_: Any
) -> list[dict[str, Any]]:
    return rows_from(measure(pg=pg, ws_clients=ws_clients, ws_events=ws_events))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", default=None, help="PostgreSQL admin URL")
    parser.add_argument("--ws-clients", type=int, default=2000)
    parser.add_argument("--ws-events", type=int, default=10)
    parser.add_argument("--ws-child", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.ws_child:  # one of the client processes (see ws_fanout)
        print(json.dumps(asyncio.run(ws_child(args.ws_child, args.count))), flush=True)
        return
    result = measure(pg=args.pg, ws_clients=args.ws_clients, ws_events=args.ws_events)
    print_rows(rows_from(result), result["logs"])


def print_rows(rows: list[dict[str, Any]], logs: str) -> None:
    from benchmarks.bench_load_reports import print_rows as show

    show(rows, logs)


if __name__ == "__main__":
    main()
