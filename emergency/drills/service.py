"""Whether an action is an exercise, decided in one place for every field-operation domain.

A request is a drill when it says `"exercise": true`, or when its user is a drill user (the
demo's own user, a field link issued for a drill): `is_drill`. A drill makes exercise records
only and may change exercise records only: naming a real record gets 409 `exercise_mismatch`
(`follow`). A request that is not a drill and acts on an exercise record (the desk verifying a
drill's hazard) acts inside the drill: the record stays an exercise record. Two records of
different modes are never linked (`same`): a drill's hazard is not given to a real crew.
Reads show real records; `?exercise=true` shows the drill's, and a drill user sees its drill.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from emergency.audit import service as audit_service
from emergency.auth.models import User
from emergency.db import stored_id
from emergency.drills.models import DrillUser
from emergency.exceptions import Conflict

_CACHE = "typhoon_drill_users"  # session.info: user id -> drill user or not, per unit of work


def is_drill_user(session: Session, user: User | None) -> bool:
    if user is None or user.id is None:
        return False
    known: dict[int, bool] = session.info.setdefault(_CACHE, {})
    if user.id not in known:
        known[user.id] = session.get(DrillUser, user.id) is not None
    return known[user.id]


def remember(session: Session, user: User, *, drill: bool) -> None:
    """What a caller read along with other things (the field report's one query)."""
    if user.id is not None:
        session.info.setdefault(_CACHE, {})[user.id] = drill


def is_drill(session: Session, user: User | None, asked: bool = False) -> bool:
    """The request is a drill: it asked to be (`exercise: true`), or its user is a drill user."""
    return bool(asked) or is_drill_user(session, user)


def mark_drill_user(session: Session, *, user: User, actor: str, label: str = "") -> DrillUser:
    """From now on everything `user` does is an exercise (idempotent)."""
    row = session.get(DrillUser, user.id)
    if row is not None:
        return row
    row = DrillUser(user_id=stored_id(user), label=label[:120], created_by=actor)
    session.add(row)
    session.flush()
    session.info.setdefault(_CACHE, {})[user.id] = True
    audit_service.record(
        session,
        actor=actor,
        action="user.drill_marked",
        target_type="user",
        target_id=stored_id(user),
        after={"name": user.name, "label": label},
        exercise=True,
    )
    return row


def mode(exercise: bool) -> str:
    return "an exercise record" if exercise else "a real record"


def follow(record_exercise: bool, *, drill: bool, what: str) -> bool:
    """The mode of an action on an existing record: the record's own. A drill may not change a
    real record (409)."""
    if drill and not record_exercise:
        raise Conflict(
            f"{what} is a real record: a drill (exercise) cannot change it",
            code="exercise_mismatch",
        )
    return record_exercise


def check_user_on(session: Session, user: User, model: type[Any], row_id: Any, what: str) -> None:
    """A drill user acting on an existing record (by id): refused when it is real (409, as
    `follow`). No such record: the action answers its own 404."""
    if not is_drill_user(session, user):
        return
    row = session.get(model, row_id)
    if row is not None:
        follow(row.exercise, drill=True, what=f"{what} {row_id}")


def same(first: bool, second: bool, *, what: str, other: str) -> None:
    """Two records to be linked are both real or both exercise (409 otherwise)."""
    if first != second:
        raise Conflict(
            f"{what} is {mode(first)} and {other} is {mode(second)}: "
            "a drill and reality are never mixed",
            code="exercise_mismatch",
        )
