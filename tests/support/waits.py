"""Waiting on conditions (never on time): a predicate polled until it holds, and the
conditions concurrency tests wait for."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

T = TypeVar("T")

# Bounds for waits on conditions: they cost nothing when the condition comes early, so they
# are sized for a loaded machine (CI's is ~30 % slower than a developer's and shared).
UI_TIMEOUT = 30_000  # ms: a browser test's waits (Playwright's own defaults are 5 s)


def wait_for(predicate: Callable[[], T], *, timeout: float = 30.0, what: str = "condition") -> T:
    """Poll `predicate` until it returns something true; that value. Fails after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def lock_waiters(database_url: str) -> int:
    """PostgreSQL: how many sessions of this database wait for a lock right now."""
    url = make_url(database_url)
    engine = create_engine(url.set(drivername="postgresql+psycopg"))
    try:
        with engine.connect() as conn:
            return conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = :db AND wait_event_type = 'Lock'"
                ),
                {"db": url.database},
            ).scalar_one()
    finally:
        engine.dispose()
