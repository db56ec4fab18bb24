"""Recording and verifying the audit log.

`record()` is called by services inside their unit of work; the entries are chained and
written just before commit, so an audit row exists exactly when its change does. Each row's
hash covers its content and the previous row's hash: changing or deleting any row breaks the
chain, and the counter row tells if rows were cut from the end.

Two things the database alone cannot vouch for (issue 20.5):
- a chain rewritten with its hashes recomputed: with TYPHOON_AUDIT_KEY, a key kept outside the
  database, each row also carries `seal` = HMAC-SHA256(key, hash), which nobody without the
  key can recompute;
- a database restored from an older backup (rows cut from the end, counter and all): the
  anchor, a small file outside the database (TYPHOON_AUDIT_ANCHOR_FILE) where the scheduler
  keeps the latest row's seq and hash, tells what the chain had reached.
The application's database role may not UPDATE or DELETE audit rows at all
(`emergency.migrate.grant_app_role`).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import logging
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, NotRequired, TypedDict, Unpack

from sqlalchemy import Connection, TextClause, Update, bindparam, insert, text, update
from sqlmodel import Session, col, select

from alerts.sqltypes import RowWithId, stored_id, utcnow
from emergency import rawsql
from emergency.audit.models import AuditEntry
from emergency.encoding import json_safe
from emergency.sequences import SequenceCounter, current_number, take_numbers

log = logging.getLogger(__name__)

# the unit of work's entries, written just before its commit (emergency.db)
PENDING = "typhoon_pending_audit"
SEQ = "audit"
GENESIS = "0" * 64
SYSTEM = "system"


class Change(TypedDict):
    """What a service says of a change it audits (the target aside)."""

    actor: str
    action: str
    target_type: str
    before: NotRequired[Any]
    after: NotRequired[Any]
    # the change is a drill's (the summary says so; real figures leave it out)
    exercise: NotRequired[bool]


class Entry(Change):
    target_id: str | int


def record(session: Session, **entry: Unpack[Entry]) -> None:
    summary = {"before": json_safe(entry.get("before")), "after": json_safe(entry.get("after"))}
    if entry.get("exercise"):
        summary["exercise"] = True
    session.info.setdefault(PENDING, []).append(
        dict(
            actor=entry["actor"],
            action=entry["action"],
            target_type=entry["target_type"],
            target_id=str(entry["target_id"]),
            summary=summary,
            at=utcnow(),
        )
    )


def record_write(session: Session, row: RowWithId, **change: Unpack[Change]) -> None:
    """`row` written (added and flushed: a new one gets its id) and the change recorded with
    that row as its target: the add, flush, audit of a service that changes one row."""
    session.add(row)
    session.flush()
    record(session, target_id=stored_id(row), **change)


# What an entry's hash covers: all of it but the hash itself and its seal.
HASHED = {"seq", "at", "actor", "action", "target_type", "target_id", "summary", "prev_hash"}


def entry_hash(
    *,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    target_type: str,
    target_id: str,
    summary: Any,
    prev_hash: str | None,
) -> str:
    canonical = json.dumps(
        [seq, at.isoformat(), actor, action, target_type, target_id, summary, prev_hash],
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def seal_of(key: bytes, digest: str) -> str:
    return hmac.new(key, digest.encode(), hashlib.sha256).hexdigest()


def pop_pending(session: Session) -> list[dict[str, Any]]:
    """The entries recorded in this unit of work, taken out to be written."""
    pending: list[dict[str, Any]] = session.info.pop(PENDING, None) or []
    return pending


def take_chain(
    conn: Connection, count: int, riders: Sequence[tuple[TextClause, dict[str, Any]]] = ()
) -> tuple[int, str]:
    """Reserve `count` numbers of the chain (its lock is held until the transaction ends);
    returns the first of them and the hash the first row follows. `riders` (PostgreSQL only):
    writes run as CTEs of the same statement (emergency.journal_writer.defer).

    The counter row keeps the chain's head (`last_hash` of row `hash_seq`), so the statement
    that takes the lock also reads the previous hash. It is read after the lock is ours: under
    READ COMMITTED an UPDATE that waited works on the row as the transaction before us left
    it. When the head is not the previous row's (rows written without it), that row is read
    in a statement of its own, also after the lock (a subquery in the UPDATE would not see it:
    its snapshot predates the wait, and the chain would restart from the genesis hash)."""
    params: dict[str, Any] = {"n": count, "name": SEQ}
    for i, (_, rider_params) in enumerate(riders):
        params.update({f"r{i}_{name}": value for name, value in rider_params.items()})
    statement = _take_with(tuple(rider for rider, _ in riders)) if riders else _TAKE
    taken = rawsql.rows(conn, statement, params)
    if not taken:  # a database created without the seed rows of the migration
        take_numbers(conn, SEQ, count)
        return 1, GENESIS
    value, last_hash, hash_seq = taken[0]
    first = int(value) - count + 1
    if first == 1:
        return first, GENESIS
    if last_hash and hash_seq == first - 1:
        return first, str(last_hash)
    prev = conn.execute(_PREV, {"seq": first - 1}).scalar()
    return first, str(prev) if prev else GENESIS


_TAKE = text(
    "UPDATE sequence_counter SET value = value + :n WHERE name = :name "
    "RETURNING value, last_hash, hash_seq"
)
_PREV = text("SELECT hash FROM audit_entry WHERE seq = :seq")
_BIND = re.compile(r"(?<![:\w\x5c]):(\w+)(?!:)")  # a text()'s bind parameter (text()'s own rule)


@functools.lru_cache(maxsize=64)  # a few shapes (a field report's settle): built once each
def _take_with(riders: tuple[TextClause, ...]) -> TextClause:
    """`_TAKE` with `riders` as its CTEs, each one's parameters renamed r<i>_<name>."""
    renamed = [_BIND.sub(":r" + str(i) + r"_\1", rider.text) for i, rider in enumerate(riders)]
    ctes = ", ".join(f"r{i} AS ({sql})" for i, sql in enumerate(renamed))
    typed = [  # the riders' typed parameters (a JSON value) keep their types
        bindparam(f"r{i}_{name}", type_=param.type)
        for i, rider in enumerate(riders)
        for name, param in rider._bindparams.items()
        if not param.type._isnull
    ]
    return text(f"WITH {ctes} {_TAKE.text}").bindparams(*typed)


