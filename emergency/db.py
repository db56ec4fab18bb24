"""Database engine, sessions and the unit of work.

One `Database` per process, built in the app's lifespan (or by the CLI/worker). A session is
one unit of work: services add and flush, the request or job scope commits. Audit entries and
events collected during the unit of work are written just before commit (so they commit or
roll back with the data) and events are published on the bus just after it.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel
from sqlalchemy import (
    Connection,
    create_engine,
    event,
    insert,
    text,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import make_transient_to_detached, sessionmaker
from sqlmodel import Session, SQLModel, col, select
from sqlmodel.sql.expression import SelectOfScalar

# re-exported: the tables take their column types and clock from here
from alerts.sqltypes import JSONType as JSONType
from alerts.sqltypes import UTCDateTime as UTCDateTime
from alerts.sqltypes import stored_id as stored_id
from alerts.sqltypes import utcnow as utcnow
from emergency import journal_writer, rawsql
from emergency.audit import service as audit_service
from emergency.events import service as event_service
from emergency.exceptions import NUL_IN_TEXT, InvalidInput, NotFound
from emergency.sequences import SequenceCounter as SequenceCounter
from emergency.sequences import current_number as current_number
from emergency.sequences import take_numbers as take_numbers

log = logging.getLogger(__name__)


# Seconds a request waits for a free connection before it answers 503 (see make_engine).
POOL_TIMEOUT = 5.0
# SQL errors never carry their parameters (phone numbers, names, addresses, notes) into
# exception messages, and so into logs and tracebacks.
HIDE_PARAMETERS = True


def make_engine(
    url: str,
    *,
    pool_size: int = 10,
    max_overflow: int = 20,
    pg_options: str | None = None,
    application_name: str = "typhoon",
) -> Engine:
    """An engine for a sqlite:/// or postgresql:// URL; `pg_options`: PostgreSQL run-time
    settings for every connection (libpq `options`, e.g. "-c lock_timeout=3000").
    On PostgreSQL at most `pool_size + max_overflow` connections, each named
    `application_name` in pg_stat_activity (README "Connection budget")."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            hide_parameters=HIDE_PARAMETERS,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_timeout=POOL_TIMEOUT,
            pool_pre_ping=True,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "before_cursor_execute")
        def _no_nul_in_text(
            _conn: Any, _cursor: Any, _sql: str, parameters: Any, _context: Any, _executemany: bool
        ) -> None:
            # PostgreSQL refuses NUL in text and SQLite would store it: refused here too, so
            # both keep the same data and answer the same 422.
            pending = [parameters]  # a row, or many; as a mapping or a sequence
            while pending:
                item = pending.pop()
                if isinstance(item, str):
                    if "\x00" in item:
                        raise InvalidInput(NUL_IN_TEXT)
                elif isinstance(item, Mapping):
                    pending.extend(item.values())
                elif isinstance(item, list | tuple):
                    pending.extend(item)

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    # Past POOL_TIMEOUT a request answers 503 with Retry-After (emergency.exceptions), which
    # a phone's outbox retries: better than holding it for the default 30 s.
    connect_args = {"application_name": application_name[:63]}
    if pg_options:
        connect_args["options"] = pg_options
    engine = create_engine(
        url,
        hide_parameters=HIDE_PARAMETERS,
        connect_args=connect_args,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=POOL_TIMEOUT,
    )
    _ping_when_idle(engine)
    return engine


# A pooled connection is tested (SELECT 1) before use only when it has been idle this long:
# one that served a request a moment ago is as good as tested, and a ping on every check-out
# was a round trip in every request (issue 18). A connection that broke since anyway (the
# server restarted within the last second) fails its statement: the request answers 503
# (emergency.exceptions) and SQLAlchemy replaces every connection of the pool.
PING_AFTER_IDLE = 1.0


