"""Raising, changing and lowering signals, and reading what is in force.

`set_signal` is the one entry point for every origin (operator, CAP, feed, replay, rule); callers
go through `emergency.signals.flows.apply_signal`, which runs what a change sets off. It checks
the level against the catalogue, does nothing when the level is already in force (so a
repeated CAP or a replayed step is harmless), stores the change and its history, audits it
and emits `signal.changed`.
"""

from __future__ import annotations

from datetime import datetime
from typing import TypedDict

from sqlmodel import Session, col, select

from emergency.audit import service as audit_service
from emergency.catalogue.service import Catalogue
from emergency.clock import local_iso
from emergency.db import newest_first, stored_id, to_public, utcnow
from emergency.events import service as event_service
from emergency.exceptions import InvalidInput
from emergency.signals.models import ActiveSignal, Origin, SignalChange
from emergency.signals.schemas import ActiveSignalPublic, SignalChangePublic


class SignalDetails(TypedDict, total=False):
    """What a signal change may say besides its level: when (default now), the CAP alert
    that asserted it, a note, and until when the level is in force (`expires_at`)."""

    at: datetime | None
    cap_identifier: str | None
    cap_sender: str | None
    cap_sent: datetime | None
    note: str | None
    expires_at: datetime | None


def set_signal(
    session: Session,
    *,
    catalogue: Catalogue,
    source: str,
    kind: str,
    level: str | None,
    actor: str,
    origin: Origin,
    at: datetime | None = None,
    cap_identifier: str | None = None,
    cap_sender: str | None = None,
    cap_sent: datetime | None = None,
    note: str | None = None,
    exercise: bool = False,
    expires_at: datetime | None = None,
) -> SignalChange | None:
    """Apply a signal level (None lowers it). Returns the change, or None if nothing changed.

    `exercise` changes the drill's levels only (their own rows), never the real ones.
    `expires_at` (a CAP alert's <expires>, an operator's valid-until): the level ends by
    itself then (the `signals-expire` job lowers it). The latest word on a level sets it:
    the level in force again with another expiry (a CAP Update that extends it, or none)
    changes only its expiry, audited, with nothing else set off.
    """
    source, kind, level = catalogue.canonical(source, kind, level)  # raises UnknownSignal
    at = at or utcnow()
    if expires_at is not None and level is None:
        expires_at = None  # lowering: nothing left to expire
    active = _active_row(session, source=source, kind=kind, exercise=exercise, lock=True)
    previous = active.level if active else None
    if previous == level:
        if active is not None and active.expires_at != expires_at:
            _set_expiry(session, active, expires_at=expires_at, actor=actor, origin=origin)
        return None
    change = SignalChange(
        source=source,
        kind=kind,
        previous_level=previous,
        level=level,
        change=catalogue.compare(source, kind, previous, level),
        at=at,
        actor=actor,
        origin=origin,
        cap_identifier=cap_identifier,
        cap_sender=cap_sender,
        cap_sent=cap_sent,
        note=note,
        exercise=exercise,
        expires_at=expires_at,
    )
    session.add(change)
    session.flush()
    if level is None:
        session.delete(active)
    elif active is None:
        session.add(
            ActiveSignal(
                source=source,
                kind=kind,
                level=level,
                in_force_since=at,
                changed_at=at,
                change_id=stored_id(change),
                exercise=exercise,
                expires_at=expires_at,
            )
        )
    else:
        # 8NE → 8SE keeps Signal No. 8 in force since it was first hoisted.
        if catalogue.rank(source, kind, previous) != catalogue.rank(source, kind, level):
            active.in_force_since = at
        active.level, active.changed_at, active.change_id = level, at, stored_id(change)
        active.expires_at = expires_at
        session.add(active)
    session.flush()
    audit_service.record(
        session,
        actor=actor,
        action=f"signal.{change.change}",
        target_type="signal",
        target_id=f"{source}:{kind}",
        before={"level": previous},
        after={
            "level": level,
            "origin": origin,
            "cap_identifier": cap_identifier,
            "exercise": exercise,
            **({"expires_at": expires_at} if expires_at else {}),
        },
    )
    event_service.emit(
        session,
        "signal.changed",
        {
            **change_public(change).model_dump(),
            "names": catalogue.names(source, kind, level) if level else None,
            "exercise": exercise,
        },
    )
    return change


