"""Alembic, driven from code: `typhoon db upgrade` and the tests call these.

On PostgreSQL an upgrade is safe to start from several places at once and during traffic:
- one at a time: each takes a session-level advisory lock first, so a second `typhoon db
  upgrade` (two replicas starting, a job retried) waits for the first and then finds nothing
  to do, instead of failing on a half-created table or on `alembic_version`;
- never a queue of readers behind an ALTER: the migration's statements give up after
  `lock_timeout` (an ALTER waiting for a long transaction would otherwise hold up every read
  of that table behind it), the whole upgrade rolls back (PostgreSQL DDL is transactional)
  and is tried again after a pause, a bounded number of times.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.exc import OperationalError

HERE = Path(__file__).parent
log = logging.getLogger(__name__)

# pg_advisory_lock key of `typhoon db upgrade` (any constant; "typh" in ASCII).
ADVISORY_LOCK_KEY = 0x74797068
LOCK_NOT_AVAILABLE = "55P03"  # SQLSTATE of a lock_timeout


class MigrationLockTimeout(RuntimeError):
    """The migration could not get its table locks in any of its attempts."""


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE / "migrations"))
    cfg.set_main_option("path_separator", "os")
    cfg.attributes["database_url"] = database_url
    return cfg


def upgrade(
    database_url: str,
    revision: str = "heads",
    *,
    lock_timeout: float = 3.0,
    attempts: int = 40,
    wait_for_other: float = 900.0,
    on_retry: Callable[[int, float], None] | None = None,
    on_wait: Callable[[], None] | None = None,
) -> None:
    """Migrate to `revision` ("heads": each domain keeps its own branch off the foundation).

    `lock_timeout`: seconds a statement of the migration waits for a table lock before the
    attempt is rolled back; `attempts`: how many tries; `wait_for_other`: seconds to wait for
    another upgrade that holds the advisory lock.
    """
    cfg = alembic_config(database_url)
    if not database_url.startswith("postgresql"):
        _upgrade(cfg, revision)  # SQLite: one process, the file lock serialises
        return
    cfg.attributes["lock_timeout_ms"] = int(lock_timeout * 1000)
    from emergency.db import make_engine

    engine = make_engine(database_url, pool_size=1, application_name="typhoon-migrate")
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as lock_conn:
            _take_lock(lock_conn, wait_for_other, on_wait)
            try:
                _upgrade_with_retries(cfg, revision, attempts=attempts, on_retry=on_retry)
            finally:
                lock_conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_LOCK_KEY})
    finally:
        engine.dispose()


def _upgrade(cfg: Config, revision: str) -> None:
    """ "heads" one head at a time, in a fixed order: alembic's single upgrade to every head
    loses track of the foundation (KeyError '0001_foundation') for some orders of its sets
    when a branch depends on a revision of another branch that has dependencies of its own
    (0018b_field_totals on 0013b_exercise_flags)."""
    if revision != "heads":
        command.upgrade(cfg, revision)
        return
    for head in sorted(ScriptDirectory.from_config(cfg).get_heads()):
        command.upgrade(cfg, head)


def _take_lock(conn: Connection, wait_for_other: float, on_wait: Callable[[], None] | None) -> None:
    """The advisory lock, polled rather than waited for: a statement left waiting would hold
    a snapshot, and the other upgrade's CREATE INDEX CONCURRENTLY waits for every snapshot."""
    deadline = time.monotonic() + wait_for_other
    said = False
    while not conn.execute(
        text("SELECT pg_try_advisory_lock(:k)"), {"k": ADVISORY_LOCK_KEY}
    ).scalar_one():
        if not said:
            log.warning("another `typhoon db upgrade` is running: waiting for it")
            if on_wait is not None:
                on_wait()
            said = True
        if time.monotonic() > deadline:
            raise MigrationLockTimeout(
                f"another `typhoon db upgrade` has been running for over "
                f"{wait_for_other:.0f} s; check it, then run this one again"
            )
        time.sleep(0.5)


def _upgrade_with_retries(
    cfg: Config,
    revision: str,
    *,
    attempts: int,
    on_retry: Callable[[int, float], None] | None,
) -> None:
    for attempt in range(1, attempts + 1):
        try:
            _upgrade(cfg, revision)
            return
        except OperationalError as exc:
            if getattr(exc.orig, "sqlstate", None) != LOCK_NOT_AVAILABLE or attempt == attempts:
                if getattr(exc.orig, "sqlstate", None) == LOCK_NOT_AVAILABLE:
                    raise MigrationLockTimeout(
                        f"a table the migration alters stayed locked by other transactions "
                        f"through {attempts} attempts; find them in pg_stat_activity "
                        f"(long-running transactions) and run `typhoon db upgrade` again"
                    ) from None
                raise
            pause = min(0.25 * 2 ** (attempt - 1), 10.0)
            log.warning(
                "migration attempt %d waited too long for a table lock (another transaction "
                "holds it); rolled back, trying again in %.1f s",
                attempt,
                pause,
            )
            if on_retry is not None:
                on_retry(attempt, pause)
            time.sleep(pause)


# What the application's role may not do (issue 20.5): rewrite or remove audit rows, or
# touch the migrations' bookkeeping. Everything else of the schema is plain DML.
APP_ROLE_REVOKES = (
    "REVOKE UPDATE, DELETE, TRUNCATE ON audit_entry FROM {role}",
    "REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON alembic_version FROM {role}",
)


class AppRoleError(RuntimeError):
    pass


def grant_app_role(database_url: str, role: str) -> None:
    """Give PostgreSQL role `role` (the one API, workers and scheduler connect as) what the
    service needs and no more: read and write the tables, but never UPDATE, DELETE or TRUNCATE
    the audit log, and nothing of the schema itself (it owns nothing, creates nothing). Run by
    `typhoon db upgrade` as the owner after the migrations, so new tables are covered."""
    if not database_url.startswith("postgresql"):
        return
    from emergency.db import make_engine

    engine = make_engine(database_url, pool_size=1, application_name="typhoon-migrate")
    try:
        with engine.begin() as conn:
            found = conn.execute(
                text("SELECT rolsuper FROM pg_roles WHERE rolname = :r"), {"r": role}
            ).first()
            if found is None:
                raise AppRoleError(
                    f"TYPHOON_DATABASE_APP_ROLE: no role {role!r} in this PostgreSQL server "
                    f"(create it first: CREATE ROLE {role} LOGIN PASSWORD '…')"
                )
            if found.rolsuper:
                raise AppRoleError(
                    f"TYPHOON_DATABASE_APP_ROLE: {role!r} is a superuser; the service must "
                    "run as a role that is not"
                )
            quoted = conn.execute(text("SELECT quote_ident(:r)"), {"r": role}).scalar_one()
            database = conn.execute(text("SELECT quote_ident(current_database())")).scalar_one()
            for statement in (
                "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
                f"GRANT CONNECT ON DATABASE {database} TO {{role}}",
                "GRANT USAGE ON SCHEMA public TO {role}",
                "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
                "GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {role}",
                *APP_ROLE_REVOKES,
            ):
                conn.execute(text(statement.format(role=quoted)))
    finally:
        engine.dispose()
    log.info("database role %s granted the service's privileges", role)


def current(database_url: str) -> None:
    command.current(alembic_config(database_url), verbose=True)
