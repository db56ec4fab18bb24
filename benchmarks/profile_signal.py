"""Where a signal change request's time goes (issue #18): the app in this process (uvicorn in a
thread, as the tests run it; PostgreSQL, Redis), an operator raising SMG No. 8NE and lowering
it again, one request at a time, with ``population`` residents (the rules' pre-approved
broadcast writes its first outbox chunk in the request; each round's broadcasts are cancelled).

Prints the wall and CPU time of the raise POST without the profiler, then the raise POSTs again
under yappi (CPU clock, every thread): the inclusive CPU per raise of the functions that cost
most, written to ``benchmarks/profiles/signal-yappi[-tag].txt``. yappi's tracing inflates every
figure: read the shares.

    python -m benchmarks.profile_signal [--rounds 20] [--population 1000] [--tag before]
"""

from __future__ import annotations

import argparse
import gzip
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from benchmarks.load_stack import DEFAULT_PG, DEFAULT_REDIS, SIGNAL, broadcast_ids
from tests.support.server import free_port

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--population", type=int, default=1000)
    parser.add_argument("--tag", default="")
    parser.add_argument("--no-yappi", action="store_true", help="only the timings")
    parser.add_argument(
        "--py-spy",
        metavar="PY_SPY",
        help="also sample the timed raises with this py-spy (--idle: wall clock, every "
        "thread), to benchmarks/profiles/signal-pyspy[-tag].collapsed.txt.gz, .svg, .summary.txt",
    )
    parser.add_argument(
        "--statements", action="store_true", help="print the SQL statements of one round"
    )
    args = parser.parse_args(argv)

    import uvicorn

    from benchmarks.bench_broadcast import seed
    from benchmarks.bench_dispatch import bench_database
    from emergency.auth import service as auth_service
    from emergency.db import Database

    with bench_database(DEFAULT_PG) as db_url:
        db = Database(db_url)
        with db.unit_of_work() as session:
            _, token = auth_service.create_user(
                session, name="bench-operator", role="operator", actor="bench"
            )
        db.dispose()
        seed(db_url, args.population)
        os.environ.update(
            TYPHOON_DATABASE_URL=db_url,
            TYPHOON_REDIS_URL=DEFAULT_REDIS,
            TYPHOON_REDIS_PREFIX=f"bench-profile-{uuid.uuid4().hex[:8]}",
            TYPHOON_PUBLIC_URL="http://127.0.0.1:9",
            TYPHOON_LOG_LEVEL="WARNING",
        )
        from emergency.app import create_app
        from emergency.settings import load_settings

        app = create_app(load_settings(), embedded_worker=False, embedded_scheduler=False)
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(app, port=port, log_level="warning", access_log=False, lifespan="on")
        )
        thread = threading.Thread(target=server.run, daemon=True, name="server")
        thread.start()
        http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120)
        headers = {"Authorization": f"Bearer {token}"}
        while not server.started:
            time.sleep(0.05)

        def post(level: str | None) -> dict[str, Any]:
            answer = http.post("/api/v1/signals", json={**SIGNAL, "level": level}, headers=headers)
            assert answer.status_code == 200, answer.text
            result: dict[str, Any] = answer.json()
            return result

        def round_(timed: list[tuple[float, float]] | None = None) -> None:
            wall0, cpu0, client0 = time.perf_counter(), time.process_time(), time.thread_time()
            raised = post("8NE")
            wall = time.perf_counter() - wall0
            cpu = time.process_time() - cpu0 - (time.thread_time() - client0)
            if timed is not None:
                timed.append((wall, cpu))
            ids = broadcast_ids(raised.get("actions"))
            assert raised.get("changed") and ids, str(raised)[:500]
            ids += broadcast_ids(post(None).get("actions"))
            for broadcast_id in ids:
                http.post(f"/api/v1/broadcasts/{broadcast_id}/cancel", headers=headers)

        post(None)
        for _ in range(3):  # warm up
            round_()
        if args.statements:
            _statements(round_)
        timed: list[tuple[float, float]] = []
        spy = _spy(args.py_spy, args.tag) if args.py_spy else None
        for _ in range(args.rounds):
            round_(timed)
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(60)
            _flame(args.tag)
        walls = [w * 1000 for w, _ in timed]
        cpus = [c * 1000 for _, c in timed]
        out = [
            f"{args.rounds} raises of SMG 8NE (then lowered, broadcasts cancelled), "
            f"{args.population:,} residents, one client, in-process, PostgreSQL",
            f"without the profiler: the raise POST wall median {statistics.median(walls):.1f} ms "
            f"(min {min(walls):.1f}, max {max(walls):.1f}); the server's CPU during it (the "
            f"process's less the client thread's; threads started by the request included) "
            f"median {statistics.median(cpus):.1f} ms; load average {os.getloadavg()[0]:.2f}",
        ]
        print("\n".join(out), flush=True)
        if not args.no_yappi:
            out += _profiled(args.rounds, round_)
            text = "\n".join(out) + "\n"
            print(text)
            name = f"signal-yappi{'-' + args.tag if args.tag else ''}.txt"
            (HERE / "profiles" / name).write_text(text)
        server.should_exit = True
        thread.join(30)
        http.close()


