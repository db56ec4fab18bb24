"""Forgetting a person while a broadcast to them is being sent by a `typhoon worker` process
(PostgreSQL, Redis; issue 20.2): their message not yet sent is cancelled and never leaves,
everybody else's goes out once, and afterwards their number is nowhere in the database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlmodel import SQLModel

import emergency.models  # noqa: F401  (every table)
from alerts.dispatch.queue import RedisStreamQueue
from alerts.dispatch.testing import phone, seed_broadcast
from alerts.testing import run_twilio_server
from emergency.db import Database
from tests.emergency.dispatch.test_processes import live_worker_ids, statuses, wait_for, worker_env
from tests.support.processes import start

pytestmark = [pytest.mark.redis, pytest.mark.postgres]
ROOT = Path(__file__).resolve().parents[2]
PERSON = "+85366123456"


@pytest.fixture
def pg_url(database_url):
    if database_url.startswith("sqlite"):
        pytest.skip("worker processes share PostgreSQL in production")
    return database_url


def test_forgetting_during_a_broadcast_cancels_what_has_not_left(pg_url, redis_url, tmp_path):
    namespace = f"{os.environ['TYPHOON_REDIS_PREFIX']}:dispatch"
    others = [phone(i) for i in range(399)]
    with run_twilio_server() as twilio:
        env = worker_env(pg_url, redis_url, namespace, twilio, TYPHOON_SMS_RATE=40)
        with start("worker", env, tmp_path / "worker.log"):
            wait_for(lambda: live_worker_ids(redis_url, namespace), 30, "the worker")
            db = Database(pg_url)
            with db.unit_of_work() as session:
                # the person is last in the outbox: still queued when they are forgotten
                seeded = seed_broadcast(
                    session, count=400, addresses=[*others, PERSON], expect=False
                )
            queue = RedisStreamQueue(redis_url, namespace=namespace)
            # Their message reaches the worker's queue only after `forget` has run, so it has
            # provably not left yet (a slow machine once let the whole broadcast out first).
            *before, theirs = seeded.message_ids
            queue.enqueue(before)
            wait_for(lambda: len(twilio.received) >= 40, 60, "the broadcast under way")

            forgotten = subprocess.run(
                [sys.executable, "-m", "emergency", "subscribers", "forget", PERSON],
                capture_output=True,
                text=True,
                timeout=120,
                env={**os.environ, "TYPHOON_DATABASE_URL": pg_url, "TYPHOON_LOG_FORMAT": "text"},
                cwd=ROOT,
            )
            assert forgotten.returncode == 0, forgotten.stderr
            assert "forgotten: 1 subscriber(s)" in forgotten.stdout
            queue.enqueue([theirs])

            def finished() -> bool:
                left = statuses(db, seeded.broadcast_id)
                return left.get("queued", 0) + left.get("sending", 0) == 0

            wait_for(finished, 60, "the rest of the broadcast", interval=0.5)
        final = statuses(db, seeded.broadcast_id)
        assert final == {"sent": 399, "cancelled": 1}
        assert PERSON not in twilio.per_recipient  # never sent to a forgotten person
        assert len(twilio.per_recipient) == 399 and set(twilio.per_recipient.values()) == {1}
        with db.engine.connect() as conn:
            for table in SQLModel.metadata.sorted_tables:
                for row in conn.execute(select(table)):
                    assert "66123456" not in str(tuple(row)), f"{table.name}: {row}"
        db.dispose()
