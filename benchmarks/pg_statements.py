"""What one field report sends PostgreSQL, statement by statement, and what each costs the
server (issue 18).

The report's statements partly bypass SQLAlchemy (emergency.rawsql), so they are read from
PostgreSQL itself: on the run's own scratch database (load_stack: created, then dropped)
`log_min_duration_statement = 0` and `log_statement_stats = on` are set with ALTER DATABASE,
so every backend of that database logs each protocol message (parse, bind, execute, simple
query) with its duration and the backend's CPU (getrusage) for it. Nothing of the server's
own configuration changes. One ``typhoon serve`` process, `--warm` reports first (the pool's
connections, psycopg's prepared statements), then `--reports` reports one after the other;
the server log is read for the lines of that database written in between.

Needs a superuser URL (the settings are superuser ones) and the server's log file readable
(`--log`; Debian's default below).

    python -m benchmarks.pg_statements [--reports 50] [--log /var/log/postgresql/...]
"""

from __future__ import annotations

import argparse
import re
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from benchmarks.bench_load_reports import _report_body
from benchmarks.load_stack import DEFAULT_PG, note, stack

LOG = "/var/log/postgresql/postgresql-15-main.log"
_LINE = re.compile(r"^\S+ \S+ UTC \[(\d+)\] (\S+)@(\S+) (\w+):  (.*)$")
_DURATION = re.compile(r"duration: ([\d.]+) ms  (?:(parse|bind|execute) [^:]*|statement): ?(.*)")
_USAGE = re.compile(r"([\d.]+) s user, ([\d.]+) s system, ([\d.]+) s elapsed")


@dataclass
class Step:
    """One protocol message a backend logged: its kind, its SQL, wall and CPU time (ms)."""

    pid: int
    kind: str
    sql: str
    wall_ms: float
    cpu_ms: float = 0.0


@dataclass
class Statement:
    sql: str
    count: int = 0
    wall_ms: float = 0.0
    cpu_ms: float = 0.0
    kinds: set[str] = field(default_factory=set)


def read_steps(lines: list[str], database: str) -> list[Step]:
    """The logged messages of `database`, each with the CPU its statistics line gave."""
    steps: list[Step] = []
    waiting: dict[int, Step] = {}  # pid -> its step whose statistics come next
    current: Step | None = None
    for line in lines:
        match = _LINE.match(line)
        if match is None:
            usage = _USAGE.search(line)  # a DETAIL continuation of the statistics
            if usage and current is not None:
                current.cpu_ms = (float(usage[1]) + float(usage[2])) * 1000
                current = None
            elif current is None and steps and line.startswith("\t") and not usage:
                pass
            continue
        pid, _user, db, _level, message = int(match[1]), match[2], match[3], match[4], match[5]
        if db != database:
            current = None
            continue
        duration = _DURATION.match(message)
        if duration:
            step = Step(
                pid, duration[2] or "simple", " ".join(duration[3].split()), float(duration[1])
            )
            steps.append(step)
            waiting[pid] = step
            current = None
        elif "STATISTICS" in message:
            current = waiting.pop(pid, None)
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", default=DEFAULT_PG, help="PostgreSQL superuser URL")
    parser.add_argument("--reports", type=int, default=50)
    parser.add_argument("--warm", type=int, default=30)
    parser.add_argument("--log", default=LOG, help="the server's log file")
    args = parser.parse_args()
    log = Path(args.log)
    with stack(args.pg, field_users=4) as s:
        database = make_url(s.db_url).database
        admin = create_engine(
            args.pg.replace("postgresql://", "postgresql+psycopg://", 1),
            isolation_level="AUTOCOMMIT",
        )
        with admin.connect() as conn:  # the scratch database only; dropped with it
            for setting in ("log_min_duration_statement = 0", "log_statement_stats = on"):
                conn.execute(text(f'ALTER DATABASE "{database}" SET {setting}'))
        admin.dispose()
        with s.api(1) as urls, httpx.Client(timeout=30) as client:
            url = f"{urls[0]}/api/v1/field-reports"
            for i in range(args.warm):
                client.post(url, headers=_report_body(s, i)[0], json=_report_body(s, i)[1])
            time.sleep(0.5)
            start = log.stat().st_size
            for i in range(args.warm, args.warm + args.reports):
                headers, body = _report_body(s, i)
                answer = client.post(url, headers=headers, json=body)
                assert answer.status_code == 201, answer.text
            time.sleep(1.0)  # the log is written by each backend as it goes
            with log.open(errors="replace") as f:
                f.seek(start)
                lines = f.read().splitlines()
    steps = read_steps(lines, database)
    by_sql: dict[str, Statement] = {}
    for step in steps:
        st = by_sql.setdefault(step.sql, Statement(step.sql))
        st.wall_ms += step.wall_ms
        st.cpu_ms += step.cpu_ms
        st.kinds.add(step.kind)
        if step.kind in ("execute", "simple"):
            st.count += 1
    n = args.reports
    total_cpu = sum(s.cpu_ms for s in by_sql.values()) / n
    total_wall = sum(s.wall_ms for s in by_sql.values()) / n
    executions = sum(s.count for s in by_sql.values()) / n
    note(f"{n} reports, {len(steps)} logged messages; per report: {executions:.2f} statements")
    note(f"backend CPU in logged messages {total_cpu:.3f} ms, wall {total_wall:.3f} ms a report")
    order: dict[str, int] = {}
    per_pid: dict[int, list[Step]] = defaultdict(list)
    for step in steps:
        per_pid[step.pid].append(step)
        order.setdefault(step.sql, len(order))
    print("| # | per report | statement | messages | wall ms | CPU ms |")
    print("|---|---|---|---|---|---|")
    for st in sorted(by_sql.values(), key=lambda st: order[st.sql]):
        sql = st.sql if len(st.sql) < 400 else st.sql[:400] + " …"
        print(
            f"| {order[st.sql] + 1} | {st.count / n:.2f} | `{sql}` | {'/'.join(sorted(st.kinds))} "
            f"| {st.wall_ms / n:.3f} | {st.cpu_ms / n:.3f} |"
        )


if __name__ == "__main__":
    main()
