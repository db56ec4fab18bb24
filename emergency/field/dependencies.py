"""Dependencies of the field-operation routes: the zone set loaded at start-up, a list's row
limit, and the caller of the phones' writes (role check, then the rate limit)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request
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


async def field_rate_limit(request: Request, user: User) -> None:
    """At most TYPHOON_FIELD_RATE_LIMIT field reports and photos per user per minute (after the
    role check, so a refused caller uses nobody's allowance). A phone flushing its offline
    queue fits; a runaway one gets 429 with Retry-After, and the form retries later.

    `async`: with no limit set nothing is checked, so no thread is handed the request; the
    limiter (which may ask Redis) runs in the thread pool."""
    limit = request.app.state.settings.field_rate_limit
    if not limit:
        return
    limiter = request_limits.limiter(request.app, "field", limit=limit, window=60.0)
    allowed, retry = await run_in_threadpool(limiter.allow, f"user:{user.id}")
    if not allowed:
        raise request_limits.too_many("field reports and photos from this user", retry)


FieldWriter = Annotated[User, Depends(require(*FIELD_REPORTERS, then=field_rate_limit))]
"""The caller of a field report or photo: a field team (or an operator, or an admin), within
the rate limit."""
