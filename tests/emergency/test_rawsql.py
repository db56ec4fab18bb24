"""emergency.rawsql, the hot write path's statements on psycopg's own connection (issue 18):
values converted as SQLAlchemy converts them, failures raised as SQLAlchemy's errors (a taken
unique key is an IntegrityError, and the transaction rolls back as usual), the compiled
statements' cache bounded; on SQLite the statements go through SQLAlchemy."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import JSON, Column, Integer, MetaData, Table, create_engine, insert, select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.pool import NullPool

from alerts.sqltypes import UTCDateTime
from emergency import rawsql

metadata = MetaData()
things = Table(
    "rawsql_things",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("data", JSON(), nullable=False),
)


@pytest.fixture
def engine(database_url):
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    metadata.create_all(engine)
    yield engine
    metadata.drop_all(engine)
    engine.dispose()


def test_values_are_converted_by_their_columns_types_and_read_back_the_same(engine):
    at = datetime(2024, 9, 6, 14, 0, tzinfo=UTC)
    statement = insert(things).returning(things.c.id)
    with engine.begin() as conn:
        ((first,),) = rawsql.rows(conn, statement, {"at": at, "data": {"signal": "8NE"}})
        ((second,),) = rawsql.rows(conn, statement, {"at": at, "data": ["潮", "maré"]})
    assert second == first + 1
    with engine.connect() as conn:  # read back through SQLAlchemy: the same values
        rows = conn.execute(select(things.c.at, things.c.data).order_by(things.c.id)).all()
    assert [tuple(r) for r in rows] == [(at, {"signal": "8NE"}), (at, ["潮", "maré"])]
    with engine.connect() as conn:  # a statement that returns no rows: []
        assert rawsql.rows(conn, text("UPDATE rawsql_things SET id = id WHERE id < 0"), {}) == []


def test_a_taken_key_is_sqlalchemys_integrity_error_and_the_transaction_rolls_back(engine):
    at = datetime(2024, 9, 6, tzinfo=UTC)
    statement = insert(things).returning(things.c.id)
    with engine.begin() as conn:
        rawsql.rows(conn, statement, {"id": 7, "at": at, "data": {}})
    with pytest.raises(IntegrityError), engine.begin() as conn:
        rawsql.rows(conn, insert(things), {"id": 8, "at": at, "data": {}})
        rawsql.rows(conn, statement, {"id": 7, "at": at, "data": {}})  # taken
    with engine.connect() as conn:  # the failed transaction's first row is gone with it
        assert conn.execute(select(things.c.id)).scalars().all() == [7]
        # and the pooled connection (its kept cursor) works on
        assert rawsql.rows(conn, text("SELECT count(*) FROM rawsql_things"), {}) == [(1,)]


def test_the_compiled_statements_cache_stays_bounded(engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite's statements go through SQLAlchemy: nothing is compiled here")
    with engine.connect() as conn:
        for n in range(rawsql._COMPILED_MAX + 50):  # new objects each time, as an evicting cache
            assert rawsql.rows(conn, text(f"SELECT {n} + :x"), {"x": 1}) == [(n + 1,)]
    assert 0 < len(rawsql._COMPILED) <= rawsql._COMPILED_MAX


def test_a_lost_server_connection_is_sqlalchemys_disconnect_and_the_pool_replaces_it(engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("a PostgreSQL server connection")
    with engine.connect() as conn:
        ((pid,),) = rawsql.rows(conn, text("SELECT pg_backend_pid()"), {})
        with engine.connect() as other:
            # waits (up to 30 s) until that server process has ended
            other.execute(text("SELECT pg_terminate_backend(:pid, 30000)"), {"pid": pid})
        with pytest.raises(OperationalError) as lost:
            rawsql.rows(conn, text("SELECT 1"), {})
        assert lost.value.connection_invalidated
    with engine.connect() as conn:  # a new connection from the pool
        assert rawsql.rows(conn, text("SELECT 2"), {}) == [(2,)]


def test_after_a_lost_server_every_older_pooled_connection_is_replaced(engine):
    """A server restart loses every connection: the first statement to find out invalidates
    the whole pool, as SQLAlchemy does, so the others are not handed out dead one by one."""
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL server connections")
    first, second = engine.connect(), engine.connect()  # two pooled connections
    pids = [rawsql.rows(c, text("SELECT pg_backend_pid()"), {})[0][0] for c in (first, second)]
    first.close()
    second.close()
    killer = create_engine(engine.url, poolclass=NullPool)  # not one of the pool's own
    with killer.connect() as other:
        for pid in pids:  # waits (up to 30 s) until each server process has ended
            other.execute(text("SELECT pg_terminate_backend(:pid, 30000)"), {"pid": pid})
    killer.dispose()
    with engine.connect() as conn, pytest.raises(OperationalError) as lost:
        rawsql.rows(conn, text("SELECT 1"), {})
    assert lost.value.connection_invalidated
    with engine.connect() as conn:  # the other dead one is replaced, not handed out
        assert rawsql.rows(conn, text("SELECT pg_backend_pid()"), {})[0][0] not in pids


def test_writes_on_a_connection_begun_by_rawsql_are_committed(engine):
    at = datetime(2024, 9, 6, tzinfo=UTC)
    with engine.connect() as conn:  # no begin(): rawsql begins, as SQLAlchemy's execute would
        rawsql.rows(conn, insert(things), {"id": 3, "at": at, "data": {}})
        conn.commit()
    with engine.connect() as conn:
        assert conn.execute(select(things.c.id)).scalars().all() == [3]


def test_a_statement_with_a_value_not_passed_is_refused_by_name(engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite's statements go through SQLAlchemy, which fills such values in")
    with engine.connect() as conn, pytest.raises(ValueError, match="param_1"):
        rawsql.rows(conn, select(things.c.id).where(things.c.id > 4).limit(1), {})
