"""The totals a field event carries, exact in the order the screens receive them (issue 18).

A screen replaces its report, hazard, help and inspection totals with each event's, so an
event must carry the totals as of its own commit. Counted before the journal's lock (the
audit chain's: it orders commits and event seqs), two reports at the same instant each missed
the other; counted from whole tables under that lock, every writer would wait for the count.
So the totals are counter rows (`field_total`: one per exercise flag, section and figure) that
a unit of work changes and reads while it holds the chain's lock (`journal_writer.LOCKED`):
on PostgreSQL one statement between taking the chain and writing the events, after every
commit before it. The hazards' overdue figure follows the clock, so it is counted then, from
the partial index on unresolved hazards' due times.

Drills count apart (the `exercise` column). The situation snapshot (`service.summary`) still
counts the tables: what a reload shows; the tests hold the counters to it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, TextClause, bindparam, text
from sqlmodel import Session

from emergency import journal_writer, rawsql
from emergency.db import UTCDateTime, utcnow
from emergency.field.models import HazardStatus, HelpStatus
from emergency.journal_writer import LOCKED

_INSPECTIONS = ("groups", "on_patrol", "trips", "person_trips", "vehicle_trips")


@dataclass(frozen=True)
class _Change:
    exercise: bool
    section: str
    name: str
    delta: int


@dataclass(frozen=True)
class _Carry:
    data: dict[str, Any]  # an event's data, as emitted: its "totals" is set under the lock
    section: str
    exercise: bool


def change(session: Session, exercise: bool, section: str, deltas: Mapping[str, int]) -> None:
    """Add `deltas` to the section's figures when this unit of work commits."""
    work = session.info.setdefault(LOCKED, [])
    for name, delta in deltas.items():
        if delta:  # a status may be a StrEnum: stored as its text
            work.append((_resolve, _Change(exercise, section, str(name), delta)))


def moved(session: Session, exercise: bool, section: str, before: str, after: str) -> None:
    """A record of `section` went from status `before` to `after`."""
    if before != after:
        change(session, exercise, section, {str(before): -1, str(after): 1})


def carry(session: Session, data: dict[str, Any], section: str, exercise: bool) -> None:
    """The event `data` (as emitted) carries the section's totals as of this commit."""
    session.info.setdefault(LOCKED, []).append((_resolve, _Carry(data, section, exercise)))


def _hazards(figures: dict[str, int]) -> dict[str, Any]:
    by_status = {s.value: figures.get(s.value, 0) for s in HazardStatus}
    return {
        "hazards": {
            **by_status,
            "total": sum(by_status.values()),
            "overdue": figures.get("overdue", 0),
            "unresolved": by_status["open"] + by_status["assigned"],
        }
    }


def _reports(figures: dict[str, int]) -> dict[str, Any]:
    return {"reports": dict(figures), "reports_total": sum(figures.values())}


def _help(figures: dict[str, int]) -> dict[str, Any]:
    return {s.value: figures.get(s.value, 0) for s in HelpStatus}


def _inspections(figures: dict[str, int]) -> dict[str, Any]:
    return {"inspections": {name: figures.get(name, 0) for name in _INSPECTIONS}}


# What an event's "totals" is, by section, from the section's figures.
_SHAPES: dict[str, Callable[[dict[str, int]], dict[str, Any]]] = {
    "hazards": _hazards,
    "reports": _reports,
    "help_requests": _help,
    "inspections": _inspections,
}


def _collect(
    work: list[Any],
) -> tuple[dict[tuple[bool, str, str], int], list[tuple[bool, str]], list[_Carry]]:
    """The unit of work's counter changes (summed), the sections its events carry, and those."""
    deltas: dict[tuple[bool, str, str], int] = {}
    carried: list[_Carry] = []
    for item in work:
        if isinstance(item, _Change):
            key = (item.exercise, item.section, item.name)
            deltas[key] = deltas.get(key, 0) + item.delta
        else:
            carried.append(item)
    deltas = {key: d for key, d in deltas.items() if d}
    wanted = sorted({(c.exercise, c.section) for c in carried})
    return deltas, wanted, carried


