"""Where the machine's CPU goes while a broadcast is sent and no field report arrives (issue 18):
the load stack's real processes (benchmarks/load_stack.py: two API processes, a worker, the
local Twilio-compatible server, PostgreSQL, Redis), each one's CPU from /proc over a window,
first with nothing to do (idle), then while a broadcast to every resident is sent at
TYPHOON_SMS_RATE's default. PostgreSQL's backends are told apart by the process whose socket
is at their other end; the worker's threads are listed one by one.

    python -m benchmarks.stack_cpu [--subscribers 200000] [--seconds 30] [--sms-rate 100]

Redis is the machine's shared server: anything else using it (another benchmark) counts too.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from benchmarks.load_stack import FROM, Stack, broadcast_to_everyone, populate, stack

TICK = os.sysconf("SC_CLK_TCK")


def _stat_cpu(path: Path) -> float | None:
    """User + system CPU seconds from a /proc …/stat file (None: it is gone)."""
    try:
        fields = path.read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICK


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def _all_pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        pass
    return inodes


def _local_ports() -> dict[str, int]:
    """socket inode → its local TCP port (IPv4 and IPv6)."""
    out = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            out[parts[9]] = int(parts[1].rsplit(":", 1)[1], 16)
    return out


def classify(named: dict[int, str], db_name: str) -> dict[int, str]:
    """Every process worth listing → its label: the named ones, Redis, PostgreSQL's backends
    (labelled by the named process holding the client end of their connection)."""
    ports = _local_ports()
    port_owner: dict[int, str] = {}
    for pid, label in named.items():
        for inode in _socket_inodes(pid):
            if inode in ports:
                port_owner[ports[inode]] = label
    labels = dict(named)
    for pid in _all_pids():
        if pid in labels:
            continue
        cmd = _cmdline(pid)
        if cmd.startswith("redis-server"):
            labels[pid] = "redis-server (shared)"
        elif cmd.startswith("postgres"):
            if db_name in cmd:
                port = int(cmd.split("(", 1)[1].split(")", 1)[0]) if "(" in cmd else -1
                labels[pid] = f"postgres backend of {port_owner.get(port, 'another client')}"
            elif "postgres:" in cmd and any(
                word in cmd for word in ("checkpointer", "writer", "autovacuum", "logical", "stats")
            ):
                labels[pid] = "postgres background"
            else:
                labels[pid] = "postgres other"
    return labels


def sample(labels: dict[int, str]) -> tuple[dict[int, float], dict[tuple[int, str], float]]:
    """CPU seconds so far of each process, and of each thread of the processes labelled
    'worker' (by (pid, thread name))."""
    procs: dict[int, float] = {}
    threads: dict[tuple[int, str], float] = {}
    for pid, label in labels.items():
        cpu = _stat_cpu(Path(f"/proc/{pid}/stat"))
        if cpu is None:
            continue
        procs[pid] = cpu
        if label == "worker":
            for task in Path(f"/proc/{pid}/task").iterdir():
                try:
                    name = (task / "comm").read_text().strip()
                except OSError:
                    continue
                tcpu = _stat_cpu(task / "stat")
                if tcpu is not None:
                    threads[(int(task.name), name)] = tcpu
    return procs, threads


def window(
    named: Callable[[], dict[int, str]], db_name: str, seconds: float, step: float = 5.0
) -> tuple[dict[str, float], dict[str, float], float, list[dict[str, float]]]:
    """ms of CPU a second of wall time per label over ``seconds``, per worker thread, and
    per label for each ``step`` of the window (a timeline)."""
    labels = classify(named(), db_name)
    before, tbefore = sample(labels)
    first = dict(before)
    t0 = time.monotonic()
    timeline: list[dict[str, float]] = []
    while time.monotonic() - t0 < seconds - 1e-3:
        t_step = time.monotonic()
        time.sleep(min(step, seconds - (t_step - t0)))
        labels.update({p: lbl for p, lbl in classify(named(), db_name).items() if p not in labels})
        now, _ = sample(labels)
        elapsed = time.monotonic() - t_step
        timeline.append(_per_label(labels, before, now, elapsed))
        before = now
    after, tafter = sample(labels)
    wall = time.monotonic() - t0
    per = _per_label(labels, first, after, wall)
    per_thread: dict[str, float] = {}
    for key, cpu in tafter.items():
        name = key[1]
        per_thread[name] = per_thread.get(name, 0.0) + (cpu - tbefore.get(key, 0.0)) * 1000 / wall
    return per, per_thread, wall, timeline


def _per_label(
    labels: dict[int, str], before: dict[int, float], after: dict[int, float], wall: float
) -> dict[str, float]:
    per: dict[str, float] = {}
    for pid, cpu in after.items():
        per[labels[pid]] = per.get(labels[pid], 0.0) + (cpu - before.get(pid, 0.0)) * 1000 / wall
    return per


def counters(s: Stack, db_name: str) -> dict[str, float]:
    """PostgreSQL's transactions and rows for this database, Redis's calls per command (the
    shared server's: anything else using it counts too)."""
    import redis
    from sqlalchemy import create_engine, text

    engine = create_engine(s.db_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            row = conn.execute(
                text(
                    "SELECT xact_commit, xact_rollback, tup_inserted, tup_updated, "
                    "tup_returned, tup_fetched FROM pg_stat_database WHERE datname = :d"
                ),
                {"d": db_name},
            ).one()
            tables = conn.execute(
                text(
                    "SELECT relname, seq_scan, seq_tup_read, coalesce(idx_scan, 0), "
                    "coalesce(idx_tup_fetch, 0) FROM pg_stat_user_tables"
                )
            ).all()
            indexes = conn.execute(
                text("SELECT indexrelname, idx_scan, idx_tup_read FROM pg_stat_user_indexes")
            ).all()
    finally:
        engine.dispose()
    out = {
        f"pg index {index} {name}": float(value)
        for index, *values in indexes
        for name, value in zip(("scans", "entries read"), values, strict=True)
    }
    out |= {
        f"pg {table} {name}": float(value)
        for table, *values in tables
        for name, value in zip(
            ("seq scans", "seq rows", "index scans", "index rows"), values, strict=True
        )
    }
    out |= {
        f"pg {name}": float(value)
        for name, value in zip(
            (
                "commits",
                "rollbacks",
                "rows inserted",
                "rows updated",
                "rows returned",
                "rows fetched",
            ),
            row,
            strict=True,
        )
    }
    client = redis.Redis.from_url(s.redis_url)
    for name, stat in client.info("commandstats").items():
        out[f"redis {name.removeprefix('cmdstat_')}"] = float(stat["calls"])
    client.close()
    return out


def show_rates(before: dict[str, float], after: dict[str, float], wall: float) -> None:
    print("  per second:")
    for name, value in sorted(after.items()):
        rate = (value - before.get(name, 0.0)) / wall
        if rate >= 0.05:
            print(f"    {name:46s} {rate:8.1f}")


def show(
    title: str,
    per: dict[str, float],
    threads: dict[str, float],
    timeline: list[dict[str, float]] | None = None,
) -> None:
    print(f"\n{title} (ms of CPU a second of wall time)")
    for label, value in sorted(per.items(), key=lambda kv: -kv[1]):
        if value >= 0.05:
            steps = " ".join(f"{t.get(label, 0.0):6.0f}" for t in timeline or [])
            print(f"  {label:48s} {value:8.1f}   {steps}")
    print(f"  {'total':48s} {sum(per.values()):8.1f}")
    if threads:
        print("  worker threads:")
        for name, value in sorted(threads.items(), key=lambda kv: -kv[1]):
            if value >= 0.05:
                print(f"    {name:46s} {value:8.1f}")


def main(argv: list[str] | None = None) -> None:
    from benchmarks.bench_dispatch import SID, TOKEN, server_stats, twilio_server

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", default=None)
    parser.add_argument("--subscribers", type=int, default=200_000)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--sms-rate", type=float, default=100.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--pyspy", default=None, help="py-spy's collapsed stacks of the worker")
    args = parser.parse_args(argv)
    with stack(args.pg) as s, s.api(2):
        db_name = s.db_url.rsplit("/", 1)[1].split("?")[0]
        populate(s, args.subscribers)
        with (
            twilio_server("counts") as twilio,
            s.worker(
                "worker-a",
                TWILIO_ACCOUNT_SID=SID,
                TWILIO_AUTH_TOKEN=TOKEN,
                TWILIO_FROM_NUMBER=FROM,
                TWILIO_API_BASE_URL=twilio,
                TYPHOON_SMS_RATE=str(args.sms_rate),
            ) as worker,
        ):
            twilio_port = twilio.rsplit(":", 1)[1]
            api_ports = {url.rsplit(":", 1)[1]: f"api-{i}" for i, url in enumerate(s.api_urls)}

            def named() -> dict[int, str]:
                out = {os.getpid(): "this script (load client's place)", worker.pid: "worker"}
                for pid in _all_pids():
                    cmd = _cmdline(pid)
                    if "twilio_server" in cmd and twilio_port in cmd:
                        out[pid] = "twilio server (local)"
                    elif " serve " in cmd:
                        for port, label in api_ports.items():
                            if f"--port {port}" in cmd:
                                out[pid] = label
                return out

            time.sleep(args.warmup)
            counted = counters(s, db_name)
            per, threads, wall, timeline = window(named, db_name, args.seconds)
            show("idle: no broadcast, no report", per, threads, timeline)
            show_rates(counted, counters(s, db_name), wall)
            client = httpx.Client(base_url=s.api_url, timeout=600)
            broadcast = broadcast_to_everyone(client, s)
            while server_stats(twilio)["created"] == 0:
                time.sleep(0.05)
            time.sleep(args.warmup)
            sent_before = server_stats(twilio)["created"]
            counted = counters(s, db_name)
            spy = None
            if args.pyspy:
                spy = subprocess.Popen(
                    [
                        str(Path(sys.executable).with_name("py-spy")),
                        "record",
                        "--nonblocking",
                        "--format",
                        "raw",
                        "--rate",
                        "200",
                        "--duration",
                        str(int(args.seconds)),
                        "--pid",
                        str(worker.pid),
                        "--output",
                        args.pyspy,
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            per, threads, wall, timeline = window(named, db_name, args.seconds)
            sent = server_stats(twilio)["created"] - sent_before
            show(
                f"broadcast to {broadcast['recipients']:,} at {args.sms_rate:g}/s: "
                f"{sent / wall:.1f} SMS/s",
                per,
                threads,
                timeline,
            )
            if spy is not None:
                spy.wait(timeout=args.seconds + 30)
            show_rates(counted, counters(s, db_name), wall)
            worker_ms = per.get("worker", 0.0)
            print(f"  worker CPU per SMS: {worker_ms * wall / max(1, sent):.2f} ms")
            client.post(f"/api/v1/broadcasts/{broadcast['id']}/cancel", headers=s.auth("operator"))
            client.close()


if __name__ == "__main__":
    main()
