"""HTTP routes of the liaison domain: contacts, the hotline log, notices, acknowledgements.

Contacts, calls and notices need a liaison (or operator) token. The acknowledgement link of
a notice (`/api/v1/liaison/ack/{token}`) needs none: GET shows the notice (safe for link
previews), POST acknowledges it.
"""

from __future__ import annotations

import html
import uuid
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from sqlmodel import Session

from alerts.sqltypes import stored_id
from emergency.auth.dependencies import Liaison, Operator, SessionDep
from emergency.clock import local_iso
from emergency.db import to_public
from emergency.dependencies import RuntimeDep
from emergency.drills import service as drill_service
from emergency.idempotency import IdempotentDep
from emergency.liaison import service as liaison_service
from emergency.liaison.models import HotlineCall, LiaisonContact, LiaisonNotice, NoticeKind
from emergency.liaison.schemas import (
    AckIn,
    AckLinkDone,
    AckLinkView,
    CallIn,
    CallPublic,
    ContactIn,
    ContactPublic,
    ContactUpdate,
    LinkAckIn,
    NoticeIn,
    NoticePublic,
)
from emergency.runtime import Runtime
from emergency.web.headers import ACK_CSP, secure

router = APIRouter(prefix="/api/v1/liaison", tags=["liaison"])

# The acknowledgement link answers a browser (Accept: text/html) with a page, others with JSON.
_OR_A_PAGE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/html": {}}, "description": "JSON, or a page for a browser"}
}


def _contact(row: LiaisonContact) -> ContactPublic:
    return to_public(ContactPublic, row)


def _call(row: HotlineCall) -> CallPublic:
    return CallPublic.model_validate(liaison_service.call_public(row))


def _notice(session: Session, runtime: Runtime, row: LiaisonNotice) -> NoticePublic:
    return NoticePublic.model_validate(liaison_service.notice_public(session, runtime, row))


# --- contacts ----------------------------------------------------------------------------


@router.get("/contacts")
def get_contacts(user: Liaison, session: SessionDep) -> list[ContactPublic]:
    return [_contact(c) for c in liaison_service.list_contacts(session)]


@router.post("/contacts", status_code=201)
def post_contact(
    body: ContactIn, user: Operator, session: SessionDep, once: IdempotentDep
) -> ContactPublic:
    def save() -> ContactPublic:
        row = liaison_service.save_contact(session, actor=user.name, **body.model_dump())
        return _contact(row)

    return once.run(save, status_code=201)


@router.patch("/contacts/{contact_id}")
def patch_contact(
    contact_id: int, body: ContactUpdate, user: Operator, session: SessionDep, once: IdempotentDep
) -> ContactPublic:
    def save() -> ContactPublic:
        row = liaison_service.save_contact(
            session, actor=user.name, contact_id=contact_id, **body.model_dump(exclude_unset=True)
        )
        return _contact(row)

    return once.run(save)


# --- hotline -----------------------------------------------------------------------------


@router.get("/calls")
def get_calls(
    user: Liaison, session: SessionDep, open_follow_ups: bool = False, exercise: bool = False
) -> list[CallPublic]:
    """Real calls; `?exercise=true` (or a drill user's token): the drill's."""
    return [
        _call(c)
        for c in liaison_service.list_calls(
            session,
            open_follow_ups=open_follow_ups,
            exercise=drill_service.is_drill(session, user, exercise),
        )
    ]


@router.post("/calls", status_code=201)
def post_call(
    body: CallIn, user: Liaison, session: SessionDep, runtime: RuntimeDep, once: IdempotentDep
) -> CallPublic:
    """Log a call of the 24-hour Hengqin-Macau line (direction, caller, summary, follow-up);
    `"exercise": true` (or a drill user's token): a drill's call. An `Idempotency-Key`
    makes a retry answer the first call's record."""

    def log() -> CallPublic:
        call = liaison_service.log_call(
            session,
            runtime=runtime,
            actor=user.name,
            exercise=drill_service.is_drill(session, user, body.exercise),
            **body.model_dump(exclude={"exercise"}),
        )
        return _call(call)

    return once.run(log, status_code=201)


@router.post("/calls/{call_id}/follow-up-done")
def post_follow_up_done(
    call_id: int, user: Liaison, session: SessionDep, once: IdempotentDep
) -> CallPublic:
    def close() -> CallPublic:
        drill_service.check_user_on(session, user, HotlineCall, call_id, "hotline call")
        return _call(liaison_service.close_follow_up(session, call_id=call_id, actor=user.name))

    return once.run(close)


# --- notices -----------------------------------------------------------------------------


