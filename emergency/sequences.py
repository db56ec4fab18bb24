"""Gapless sequences: event seq and the audit chain's numbers.

They must have no gaps and follow commit order, across processes. One UPDATE ... RETURNING
on a counter row does both: it hands out the numbers and holds the row's write lock until the
transaction ends, on PostgreSQL and SQLite alike.
"""

from __future__ import annotations

from sqlalchemy import Connection, text
from sqlmodel import Field, Session, SQLModel


class SequenceCounter(SQLModel, table=True):
    __tablename__ = "sequence_counter"

    name: str = Field(primary_key=True, max_length=40)
    value: int = 0
    # The audit chain's head: the hash of row `hash_seq` (emergency.audit.service.take_chain)
    last_hash: str | None = Field(default=None, max_length=64)
    hash_seq: int | None = None


def take_numbers(session: Session | Connection, name: str, count: int) -> int:
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