def _ping_when_idle(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connected(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_conn: Any, record: Any) -> None:
        if record is not None:
            record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get("idle_since", 0.0) < PING_AFTER_IDLE:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:  # the pool discards it and takes (or makes) another
            raise DisconnectionError(f"connection failed its ping: {exc}") from exc


class Database:
    """The engine, a session factory, and the hooks that write the audit log and events."""

    def __init__(
        self,
        url: str,
        *,
        bus: Any = None,
        pool_size: int = 10,
        max_overflow: int = 20,
        application_name: str = "typhoon",
        audit_key: str | None = None,
    ) -> None:
        self.url = url
        # TYPHOON_AUDIT_KEY: each audit row is sealed with it (emergency.audit.service)
        self.audit_key = audit_key.encode() if audit_key else None
        self.engine = make_engine(
            url,
            pool_size=pool_size,
            max_overflow=max_overflow,
            application_name=application_name,
        )
        self.bus = bus
        # Called with the events of each unit of work once it has committed, in its thread
        # (the live hub of this process: emergency.live.hub.LiveHub.committed).
        self.committed_listeners: list[Callable[[list[dict[str, Any]]], None]] = []
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

    def is_superuser(self) -> bool:
        """Whether this PostgreSQL connection's role is a superuser (False when unknown)."""
        if self.engine.dialect.name != "postgresql":
            return False
        try:
            with self.engine.connect() as conn:
                return bool(
                    conn.execute(
                        text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
                    ).scalar()
                )
        except Exception:  # not reachable yet: the readiness probe says so
            return False

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()

    # `with Database(...) as db:` (a command's database): disposed when the block ends
    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.dispose()


def connection(session: Session) -> Connection:
    """The session's connection for a Core statement, once the unit of work's pending changes
    are flushed (as the ORM's autoflush would before a query)."""
    if session.new or session.dirty or session.deleted:
        session.flush()
    return session.connection()


_INSERTS: dict[Any, Any] = {}  # table -> its INSERT ... RETURNING id, built once
RowT = TypeVar("RowT", bound=SQLModel)
SchemaT = TypeVar("SchemaT", bound=BaseModel)


def new_row(model: type[RowT], **values: Any) -> RowT:
    """A table model's instance made as the ORM makes one it loads: no model constructor (on a
    hot path SQLModel's costs ten times the INSERT), so nothing is validated or converted;
    the fields not given get their defaults. For values the caller has checked, as
    `insert_row` writes them."""
    row: RowT = model.__mapper__.class_manager.new_instance()  # type: ignore[attr-defined]
    for name, default in _defaults(model):
        if name not in values:
            values[name] = default()
    row.__dict__.update(values)
    return row


# model -> each field's default, as a call: pydantic's `get_default` inspects a default
# factory's signature on every call (most of `new_row`'s cost for a field report's row)
_DEFAULTS: dict[type[SQLModel], list[tuple[str, Callable[[], Any]]]] = {}


def _defaults(model: type[SQLModel]) -> list[tuple[str, Callable[[], Any]]]:
    found = _DEFAULTS.get(model)
    if found is None:
        found = []
        for name, field in model.model_fields.items():
            factory = field.default_factory
            if factory is None or field.default_factory_takes_validated_data:
                found.append(
                    (name, functools.partial(field.get_default, call_default_factory=True))
                )
            else:
                found.append((name, factory))  # type: ignore[arg-type]  # takes no data
        _DEFAULTS[model] = found
    return found


def to_public(schema: type[SchemaT], row: SQLModel, **computed: Any) -> SchemaT:
    """`schema` (what the API shows) filled from `row`'s fields of the same names and from
    `computed` (local times, names, what the caller works out)."""
    values = {name: getattr(row, name) for name in schema.model_fields if hasattr(row, name)}
    return schema.model_validate(values | computed)


def get_or_404(
    session: Session, model: type[RowT], key: Any, what: str, *, code: str, lock: bool = False
) -> RowT:
    """The row of `model` whose primary key is `key`, locked FOR UPDATE when `lock` (on
    PostgreSQL; SQLite locks the whole database on write); else a 404 `code`: "{what} {key}
    not found"."""
    row = session.get(model, key, with_for_update=True if lock else None)
    if row is None:
        raise NotFound(f"{what} {key!r} not found", code=code)
    return row


class DrillAware(Protocol):
    """A table whose rows are real or a drill's (emergency.drills)."""

    id: int | None
    exercise: bool


DrillRowT = TypeVar("DrillRowT", bound=DrillAware)


def newest_first(
    model: type[DrillRowT], *, limit: int, exercise: bool | None, by: Any = None
) -> SelectOfScalar[DrillRowT]:
    """At most `limit` rows of `model`, newest first (by id, or by the column `by`): real and
    drill ones, or only those of `exercise` (a drill's rows apart from real ones)."""
    query = select(model).order_by(col(model.id if by is None else by).desc()).limit(limit)
    if exercise is not None:
        query = query.where(model.exercise == exercise)
    return query


def insert_row(session: Session, row: SQLModel, *, attach: bool = True) -> int:
    """INSERT `row` in one Core statement and return its new id: on a hot path the unit of
    work's flush (its bookkeeping, then the same INSERT) costs several times more. With
    `attach` the row then belongs to the session as if it had been flushed (later changes to
    it are flushed as usual); without, it stays a plain object (nothing will change it)."""
    table = row.__table__  # type: ignore[attr-defined]
    given = row.__dict__  # a new row's values (see new_row), read past the ORM's descriptors
    values = {c.key: given[c.key] if c.key in given else getattr(row, c.key) for c in table.columns}
    if values.get("id") is None:
        values.pop("id", None)
    statement = _INSERTS.get(table)
    if statement is None:
        statement = _INSERTS[table] = insert(table).returning(table.c.id)
    # what this row may refer to is written first, as a flush would
    ((returned,),) = rawsql.rows(connection(session), statement, values)
    new_id = int(returned)
    row.id = new_id
    if attach:
        make_transient_to_detached(row)
        session.add(row)
    return new_id


# SQLAlchemy fires before_commit / after_commit / after_rollback for savepoints too
# (`savepoint()`, used around each rule action, liaison SMS and alarm SMS). The journal
# follows the root transaction only: events are published once they are really committed,
# and a savepoint that fails (`savepoint` trims its own entries) never drops the audit entries
# and events of the rest of the unit of work.


@contextmanager
def savepoint(session: Session) -> Iterator[None]:
    """A part of the unit of work that may fail alone (a rule action, an SMS to queue): on an
    exception its rows roll back to a SAVEPOINT, the audit entries and events it recorded are
    dropped with them, and the exception goes on to the caller."""
    marks = {key: len(session.info.get(key, [])) for key in _JOURNAL}
    try:
        with session.begin_nested():
            yield
    except Exception:
        for key, mark in marks.items():
            del session.info.get(key, [])[mark:]
        raise


_JOURNAL = (
    audit_service.PENDING,
    event_service.PENDING,
    journal_writer.LOCKED,
    journal_writer.DEFERRED,
)


def _write_journal(session: Session) -> None:
    if session.in_nested_transaction():
        return
    journal_writer.write(session)


def _publish_events(session: Session) -> None:
    if session.in_nested_transaction():
        return
    event_service.publish_committed(session)


def _forget_journal(session: Session) -> None:
    if session.in_nested_transaction():
        return
    audit_service.forget_pending(session)
    event_service.forget_pending(session)
    session.info.pop(journal_writer.LOCKED, None)
    session.info.pop(journal_writer.DEFERRED, None)