@router.get("/notices")
def get_notices(
    user: Liaison, session: SessionDep, runtime: RuntimeDep, status: str | None = None
) -> list[NoticePublic]:
    return [
        _notice(session, runtime, n) for n in liaison_service.list_notices(session, status=status)
    ]


@router.get("/notices/{notice_id}")
def get_notice(
    notice_id: int, user: Liaison, session: SessionDep, runtime: RuntimeDep
) -> NoticePublic:
    notice = liaison_service.get_notice(session, notice_id=notice_id)
    return _notice(session, runtime, notice)


@router.post("/notices", status_code=201)
def post_notice(
    body: NoticeIn, user: Liaison, session: SessionDep, runtime: RuntimeDep, once: IdempotentDep
) -> NoticePublic:
    """A notice from the liaison desk to every active contact (an `Idempotency-Key` header
    makes a retry answer the first notice and send nothing)."""

    texts: dict[str, str] = {language: text for language, text in body.texts.items()}
    liaison_service.check_texts(runtime, texts)

    def send() -> NoticePublic:
        notice = liaison_service.notify(
            session,
            runtime=runtime,
            kind=NoticeKind.manual,
            dedupe_key=f"manual:{uuid.uuid4().hex}",
            texts=texts,
            actor=user.name,
            exercise=drill_service.is_drill_user(session, user),  # a drill liaison's: a drill's
        )
        return _notice(session, runtime, notice)

    return once.run(send, status_code=201)


@router.post("/notices/{notice_id}/ack")
def post_ack(
    notice_id: int,
    body: AckIn,
    user: Liaison,
    session: SessionDep,
    runtime: RuntimeDep,
    once: IdempotentDep,
) -> NoticePublic:
    """Acknowledge a notice for a contact (who confirmed by phone) or for the liaison desk."""

    def ack() -> NoticePublic:
        drill_service.check_user_on(session, user, LiaisonNotice, notice_id, "liaison notice")
        notice = liaison_service.acknowledge(
            session,
            runtime=runtime,
            notice_id=notice_id,
            actor=user.name,
            contact_id=body.contact_id,
            note=body.note,
        )
        return _notice(session, runtime, notice)

    return once.run(ack)


# --- the acknowledgement link (no token: the link is the credential) ---------------------


@router.get("/ack/{token}", response_model=AckLinkView, responses=_OR_A_PAGE)
def get_ack_link(
    token: str, request: Request, session: SessionDep, runtime: RuntimeDep
) -> AckLinkView | Response:
    row = liaison_service.recipient_for_token(
        session, token=token, valid_days=runtime.settings.retain_ack_links_days
    )
    notice = liaison_service.get_notice(session, notice_id=row.notice_id)
    view = AckLinkView(
        notice_id=stored_id(notice),
        texts=notice.texts,
        signal=notice.signal,
        created_at_local=local_iso(notice.created_at) or "",
        acknowledged=row.acknowledged_at is not None,
        exercise=notice.exercise,
    )
    if "text/html" not in request.headers.get("accept", ""):
        return view
    text = html.escape(notice.texts.get("zh-Hant") or notice.texts.get("en", ""))
    english = html.escape(notice.texts.get("en", ""))
    done = "已確認 Acknowledged" if view.acknowledged else ""
    form = (
        ""
        if done
        else (
            f'<form method="post" action="/api/v1/liaison/ack/{html.escape(token)}">'
            '<button type="submit" style="font-size:1.4em">確認收悉 Acknowledge</button></form>'
        )
    )
    page = HTMLResponse(
        '<!doctype html><meta charset="utf-8"><meta name="viewport" '
        'content="width=device-width"><title>Hengqin liaison notice</title>'
        f"<p>{text}</p><p>{english}</p><p><b>{done}</b></p>{form}"
    )
    return secure(page, ACK_CSP)  # the link's token is in the URL: no referrer, no framing


@router.post("/ack/{token}", response_model=AckLinkDone, responses=_OR_A_PAGE)
def post_ack_link(
    token: str,
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    body: LinkAckIn | None = None,
) -> AckLinkDone | Response:
    """Acknowledge with the link (optionally JSON `{"note": …}`; the HTML page posts a form)."""
    notice = liaison_service.acknowledge_link(
        session, runtime=runtime, token=token, note=body.note if body else None
    )
    if "text/html" in request.headers.get("accept", ""):
        return HTMLResponse('<!doctype html><meta charset="utf-8"><p>已確認 Acknowledged</p>')
    return AckLinkDone(notice_id=stored_id(notice), status=notice.status, acknowledged=True)
