"""Dependencies of the field-operation routes: the zone set loaded at start-up, and the rate
limit of the phones' writes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from emergency import ratelimit
from emergency.auth.dependencies import FieldReporter


async def get_zones(request: Request) -> Any:  # async: no thread hand-over for an attribute
    return getattr(request.app.state, "zones", None)


ZonesDep = Annotated[Any, Depends(get_zones)]


def field_rate_limited(request: Request, user: FieldReporter) -> None:
    """At most TYPHOON_FIELD_RATE_LIMIT field reports and photos per user per minute (after the
    role check, so a refused caller uses nobody's allowance). A phone flushing its offline
    queue fits; a runaway one gets 429 with Retry-After, and the form retries later."""
    limit = request.app.state.settings.field_rate_limit
    if not limit:
        return
    allowed, retry = ratelimit.limiter(request.app, "field", limit=limit, window=60.0).allow(
        f"user:{user.id}"
    )
    if not allowed:
        raise ratelimit.too_many("field reports and photos from this user", retry)


FieldRateLimited = Depends(field_rate_limited)
