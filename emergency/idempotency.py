"""The Idempotency-Key of a person's action: the same request twice does it once.

Every action a person takes through the API may carry an ``Idempotency-Key`` header (the
dashboard sends one per click, a phone one per report). In a route::

    @router.post("/things", status_code=201)
    def post_thing(body: ThingIn, user: Operator, session: SessionDep, once: IdempotentDep):
        return once.run(lambda: do_the_thing(session, ...), status_code=201)

- no key: ``run`` just calls the action;
- a new key: a row (user, key, fingerprint of method + path + query + body) is inserted
  *before* the action, in the request's transaction, and the action's JSON answer is stored
  in that row *after* it, still in that transaction (so the action must not commit): the record commits with the action's
  effects or not at all (a crash or an error leaves neither, and the key can be used again);
- the same key and the same request again: the stored answer, with the action not run
  (``Idempotent-Replayed: true``; a stored 201 is answered 200: nothing was created now);
- the same key with another request (another body, another endpoint): 409
  ``idempotency_key_reused``.

Two requests at once with one key do one thing: the second insert waits on the unique
(user, key) until the first transaction ends (PostgreSQL's unique index; SQLite's write
lock), then finds the stored answer (or, if the first rolled back, goes ahead itself).

Only successful answers are stored: an action that failed (4xx, 5xx) stored nothing, so the
same key may try again. Records are kept :data:`KEEP` (a retry comes within minutes), then
purged by the periodic ``idempotency-purge`` job.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, cast

from fastapi import Depends, Header, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from sqlalchemy import UniqueConstraint, delete, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Column, Field, Session, SQLModel, col, select

from alerts.sqltypes import rowcount, table_of
from emergency.auth.dependencies import CurrentUser, SessionDep
from emergency.auth.models import User
from emergency.db import JSONType, UTCDateTime, utcnow
from emergency.exceptions import Conflict, InvalidInput

if TYPE_CHECKING:
    from emergency.runtime import Runtime

T = TypeVar("T")
HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEEP = timedelta(hours=24)
_KEY = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")


class IdempotencyRecord(SQLModel, table=True):
    """One key of one user: what the request was (its fingerprint) and what it answered."""

    __tablename__ = "idempotency_record"
    __table_args__ = (UniqueConstraint("user_id", "key", name="uq_idempotency_user_key"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user_account.id")
    key: str = Field(max_length=100)
    request_hash: str = Field(max_length=64)  # sha256 of method, path, query and body
    status_code: int = 0  # 0 while the action runs (never committed so)
    response: Any = Field(default=None, sa_column=Column(JSONType))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


def fingerprint(method: str, path: str, query: str, body: bytes) -> str:
    """The request as a hash: a JSON body is canonical (key order and spacing do not count)."""
    try:
        canonical = json.dumps(
            json.loads(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()
    except ValueError:  # not JSON (or empty): the bytes as they are
        canonical = body
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), query.encode(), canonical):
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()


def check_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not _KEY.match(key):
        raise InvalidInput(
            f"{HEADER} header: 1 to 100 characters of A-Z a-z 0-9 _ . : - "
            "(e.g. a UUID made for the click)",
            code="invalid_idempotency_key",
        )
    return key


class Idempotent:
    """One request's key (or none), bound to its session and user; see the module docstring."""

    def __init__(self, session: Session, *, user: User, key: str | None, request_hash: str):
        self.session = session
        self.user = user
        self.key = key
        self.request_hash = request_hash

    def run(self, action: Callable[[], T], *, status_code: int = 200) -> T:
        """The action's answer, done once per key: the answer itself when there is no key,
        else a JSONResponse of it (the first time) or of the stored one (a replay). Typed as
        the answer: the route declares the shape it answers, and FastAPI sends a response
        it is given as it is."""
        if self.key is None:
            return action()
        # INSERT … ON CONFLICT DO NOTHING: a key committed by another request (or being
        # written by one: the insert waits for it to end) returns no id, and no error aborts
        # the transaction. No savepoint: on SQLite, releasing a savepoint that opened the
        # transaction commits it, and the record would be stored before the action.
        table = table_of(IdempotencyRecord)
        dialect = self.session.connection().dialect.name
        insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
        record_id = self.session.execute(
            insert(table)
            .values(
                user_id=self.user.id,
                key=self.key,
                request_hash=self.request_hash,
                status_code=0,
                created_at=utcnow(),
            )
            .on_conflict_do_nothing(index_elements=["user_id", "key"])
            .returning(table.c.id)
        ).scalar_one_or_none()
        if record_id is None:
            return cast(T, self._replay())
        content = jsonable_encoder(action())
        self.session.execute(
            update(table)
            .where(table.c.id == record_id)
            .values(status_code=status_code, response=content)
        )
        return cast(T, JSONResponse(content, status_code=status_code))

    def _replay(self) -> JSONResponse:
        stored = self.session.exec(
            select(IdempotencyRecord).where(
                IdempotencyRecord.user_id == self.user.id, IdempotencyRecord.key == self.key
            )
        ).first()
        if stored is None or stored.status_code == 0:  # pragma: no cover - never committed so
            raise Conflict(
                f"{HEADER} {self.key!r} is in use by a request not finished; try again",
                code="idempotency_key_in_use",
            )
        if stored.request_hash != self.request_hash:
            raise Conflict(
                f"{HEADER} {self.key!r} was already used for another request "
                f"(made {stored.created_at.isoformat()}); use a new key for a new action",
                code="idempotency_key_reused",
            )
        status = 200 if stored.status_code == 201 else stored.status_code
        return JSONResponse(stored.response, status_code=status, headers={REPLAYED_HEADER: "true"})


async def idempotent(
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias=HEADER,
            description="a key made once per action (e.g. a UUID per click): the same key "
            "and request again answers the stored result and does nothing; the same key "
            "with another request is a 409",
        ),
    ] = None,
) -> Idempotent:
    key = check_key(idempotency_key)
    digest = ""
    if key is not None:
        body = await request.body()  # cached by Starlette: the route still reads it
        digest = fingerprint(request.method, request.url.path, request.url.query, body)
    return Idempotent(session, user=user, key=key, request_hash=digest)


IdempotentDep = Annotated[Idempotent, Depends(idempotent)]


def purge(session: Session, *, now: datetime | None = None) -> int:
    """Forget records older than :data:`KEEP`; returns how many."""
    cutoff = (now or utcnow()) - KEEP
    return rowcount(
        session.execute(delete(IdempotencyRecord).where(col(IdempotencyRecord.created_at) < cutoff))
    )


def purge_job(*, runtime: Runtime) -> None:
    """The periodic job (emergency.scheduled)."""
    with runtime.db.unit_of_work() as session:
        purge(session)


PURGE_EVERY = 3600.0