def _resolve(conn: Connection, work: list[Any]) -> None:
    """Apply the unit of work's changes and fill its events' totals (under the chain's lock:
    no other writer changes a counter until this one commits)."""
    deltas, wanted, carried = _collect(work)
    figures = _apply_and_read(conn, deltas, wanted)
    for c in carried:
        c.data["totals"] = _SHAPES[c.section](figures.get((c.exercise, c.section), {}))


def _in_journal(work: list[Any]) -> journal_writer.Part:
    """On PostgreSQL: `_resolve`'s work as CTEs of the journal's statement, which then sets
    each carried event's totals in SQL (the shapes of `_SQL_SHAPES`, as `_SHAPES`'s)."""
    deltas, wanted, carried = _collect(work)
    params = _params(deltas, wanted, prefix="t_")
    ctes = _journal_ctes(len(deltas), tuple(section for _, section in wanted))
    adds = tuple(
        (c.data, "totals", f"(SELECT t FROM t_tot{wanted.index((c.exercise, c.section))})")
        for c in carried
    )
    return journal_writer.Part(ctes, params, adds)


def _params(
    deltas: dict[tuple[bool, str, str], int], wanted: list[tuple[bool, str]], prefix: str = ""
) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for i, ((exercise, section, name), delta) in enumerate(sorted(deltas.items())):
        params.update({f"x{i}": exercise, f"s{i}": section, f"n{i}": name, f"d{i}": delta})
    for i, (exercise, section) in enumerate(wanted):
        params.update({f"wx{i}": exercise, f"ws{i}": section})
        if section == "hazards":
            params["now"] = utcnow()
    return {prefix + name: value for name, value in params.items()} if prefix else params


def _apply_and_read(
    conn: Connection, deltas: dict[tuple[bool, str, str], int], wanted: list[tuple[bool, str]]
) -> dict[tuple[bool, str], dict[str, int]]:
    """The counters changed by `deltas`, and the figures of the `wanted` sections after it."""
    params = _params(deltas, wanted)
    upsert, read = _statements(conn.dialect.name, len(deltas), tuple(s for _, s in wanted))
    if upsert is not None:
        conn.execute(upsert, params)
    if read is None:
        return {}
    stale: dict[tuple[bool, str], dict[str, int]] = {}
    fresh: dict[tuple[bool, str], dict[str, int]] = {}
    for is_fresh, exercise, section, name, value in rawsql.rows(conn, read, params):
        (fresh if is_fresh else stale).setdefault((bool(exercise), section), {})[name] = int(value)
    for key, figures in fresh.items():
        stale.setdefault(key, {}).update(figures)
    return stale


# The statements of each shape of work (dialect, how many counters change, which sections are
# read), built once: a hazard report's are always the same.
_STATEMENTS: dict[
    tuple[str, int, tuple[str, ...]], tuple[TextClause | None, TextClause | None]
] = {}


def _statements(
    dialect: str, changes: int, sections: tuple[str, ...]
) -> tuple[TextClause | None, TextClause | None]:
    """(the upsert to run first, the read) for this shape of work.

    On PostgreSQL one statement, the read: the upsert is its CTE, whose RETURNING gives the
    changed rows' new values (`1` first); the sections' other rows are read with the
    statement's snapshot, taken after the lock was ours (no counter changes without it).
    On SQLite (no data-modifying CTEs) the upsert, then the read, which sees it."""
    key = (dialect, changes, sections)
    if key in _STATEMENTS:
        return _STATEMENTS[key]
    upsert = _upsert(changes) if changes else ""
    read = " UNION ALL ".join(_section_reads(sections))
    if dialect == "postgresql" and upsert and read:
        read = (
            f"WITH up AS ({upsert} RETURNING exercise, section, name, value) "
            f"SELECT 1, exercise, section, name, value FROM up UNION ALL {read}"
        )
        upsert = ""
    statements = (_text(upsert), _text(read))
    _STATEMENTS[key] = statements
    return statements


def _text(sql: str) -> TextClause | None:
    if not sql:
        return None
    query = text(sql)
    if ":now" in sql:  # SQLite stores the time as text: bind it as the column does
        query = query.bindparams(bindparam("now", type_=UTCDateTime))
    return query


