"""HTTP routes of broadcasts (thin: check the role, call the service, return public models).

- `POST /api/v1/broadcasts` (operator) → 201 `{"id", "status", "recipients", …}`.
- Actions (create, approve, cancel) take an `Idempotency-Key` header
  (`emergency.idempotency`): the same key and body again answers the first result (200)
  and does nothing.
- `POST /api/v1/broadcasts/preview` (operator, approver): texts, encodings, segments,
  audience, cost and ETA, without storing anything.
- `GET /api/v1/broadcasts[?status=]`, `GET /api/v1/broadcasts/{id}` (any token).
- `POST /api/v1/broadcasts/{id}/approve` (approver; never the drafter: 403; twice: 409).
- `POST /api/v1/broadcasts/{id}/cancel` (operator, approver).
- `GET /api/v1/broadcasts/templates` (any token).
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from alerts.sqltypes import stored_id
from emergency.auth.dependencies import Approver, Operator, Reader, SessionDep, require
from emergency.auth.models import Role, User
from emergency.broadcasts import service
from emergency.broadcasts.schemas import (
    BroadcastChange,
    BroadcastIn,
    BroadcastPreview,
    BroadcastPublic,
    CancelPublic,
    TemplatePublic,
)
from emergency.dependencies import RuntimeDep
from emergency.drills import service as drill_service
from emergency.idempotency import IdempotentDep

log = logging.getLogger(__name__)


router = APIRouter(prefix="/api/v1/broadcasts", tags=["broadcasts"])
Drafter = Annotated[User, Depends(require(Role.operator))]
Reviewer = Annotated[User, Depends(require(Role.operator, Role.approver))]


@router.get("/templates", response_model=list[TemplatePublic])
def list_templates(user: Reader, runtime: RuntimeDep) -> list[TemplatePublic]:
    found = runtime.config.templates
    return [TemplatePublic(id=tid, **spec.model_dump()) for tid, spec in found.templates.items()]


@router.post("/preview")
def preview(
    body: BroadcastIn, user: Reviewer, session: SessionDep, runtime: RuntimeDep
) -> BroadcastPreview:
    """Per language: text, encoding (GSM-7 / UCS-2), segments, characters; the audience by
    language and channel; SMS cost (TYPHOON_SMS_PRICE) and ETA at TYPHOON_SMS_RATE, with a
    warning when it would take longer than TYPHOON_SMS_MAX_ETA. Stores nothing."""
    return BroadcastPreview.model_validate(service.preview(session, runtime=runtime, body=body))


@router.post(
    "",
    response_model=BroadcastPublic,
    status_code=201,
    responses={200: {"description": "the broadcast made earlier with this Idempotency-Key"}},
)
def create(
    body: BroadcastIn,
    user: Operator,
    session: SessionDep,
    runtime: RuntimeDep,
    once: IdempotentDep,
) -> BroadcastPublic:
    """Draft and send (or schedule) a broadcast. It waits for a second person's approval
    when its recipients are at least TYPHOON_APPROVAL_THRESHOLD."""

    def draft() -> BroadcastPublic:
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
            exercise=drill_service.is_drill(session, user, body.exercise),
            title=body.title,
            origin="operator",
            priority=body.priority,
            runtime=runtime,
        )
        session.flush()
        return service.get_public(session, stored_id(broadcast))

    return once.run(draft, status_code=201)


@router.get("", response_model=list[BroadcastPublic])
def list_all(
    user: Reader,
    session: SessionDep,
    status: str | None = None,
    limit: int = Query(50, ge=1, le=500),
    before_id: int | None = Query(None, ge=1),
) -> list[BroadcastPublic]:
    return service.list_public(session, status=status, limit=limit, before_id=before_id)


@router.get("/{broadcast_id}", response_model=BroadcastPublic)
def get_one(broadcast_id: int, user: Reader, session: SessionDep) -> BroadcastPublic:
    return service.get_public(session, broadcast_id)


@router.patch("/{broadcast_id}", response_model=BroadcastPublic)
def change(
    broadcast_id: int,
    body: BroadcastChange,
    user: Operator,
    session: SessionDep,
    runtime: RuntimeDep,
    once: IdempotentDep,
) -> BroadcastPublic:
    """Change the texts, target, send_at or priority of a broadcast not yet started (its
    drafter only, else 403; started: 409). Any change voids its approval: it waits for a
    second person again whenever it needed one."""

    def change_it() -> BroadcastPublic:
        service.update_broadcast(
            session,
            broadcast_id=broadcast_id,
            actor=user.name,
            messages=body.messages,
            template=body.template,
            variables=body.variables,
            zones=body.zones,
            area=body.area,
            send_at=body.send_at,
            priority=body.priority,
            runtime=runtime,
        )
        session.flush()
        return service.get_public(session, broadcast_id)

    return once.run(change_it)


@router.post("/{broadcast_id}/approve", response_model=BroadcastPublic)
def approve(
    broadcast_id: int, user: Approver, session: SessionDep, runtime: RuntimeDep, once: IdempotentDep
) -> BroadcastPublic:
    """The second person's approval (role approver; never the broadcast's drafter)."""

    def approve_it() -> BroadcastPublic:
        service.approve_broadcast(session, broadcast_id=broadcast_id, user=user, runtime=runtime)
        return service.get_public(session, broadcast_id)

    return once.run(approve_it)


@router.post("/{broadcast_id}/cancel", response_model=CancelPublic)
def cancel(
    broadcast_id: int, user: Reviewer, session: SessionDep, runtime: RuntimeDep, once: IdempotentDep
) -> CancelPublic:
    """Stop what has not left yet: messages still queued become cancelled."""

    def cancel_it() -> CancelPublic:
        _broadcast, stopped = service.cancel_broadcast(
            session, broadcast_id=broadcast_id, user=user, runtime=runtime
        )
        return CancelPublic(
            **service.get_public(session, broadcast_id).model_dump(), messages_cancelled=stopped
        )

    return once.run(cancel_it)