def _statements(round_: Any) -> None:
    """The statements one round sends to the database, in order, by thread."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    seen: list[str] = []

    def before(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        shape = " ".join(statement.split())[:90]
        ours = [
            f"{Path(f.filename).parent.name}/{Path(f.filename).name}:{f.lineno} {f.name}"
            for f in traceback.extract_stack()
            if "/emergency/" in f.filename or "/alerts/" in f.filename
        ]
        where = " < ".join(reversed(ours[-3:]))
        seen.append(f"{threading.current_thread().name[:12]:12} {shape}\n      {where}")

    event.listen(Engine, "before_cursor_execute", before)
    round_()
    event.remove(Engine, "before_cursor_execute", before)
    print(f"{len(seen)} statements in one round (raise, lower, cancels):")
    print("\n".join(seen), flush=True)


def _spy(py_spy: str, tag: str) -> subprocess.Popen[bytes]:
    raw = HERE / "profiles" / f"signal-pyspy{'-' + tag if tag else ''}.raw.txt"
    spy = subprocess.Popen(
        [py_spy, "record", "--pid", str(os.getpid()), "--idle", "--threads", "--rate", "250"]
        + ["--format", "raw", "-o", str(raw)],
        stdout=subprocess.DEVNULL,
    )
    time.sleep(2)  # attached
    return spy


def _flame(tag: str) -> None:
    """The handler's stacks only (those through the signal route): wall clock of the raises
    and lowers, waiting included; a flame graph and the top frames by share."""
    from benchmarks.flamegraph import render

    name = f"signal-pyspy{'-' + tag if tag else ''}"
    raw = HERE / "profiles" / f"{name}.raw.txt"
    stacks: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        if "post_signal" in line:  # the handler's threads, their names left out
            frames, _, count_text = line.rpartition(" ")
            stacks[frames.split(";", 1)[-1]] += int(count_text)
    raw.unlink()
    lines = [f"{frames} {n}" for frames, n in stacks.items()]
    collapsed = "\n".join(lines) + "\n"
    (HERE / "profiles" / f"{name}.collapsed.txt.gz").write_bytes(gzip.compress(collapsed.encode()))
    (HERE / "profiles" / f"{name}.svg").write_text(render(collapsed, title=name))
    total = 0
    inclusive: Counter[str] = Counter()
    for line in lines:
        frames, _, count_text = line.rpartition(" ")
        total += int(count_text)
        for frame in set(frames.split(";")):
            inclusive[frame] += int(count_text)
    top = [f"{n / total:6.1%}  {frame}" for frame, n in inclusive.most_common(80)]
    summary = f"{total} samples of the handler's thread (250 Hz, wall clock)\n" + "\n".join(top)
    (HERE / "profiles" / f"{name}.summary.txt").write_text(summary + "\n")


def _profiled(rounds: int, round_: Any) -> list[str]:
    import yappi

    main_thread = threading.get_ident()
    yappi.set_clock_type("cpu")
    yappi.start(builtins=False, profile_threads=True)
    for _ in range(rounds):
        round_()
    yappi.stop()
    per = 1000 / rounds
    threads = yappi.get_thread_stats()
    server_cpu = sum(t.ttot for t in threads if t.tid != main_thread)
    out = [
        "",
        f"under yappi (CPU clock, every thread; each round = raise + lower + cancels): server "
        f"threads' CPU {server_cpu * per:.1f} ms per round (inflated by the tracing)",
        "",
        "threads (ms per round):",
    ]
    for t in sorted(threads, key=lambda t: -t.ttot):
        if t.ttot * per > 0.05:
            who = "client (not counted)" if t.tid == main_thread else t.name
            out.append(f"  {t.ttot * per:8.2f}  {who}")
    by_name: dict[tuple[str, str], tuple[float, float, int]] = {}
    for f in yappi.get_func_stats():
        if f.ctx_name == "_MainThread":
            continue
        key = (f.module, f.name)
        tot, sub, calls = by_name.get(key, (0.0, 0.0, 0))
        by_name[key] = (tot + f.ttot, sub + f.tsub, calls + f.ncall)

    def short(module: str) -> str:
        return module.split("site-packages/")[-1].replace(str(HERE.parent) + "/", "")

    out += ["", "top functions by inclusive CPU (ms per round, share, calls per round):"]
    for (module, name), (tot, _, calls) in sorted(by_name.items(), key=lambda kv: -kv[1][0])[:90]:
        out.append(
            f"  {tot * per:8.2f}  {tot / server_cpu:6.1%}  {calls / rounds:8.1f}  {name}  "
            f"({short(module)})"
        )
    out += ["", "top functions by own CPU (ms per round, share, calls per round):"]
    for (module, name), (_, sub, calls) in sorted(by_name.items(), key=lambda kv: -kv[1][1])[:40]:
        out.append(
            f"  {sub * per:8.2f}  {sub / server_cpu:6.1%}  {calls / rounds:8.1f}  {name}  "
            f"({short(module)})"
        )
    return out


if __name__ == "__main__":
    sys.exit(main())