def _section_reads(sections: tuple[str, ...], prefix: str = "") -> list[str]:
    """The figures of each section read (`0`: not changed by this unit of work), and for the
    hazards the overdue count; parameters `wx<i>`, `ws<i>`, `now` (with `prefix`)."""
    reads = []
    for i, section in enumerate(sections):
        reads.append(
            "SELECT 0, exercise, section, name, value FROM field_total "
            f"WHERE exercise = :{prefix}wx{i} AND section = :{prefix}ws{i}"
        )
        if section == "hazards":
            reads.append(
                "SELECT 0, exercise, 'hazards', 'overdue', count(*) FROM hazard "
                f"WHERE exercise = :{prefix}wx{i} AND status IN ('open', 'assigned') "
                f"AND due_at < :{prefix}now GROUP BY exercise"
            )
    return reads


def _upsert(changes: int, prefix: str = "") -> str:
    rows = ", ".join(
        f"(:{prefix}x{i}, :{prefix}s{i}, :{prefix}n{i}, :{prefix}d{i})" for i in range(changes)
    )
    return (
        f"INSERT INTO field_total (exercise, section, name, value) VALUES {rows} "
        "ON CONFLICT (exercise, section, name) "
        "DO UPDATE SET value = field_total.value + excluded.value"
    )


@functools.lru_cache(maxsize=64)
def _journal_ctes(changes: int, sections: tuple[str, ...]) -> tuple[str, ...]:
    """`_in_journal`'s CTEs for this shape of work, built once: the upsert (its RETURNING
    gives the changed rows' new values), the figures of the sections read (the changed rows'
    new values over the statement's snapshot of the rest: DISTINCT ON keeps the fresh one),
    and one jsonb per section, `t_tot<i>`, the totals an event of it carries."""
    ctes = []
    if changes:
        upsert = _upsert(changes, "t_")
        ctes.append(f"t_up AS ({upsert} RETURNING exercise, section, name, value)")
    if not sections:
        return tuple(ctes)
    reads = ["SELECT 1 AS fresh, exercise, section, name, value FROM t_up"] if changes else []
    reads += _section_reads(sections, "t_")
    ctes.append(
        "t_fig AS (SELECT DISTINCT ON (exercise, section, name) exercise, section, name, value "
        f"FROM ({' UNION ALL '.join(reads)}) AS f "
        "ORDER BY exercise, section, name, fresh DESC)"
    )
    for i, section in enumerate(sections):
        ctes.append(
            f"t_tot{i} AS (SELECT {_SQL_SHAPES[section]} AS t FROM t_fig "
            f"WHERE exercise = :t_wx{i} AND section = :t_ws{i})"
        )
    return tuple(ctes)


def _figure(name: str) -> str:
    assert _NAME.match(name), name  # our own figures' names: safe in the SQL's text
    return f"COALESCE(max(value) FILTER (WHERE name = '{name}'), 0)"


def _sum(names: list[str]) -> str:
    assert all(_NAME.match(name) for name in names), names
    listed = ", ".join(f"'{name}'" for name in names)
    return f"COALESCE(sum(value) FILTER (WHERE name IN ({listed})), 0)"


def _object(pairs: list[tuple[str, str]]) -> str:
    return "jsonb_build_object(" + ", ".join(f"'{key}', {sql}" for key, sql in pairs) + ")"


_NAME = re.compile(r"^[a-z_]+$")
_HAZARD_STATUSES = [s.value for s in HazardStatus]
# What `_SHAPES` makes of a section's figures, in SQL (over its rows in t_fig): the same
# object, so the stored event and the published one are equal
_SQL_SHAPES: dict[str, str] = {
    "hazards": _object(
        [
            (
                "hazards",
                _object(
                    [(s, _figure(s)) for s in _HAZARD_STATUSES]
                    + [
                        ("total", _sum(_HAZARD_STATUSES)),
                        ("overdue", _figure("overdue")),
                        ("unresolved", _sum(["open", "assigned"])),
                    ]
                ),
            )
        ]
    ),
    "reports": _object(
        [
            ("reports", "COALESCE(jsonb_object_agg(name, value), '{}'::jsonb)"),
            ("reports_total", "COALESCE(sum(value), 0)"),
        ]
    ),
    "help_requests": _object([(s.value, _figure(s.value)) for s in HelpStatus]),
    "inspections": _object(
        [("inspections", _object([(name, _figure(name)) for name in _INSPECTIONS]))]
    ),
}
journal_writer.joins_journal(_resolve, _in_journal)
