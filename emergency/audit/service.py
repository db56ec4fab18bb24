"""Recording and verifying the audit log.

`record()` is called by services inside their unit of work; the entries are chained and
written just before commit, so an audit row exists exactly when its change does. Each row's
hash covers its content and the previous row's hash: changing or deleting any row breaks the
chain, and the counter row tells if rows were cut from the end.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from fastapi.encoders import jsonable_encoder
from sqlmodel import Session, col, select

from emergency.audit.models import AuditEntry
from emergency.db import current_number, take_numbers, utcnow

_PENDING = "typhoon_pending_audit"
SEQ = "audit"
GENESIS = "0" * 64
SYSTEM = "system"


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    target_type: str,
    target_id: str | int,
    before: Any = None,
    after: Any = None,
) -> None:
    summary = {"before": jsonable_encoder(before), "after": jsonable_encoder(after)}
    session.info.setdefault(_PENDING, []).append(
        dict(
            actor=actor,
            action=action,
            target_type=target_type,
            target_id=str(target_id),
            summary=summary,
            at=utcnow(),
        )
    )


def entry_hash(*, seq: int, at, actor, action, target_type, target_id, summary, prev_hash) -> str:
    canonical = json.dumps(
        [seq, at.isoformat(), actor, action, target_type, target_id, summary, prev_hash],
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def write_pending(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    first = take_numbers(session, SEQ, len(pending))  # holds the chain's lock until commit
    # A statement of its own, after the lock is ours: under READ COMMITTED it sees the rows of
    # the transaction that held the lock before us (a subquery in the UPDATE would not: its
    # snapshot predates the wait, and the chain would restart from the genesis hash).
    prev = session.get(AuditEntry, first - 1) if first > 1 else None
    prev_hash = prev.hash if prev else GENESIS
    for i, item in enumerate(pending):
        seq = first + i
        digest = entry_hash(seq=seq, prev_hash=prev_hash, **item)
        session.add(AuditEntry(seq=seq, prev_hash=prev_hash, hash=digest, **item))
        prev_hash = digest
    session.flush()


def forget_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)


@dataclass
class VerifyResult:
    ok: bool
    checked: int
    problems: list[str]


def verify(session: Session, *, batch: int = 5000) -> VerifyResult:
    """Walk the whole chain; report every changed, missing or re-ordered row."""
    problems: list[str] = []
    expected_seq = 1
    prev_hash = GENESIS
    checked = 0
    last = 0
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
                problems.append(f"rows {expected_seq}..{row.seq - 1} are missing (deleted)")
            if row.prev_hash != prev_hash:
                problems.append(f"row {row.seq}: does not follow the previous row (chain broken)")
            digest = entry_hash(
                seq=row.seq,
                at=row.at,
                actor=row.actor,
                action=row.action,
                target_type=row.target_type,
                target_id=row.target_id,
                summary=row.summary,
                prev_hash=row.prev_hash,
            )
            if digest != row.hash:
                problems.append(f"row {row.seq}: content changed after it was written")
            prev_hash = row.hash
            expected_seq = row.seq + 1
            checked += 1
        last = rows[-1].seq
    recorded = current_number(session, SEQ)
    if recorded > last:
        problems.append(f"rows {last + 1}..{recorded} are missing at the end (deleted)")
    return VerifyResult(ok=not problems, checked=checked, problems=problems)


def entries(
    session: Session, *, limit: int = 100, before_seq: int | None = None
) -> list[AuditEntry]:
    query = select(AuditEntry).order_by(col(AuditEntry.seq).desc()).limit(limit)
    if before_seq is not None:
        query = query.where(col(AuditEntry.seq) < before_seq)
    return list(session.exec(query).all())
