"""What a worker costs the database while it sends at the rate ceiling (issue 18): the claim
reads its rows by id alone whatever the planner's statistics say, and a paced worker claims
in refills (about a second of the ceiling) and stores its results in batches, not a claim
and a write per few rows. Each SMS still reaches the provider once."""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import text

from alerts.dispatch import store
from alerts.dispatch.queue import InProcessQueue
from alerts.dispatch.sms_ceiling import LocalSmsCeiling
from alerts.dispatch.testing import seed_broadcast
from alerts.dispatch.worker import CEILING_FLUSH_INTERVAL
from alerts.sqltypes import utcnow
from tests.alerts.dispatch.conftest import finished, run_worker, twilio_provider


def _indexes_used(plan: dict[str, Any]) -> set[str]:
    """Every index a plan (EXPLAIN's JSON) scans."""
    found = {plan["Index Name"]} if plan.get("Index Name") else set()
    for child in plan.get("Plans", []):
        found |= _indexes_used(child)
    return found


def test_the_claim_reads_its_rows_by_id_alone_on_stale_statistics(db):
    """Statistics taken before a big outbox was written say queued rows are rare: the claim
    must still find its few rows through the primary key, not read every queued row's entry
    in the status index (200,000 entries, ~8 ms of the server a claim, measured)."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the planner's choice is PostgreSQL's")
    with db.unit_of_work() as session:
        session.execute(text("ANALYZE message"))  # no queued row yet
    with db.unit_of_work() as session:
        seeded = seed_broadcast(session, count=5_000)
    ids = seeded.message_ids[:5]
    sql = store._CLAIM_SQL.format(ids="ANY(%s)", p="%s", claimed_at="now()")
    now = utcnow()
    with db.unit_of_work() as session:
        raw = session.connection().connection.driver_connection
        with raw.cursor() as cursor:
            cursor.execute("EXPLAIN (FORMAT JSON) " + sql, ("w", now, ids, now, "w", now))
            (plan,) = cursor.fetchone()
            cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'message'")
            message_indexes = {name for (name,) in cursor.fetchall()}
        session.rollback()
    plan = plan if isinstance(plan, list) else json.loads(plan)
    assert "ix_message_status_next_attempt" in message_indexes  # the one it must not read
    used = _indexes_used(plan[0]["Plan"]) & message_indexes
    assert used == {"pk_message"}, plan
    with db.unit_of_work() as session:  # and the statement still claims them
        outcome = store.claim(session, ids, worker_id="w", now=utcnow())
    assert sorted(row.id for row in outcome.claimed) == sorted(ids)


def test_a_paced_worker_claims_in_refills_and_stores_in_batches(db, twilio, monkeypatch):
    """At 50 SMS/s a worker holds about two seconds of rows (98) and claims again when half of
    them are gone: 300 rows take a handful of claims, not one per stored batch (~80 before);
    its results are stored at most every CEILING_FLUSH_INTERVAL."""
    with db.unit_of_work() as session:
        seeded = seed_broadcast(session, count=300)
    calls: Counter[str] = Counter()
    claim, record = store.claim, store.record

    def counted_claim(*args: Any, **kwargs: Any) -> store.ClaimOutcome:
        calls["claim"] += 1
        return claim(*args, **kwargs)

    def counted_record(*args: Any, **kwargs: Any) -> None:
        calls["record"] += 1
        record(*args, **kwargs)

    monkeypatch.setattr(store, "claim", counted_claim)
    monkeypatch.setattr(store, "record", counted_record)
    queue = InProcessQueue()
    queue.enqueue(seeded.message_ids)
    started = time.monotonic()
    worker = run_worker(
        db,
        queue,
        {"sms": twilio_provider(twilio)},
        until=finished(db, seeded.broadcast_id),
        limiter=LocalSmsCeiling(50.0),
    )
    elapsed = time.monotonic() - started
    assert worker.max_held == 98 and worker.refill == 49
    received = Counter(r.to for r in twilio.received)
    assert received == Counter(seeded.expected.keys())  # every recipient, each once
    # 98 first, then 49 at a time (an entry's 100 ids may split one refill in two)
    assert calls["claim"] <= 1 + 2 * -(-(300 - 98) // 49), calls
    assert calls["record"] <= elapsed / CEILING_FLUSH_INTERVAL + 2, (calls, elapsed)
