"""A unit of work's journal, its audit entries and its events, written just before commit.

Both are numbered by gapless counters whose row locks are held until the commit (the audit
chain must follow commit order; so must the live stream's seq). Every statement between
taking the chain's lock and the commit makes every other writer wait, so on PostgreSQL the
journal is two statements: the one that takes the chain's numbers and its head (the hash the
next row follows), then one that numbers and inserts the events, inserts the audit rows and
moves the chain's head. On SQLite (one writer at a time, no network) each part is its own
statement.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, TextClause, insert, text
from sqlmodel import Session

from emergency import rawsql
from emergency.audit import service as audit_service
from emergency.audit.models import AuditEntry
from emergency.events import service as event_service
from emergency.events.models import Event
from emergency.sequences import take_numbers

# Work a unit of work leaves for the journal to do under the chain's lock, after every commit
# before it and before its events are written: (handler, item) pairs; each handler is called
# once with its items in order (emergency.field.totals: the totals its events carry).
LOCKED = "typhoon_locked_work"
Handler = Callable[[Connection, list[Any]], None]


@dataclass(frozen=True)
class Part:
    """Locked work done inside the journal's one PostgreSQL statement instead of a statement
    of its own (a round trip less, under the chain's lock): its CTEs (the statement's
    snapshot is taken after the lock was ours), their parameters, and what it adds to events:
    (an event's data as emitted, a key, the SQL of a jsonb value). The value is stored in the
    event's row and read back into its data (what is published)."""

    ctes: tuple[str, ...]
    params: dict[str, Any]
    adds: tuple[tuple[dict[str, Any], str, str], ...]


# handler -> what makes its items a Part of the journal's statement (see `joins_journal`)
_PARTS: dict[Handler, Callable[[list[Any]], Part]] = {}


def joins_journal(handler: Handler, part: Callable[[list[Any]], Part]) -> None:
    """On PostgreSQL, when the journal writes events or audit rows, `handler`'s work is done
    by `part`'s CTEs in the journal's statement; otherwise (SQLite) `handler` runs it."""
    _PARTS[handler] = part


# Writes whose answer nobody reads, left to ride on the statement that takes the chain's
# numbers (PostgreSQL: data-modifying CTEs of it, a round trip less each); see `defer`.
DEFERRED = "typhoon_deferred_writes"

_AUDIT_COLUMNS = "seq, at, actor, action, target_type, target_id, summary, prev_hash, hash, seal"


def defer(session: Session, statement: TextClause, params: dict[str, Any]) -> None:
    """Run `statement` (an INSERT, UPDATE or DELETE without RETURNING) with the journal, just
    before commit, instead of now: for a write nothing later in the unit of work reads (a
    field report's result). On PostgreSQL, when the unit of work audits, it is a CTE of the
    statement that takes the audit chain's numbers; otherwise it runs alone then."""
    session.info.setdefault(DEFERRED, []).append((statement, params))


def write(session: Session) -> None:
    audit = audit_service.pop_pending(session)
    events = event_service.pop_pending(session)
    locked: list[tuple[Handler, Any]] = session.info.pop(LOCKED, None) or []
    deferred: list[tuple[TextClause, dict[str, Any]]] = session.info.pop(DEFERRED, None) or []
    if not audit and not events and not locked and not deferred:
        return
    conn = session.connection()
    if deferred and not (audit and conn.dialect.name == "postgresql"):
        for statement, params in deferred:
            rawsql.rows(conn, statement, params)
        deferred = []
    audit_rows: list[dict[str, Any]] = []
    if audit:
        # locked until commit
        first, prev_hash = audit_service.take_chain(conn, len(audit), deferred)
        audit_rows = audit_service.chain(
            audit, first=first, prev_hash=prev_hash, key=audit_service.audit_key(session)
        )
    elif locked:
        take_numbers(conn, audit_service.SEQ, 0)  # the chain's lock alone
    work: dict[Handler, list[Any]] = {}
    for handler, item in locked:
        work.setdefault(handler, []).append(item)
    postgresql = conn.dialect.name == "postgresql"
    parts = []
    if postgresql and (audit_rows or events):
        parts = [_PARTS[handler](work.pop(handler)) for handler in list(work) if handler in _PARTS]
    for handler, items in work.items():
        handler(conn, items)
    if not postgresql:
        _write_each(conn, audit_rows)
        if events:
            first_event = take_numbers(conn, event_service.SEQ, len(events))
            event_rows = event_service.numbered(events, first_event)
            conn.execute(insert(Event), event_rows)
            event_service.committing(session, event_rows)
        return
    if audit_rows or events:  # (locked work alone writes nothing more)
        first_event = _write_together(conn, audit_rows, events, parts)
        if events:
            event_service.committing(session, event_service.numbered(events, first_event))


def _write_each(conn: Connection, audit_rows: list[dict[str, Any]]) -> None:
    if audit_rows:
        conn.execute(insert(AuditEntry), audit_rows)
        conn.execute(audit_service.set_head(audit_rows[-1]))


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def _write_together(
    conn: Connection,
    audit_rows: list[dict[str, Any]],
    events: list[tuple[str, dict[str, Any], datetime]],
    parts: list[Part],
) -> int:
    """One PostgreSQL statement; returns the first event's seq (0 when there are none).

    The statement's data-modifying CTEs all run to completion whatever the main SELECT reads.
    The events' counter is taken here, after the chain's lock (always in that order: no
    deadlock between two journals)."""
    params: dict[str, Any] = {}
    ctes: list[str] = []
    adds: dict[int, list[tuple[str, str]]] = {}  # id of an event's data -> (key, SQL)
    for part in parts:
        ctes.extend(part.ctes)
        params.update(part.params)
        for data, key, sql in part.adds:
            adds.setdefault(id(data), []).append((key, sql))
    added: list[tuple[dict[str, Any], str]] = []  # read back, in the statement's order
    shape: list[tuple[int, str, str]] = []
    if events:
        params["ne"] = len(events)
        for i, (type_, data, at) in enumerate(events):
            params.update({f"et{i}": type_, f"ea{i}": at, f"ed{i}": _json(data)})
            for key, sql in adds.get(id(data), ()):
                shape.append((i, key, sql))
                added.append((data, key))
    if audit_rows:
        for i, row in enumerate(audit_rows):
            params.update(
                {
                    f"as{i}": row["seq"],
                    f"aa{i}": row["at"],
                    f"ac{i}": row["actor"],
                    f"an{i}": row["action"],
                    f"att{i}": row["target_type"],
                    f"ati{i}": row["target_id"],
                    f"asu{i}": _json(row["summary"]),
                    f"ap{i}": row["prev_hash"],
                    f"ah{i}": row["hash"],
                    f"ase{i}": row["seal"],
                }
            )
        params.update(head_hash=audit_rows[-1]["hash"], head_seq=audit_rows[-1]["seq"])
    statement = _together(len(events), len(audit_rows), tuple(ctes), tuple(shape))
    ((last, *values),) = rawsql.rows(conn, statement, params)
    for (data, key), value in zip(added, values, strict=True):
        data[key] = value
    return int(last) - len(events) + 1 if events else 0


@functools.lru_cache(maxsize=64)  # the usual shapes; a rare big journal is built afresh
def _together(
    events: int, audit_rows: int, parts: tuple[str, ...], adds: tuple[tuple[int, str, str], ...]
) -> TextClause:
    """The statement of `_write_together` for so many events and audit rows, the parts' CTEs
    and what they add to which event, built once (a text's bind parameters are found by a
    regular expression: not worth doing per commit)."""
    ctes: list[str] = list(parts)
    if events:
        values = ", ".join(
            f"({i}, CAST(:et{i} AS varchar), CAST(:ea{i} AS timestamptz), "
            f"{_event_data(i, [(key, sql) for at, key, sql in adds if at == i])})"
            for i in range(events)
        )
        ctes.append(
            "ev_numbers AS (UPDATE sequence_counter SET value = value + :ne "
            f"WHERE name = '{event_service.SEQ}' RETURNING value)"
        )
        ctes.append(
            "ev AS (INSERT INTO event (seq, type, at, data) "
            "SELECT n.value - :ne + 1 + v.ord, v.type, v.at, v.data FROM ev_numbers AS n, "
            f"(VALUES {values}) AS v (ord, type, at, data))"
        )
    if audit_rows:
        values = ", ".join(
            f"(:as{i}, :aa{i}, :ac{i}, :an{i}, :att{i}, :ati{i}, CAST(:asu{i} AS jsonb), "
            f":ap{i}, :ah{i}, :ase{i})"
            for i in range(audit_rows)
        )
        ctes.append(f"au AS (INSERT INTO audit_entry ({_AUDIT_COLUMNS}) VALUES {values})")
        ctes.append(
            "head AS (UPDATE sequence_counter SET last_hash = :head_hash, hash_seq = :head_seq "
            f"WHERE name = '{audit_service.SEQ}')"
        )
    read = ["(SELECT value FROM ev_numbers)" if events else "0"]
    read += [sql for _, _, sql in adds]
    return text(f"WITH {', '.join(ctes)} SELECT {', '.join(read)}")


def _event_data(i: int, adds: list[tuple[str, str]]) -> str:
    data = f"CAST(:ed{i} AS jsonb)"
    if not adds:
        return data
    pairs = ", ".join(f"'{key}', {sql}" for key, sql in adds)
    return f"{data} || jsonb_build_object({pairs})"
