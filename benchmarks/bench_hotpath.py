"""Benchmark: the hot write path (issue #18), one API process on PostgreSQL.

``POST /api/v1/field-reports`` (hazard reports, each its own ``Idempotency-Key``, round-robin
over 20 field tokens) from 8 clients in a closed loop (each sends its next report when the last
is answered) to one ``typhoon serve --no-worker --no-scheduler`` process: reports a second, and
the CPU one report costs in the API process and in PostgreSQL (from /proc). The floor, in the
same run, right after: the same clients, the same bodies, to ``benchmarks/floor_app.py``'s
``POST /echo`` (the same stack doing nothing but transport and a pydantic model), its rate and
CPU per request. The machine is shared: the ratios say more than either figure.

``--profile`` samples the API process with py-spy during the closed loop and writes, under
``benchmarks/profiles/``, an SVG flame graph, the collapsed stacks and a text summary of where
the CPU went by layer (validation, auth, ORM, journal, serialisation, commit, transport).

    python -m benchmarks.bench_hotpath [--seconds 20] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.bench_load_reports import (
    _cpu_seconds,
    _cpu_since,
    _pids,
    _report_body,
    closed_loop,
)
from benchmarks.load_stack import note as _note
from benchmarks.load_stack import percentile, stack

HERE = Path(__file__).resolve().parent
PROFILES = HERE / "profiles"
GOAL_CPU_MS = 3.0
GOAL_RATE = 250.0
CONCURRENCY = int(os.environ.get("BENCH_HOTPATH_CLIENTS", "8"))

# Where a sampled stack's CPU is charged: the first rule (in this order) one of whose
# markers is in the stack. The markers are py-spy's "function (file:line)" frames.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("journal write (audit chain + events, before commit)", ("_write_journal",)),
    ("event publish (after commit)", ("_publish_events", "publish_committed")),
    ("commit (COMMIT round trip)", ("commit (sqlalchemy", "do_commit")),
    ("auth (token lookup)", ("current_user", "user_for_token", "authenticate")),
    ("rate limit", ("check_field_rate", "field_rate_limit")),
    (
        "journal collect (audit.record, events.emit, totals)",
        ("record (emergency/audit", "emit (emergency/events", "report_totals", "public_for_stream"),
    ),
    ("field service: hazard, report row (ORM, SQL)", ("submit_report", "report_hazard")),
    (
        "response serialisation",
        ("serialize_response", "_prepare_response_content", "jsonable_encoder", "render ("),
    ),
    (
        "request parsing + validation",
        (
            "request_body_to_args",
            "solve_dependencies",
            "parse_body",
            "validated (emergency/field",
            "_validate",
            "body (starlette",
            "json (starlette",
        ),
    ),
    ("session open/close", ("get_session", "close (sqlalchemy", "session (emergency/db")),
    ("middleware (admission, request id, metrics, logs)", ("emergency/middleware",)),
    ("transport (uvicorn, asyncio, threads)", ("uvicorn", "asyncio", "anyio", "threading")),
]


def layer_of(stack_text: str) -> str:
    for name, markers in LAYERS:
        if any(m in stack_text for m in markers):
            return name
    return "other"


# Leaf frames of a thread that waits (py-spy without --gil samples them as active: they wait
# inside C code): left out, so that what is counted is CPU.
WAITS = (
    "Connection.wait (psycopg",
    "Runner.run (asyncio",
    "_worker (concurrent",
    "Condition.wait (threading",
    "_read_from_socket (redis",
    "WorkerThread.run (anyio",
    "select (selectors",
)


def summarise(collapsed: Path, *, reports: int, cpu_ms: float) -> str:
    """Samples by layer, as shares and as ms of API CPU per report; then the functions by
    inclusive share (each function once per sample) and the hottest leaves."""
    by_layer: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = waiting = 0
    for line in collapsed.read_text().splitlines():
        frames, _, count_text = line.rpartition(" ")
        if not frames or not count_text.isdigit():
            continue
        count = int(count_text)
        stack_frames = [re.sub(r":\d+\)$", ")", f) for f in frames.split(";")]
        if stack_frames[-1].startswith(WAITS):
            waiting += count
            continue
        total += count
        by_layer[layer_of(frames)] += count
        leaves[stack_frames[-1]] += count
        for frame in set(stack_frames):
            inclusive[frame] += count
    out = [
        f"{total} samples on the CPU ({waiting} waiting, left out); {reports} reports; "
        f"API CPU {cpu_ms:.2f} ms per report (from /proc)",
        "",
        f"{'layer':58} {'share':>6} {'ms/report':>10}",
    ]
    for name, count in by_layer.most_common():
        share = count / max(total, 1)
        out.append(f"{name:58} {share:6.1%} {share * cpu_ms:10.2f}")
    out += ["", "functions by inclusive share (ms of API CPU per report):"]
    for frame, count in inclusive.most_common(70):
        share = count / max(total, 1)
        out.append(f"  {share:6.1%} {share * cpu_ms:6.2f}  {frame}")
    out += ["", "hottest leaf frames:"]
    for frame, count in leaves.most_common(25):
        out.append(f"  {count / max(total, 1):6.1%}  {frame}")
    return "\n".join(out) + "\n"


def _closed(urls: list[str], s: Any, seconds: float) -> dict[str, Any]:
    return asyncio.run(
        closed_loop(
            urls, concurrency=CONCURRENCY, seconds=seconds, request=lambda i: _report_body(s, i)
        )
    )


def measure(
    *, pg: str | None = None, seconds: float = 20.0, profile: bool = False, tag: str = ""
) -> dict[str, Any]:
    out: dict[str, Any] = {"seconds": seconds}
    with stack(pg) as s, s.api(1):
        url = s.api_urls[0]
        port = url.rsplit(":", 1)[1]
        api = _pids(lambda _, cmd: b"serve" in cmd and port.encode() in cmd)
        reports = [f"{url}/api/v1/field-reports"]
        _closed(reports, s, 3.0)  # warm up: imports, pools, caches
        spy: subprocess.Popen | None = None
        if profile:
            PROFILES.mkdir(exist_ok=True)
            name = f"field-report{'-' + tag if tag else ''}"
            raw, svg = PROFILES / f"{name}.collapsed.txt", PROFILES / f"{name}.svg"
            py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
            common = [
                "--pid",
                str(api[0]),
                "--rate",
                os.environ.get("BENCH_HOTPATH_RATE", "100"),
                "--nonblocking",
                *(["--gil"] if os.environ.get("BENCH_HOTPATH_GIL", "1") == "1" else []),
                "--duration",
                str(int(seconds)),
            ]
            spy = subprocess.Popen([py_spy, "record", "--format", "raw", "-o", str(raw), *common])
            time.sleep(1.0)  # py-spy attaches
        # this run's database only: the server is shared with other people's tests
        dbname = s.db_url.rsplit("/", 1)[1].encode()
        ours = lambda _, cmd: cmd.startswith(b"postgres") and dbname in cmd  # noqa: E731
        postgres = _pids(ours)
        _note(f"timed loop starts: API pid {api[0]}")
        api_cpu, pg_cpu = _cpu_seconds(api), _cpu_seconds(postgres)
        got = _closed(reports, s, seconds)
        postgres = _pids(ours)
        stored = max(1, got["statuses"].get("201", 0))
        got["api_cpu_ms"] = _cpu_since(api_cpu, api) * 1000 / stored
        got["pg_cpu_ms"] = _cpu_since(pg_cpu, postgres) * 1000 / stored
        out["ours"] = got
        _note(
            f"hot path: {got['rate']:.0f}/s, API CPU {got['api_cpu_ms']:.2f} ms, PostgreSQL "
            f"{got['pg_cpu_ms']:.2f} ms per report; {got['statuses']}"
        )
        if spy is not None:
            spy.wait(seconds + 60)
            summary = summarise(raw, reports=stored, cpu_ms=got["api_cpu_ms"])
            (PROFILES / f"{name}.summary.txt").write_text(summary)
            _flamegraph(raw, svg)
            print(summary, file=sys.stderr)
        with s.floor() as floor_url:
            fport = floor_url.rsplit(":", 1)[1]
            floor_pid = _pids(lambda _, cmd: b"floor_app" in cmd and fport.encode() in cmd)
            echo = [f"{floor_url}/echo"]
            _closed(echo, s, 3.0)
            before = _cpu_seconds(floor_pid)
            floor = _closed(echo, s, seconds)
            answered = max(1, floor["statuses"].get("201", 0))
            floor["api_cpu_ms"] = _cpu_since(before, floor_pid) * 1000 / answered
            out["floor"] = floor
            _note(f"floor: {floor['rate']:.0f}/s, CPU {floor['api_cpu_ms']:.2f} ms per request")
        out["logs"] = str(s.logs)
    return out


def _flamegraph(collapsed: Path, svg: Path) -> None:
    """An SVG flame graph of the collapsed stacks (py-spy writes one per run; this draws the
    same samples the summary counts)."""
    from benchmarks.flamegraph import render

    svg.write_text(render(collapsed.read_text(), title="POST /api/v1/field-reports"))


def rows_from(result: dict[str, Any]) -> list[dict[str, Any]]:
    ours, floor = result["ours"], result["floor"]
    p99 = percentile(ours["latencies"], 99) * 1000
    return [
        {
            "benchmark": "field report, 1 API process, PostgreSQL: API CPU per report",
            "ours": round(ours["api_cpu_ms"], 2),
            "peer": round(floor["api_cpu_ms"], 2),
            "peer_name": "trivial FastAPI POST (floor), same run",
            "unit": "ms",
            "goal": f"≤ {GOAL_CPU_MS:g} ms",
            "met": ours["api_cpu_ms"] <= GOAL_CPU_MS,
            "note": (
                f"{ours['api_cpu_ms'] / max(floor['api_cpu_ms'], 1e-9):.1f}× the floor; "
                f"PostgreSQL {ours['pg_cpu_ms']:.2f} ms per report (this database's backends; "
                f"the WAL writer not counted); {CONCURRENCY} clients "
                f"closed loop, {result['seconds']:g} s, hazard reports"
            ),
        },
        {
            "benchmark": "field reports/s, 1 API process, PostgreSQL (closed loop)",
            "ours": round(ours["rate"]),
            "peer": round(floor["rate"]),
            "peer_name": "trivial FastAPI POST (floor), same run",
            "unit": "/s",
            "goal": f"≥ {GOAL_RATE:g}/s",
            "met": ours["rate"] >= GOAL_RATE,
            "note": (
                f"{ours['rate'] / max(floor['rate'], 1e-9):.0%} of the floor's rate; p99 "
                f"{p99:.1f} ms (floor {percentile(floor['latencies'], 99) * 1000:.1f} ms); "
                f"answers {ours['statuses']}; the client, PostgreSQL and the server share the "
                "2 cores"
            ),
        },
    ]


def run(*, pg: str | None = None, **_: Any) -> list[dict[str, Any]]:
    return rows_from(measure(pg=pg))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", default=None, help="PostgreSQL admin URL")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--profile", action="store_true", help="py-spy the API process")
    parser.add_argument("--tag", default="", help="suffix of the profile's file names")
    args = parser.parse_args(argv)
    result = measure(pg=args.pg, seconds=args.seconds, profile=args.profile, tag=args.tag)
    for row in rows_from(result):
        print(f"{row['benchmark']}: ours {row['ours']} {row['unit']}, floor {row['peer']}")
        print(f"  {row['note']}")


if __name__ == "__main__":
    main()
