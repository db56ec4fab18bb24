"""`typhoon worker` stops within the grace docker-compose gives it (issue 20.3): SIGTERM in
the middle of a broadcast, held back by the rate ceiling and by a slow provider, and the
process is gone before `stop_grace_period` (after which Docker kills it) without finishing the
broadcast, with every claim given back: nothing left `sending`, nothing sent twice.

How long it takes (seconds here; the in-flight sends' two seconds and storing their results)
is printed, not asserted: on a loaded machine it is the machine's figure. The bound is the
deployed one, measured from the signal."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
import yaml

from alerts.testing import run_twilio_server
from tests.emergency.dispatch.test_processes import (
    enqueue,
    live_worker_ids,
    statuses,
    wait_for,
    worker_env,
)
from tests.support.processes import start

pytestmark = [pytest.mark.redis, pytest.mark.postgres]
COMPOSE = Path(__file__).resolve().parents[3] / "docker-compose.yml"


@pytest.fixture
def pg_url(database_url):
    if database_url.startswith("sqlite"):
        pytest.skip("worker processes share PostgreSQL in production")
    return database_url


@pytest.fixture
def twilio():
    with run_twilio_server() as fake:
        yield fake


@pytest.fixture
def namespace(redis_url):
    return f"{os.environ['TYPHOON_REDIS_PREFIX']}:dispatch"


def grace_seconds() -> float:
    """The worker's stop_grace_period in docker-compose.yml ("30s", "1m")."""
    value = str(yaml.safe_load(COMPOSE.read_text())["services"]["worker"]["stop_grace_period"])
    return float(value[:-1]) * (60 if value.endswith("m") else 1)


def test_sigterm_mid_broadcast_stops_within_the_grace_period(
    pg_url, redis_url, namespace, twilio, tmp_path
):
    grace = grace_seconds()
    twilio.control(delay=2.0)  # a slow provider: each send takes two seconds to answer
    env = worker_env(pg_url, redis_url, namespace, twilio, TYPHOON_SMS_RATE=50)
    with start("worker", env, tmp_path / "worker.log") as worker:
        wait_for(lambda: live_worker_ids(redis_url, namespace), 60, "the worker")
        db, seeded = enqueue(pg_url, redis_url, namespace, 3000)  # a minute at 50/s
        wait_for(lambda: len(twilio.received) >= 100, 60, "the broadcast under way")
        asked = time.monotonic()
        worker.popen.send_signal(signal.SIGTERM)
        worker.popen.wait(timeout=grace)  # Docker's SIGKILL would come here
        took = time.monotonic() - asked
        assert worker.popen.returncode == 0, worker.log.read_text()[-2000:]
        assert took < grace
    left = statuses(db, seeded.broadcast_id)
    db.dispose()
    print(f"\nworker stopped {took:.1f} s after SIGTERM (grace {grace:.0f} s); left {left}")
    assert left.get("queued", 0) > 0  # it stopped mid-broadcast: the rest is given back
    assert left.get("sending", 0) == 0  # every claim given back or recorded
    assert set(twilio.per_recipient.values()) == {1}  # nothing twice
