"""Database engine, sessions and the unit of work.

One `Database` per process, built in the app's lifespan (or by the CLI/worker). A session is
one unit of work: services add and flush, the request or job scope commits. Audit entries and
events collected during the unit of work are written just before commit (so they commit or
roll back with the data) and events are published on the bus just after it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from alerts.sqltypes import JSONType, UTCDateTime, utcnow  # noqa: F401  (re-exported)

log = logging.getLogger(__name__)


# Seconds a request waits for a free connection before it answers 503 (see make_engine).
POOL_TIMEOUT = 5.0


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_timeout=POOL_TIMEOUT,
            pool_pre_ping=True,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    # Past POOL_TIMEOUT a request answers 503 with Retry-After (emergency.exceptions), which
    # a phone's outbox retries: better than holding it for the default 30 s.
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=20,
        pool_timeout=POOL_TIMEOUT,
        pool_pre_ping=True,
    )


class Database:
    """The engine, a session factory, and the hooks that write the audit log and events."""

    def __init__(self, url: str, *, bus: Any = None, pool_size: int = 10) -> None:
        self.url = url
        self.engine = make_engine(url, pool_size=pool_size)
        self.bus = bus
        self.session_factory = sessionmaker(
            bind=self.engine, class_=Session, expire_on_commit=False, info={"db": self}
        )
        event.listen(self.session_factory, "before_commit", _write_journal)
        event.listen(self.session_factory, "after_commit", _publish_events)
        event.listen(self.session_factory, "after_rollback", _forget_journal)

    def session(self) -> Session:
        return self.session_factory()

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        """A session that commits when the block ends and rolls back on error."""
        session = self.session()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()


# SQLAlchemy fires before_commit / after_commit / after_rollback for savepoints too
# (`session.begin_nested()`, used around each rule action and liaison SMS). The journal
# follows the root transaction only: events are published once they are really committed,
# and a savepoint that fails (its owner trims its own entries) never drops the audit entries
# and events of the rest of the unit of work.


def _write_journal(session: Session) -> None:
    if session.in_nested_transaction():
        return
    # Imported here: audit and events are domains that use this module.
    from emergency.audit import service as audit_service
    from emergency.events import service as event_service

    audit_service.write_pending(session)
    event_service.write_pending(session)


def _publish_events(session: Session) -> None:
    if session.in_nested_transaction():
        return
    from emergency.events import service as event_service

    event_service.publish_committed(session)


def _forget_journal(session: Session) -> None:
    if session.in_nested_transaction():
        return
    from emergency.audit import service as audit_service
    from emergency.events import service as event_service

    audit_service.forget_pending(session)
    event_service.forget_pending(session)


# --- gapless sequences -------------------------------------------------------------------
# Event seq and the audit chain must have no gaps and follow commit order, across processes.
# One UPDATE ... RETURNING on a counter row does both: it hands out the numbers and holds the
# row's write lock until the transaction ends, on PostgreSQL and SQLite alike.

from sqlmodel import Field, SQLModel  # noqa: E402


class SequenceCounter(SQLModel, table=True):
    __tablename__ = "sequence_counter"

    name: str = Field(primary_key=True, max_length=40)
    value: int = 0


def take_numbers(session: Session, name: str, count: int) -> int:
    """Reserve `count` consecutive numbers of sequence `name`; returns the first of them."""
    row = session.execute(
        text("UPDATE sequence_counter SET value = value + :n WHERE name = :name RETURNING value"),
        {"n": count, "name": name},
    ).first()
    if row is None:  # a database created without the seed rows of the migration
        session.execute(
            text("INSERT INTO sequence_counter (name, value) VALUES (:name, :n)"),
            {"name": name, "n": count},
        )
        return 1
    return int(row[0]) - count + 1


def current_number(session: Session, name: str) -> int:
    row = session.execute(
        text("SELECT value FROM sequence_counter WHERE name = :name"), {"name": name}
    ).first()
    return int(row[0]) if row else 0
