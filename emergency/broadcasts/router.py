"""HTTP routes of broadcasts (thin: check the role, call the service, return public models).

- `POST /api/v1/broadcasts` (operator) → 201 `{"id", "status", "recipients", …}`; an
  `Idempotency-Key` header makes a retried request return the first broadcast (200).
- `POST /api/v1/broadcasts/preview` (operator, approver): texts, encodings, segments,
  audience, cost and ETA, without storing anything.
- `GET /api/v1/broadcasts[?status=]`, `GET /api/v1/broadcasts/{id}` (any token).
- `POST /api/v1/broadcasts/{id}/approve` (approver; never the drafter: 403; twice: 409).
- `POST /api/v1/broadcasts/{id}/cancel` (operator, approver).
- `GET /api/v1/broadcasts/templates` (any token).
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response

from emergency.auth.dependencies import Approver, Operator, Reader, SessionDep, require
from emergency.auth.models import Role, User
from emergency.broadcasts import service
from emergency.broadcasts.schemas import (
    BroadcastIn,
    BroadcastPublic,
    CancelPublic,
    TemplatePublic,
)
from emergency.broadcasts.templates import templates as runtime_templates

log = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(app):
    """Check the message templates at start (a bad file stops the service with
    file:line:field) and tell the broadcasts where this process's scheduler is."""
    runtime = app.state.runtime
    runtime.extras.setdefault("scheduler", getattr(app.state, "scheduler", None))
    found = await asyncio.to_thread(runtime_templates, runtime)
    log.info("message templates ready", extra={"templates": len(found.templates)})
    yield


router = APIRouter(prefix="/api/v1/broadcasts", tags=["broadcasts"], lifespan=lifespan)
Drafter = Annotated[User, Depends(require(Role.operator))]
Reviewer = Annotated[User, Depends(require(Role.operator, Role.approver))]


def get_runtime(request: Request) -> Any:
    return request.app.state.runtime


RuntimeDep = Annotated[Any, Depends(get_runtime)]


@router.get("/templates", response_model=list[TemplatePublic])
def list_templates(user: Reader, runtime: RuntimeDep):
    found = runtime_templates(runtime)
    return [TemplatePublic(id=tid, **spec.model_dump()) for tid, spec in found.templates.items()]


@router.post("/preview")
def preview(
    body: BroadcastIn, user: Reviewer, session: SessionDep, runtime: RuntimeDep
) -> dict[str, Any]:
    """Per language: text, encoding (GSM-7 / UCS-2), segments, characters; the audience by
    language and channel; SMS cost (TYPHOON_SMS_PRICE) and ETA at TYPHOON_SMS_RATE, with a
    warning when it would take longer than TYPHOON_SMS_MAX_ETA. Stores nothing."""
    return service.preview(session, runtime=runtime, body=body)


@router.post("", response_model=BroadcastPublic, status_code=201)
def create(
    body: BroadcastIn,
    user: Operator,
    session: SessionDep,
    runtime: RuntimeDep,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=100)] = None,
):
    """Draft and send (or schedule) a broadcast. It waits for a second person's approval
    when its recipients are at least TYPHOON_APPROVAL_THRESHOLD."""
    key = f"http:{user.name}:{idempotency_key}" if idempotency_key else None
    earlier = service.find_by_key(session, key) if key else None
    if earlier is not None:  # a retried request: the broadcast it made, nothing new
        response.status_code = 200
        return service.get_public(session, earlier.id)
    broadcast = service.create_broadcast(
        session,
        actor=user.name,
        messages=body.messages,
        template=body.template,
        variables=body.variables,
        zones=body.zones,
        area=body.area,
        channels=body.channels,
        send_at=body.send_at,
        exercise=body.exercise,
        title=body.title,
        origin="operator",
        idempotency_key=key,
        runtime=runtime,
    )
    session.flush()
    return service.get_public(session, broadcast.id)


@router.get("", response_model=list[BroadcastPublic])
def list_all(
    user: Reader,
    session: SessionDep,
    status: str | None = None,
    limit: int = Query(50, ge=1, le=500),
    before_id: int | None = Query(None, ge=1),
):
    return service.list_public(session, status=status, limit=limit, before_id=before_id)


@router.get("/{broadcast_id}", response_model=BroadcastPublic)
def get_one(broadcast_id: int, user: Reader, session: SessionDep):
    return service.get_public(session, broadcast_id)


@router.post("/{broadcast_id}/approve", response_model=BroadcastPublic)
def approve(broadcast_id: int, user: Approver, session: SessionDep, runtime: RuntimeDep):
    """The second person's approval (role approver; never the broadcast's drafter)."""
    service.approve_broadcast(session, broadcast_id=broadcast_id, actor=user.name, runtime=runtime)
    return service.get_public(session, broadcast_id)


@router.post("/{broadcast_id}/cancel", response_model=CancelPublic)
def cancel(broadcast_id: int, user: Reviewer, session: SessionDep, runtime: RuntimeDep):
    """Stop what has not left yet: messages still queued become cancelled."""
    _broadcast, stopped = service.cancel_broadcast(
        session, broadcast_id=broadcast_id, actor=user.name, runtime=runtime
    )
    return CancelPublic(
        **service.get_public(session, broadcast_id).model_dump(), messages_cancelled=stopped
    )
