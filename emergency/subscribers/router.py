"""HTTP routes of subscribers and browser push subscriptions.

- `GET /api/v1/subscribers/stats` (any token): counts by language, zone, channel; opted out.
- `POST /api/v1/subscribers` (operator): add one → 201 (409 if the phone is known).
- `POST /api/v1/subscribers/opt-out` (operator): record an opt-out (or back in) asked for by
  phone or in person; SMS replies (STOP/START) do the same through the Twilio webhook.
- `GET /api/v1/push/vapid-public-key` (public): the key browsers subscribe with.
- `POST /api/v1/push/subscriptions` (public, rate-limited per client address): a resident's
  browser, the dashboard or the field page subscribes; `exercise: true` needs the token of
  a role in EXERCISE_ROLES (403 for field and viewer tokens).
- `DELETE /api/v1/push/subscriptions` (public; the endpoint is the capability).
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from alerts.subscribers import fields
from alerts.subscribers import service as subscriber_service
from emergency import request_limits
from emergency.audit import service as audit_service
from emergency.auth import service as auth_service
from emergency.auth.dependencies import Operator, Reader, SessionDep
from emergency.auth.models import Role
from emergency.db import stored_id
from emergency.dependencies import RuntimeDep
from emergency.exceptions import Forbidden, InvalidInput, NotAuthenticated
from emergency.idempotency import IdempotentDep
from emergency.runtime import Runtime
from emergency.subscribers import flows
from emergency.subscribers.schemas import (
    OptOutIn,
    OptOutPublic,
    PushSubscriptionIn,
    PushSubscriptionPublic,
    PushUnsubscribeIn,
    SubscriberIn,
    SubscriberPublic,
    SubscriberStats,
    VapidPublicKey,
)

# Who takes part in drills at the desk and may put a browser on the exercise list: not field
# phones nor viewer screens (a drill's push would reach a wall screen as if it were real).
EXERCISE_ROLES = (Role.admin, Role.operator, Role.approver, Role.liaison)
PUSH_LIMIT = 20  # subscriptions (or unsubscriptions) per client address …
PUSH_WINDOW = 600.0  # … per ten minutes

router = APIRouter(tags=["subscribers"])
_optional_bearer = HTTPBearer(auto_error=False)


def _rate_limited(request: Request) -> None:
    """PUSH_LIMIT (un)subscriptions per client address per PUSH_WINDOW, across processes;
    beyond: 429 with Retry-After. Counted before the body is checked (a refused one too)."""
    limiter = request_limits.limiter(request.app, "push", limit=PUSH_LIMIT, window=PUSH_WINDOW)
    allowed, retry = limiter.allow(request_limits.client_address(request))
    if not allowed:
        raise request_limits.too_many("push subscription requests from this address", retry)


@router.get("/api/v1/subscribers/stats")
def stats(user: Reader, session: SessionDep) -> SubscriberStats:
    """Counts of subscribers not opted out by language, zone (home community) and channel;
    how many opted out, how many are on the exercise list, how many browser subscriptions."""
    return SubscriberStats.model_validate(subscriber_service.stats(session))


@router.post("/api/v1/subscribers", response_model=SubscriberPublic, status_code=201)
def add(
    body: SubscriberIn,
    user: Operator,
    session: SessionDep,
    runtime: RuntimeDep,
    once: IdempotentDep,
) -> SubscriberPublic:
    def add_it() -> SubscriberPublic:
        values = body.model_dump()
        subscriber = flows.add_subscriber(
            session, zones=runtime.zones, values=values, actor=user.name
        )
        return flows.public(subscriber)

    return once.run(add_it, status_code=201)


@router.post("/api/v1/subscribers/opt-out", response_model=OptOutPublic)
def opt_out(
    body: OptOutIn, user: Operator, session: SessionDep, once: IdempotentDep
) -> OptOutPublic:
    def set_it() -> OptOutPublic:
        change = flows.set_opt_out(
            session, phone=body.phone, opted_out=body.opted_out, actor=user.name, via="operator"
        )
        if change is None:
            raise InvalidInput("no subscriber with this phone", code="unknown_subscriber")
        return OptOutPublic(
            subscriber_id=change.subscriber_id, opted_out=change.after, changed=change.changed
        )

    return once.run(set_it)


@router.get("/api/v1/push/vapid-public-key", response_model=VapidPublicKey)
async def vapid_public_key(runtime: RuntimeDep) -> VapidPublicKey:
    """The VAPID public key (base64url) for `pushManager.subscribe({applicationServerKey})`."""
    key = runtime.memo.vapid_public_key
    if key is None:
        key = await asyncio.to_thread(_load_vapid_public_key, runtime)
        runtime.memo.vapid_public_key = key
    return VapidPublicKey(public_key=key)


def _load_vapid_public_key(runtime: Runtime) -> str:
    from emergency.keys import cipher

    settings = runtime.settings
    with runtime.db.unit_of_work() as session:
        _private, public = subscriber_service.vapid_keys(
            session,
            cipher=cipher(settings),
            private_key=settings.secret("vapid_private_key"),
            public_key=settings.vapid_public_key,
        )
    return public


@router.post(
    "/api/v1/push/subscriptions",
    response_model=PushSubscriptionPublic,
    status_code=201,
    dependencies=[Depends(_rate_limited)],
)
def push_subscribe(
    body: PushSubscriptionIn,
    session: SessionDep,
    runtime: RuntimeDep,
    response: Response,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_optional_bearer)],
) -> PushSubscriptionPublic:
    """Store a browser's push subscription (again: refreshed, 200). Public, so a resident's
    browser can subscribe; a location or zone narrows what it receives, neither makes it
    island-wide."""
    user = None
    if credentials is not None:
        user = auth_service.user_for_token(session, credentials.credentials)
        if user is None:
            raise NotAuthenticated("invalid or revoked token", code="invalid_token")
    if body.exercise:
        if user is None:
            raise NotAuthenticated("exercise subscriptions are for staff: send your token")
        if user.role not in EXERCISE_ROLES:
            raise Forbidden(
                f"role '{user.role}' may not join the exercise list (needs "
                f"{', '.join(r.value for r in EXERCISE_ROLES)})"
            )
    try:
        lat, lon = fields.location(body.lat, body.lon)
        zone_id = fields.zone(body.zone, runtime.zones)
        if zone_id is None and lat is not None and lon is not None:
            zone_id = runtime.zones.zone_of(lon, lat)
        extra = [h for h in runtime.settings.push_endpoint_hosts.split(",") if h.strip()]
        row, created = subscriber_service.save_push_subscription(
            session,
            endpoint=body.subscription.endpoint,
            p256dh=body.subscription.keys.p256dh,
            auth=body.subscription.keys.auth,
            language=body.language,
            lat=lat,
            lon=lon,
            zone_id=zone_id,
            exercise=body.exercise,
            extra_hosts=extra,
        )
    except fields.FieldProblem as problem:
        raise InvalidInput(str(problem), code=f"invalid_{problem.field}") from None
    audit_service.record(
        session,
        actor=user.name if user else "public",
        action="push_subscription.saved",
        target_type="push_subscription",
        target_id=stored_id(row),
        after={
            "created": created,
            "language": row.language,
            "zone_id": row.zone_id,
            "exercise": body.exercise,
        },
    )
    if not created:
        response.status_code = 200
    return PushSubscriptionPublic(
        id=stored_id(row),
        created=created,
        language=row.language,
        zone_id=row.zone_id,
        island_wide=row.lat is None and row.zone_id is None,
        exercise=row.subscriber_id is not None and body.exercise,
    )


@router.delete("/api/v1/push/subscriptions", status_code=204, dependencies=[Depends(_rate_limited)])
def push_unsubscribe(body: PushUnsubscribeIn, session: SessionDep) -> Response:
    found = subscriber_service.delete_push_subscription(session, endpoint=body.endpoint)
    if found:
        audit_service.record(
            session,
            actor="public",
            action="push_subscription.deleted",
            target_type="push_subscription",
            target_id="by-endpoint",
        )
    return Response(status_code=204)
