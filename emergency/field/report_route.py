"""`POST /api/v1/field-reports` answered with one hand-off to a thread (issue 18).

FastAPI's own request handling cost a field report more than the report's work: eight
dependency nodes solved on every request (body, header, role check, caller, session
generator, bearer scheme, zones, rate limit) and two or three hand-offs to the thread pool
(the caller's token, the rate limit, the handler). This route keeps its endpoint's signature,
so /openapi.json, emergency.openapi's role look-up and the security tests read it as before,
and resolves those parameters itself, in FastAPI's order:

1. on the event loop: the body read, and parsed when its Content-Type says JSON (malformed
   JSON is a 422 before anything else, as in FastAPI), and the bearer credentials;
2. in one thread, with one session: the caller (401), the role (403), the rate limit (429),
   the body's validation (422), the endpoint, the commit; a rollback on any error. A thread
   runs to its end even when the request is cancelled, so no commit is cut in half. At most
   TYPHOON_FIELD_REPORT_THREADS such threads at once (emergency.settings says why).
"""

from __future__ import annotations

import email.message
import functools
import inspect
import json
from collections.abc import Callable, Coroutine
from typing import Final

import anyio
from fastapi import HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import ValidationError
from sqlmodel import Session

from emergency.auth.dependencies import bearer, current_user
from emergency.field.dependencies import check_field_rate, field_writer
from emergency.field.schemas import FieldReportIn
from geo.zones import ZoneSet

ReportEndpoint = Callable[..., Response]
PARAMETERS: Final = ("body", "user", "session", "zones", "idempotency_key")


class _NoBody:
    """An empty request body (FastAPI's `Undefined`): the report is missing."""


NO_BODY: Final = _NoBody()
Received = object  # JSON's value, the raw bytes of a body that is not JSON, or NO_BODY


class FieldReportRoute(APIRoute):
    """The route of an endpoint `(body, user, session, zones, idempotency_key) -> Response`
    whose caller is `FieldWriter`; checked when the route is made."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[None, None, Response]]:
        endpoint: ReportEndpoint = self.endpoint
        names = tuple(inspect.signature(endpoint).parameters)
        if names != PARAMETERS:
            raise TypeError(f"{endpoint.__name__}{names}: FieldReportRoute passes {PARAMETERS}")
        if not any(d.call is field_writer for d in self.dependant.dependencies):
            raise TypeError(f"{endpoint.__name__}: FieldReportRoute checks FieldWriter's roles")

        async def handle(request: Request) -> Response:
            received = parse_body(request, await read_body(request))
            credentials = await bearer(request)
            work = functools.partial(answer, endpoint, request, received, credentials)
            threads: anyio.CapacityLimiter = request.app.state.field_report_threads
            return await anyio.to_thread.run_sync(work, limiter=threads)

        return handle


async def read_body(request: Request) -> bytes:
    """The body, or FastAPI's 400 when it could not be read (a client gone, a body refused by
    the admission middleware, which then answers its own 408 or 503 in its place): so the
    request is logged and counted as FastAPI's routes' are, not as a 500."""
    try:
        return await request.body()
    except Exception as e:
        raise HTTPException(400, "There was an error parsing the body") from e


def parse_body(request: Request, raw: bytes) -> Received:
    """FastAPI's reading of a JSON body: parsed only when the Content-Type is JSON."""
    if not raw:
        return NO_BODY
    content_type = request.headers.get("content-type")
    if content_type is None or not _is_json(content_type):
        return raw  # validated as it is, so refused with 422 after the caller's checks
    try:
        return json.loads(raw)
    except json.JSONDecodeError as e:
        malformed = {
            "type": "json_invalid",
            "loc": ("body", e.pos),
            "msg": "JSON decode error",
            "input": {},
            "ctx": {"error": e.msg},
        }
        raise RequestValidationError([malformed], body=e.doc) from e
    except (ValueError, RecursionError) as e:  # not UTF-8 (or -16, -32), or nested too deep
        raise HTTPException(400, "There was an error parsing the body") from e


def _is_json(content_type: str) -> bool:
    if content_type == "application/json":
        return True
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


def answer(
    endpoint: ReportEndpoint,
    request: Request,
    received: Received,
    credentials: HTTPAuthorizationCredentials | None,
) -> Response:
    """The report's checks, the endpoint and the commit, in the thread that called it."""
    app = request.app
    session: Session = app.state.db.session()
    try:
        user = current_user(request, session, credentials)
        field_writer.admit(user)
        check_field_rate(app, user)
        zones: ZoneSet = app.state.runtime.zones
        response = endpoint(
            body=validated(received),
            user=user,
            session=session,
            zones=zones,
            idempotency_key=request.headers.get("idempotency-key"),
        )
        return response  # committed by the endpoint
    except BaseException:
        if session.in_transaction():
            session.rollback()
        raise
    finally:
        session.close()


def validated(received: Received) -> FieldReportIn:
    """The report, or FastAPI's 422 with each problem located under `body`."""
    if received is NO_BODY:
        missing = {"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}
        raise RequestValidationError([missing])
    try:
        return FieldReportIn.model_validate(received, from_attributes=True)
    except ValidationError as e:
        problems = [{**p, "loc": ("body", *p["loc"])} for p in e.errors(include_url=False)]
        raise RequestValidationError(problems, body=received) from None
