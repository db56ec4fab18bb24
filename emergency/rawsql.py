"""Statements of the hot write path run on PostgreSQL's own driver connection (issue 18).

Through SQLAlchemy, each statement of a field report (its row, the hazard, the journal's
counter, totals and insert) cost about twice what psycopg itself does: an execution context
and result metadata made anew for every execution. `rows` compiles a statement once per set
of parameter names, converts the values as SQLAlchemy would (each bind's type: JSON, times,
enums), runs it on the driver's connection in the SQLAlchemy connection's transaction, and
raises a failure as SQLAlchemy's error of the same kind (a taken unique key is still an
IntegrityError, a deadlock or a lost server an OperationalError). The rows are plain tuples:
for statements that read back numbers and text. Other databases (SQLite) go through
SQLAlchemy as before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Connection, Executable
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

_Processors = dict[str, Callable[[Any], Any]]
# (statement, its parameters' names) -> its SQL in the driver's placeholders, and the
# conversion of each parameter that has one
_COMPILED: dict[tuple[ClauseElement, tuple[str, ...]], tuple[str, _Processors]] = {}
# The statements are the callers' cached ones, but a cache of theirs that evicts (the
# journal's shapes) hands over new objects: bounded, so a long storm night cannot grow it.
_COMPILED_MAX = 512
_CURSOR = "typhoon_rawsql_cursor"  # the pooled connection's info: its cursor


def rows(conn: Connection, statement: Executable, params: Mapping[str, Any]) -> list[Any]:
    """The rows `statement` returns (tuples; [] when it returns none)."""
    if conn.dialect.name != "postgresql":
        result = conn.execute(statement, params)
        return list(result) if result.returns_rows else []
    assert isinstance(statement, ClauseElement)
    key = (statement, tuple(params))
    compiled = _COMPILED.get(key)
    if compiled is None:
        if len(_COMPILED) >= _COMPILED_MAX:
            _COMPILED.clear()
        compiled = _COMPILED[key] = _compile(conn, statement, key[1])
    sql, processors = compiled
    if processors:
        params = {
            name: processors[name](value) if name in processors else value
            for name, value in params.items()
        }
    if not conn.in_transaction():
        conn.begin()  # as SQLAlchemy's own execute: else commit() would not commit these
    fairy = conn.connection
    driver = fairy.driver_connection
    assert driver is not None  # a connection in a transaction has one
    dbapi = conn.dialect.loaded_dbapi
    try:
        # one cursor per driver connection, kept with it in the pool (a cursor made per
        # statement cost as much as a third of psycopg's own work)
        cursor = fairy.info.get(_CURSOR)
        if cursor is None or cursor.connection is not driver or cursor.closed:
            cursor = fairy.info[_CURSOR] = driver.cursor()
        cursor.execute(sql, params)
        # whether it returned rows, from the result's fields (`description` would build a
        # column object for each field first)
        result = cursor.pgresult
        return cursor.fetchall() if result is not None and result.nfields else []
    except dbapi.Error as exc:
        lost = conn.dialect.is_disconnect(exc, driver, None)
        if lost:
            # As SQLAlchemy does on a disconnect: every connection the pool made before now
            # is replaced at its next checkout (a server restart lost them all), then this one.
            conn.engine.pool._invalidate(fairy, exc)
            conn.invalidate(exc)
        raise DBAPIError.instance(
            sql,
            params,
            exc,
            dbapi.Error,
            hide_parameters=True,
            connection_invalidated=lost,
            dialect=conn.dialect,
        ) from exc


def _compile(
    conn: Connection, statement: ClauseElement, names: tuple[str, ...]
) -> tuple[str, _Processors]:
    compiled = statement.compile(dialect=conn.dialect, column_keys=list(names))
    assert isinstance(compiled, SQLCompiler)
    if compiled.escaped_bind_names or compiled.positiontup:  # pragma: no cover - not ours
        raise ValueError("rawsql: named parameters of plain names only")
    unpassed = sorted(set(compiled.binds) - set(names))
    if unpassed:  # a fixed value (`.limit(1)`, `== True`) or a column default: SQLAlchemy's
        # execution would fill it in; here the driver would refuse the statement at run time
        raise ValueError(f"rawsql: no value passed for {', '.join(unpassed)}: pass each one")
    processors: _Processors = {}
    for name, bind in compiled.binds.items():
        processor = bind.type._cached_bind_processor(conn.dialect)
        if processor is not None:
            processors[name] = processor
    return str(compiled), processors
