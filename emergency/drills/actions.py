"""A person's step on one record, as the routes take it: once per `Idempotency-Key`, a drill's
step when the body says `"exercise": true` or the user is a drill user (emergency.drills), and
answered as the record's public model."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlmodel import Session

from emergency.auth.models import User
from emergency.drills import service as drill_service
from emergency.idempotency import Idempotent

Row = TypeVar("Row")
Public = TypeVar("Public")


class Steps(Generic[Row, Public]):
    """The steps on one kind of record (a hazard, a crew's task…), each answered as
    `public(record)`."""

    def __init__(self, public: Callable[[Row], Public]):
        self.public = public

    def __call__(
        self,
        once: Idempotent,
        session: Session,
        person: User,
        change: Callable[..., Row],
        body: BaseModel | None = None,
        *,
        status_code: int = 200,
        **args: Any,
    ) -> Public:
        """`change(session, actor=…, drill=…, **args, **the body's other fields)` done once: the
        record that `args` names (with whatever else `change` takes) changed by `person`;
        `status_code`: a new record's 201."""

        def run() -> Public:
            asked = bool(getattr(body, "exercise", False))
            fields = body.model_dump(exclude={"exercise"}) if body is not None else {}
            drill = drill_service.is_drill(session, person, asked)
            return self.public(change(session, actor=person.name, drill=drill, **args, **fields))

        return once.run(run, status_code=status_code)


class Creates(Generic[Row, Public]):
    """The new records of one kind (a crew, a hazard…), each answered (201) as
    `public(session, record)`."""

    def __init__(self, public: Callable[[Session, Row], Public]):
        self.public = public

    def __call__(
        self,
        once: Idempotent,
        session: Session,
        person: User,
        make: Callable[..., Row],
        body: BaseModel,
        **args: Any,
    ) -> Public:
        """`make(session, actor=…, exercise=…, **args, **the body's other fields)` done once: a
        drill's record for a body that says `"exercise": true` or a drill user."""

        def run() -> Public:
            asked = bool(getattr(body, "exercise", False))
            exercise = drill_service.is_drill(session, person, asked)
            fields = body.model_dump(exclude={"exercise"})
            record = make(session, actor=person.name, exercise=exercise, **args, **fields)
            return self.public(session, record)

        return once.run(run, status_code=201)
