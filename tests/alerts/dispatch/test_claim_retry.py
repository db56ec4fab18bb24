"""A claim retried after an error of unknown outcome (the connection dropped while its COMMIT
was on the way: the rows were claimed, the worker never heard) takes its own rows again, and
nothing else: found by test_worker_rides_out_a_postgresql_restart, where 37 such rows waited
for the reconciler's claim timeout (120 s by default) after a 3 s PostgreSQL outage."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from alerts.dispatch import store
from alerts.dispatch.store import M
from alerts.dispatch.testing import seed_broadcast
from alerts.sqltypes import utcnow

WORKER = "worker-a:4242:abc123"


def attempts_of(db, ids: list[int]) -> dict[int, int]:
    with db.unit_of_work() as session:
        rows = session.execute(select(M.c.id, M.c.attempts).where(M.c.id.in_(ids))).all()
    return {row.id: row.attempts for row in rows}


def test_a_retried_claim_takes_back_its_own_rows_and_no_others(db) -> None:
    with db.unit_of_work() as session:
        seeded = seed_broadcast(session, count=6, expect=False)
    ids = list(seeded.message_ids)
    now = utcnow()
    # The first attempt's rows were claimed and committed; its answer never arrived.
    with db.unit_of_work() as session:
        lost = store.claim(session, ids[:4], worker_id=WORKER, now=now)
    assert sorted(c.id for c in lost.claimed) == ids[:4]

    # The retry (same call: same worker, same `now`) gets them back, counted as one attempt.
    with db.unit_of_work() as session:
        retried = store.claim(session, ids, worker_id=WORKER, now=now)
    assert sorted(c.id for c in retried.claimed) == ids
    assert set(attempts_of(db, ids).values()) == {1}

    # A later claim (another `now`), or another worker, never takes rows already claimed:
    # those may be on their way to the provider.
    later = now + timedelta(seconds=1)
    with db.unit_of_work() as session:
        assert store.claim(session, ids, worker_id=WORKER, now=later).claimed == []
    with db.unit_of_work() as session:
        assert store.claim(session, ids, worker_id="worker-b:1:def456", now=now).claimed == []
    assert set(attempts_of(db, ids).values()) == {1}
