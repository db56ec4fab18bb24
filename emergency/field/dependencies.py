"""Dependencies of the field-operation routes: the zone set loaded at start-up, a list's row
limit, and the caller of the phones' writes (role check, then the rate limit)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI, Query, Request
from starlette.concurrency import run_in_threadpool

from emergency import request_limits
from emergency.auth.dependencies import FIELD_REPORTERS, require
from emergency.auth.models import User
from emergency.runtime import Runtime
from geo.zones import ZoneSet


async def get_zones(request: Request) -> ZoneSet:  # async: no thread hand-over
    # from the request, not through RuntimeDep: one dependency less to solve per field report
    runtime: Runtime = request.app.state.runtime
    return runtime.zones


ZonesDep = Annotated[ZoneSet, Depends(get_zones)]

RowLimit = Annotated[int, Query(ge=1, le=5000)]
"""`?limit=`: how many rows a list answers at most (its default is the route's)."""


def check_field_rate(app: FastAPI, user: User) -> None:
    """At most TYPHOON_FIELD_RATE_LIMIT field reports and photos per user per minute (after the
    role check, so a refused caller uses nobody's allowance). A phone flushing its offline
    queue fits; a runaway one gets 429 with Retry-After, and the form retries later. May ask
    Redis: call it from a thread."""
    limit = app.state.settings.field_rate_limit
    if not limit:
        return
    limiter = request_limits.limiter(app, "field", limit=limit, window=60.0)
    allowed, retry = limiter.allow(f"user:{user.id}")
    if not allowed:
        raise request_limits.too_many("field reports and photos from this user", retry)


async def field_rate_limit(request: Request, user: User) -> None:
    """`check_field_rate` in the thread pool (`async`: with no limit set no thread is handed
    the request)."""
    if request.app.state.settings.field_rate_limit:
        await run_in_threadpool(check_field_rate, request.app, user)


field_writer = require(*FIELD_REPORTERS, then=field_rate_limit)
FieldWriter = Annotated[User, Depends(field_writer)]
"""The caller of a field report or photo: a field team (or an operator, or an admin), within
the rate limit."""