def chain(
    pending: list[dict[str, Any]], *, first: int, prev_hash: str, key: bytes | None
) -> list[dict[str, Any]]:
    """The rows of `pending`, numbered from `first` and chained on `prev_hash`."""
    rows = []
    for i, item in enumerate(pending):
        seq = first + i
        digest = entry_hash(seq=seq, prev_hash=prev_hash, **item)
        seal = seal_of(key, digest) if key else None
        rows.append(dict(item, seq=seq, prev_hash=prev_hash, hash=digest, seal=seal))
        prev_hash = digest
    return rows


def audit_key(session: Session) -> bytes | None:
    db = session.info.get("db")
    key: bytes | None = getattr(db, "audit_key", None)
    return key


def write_pending(session: Session) -> None:
    """Write this unit of work's entries now (the journal does it just before commit)."""
    pending = pop_pending(session)
    if not pending:
        return
    conn = session.connection()
    first, prev_hash = take_chain(conn, len(pending))  # holds the chain's lock until commit
    rows = chain(pending, first=first, prev_hash=prev_hash, key=audit_key(session))
    conn.execute(insert(AuditEntry), rows)
    conn.execute(set_head(rows[-1]))


def set_head(last: dict[str, Any]) -> Update:
    """Keep the chain's head on its counter row: the next writer need not read the row."""
    return (
        update(SequenceCounter)
        .where(col(SequenceCounter.name) == SEQ)
        .values(last_hash=last["hash"], hash_seq=last["seq"])
    )


def forget_pending(session: Session) -> None:
    session.info.pop(PENDING, None)


@dataclass
class VerifyResult:
    ok: bool
    checked: int
    problems: list[str]
    sealed: bool = False  # the seals were checked (a key was given)
    anchored: bool = False  # the chain was checked against an anchor


MAX_PROBLEMS = 50  # a rewritten chain breaks every row after the change: say how many, once


def verify(
    session: Session,
    *,
    batch: int = 5000,
    key: bytes | None = None,
    anchor: Anchor | None = None,
) -> VerifyResult:
    """Walk the whole chain; report every changed, missing or re-ordered row; with `key`,
    every row must carry its valid seal; with `anchor`, the chain must reach the anchored row
    and hold the same hash there."""
    problems: list[str] = []
    more = 0

    def problem(text: str) -> None:
        nonlocal more
        if len(problems) < MAX_PROBLEMS:
            problems.append(text)
        else:
            more += 1

    expected_seq = 1
    prev_hash = GENESIS
    checked = 0
    last = 0
    anchored_hash: str | None = None
    while True:
        rows = session.exec(
            select(AuditEntry)
            .where(col(AuditEntry.seq) > last)
            .order_by(col(AuditEntry.seq))
            .limit(batch)
        ).all()
        if not rows:
            break
        for row in rows:
            if row.seq != expected_seq:
                problem(f"rows {expected_seq}..{row.seq - 1} are missing (deleted)")
            if row.prev_hash != prev_hash:
                problem(f"row {row.seq}: does not follow the previous row (chain broken)")
            digest = entry_hash(**row.model_dump(include=HASHED))
            if digest != row.hash:
                problem(f"row {row.seq}: content changed after it was written")
            if key is not None:
                if row.seal is None:
                    problem(
                        f"row {row.seq}: not sealed with TYPHOON_AUDIT_KEY (written without "
                        "the key, or its seal removed; `typhoon audit seal` seals rows "
                        "checked by hand)"
                    )
                elif not hmac.compare_digest(row.seal, seal_of(key, row.hash)):
                    problem(
                        f"row {row.seq}: its seal does not match (the row or the chain was "
                        "rewritten, or another TYPHOON_AUDIT_KEY)"
                    )
            if anchor is not None and row.seq == anchor.seq:
                anchored_hash = row.hash
            prev_hash = row.hash
            expected_seq = row.seq + 1
            checked += 1
        last = rows[-1].seq
    recorded = current_number(session, SEQ)
    if recorded > last:
        problem(f"rows {last + 1}..{recorded} are missing at the end (deleted)")
    if anchor is not None:
        if last < anchor.seq:
            problem(
                f"the chain ends at row {last} but the anchor recorded row {anchor.seq} "
                f"on {anchor.at}: rows {last + 1}..{anchor.seq} are gone (a database "
                "restored from an older backup, or rows cut from the end); after a restore "
                "on purpose, `typhoon audit anchor --accept-restore` records it"
            )
        elif anchored_hash != anchor.hash:
            problem(
                f"row {anchor.seq} differs from the anchor written on {anchor.at}: "
                "the chain was rewritten"
            )
    if more:
        problems.append(f"… and {more} more problems")
    return VerifyResult(
        ok=not problems,
        checked=checked,
        problems=problems,
        sealed=key is not None,
        anchored=anchor is not None,
    )


