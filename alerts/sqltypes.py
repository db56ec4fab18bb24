"""Column types and naming rules shared by every table of the service.

They live here, in the lowest package that owns tables, because `alerts` must not import
`emergency`; `emergency.db` re-exports them. Times are stored in UTC and always come back
timezone-aware, on SQLite as on PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol, cast

from sqlalchemy import JSON, CursorResult, DateTime, Result, Table, TypeDecorator
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlmodel import SQLModel

# Explicit constraint names, so Alembic migrations are the same on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION

JSONType = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite stores it naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: store timezone-aware times only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return as_utc(value)


def as_utc(value: datetime | None) -> datetime | None:
    """A stored time as UTCDateTime reads it: aware, in UTC (a naive one was stored in UTC)."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class RowWithId(Protocol):
    """A table row with an integer primary key `id` (None until it is inserted)."""

    id: int | None


def stored_id(row: RowWithId) -> int:
    """A flushed row's primary key (SQLModel types every ``id`` ``int | None``: a row not yet
    inserted has none)."""
    if row.id is None:
        raise ValueError(f"{type(row).__name__} has no id yet: flush it first")
    return row.id


def table_of(model: type[SQLModel] | SQLModel) -> Table:
    """A table model's Core table (SQLModel's types do not declare ``__table__``)."""
    table: Table = model.__table__  # type: ignore[union-attr]
    return table


def rowcount(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE matched (its result is a CursorResult)."""
    return int(cast("CursorResult[Any]", result).rowcount or 0)
