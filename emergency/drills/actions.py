"""A person's action on one record, as the routes take it: once per `Idempotency-Key`, a
drill's when the body says `"exercise": true` or the person is a drill user (emergency.drills),
and answered as the record's public model.

The request's session and the person acting are those `once` (emergency.idempotency) is bound
to; the route's role dependency has checked that person already."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlmodel import Session

from emergency.drills import service as drill_service
from emergency.idempotency import Idempotent

Row = TypeVar("Row")
Public = TypeVar("Public")


def _drill_and_fields(once: Idempotent, body: BaseModel | None) -> tuple[bool, dict[str, Any]]:
    """Whether the action is a drill's, and the body's other fields."""
    asked = bool(getattr(body, "exercise", False))
    fields = body.model_dump(exclude={"exercise"}) if body is not None else {}
    return drill_service.is_drill(once.session, once.user, asked), fields


class Steps(Generic[Row, Public]):
    """The steps on one kind of record (a hazard, a crew's task…), each answered as
    `public(record)`."""

    def __init__(self, public: Callable[[Row], Public]):
        self.public = public

    def __call__(
        self,
        once: Idempotent,
        change: Callable[..., Row],
        body: BaseModel | None = None,
        *,
        status_code: int = 200,
        **args: Any,
    ) -> Public:
        """`change(session, actor=…, drill=…, **args, **the body's other fields)` done once: the
        record that `args` names (with whatever else `change` takes); `status_code`: a new
        record's 201."""

        def run() -> Public:
            drill, fields = _drill_and_fields(once, body)
            return self.public(
                change(once.session, actor=once.user.name, drill=drill, **args, **fields)
            )

        return once.run(run, status_code=status_code)


class Creates(Generic[Row, Public]):
    """The new records of one kind (a crew, a hazard…), each answered (201) as
    `public(session, record)`."""

    def __init__(self, public: Callable[[Session, Row], Public]):
        self.public = public

    def __call__(
        self, once: Idempotent, make: Callable[..., Row], body: BaseModel, **args: Any
    ) -> Public:
        """`make(session, actor=…, exercise=…, **args, **the body's other fields)` done once."""

        def run() -> Public:
            exercise, fields = _drill_and_fields(once, body)
            record = make(once.session, actor=once.user.name, exercise=exercise, **args, **fields)
            return self.public(once.session, record)

        return once.run(run, status_code=201)
