"""Streaming import of a subscriber CSV: a million rows in memory that does not grow.

The file (UTF-8, a BOM is fine) has a header with ``phone,language,lat,lon`` and optionally
``name,zone,channels,tags`` in any order and case. Rows are read one at a time, checked,
collected into batches of ``batch_size`` (5,000), and each batch is:

1. de-duplicated by phone (a later row for the same phone replaces the earlier one),
2. given its home community from its location, vectorised (``ZoneSet.zones_of``),
3. upserted in one ``INSERT … ON CONFLICT (phone) DO UPDATE`` statement and committed in
   its own transaction (``transaction()`` is a context manager yielding a session).

Only the current batch is held, so memory is bounded by the batch, not the file. A phone
seen in an earlier batch is simply updated again, so "the later row wins" holds across the
whole file. Counting: ``added`` are phones new to the database; ``updated`` are rows that
updated an existing subscriber, including a repeat of an earlier row of the same file;
``rejected`` rows are reported to ``on_reject`` with their line number and reason, as they
are found. ``added + updated + rejected`` is the number of data rows (blank lines aside).

Columns missing from the header are left alone on update (a file without ``tags`` does not
clear tags); ``opted_out`` is never changed by an import. Re-running a file is harmless.

One record is one line: a quoted field never carries a record onto the next line. Subscriber
data has no line breaks in it, and a reader that lets quotes span lines turns one stray quote
into thousands of swallowed rows (up to the next stray quote, or until a "field larger than
field limit" error eats them all). So a line whose quotes do not close on it is rejected
alone, and ``added + updated + rejected`` equals the data lines (blank lines aside).
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, TextIO

from sqlmodel import Session

from alerts.subscribers import service
from alerts.subscribers.fields import FieldProblem
from geo.zones import ZoneSet

REQUIRED = ("phone", "language", "lat", "lon")
OPTIONAL = ("name", "zone", "channels", "tags")
BATCH_SIZE = 5000


class ImportFileError(ValueError):
    """The file as a whole cannot be imported (no header, missing or unknown columns)."""


@dataclass(frozen=True, slots=True)
class Rejected:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class ImportSummary:
    rows: int = 0
    added: int = 0
    updated: int = 0
    rejected: int = 0
    batches: int = 0
    seconds: float = 0.0

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "added": self.added,
            "updated": self.updated,
            "rejected": self.rejected,
            "seconds": round(self.seconds, 3),
        }


def import_csv(
    stream: TextIO,
    *,
    transaction: Callable[[], AbstractContextManager[Session]],
    zones: ZoneSet,
    on_reject: Callable[[Rejected], None] = lambda _r: None,
    default_language: str | None = None,
    batch_size: int = BATCH_SIZE,
) -> ImportSummary:
    """Import every row of ``stream`` (opened with ``newline=""``); see the module docstring."""
    started = time.perf_counter()
    summary = ImportSummary()
    lines = iter(stream)
    columns = _header(lines)
    batch: dict[str, dict[str, Any]] = {}
    repeats = 0

    def flush() -> None:
        nonlocal repeats
        if not batch:
            return
        rows = list(batch.values())
        service.assign_zones(rows, zones=zones)
        with transaction() as session:
            added, updated = service.upsert(session, rows)
        summary.added += added
        summary.updated += updated + repeats
        summary.batches += 1
        batch.clear()
        repeats = 0

    for line, record in _records(lines):
        if isinstance(record, csv.Error):
            summary.rows += 1
            summary.rejected += 1
            on_reject(Rejected(line, f"unreadable CSV: {record}"))
            continue
        if not any(cell.strip() for cell in record):
            continue  # blank line
        summary.rows += 1
        if len(record) != len(columns):
            summary.rejected += 1
            on_reject(
                Rejected(
                    line, f"expected {len(columns)} fields ({','.join(columns)}), got {len(record)}"
                )
            )
            continue
        values = dict(zip(columns, record, strict=True))
        try:
            row = service.clean(values, zones=zones, default_language=default_language)
        except FieldProblem as problem:
            summary.rejected += 1
            on_reject(Rejected(line, str(problem)))
            continue
        if row["phone"] in batch:
            repeats += 1
            del batch[row["phone"]]  # re-inserted last, so the later row wins
        batch[row["phone"]] = row
        if len(batch) >= batch_size:
            flush()
    flush()
    summary.seconds = time.perf_counter() - started
    return summary


def _header(lines: Iterator[str]) -> list[str]:
    try:
        header = _fields(next(lines))
    except StopIteration:
        raise ImportFileError(
            f"the file is empty: expected a header line {','.join(REQUIRED)}[,{','.join(OPTIONAL)}]"
        ) from None
    if isinstance(header, csv.Error):
        raise ImportFileError(f"line 1: {header}")
    columns = [c.strip().lower() for c in header]
    missing = [c for c in REQUIRED if c not in columns]
    unknown = [c for c in columns if c not in REQUIRED + OPTIONAL]
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    problems = []
    if missing:
        problems.append(f"missing column(s) {', '.join(missing)}")
    if unknown:
        problems.append(f"unknown column(s) {', '.join(repr(c) for c in unknown)}")
    if repeated:
        problems.append(f"repeated column(s) {', '.join(repeated)}")
    if problems:
        raise ImportFileError(
            f"line 1 (header): {'; '.join(problems)}; expected {','.join(REQUIRED)} and "
            f"optionally {','.join(OPTIONAL)}"
        )
    return columns


MAX_LINE = 4096  # characters: a subscriber line is well under 200


def _records(lines: Iterator[str]) -> Iterator[tuple[int, list[str] | csv.Error]]:
    """(line number, its fields or why they cannot be read), one line at a time."""
    for number, line in enumerate(lines, start=2):  # line 1 is the header
        yield number, _fields(line)


def _fields(line: str) -> list[str] | csv.Error:
    """The fields of one line, with CSV quoting within the line (a quoted field may hold a
    comma or a doubled quote); a quote not closed on its line is an error of this line alone."""
    text = line.rstrip("\r\n")
    if len(text) > MAX_LINE:
        return csv.Error(f"line longer than {MAX_LINE} characters")
    if '"' not in text:
        return text.split(",")  # the usual line: no quoting to undo
    try:
        return next(csv.reader((text,), strict=True), [""])
    except csv.Error as exc:
        return csv.Error(f"{exc} (a quote that is not closed on its line?)")