def seal_unsealed(session: Session, *, key: bytes) -> int:
    """Seal the rows written before TYPHOON_AUDIT_KEY was set (run after checking them:
    `typhoon audit seal`). Returns how many were sealed."""
    count = 0
    last = 0
    while True:
        rows = session.exec(
            select(AuditEntry)
            .where(col(AuditEntry.seq) > last, col(AuditEntry.seal).is_(None))
            .order_by(col(AuditEntry.seq))
            .limit(5000)
        ).all()
        if not rows:
            return count
        for row in rows:
            row.seal = seal_of(key, row.hash)
            session.add(row)
        session.flush()
        count += len(rows)
        last = rows[-1].seq


# --- the anchor: the chain's latest row, kept outside the database ------------------------


@dataclass(frozen=True)
class Anchor:
    seq: int
    hash: str
    at: str  # when it was written (UTC, ISO 8601)

    def as_json(self) -> str:
        return json.dumps({"seq": self.seq, "hash": self.hash, "at": self.at})


class AnchorError(RuntimeError):
    pass


def read_anchor(path: Path) -> Anchor | None:
    """The anchor in `path`; None when there is none yet."""
    try:
        data = json.loads(Path(path).read_text())
        return Anchor(seq=int(data["seq"]), hash=str(data["hash"]), at=str(data["at"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise AnchorError(f"TYPHOON_AUDIT_ANCHOR_FILE: {path} is not readable: {exc}") from None


def latest(session: Session) -> AuditEntry | None:
    return session.exec(select(AuditEntry).order_by(col(AuditEntry.seq).desc()).limit(1)).first()


def write_anchor(session: Session, path: Path, *, force: bool = False) -> Anchor | None:
    """Record the latest row in `path` (atomically). Never moves the anchor back: when the
    database is behind the anchor (restored from an older backup) it refuses, unless `force`
    (after `--accept-restore`). Returns the anchor now in the file."""
    row = latest(session)
    if row is None:
        return read_anchor(path)
    current = read_anchor(path)
    if current is not None and not force:
        if row.seq < current.seq:
            raise AnchorError(
                f"the audit chain ends at row {row.seq}, behind the anchor's row {current.seq} "
                f"({current.at}): the database was restored from an older backup? "
                "`typhoon audit verify` says more"
            )
        if row.seq == current.seq:
            return current
    anchor = Anchor(seq=row.seq, hash=row.hash, at=utcnow().isoformat())
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".anchor-")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(anchor.as_json() + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return anchor


def accept_restore(session: Session, path: Path, *, actor: str) -> Anchor | None:
    """After a restore on purpose: audit what the anchor had reached (the rows lost with the
    restore). Once that is committed, `write_anchor(force=True)` anchors the chain as it is.
    Returns the old anchor."""
    previous = read_anchor(path)
    row = latest(session)
    record(
        session,
        actor=actor,
        action="audit.restore_accepted",
        target_type="audit_chain",
        target_id=str(row.seq if row else 0),
        before={"anchor_seq": previous.seq, "anchor_hash": previous.hash, "anchor_at": previous.at}
        if previous
        else None,
        after={"chain_seq": row.seq if row else 0},
    )
    return previous


def entries(
    session: Session, *, limit: int = 100, before_seq: int | None = None
) -> list[AuditEntry]:
    query = select(AuditEntry).order_by(col(AuditEntry.seq).desc()).limit(limit)
    if before_seq is not None:
        query = query.where(col(AuditEntry.seq) < before_seq)
    return list(session.exec(query).all())
