"""The fault run, short (CI): a 3,000-recipient broadcast made and approved through the API
while a worker is killed with SIGKILL three times (and restarted), the provider answers 429
for 5 s and 500 at random, Redis restarts empty and PostgreSQL drops every connection.
Meanwhile an operator keeps changing a signal through the API (audit rows, events, liaison
SMS) and critical hazards come in (alarms escalated by SMS to the duty leads). No SMS is lost
and none is sent twice on any path (broadcast, liaison, escalation), and `typhoon audit
verify` passes.

The long run (50,000 recipients, 10 kills, 30 s of 429) is `python -m benchmarks --only
faults` (benchmarks/bench_faults.py); both are tests.support.storm.run_faults."""

from __future__ import annotations

import pytest

from tests.support.outages import Unavailable
from tests.support.storm import FaultPlan, run_faults

pytestmark = [pytest.mark.redis, pytest.mark.postgres]

CI_PLAN = FaultPlan(
    recipients=3_000,
    kills=3,
    throttle_seconds=5.0,
    error_rate=0.02,
    redis_restart=True,
    pg_outage=3.0,
    sms_rate=120,  # ≈ 25 s of sending: long enough for every fault to land inside it
    timeout=240.0,
)


@pytest.mark.timeout(480)  # ≈ 70 s here; generous for a loaded CI machine
def test_fault_run_loses_nothing_and_sends_nothing_twice(database_url, tmp_path):
    if database_url.startswith("sqlite"):
        pytest.skip("the processes share PostgreSQL in production")
    try:
        report = run_faults(database_url, CI_PLAN, tmp_path, log=print)
    except Unavailable as exc:
        pytest.skip(str(exc))
    print(f"\nfault run: {report.summary()}")
    assert report.finished, report.note
    assert all(f.fired_after is not None for f in report.faults), report.faults
    assert report.recipients == CI_PLAN.recipients
    assert report.final == {"sent": CI_PLAN.recipients}
    assert report.provider["throttled"] > 0 and report.provider["server_errors"] > 0
    assert report.signals > 0 and report.alarms > 0  # made during the faults, then verified
    # Every path sent something, nothing lost and nothing twice on any of them (the reconciler
    # asks Twilio before sending a dead worker's claim again).
    assert set(report.paths) == {"broadcast", "liaison", "escalation"}
    for path, count in report.paths.items():
        assert count.messages > 0, path
        assert (path, count.lost, count.duplicates) == (path, 0, 0), (count, report.duplicate_lines)
    assert report.paths["broadcast"].messages == CI_PLAN.recipients
    assert report.unmatched == 0  # no message the outbox does not hold
    assert report.lost == report.duplicates == 0
    assert report.audit_ok, report.audit_output
    assert report.live_events > 0 and report.live_problems == []  # once each, in order
