"""Benchmark: the fault run. A 50,000-recipient broadcast, made and approved through the API,
sent by two `typhoon worker` processes while one of them is killed with SIGKILL ten times
(restarted each time), the local Twilio-compatible server answers 429 to everything for
30 s and 500 to 2 % of the requests, Redis (a private `redis-server`) restarts empty and
PostgreSQL (behind an outage proxy; the shared server is never touched) drops every
connection for 3 s; meanwhile an operator changes a signal every 3 s (liaison notices by
SMS) and critical hazards come in every 6 s (alarms escalated by SMS to the duty leads).
Reported: SMS never sent (goal 0), SMS sent twice per path — broadcast, liaison, escalation —
(goal 0 on every path: the run fails otherwise, exit status 1), the time to completion,
whether `typhoon audit verify` passes afterwards, and whether a /ws/live screen got every
event once and in order through it all.

The run itself is tests.support.storm.run_faults, which the CI test
tests/emergency/test_storm_faults.py runs at a smaller size. It needs PostgreSQL (a fresh,
migrated database is made from the admin URL: --pg, else TYPHOON_TEST_DATABASE_URL, else
postgresql://postgres@127.0.0.1:5432/postgres) and `redis-server` on the PATH.

    python -m benchmarks.bench_faults [--recipients 50000] [--kills 10] [--throttle 30]
        [--logs DIR]

Each SMS sent twice is named with its outbox row's state and when the provider took each
copy (seconds after the broadcast's start, as the faults are); ``--logs DIR`` keeps the
processes' logs (API, scheduler, every worker) there to read beside it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def measure(
    *,
    pg: str | None = None,
    recipients: int = 50_000,
    kills: int = 10,
    throttle_seconds: float = 30.0,
    sms_rate: int = 500,
    logs: Path | None = None,
    log=print,
):
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from sqlalchemy.engine import make_url

    from tests.support import pg as pg_support
    from tests.support.storm import FaultPlan, run_faults

    admin = pg or os.environ.get("TYPHOON_TEST_DATABASE_URL") or DEFAULT_ADMIN
    plan = FaultPlan(
        recipients=recipients,
        kills=kills,
        throttle_seconds=throttle_seconds,
        sms_rate=sms_rate,
        timeout=max(600.0, recipients / sms_rate * 4 + throttle_seconds + 30 * kills),
    )
    name = pg_support.make_template(admin)  # a fresh migrated database, dropped afterwards
    url = make_url(admin).set(database=name).render_as_string(hide_password=False)
    try:
        if logs is not None:  # kept, to read beside a duplicate's times
            return run_faults(url, plan, logs, log=log)
        with tempfile.TemporaryDirectory(prefix="typhoon-bench-faults-") as workdir:
            return run_faults(url, plan, Path(workdir), log=log)
    finally:
        pg_support.drop(admin, url)


def rows_from(report) -> list[dict[str, Any]]:
    plan = report.plan
    what = (
        f"{report.recipients:,} recipients, {plan.kills} worker kills, Redis + PostgreSQL "
        f"restart, {plan.throttle_seconds:g} s of 429, random 500s"
    )
    note = report.summary() + ("" if report.finished else f"; {report.note}")
    per_path = ", ".join(f"{kind} {count.duplicates}" for kind, count in report.paths.items())
    return [
        {
            "benchmark": f"fault run: SMS never sent, every path ({what})",
            "ours": report.lost,
            "peer": None,
            "peer_name": "",
            "goal": "0",
            "met": report.finished and report.lost == 0 and report.failed == 0,
            "unit": "",
            "note": note,
        },
        {
            "benchmark": "fault run: duplicate SMS, per path (same run)",
            "ours": report.duplicates,
            "peer": None,
            "peer_name": "",
            "goal": "0 on every path",
            "met": duplicates_met(report),
            "unit": "",
            "note": f"{per_path}; {report.unmatched} matching no outbox row; "
            f"{report.in_flight_at_kills} messages in flight at the kills"
            + "".join(f"; sent twice: {line}" for line in report.duplicate_lines[:3]),
        },
        {
            "benchmark": "fault run: broadcast created → completed (same run)",
            "ours": round(report.seconds, 1),
            "peer": None,
            "peer_name": "",
            "goal": "completes",
            "met": report.finished,
            "unit": "s",
        },
        {
            "benchmark": "fault run: /ws/live events missed, repeated or out of order",
            "ours": len(report.live_problems),
            "peer": None,
            "peer_name": "",
            "goal": "0",
            "met": not report.live_problems and report.live_events > 0,
            "unit": "",
        },
        {
            "benchmark": "fault run: `typhoon audit verify` afterwards",
            "ours": report.audit_ok,
            "peer": None,
            "peer_name": "",
            "goal": "passes",
            "met": report.audit_ok,
            "unit": "",
        },
    ]


def duplicates_met(report) -> bool:
    """No SMS twice on any path (broadcast, liaison, escalation), each path exercised."""
    return (
        report.unmatched == 0
        and set(report.paths) == {"broadcast", "liaison", "escalation"}
        and all(c.messages > 0 and c.duplicates == 0 for c in report.paths.values())
    )


def run(
    *,
    pg: str | None = None,
    recipients: int = 50_000,
    kills: int = 10,
    throttle_seconds: float = 30.0,
    **_: Any,
) -> list[dict[str, Any]]:
    report = measure(
        pg=pg,
        recipients=recipients,
        kills=kills,
        throttle_seconds=throttle_seconds,
        log=lambda line: print(f"   {line}", file=sys.stderr, flush=True),
    )
    return rows_from(report)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=50_000)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--throttle", type=float, default=30.0, help="seconds of 429")
    parser.add_argument("--rate", type=int, default=500, help="TYPHOON_SMS_RATE")
    parser.add_argument("--pg", default=None, help="PostgreSQL admin URL")
    parser.add_argument("--logs", type=Path, default=None, help="keep the processes' logs here")
    args = parser.parse_args()
    report = measure(
        pg=args.pg,
        recipients=args.recipients,
        kills=args.kills,
        throttle_seconds=args.throttle,
        sms_rate=args.rate,
        logs=args.logs,
    )
    rows = rows_from(report)
    for row in rows:
        print(f"{row['benchmark']}: {row['ours']} (goal {row['goal']}) met={row['met']}")
    if not report.audit_ok:
        print(report.audit_output)
    return 0 if all(row["met"] for row in rows) else 1  # a duplicate on any path fails the run


if __name__ == "__main__":
    raise SystemExit(main())
