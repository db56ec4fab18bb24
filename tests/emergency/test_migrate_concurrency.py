"""`typhoon db upgrade` against a live PostgreSQL (issue 20.6): two at once both succeed (an
advisory lock makes the second wait for the first, then find nothing to do); an ALTER that
waits for a long transaction does not hold up the reads queued behind it (lock_timeout, then
the whole upgrade is rolled back and tried again).

Each test starts from the migrated database with the deploy branch taken back one step, so
`typhoon db upgrade` has a real ALTER TABLE audit_entry to make; a transaction that has read
audit_entry (and holds its lock) stands for the long transaction of a running process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from emergency import migrate
from emergency.db import make_engine

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def pg_url(database_url) -> str:
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite has one writer and no concurrent DDL to order")
    command.downgrade(migrate.alembic_config(database_url), "deploy@base")
    return database_url


def _upgrade(url: str, log: Path, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "emergency", "db", "upgrade"],
        env={**os.environ, "TYPHOON_DATABASE_URL": url, "TYPHOON_LOG_FORMAT": "text", **env},
        stdout=open(log, "wb"),  # noqa: SIM115 - closed with the process
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )


def _waiting(conn, database: str) -> list[tuple[str, str]]:
    """(wait event, query) of the sessions of `database` waiting for a lock."""
    rows = conn.execute(
        text(
            "SELECT wait_event, query FROM pg_stat_activity "
            "WHERE datname = :db AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        ),
        {"db": database},
    ).all()
    conn.rollback()  # pg_stat_activity is a snapshot per transaction: take a fresh one next time
    return [(r.wait_event, r.query) for r in rows]


def _wait_until(predicate, what: str, timeout: float = 90.0):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _finish(proc: subprocess.Popen, log: Path) -> str:
    try:
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    return log.read_text()


def test_two_upgrades_at_once_both_succeed(pg_url, tmp_path):
    engine = make_engine(pg_url)
    database = engine.url.database
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    procs: list[subprocess.Popen] = []
    try:
        with engine.connect() as holder, engine.connect() as watcher:
            holder.execute(text("SELECT count(*) FROM audit_entry"))  # holds its lock
            procs.append(_upgrade(pg_url, logs[0]))
            _wait_until(lambda: _waiting(watcher, database), "the first upgrade to wait")
            procs.append(_upgrade(pg_url, logs[1]))
            # Both are in: the first behind the holder, the second behind the first. Without
            # the lock the second would be behind the holder too, and fail after the first.
            _wait_until(
                lambda: (
                    "another `typhoon db upgrade` is running" in logs[1].read_text()
                    or len(_waiting(watcher, database)) >= 2
                ),
                "both upgrades to be waiting",
            )
            holder.rollback()
        outputs = [_finish(p, log) for p, log in zip(procs, logs, strict=True)]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        engine.dispose()
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert all("database is up to date" in out for out in outputs)
    check = make_engine(pg_url)
    with check.connect() as conn:
        columns = conn.execute(
            text(
                "SELECT count(*) FROM information_schema.columns "
                "WHERE table_name = 'audit_entry' AND column_name = 'seal'"
            )
        ).scalar_one()
    check.dispose()
    assert columns == 1


def test_an_alter_waiting_for_a_long_transaction_does_not_block_reads(pg_url, tmp_path):
    engine = make_engine(pg_url)
    database = engine.url.database
    log = tmp_path / "upgrade.log"
    proc = None
    try:
        with engine.connect() as holder, engine.connect() as watcher, engine.connect() as reader:
            holder.execute(text("SELECT count(*) FROM audit_entry"))  # a long transaction
            proc = _upgrade(pg_url, log, TYPHOON_MIGRATION_LOCK_TIMEOUT="1")
            _wait_until(
                lambda: any("audit_entry" in q for _e, q in _waiting(watcher, database)),
                "the ALTER of audit_entry to wait for the long transaction",
            )
            # Without a lock timeout this read would queue behind the ALTER until the long
            # transaction ends (here: until statement_timeout cuts it off and the test fails).
            reader.execute(text("SET statement_timeout = '30s'"))
            count = reader.execute(text("SELECT count(*) FROM audit_entry")).scalar_one()
            reader.rollback()
            assert count >= 0
            # The upgrade has been giving up and trying again meanwhile.
            _wait_until(lambda: "trying again" in log.read_text(), "a retry to be reported")
            holder.rollback()  # the long transaction ends: the next attempt goes through
        output = _finish(proc, log)
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
        engine.dispose()
    assert proc.returncode == 0, output
    assert "database is up to date" in output