def check_expiry(expires_at: datetime | None, *, level: str | None) -> datetime | None:
    """An operator's valid-until: in the future, and only for a level (422 otherwise)."""
    if expires_at is None:
        return None
    if level is None:
        raise InvalidInput("expires_at: a lowering has nothing to expire", code="invalid_expiry")
    if expires_at <= utcnow():
        raise InvalidInput("expires_at: must be in the future", code="invalid_expiry")
    return expires_at


def _set_expiry(
    session: Session,
    active: ActiveSignal,
    *,
    expires_at: datetime | None,
    actor: str,
    origin: Origin,
) -> None:
    before = active.expires_at
    active.expires_at = expires_at
    session.add(active)
    session.flush()
    audit_service.record(
        session,
        actor=actor,
        action="signal.expiry_changed",
        target_type="signal",
        target_id=f"{active.source}:{active.kind}",
        before={"expires_at": before},
        after={
            "expires_at": expires_at,
            "level": active.level,
            "origin": origin,
            "exercise": active.exercise,
        },
    )


def expired(session: Session, *, now: datetime) -> list[ActiveSignal]:
    """The levels in force (real and drill) whose expiry has passed."""
    return list(
        session.exec(
            select(ActiveSignal)
            .where(col(ActiveSignal.expires_at).is_not(None), col(ActiveSignal.expires_at) <= now)
            .order_by(col(ActiveSignal.expires_at), col(ActiveSignal.id))
        )
    )


def active_row(
    session: Session, *, source: str, kind: str, exercise: bool = False
) -> ActiveSignal | None:
    """The row of the level in force of source+kind, locked (None when nothing is in force)."""
    return _active_row(session, source=source, kind=kind, exercise=exercise, lock=True)


def _active_row(
    session: Session, *, source: str, kind: str, exercise: bool = False, lock: bool = False
) -> ActiveSignal | None:
    query = select(ActiveSignal).where(
        ActiveSignal.source == source, ActiveSignal.kind == kind, ActiveSignal.exercise == exercise
    )
    return session.exec(query.with_for_update() if lock else query).first()


def change_in_force(
    session: Session, *, source: str, kind: str, exercise: bool = False
) -> SignalChange | None:
    """The change that set the level in force of source+kind (None when nothing is in force)."""
    active = _active_row(session, source=source, kind=kind, exercise=exercise)
    return session.get(SignalChange, active.change_id) if active else None


def active_signals(
    session: Session, *, catalogue: Catalogue, exercise: bool = False
) -> list[ActiveSignalPublic]:
    rows = session.exec(
        select(ActiveSignal)
        .where(ActiveSignal.exercise == exercise)
        .order_by(ActiveSignal.source, ActiveSignal.kind)
    )
    return [
        ActiveSignalPublic(
            source=a.source,
            kind=a.kind,
            level=a.level,
            rank=catalogue.rank(a.source, a.kind, a.level),
            names=dict(catalogue.names(a.source, a.kind, a.level).items()),
            in_force_since=a.in_force_since,
            in_force_since_local=local_iso(a.in_force_since),
            changed_at=a.changed_at,
            expires_at=a.expires_at,
            expires_at_local=local_iso(a.expires_at) if a.expires_at else None,
        )
        for a in rows
    ]


def active_levels(session: Session, *, exercise: bool = False) -> dict[tuple[str, str], str]:
    """{(source, kind): level} of everything in force (what the rules look at)."""
    rows = session.exec(select(ActiveSignal).where(ActiveSignal.exercise == exercise))
    return {(a.source, a.kind): a.level for a in rows}


def history(
    session: Session,
    *,
    source: str | None = None,
    kind: str | None = None,
    since: datetime | None = None,
    limit: int = 200,
    exercise: bool | None = None,
) -> list[SignalChange]:
    query = newest_first(SignalChange, limit=limit, exercise=exercise)
    if source:
        query = query.where(SignalChange.source == source)
    if kind:
        query = query.where(SignalChange.kind == kind)
    if since:
        query = query.where(col(SignalChange.at) >= since)
    return list(session.exec(query).all())


def change_public(change: SignalChange) -> SignalChangePublic:
    return to_public(SignalChangePublic, change, at_local=local_iso(change.at))
