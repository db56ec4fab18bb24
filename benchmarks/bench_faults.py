"""Benchmark: the fault run. A 50,000-recipient broadcast, made and approved through the API,
sent by two `typhoon worker` processes while one of them is killed with SIGKILL ten times
(restarted each time), the local Twilio-compatible server answers 429 to everything for
30 s and 500 to 2 % of the requests, Redis (a private `redis-server`) restarts empty and
PostgreSQL (behind an outage proxy; the shared server is never touched) drops every
connection for 3 s. Reported: recipients never reached (goal 0), duplicates (goal 0; never
more than the messages in flight at the kills), the time to completion, and whether
`typhoon audit verify` passes afterwards, and whether a /ws/live screen got every event
once and in order through it all.

The run itself is tests.support.storm.run_faults, which the CI test
tests/emergency/test_storm_faults.py runs at a smaller size. It needs PostgreSQL (a fresh,
migrated database is made from the admin URL: --pg, else TYPHOON_TEST_DATABASE_URL, else
postgresql://postgres@127.0.0.1:5432/postgres) and `redis-server` on the PATH.

    python -m benchmarks.bench_faults [--recipients 50000] [--kills 10] [--throttle 30]
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
    return [
        {
            "benchmark": f"fault run: recipients never reached ({what})",
            "ours": report.lost,
            "peer": None,
            "peer_name": "",
            "goal": "0",
            "met": report.finished and report.lost == 0 and report.failed == 0,
            "unit": "",
            "note": note,
        },
        {
            "benchmark": "fault run: duplicate SMS (same run)",
            "ours": report.duplicates,
            "peer": None,
            "peer_name": "",
            "goal": f"0; never > in flight at the kills ({report.in_flight_at_kills})",
            "met": report.duplicates <= report.in_flight_at_kills,
            "unit": "",
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=50_000)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--throttle", type=float, default=30.0, help="seconds of 429")
    parser.add_argument("--rate", type=int, default=500, help="TYPHOON_SMS_RATE")
    parser.add_argument("--pg", default=None, help="PostgreSQL admin URL")
    args = parser.parse_args()
    report = measure(
        pg=args.pg,
        recipients=args.recipients,
        kills=args.kills,
        throttle_seconds=args.throttle,
        sms_rate=args.rate,
    )
    for row in rows_from(report):
        print(f"{row['benchmark']}: {row['ours']} (goal {row['goal']}) met={row['met']}")
    if not report.audit_ok:
        print(report.audit_output)


if __name__ == "__main__":
    main()
