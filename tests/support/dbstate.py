"""A database's rows at one moment, put back between tests instead of making a new database.

A module's tests share one database (and one app): before each test every table is emptied
and the rows of a snapshot written back, the snapshot being either the migrated database
(the gapless counters at zero) or what an app's start-up seeded (facilities, shelters,
liaison contacts, ...). Identity sequences restart after the restored rows, so ids are
what a new database would give. Reference data is a few hundred rows: a restore costs a
few milliseconds, a new PostgreSQL database a few hundred.

Tables come from the models (SQLModel.metadata, so types round-trip exactly); tables the
models do not know (the scheduler's job store) are emptied and never restored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, Table, inspect, select, text


def _model_tables() -> list[Table]:
    from sqlmodel import SQLModel

    import emergency.models  # noqa: F401  (every table)

    return list(SQLModel.metadata.sorted_tables)  # parents before children


@dataclass
class Snapshot:
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def take(engine: Engine) -> Snapshot:
    tables = _model_tables()
    snap = Snapshot()
    with engine.connect() as conn:
        for table in tables:
            rows = [dict(r._mapping) for r in conn.execute(select(table))]
            if rows:
                snap.rows[table.name] = rows
    return snap


class Restorer:
    """Empties and refills one database; built once per database (it lists the tables)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.tables = _model_tables()
        self.known = {t.name for t in self.tables} | {"alembic_version"}
        self.postgres = engine.dialect.name == "postgresql"
        self.sequences: list[tuple[str, str, str]] = []  # (sequence, table, column)
        self.superuser = False
        if self.postgres:
            with engine.connect() as conn:
                self.superuser = conn.exec_driver_sql("SHOW is_superuser").scalar() == "on"
                self.sequences = [
                    (r.seq, r.tbl, r.col)
                    for r in conn.execute(
                        text(
                            "SELECT s.relname AS seq, t.relname AS tbl, a.attname AS col "
                            "FROM pg_class s JOIN pg_depend d ON d.objid = s.oid "
                            "JOIN pg_class t ON t.oid = d.refobjid "
                            "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid "
                            "WHERE s.relkind = 'S' AND t.relnamespace = 'public'::regnamespace"
                        )
                    )
                ]

    def restore(self, snap: Snapshot) -> None:
        with self.engine.begin() as conn:
            extra = sorted(set(inspect(conn).get_table_names()) - self.known)
            names = [t.name for t in reversed(self.tables)] + extra
            if self.superuser:
                # No foreign-key checks while emptying and refilling (the snapshot is
                # consistent): a parent's DELETE otherwise scans its emptied children once
                # per row, dead rows included (50,000 subscribers after a 50,000-message
                # test: 36 s; now well under a second).
                conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
            if self.postgres:
                # One round trip (simple query protocol: no parameters).
                conn.exec_driver_sql("; ".join(f'DELETE FROM "{n}"' for n in names))
            else:
                for name in names:  # rowids restart by themselves (no AUTOINCREMENT)
                    conn.exec_driver_sql(f'DELETE FROM "{name}"')
            for table in self.tables:
                rows = snap.rows.get(table.name)
                if rows:
                    conn.execute(table.insert(), rows)
            if self.sequences:
                conn.exec_driver_sql(
                    "SELECT "
                    + ", ".join(
                        f'setval(\'"{seq}"\', COALESCE((SELECT max("{col}") FROM "{tbl}"), 0)'
                        " + 1, false)"
                        for seq, tbl, col in self.sequences
                    )
                )
