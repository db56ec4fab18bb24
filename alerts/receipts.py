"""Delivery receipts (Twilio status callbacks) and replies (STOP / START / HELP).

Receipts: Twilio posts ``MessageSid`` and ``MessageStatus`` as a message moves on; the
callbacks may repeat and arrive out of order (one per segment). A status is applied only
when it moves the message forward — ``queued < sending < sent < delivered``, with
``failed`` (Twilio's failed and undelivered) as terminal as delivered — in one conditional
UPDATE, so a repeat, a late ``sent`` after ``delivered``, or two callbacks at once can never
move a message back. A callback for a SID that no message carries yet (it can beat the
worker's own write of the SID) is parked in ``pending_receipt`` and applied later by
:func:`apply_pending`.

Replies: the keywords carriers and Twilio use, plus Chinese and Portuguese ones, matched
on the whole trimmed body, case-insensitively (trailing punctuation ignored):

- opt out: STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, 退订, 退訂, 取消, TD, PARAR, CANCELAR
- opt in:  START, YES, UNSTOP, 订阅, 訂閱, 开始, 開始
- help:    HELP, INFO, 帮助, 幫助, AJUDA

The answer is in the subscriber's language. With Twilio's Advanced Opt-Out on a Messaging
Service, Twilio also blocks and answers the standard English keywords itself; recording
them here keeps our own list right either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlmodel import Session, col

from alerts.models import Message, MessageStatus, PendingReceipt
from alerts.sqltypes import rowcount, stored_id, utcnow
from alerts.subscribers import service as subscriber_service
from alerts.subscribers.phones import PhoneError, normalise_phone
from alerts.subscribers.service import OptOutChange

# Twilio's MessageStatus → ours; statuses that are not progress for an outbox row are absent.
TWILIO_STATUS: dict[str, MessageStatus] = {
    "queued": MessageStatus.queued,
    "accepted": MessageStatus.queued,
    "scheduled": MessageStatus.queued,
    "sending": MessageStatus.sending,
    "sent": MessageStatus.sent,
    "delivered": MessageStatus.delivered,
    "read": MessageStatus.delivered,
    "undelivered": MessageStatus.failed,
    "failed": MessageStatus.failed,
    "canceled": MessageStatus.failed,
}
RANK: dict[MessageStatus, int] = {
    MessageStatus.queued: 0,
    MessageStatus.sending: 1,
    MessageStatus.sent: 2,
    MessageStatus.delivered: 3,
    MessageStatus.failed: 3,
    MessageStatus.cancelled: 3,
}
PENDING_KEEP = timedelta(days=2)


class ReceiptResult(StrEnum):
    applied = "applied"  # the message moved forward
    ignored = "ignored"  # a repeat or an out-of-order callback: nothing to do
    parked = "parked"  # no message with this SID yet; kept for apply_pending
    unknown_status = "unknown_status"


def apply_status(
    session: Session,
    *,
    provider_id: str,
    provider_status: str,
    error_code: str | None = None,
    now: datetime | None = None,
    park: bool = True,
) -> ReceiptResult:
    """Apply one status callback, forward only, in a single UPDATE."""
    now = now or utcnow()
    raw = (provider_status or "").strip().lower()
    status = TWILIO_STATUS.get(raw)
    if status is None:
        return ReceiptResult.unknown_status
    lower = [s.value for s, rank in RANK.items() if rank < RANK[status]]
    values: dict[str, Any] = {
        "status": status.value,
        "provider_status": raw[:20],
        "updated_at": now,
    }
    if error_code:
        values["error_code"] = str(error_code)[:20]
    if status == MessageStatus.delivered:
        values["delivered_at"] = now
    if status in (MessageStatus.sent, MessageStatus.delivered):
        values["sent_at"] = func.coalesce(Message.sent_at, now)  # the worker's time wins
    moved = 0
    if lower:
        moved = rowcount(
            session.execute(
                update(Message)
                .where(col(Message.provider_id) == provider_id, col(Message.status).in_(lower))
                .values(**values)
            )
        )
    if moved:
        return ReceiptResult.applied
    exists = session.execute(
        select(col(Message.id)).where(col(Message.provider_id) == provider_id).limit(1)
    ).first()
    if exists is not None:
        if error_code:  # a late error code on a message already final is still worth keeping
            session.execute(
                update(Message)
                .where(
                    col(Message.provider_id) == provider_id,
                    col(Message.error_code).is_(None),
                    col(Message.status) == MessageStatus.failed,
                )
                .values(error_code=str(error_code)[:20])
            )
        return ReceiptResult.ignored
    if park:
        session.add(
            PendingReceipt(
                provider_id=provider_id[:80],
                provider_status=raw[:20],
                error_code=str(error_code)[:20] if error_code else None,
                received_at=now,
            )
        )
        session.flush()
        return ReceiptResult.parked
    return ReceiptResult.ignored


def apply_pending(session: Session, *, now: datetime | None = None, limit: int = 5000) -> int:
    """Apply parked callbacks whose message now has its SID; drop those too old to match."""
    now = now or utcnow()
    rows = list(
        session.execute(
            select(PendingReceipt).order_by(col(PendingReceipt.id)).limit(limit)
        ).scalars()
    )
    applied = 0
    done: list[int] = []
    for row in rows:
        result = apply_status(
            session,
            provider_id=row.provider_id,
            provider_status=row.provider_status,
            error_code=row.error_code,
            now=now,
            park=False,
        )
        matched = session.execute(
            select(col(Message.id)).where(col(Message.provider_id) == row.provider_id).limit(1)
        ).first()
        if matched is not None or row.received_at < now - PENDING_KEEP:
            done.append(stored_id(row))
            applied += result == ReceiptResult.applied
    if done:
        session.execute(delete(PendingReceipt).where(col(PendingReceipt.id).in_(done)))
    return applied


# --- replies -------------------------------------------------------------------------


class Keyword(StrEnum):
    stop = "stop"
    start = "start"
    help = "help"


KEYWORDS: dict[str, Keyword] = {
    **dict.fromkeys(
        [
            "STOP",
            "STOPALL",
            "UNSUBSCRIBE",
            "CANCEL",
            "END",
            "QUIT",
            "退订",
            "退訂",
            "取消",
            "TD",
            "PARAR",
            "CANCELAR",
        ],
        Keyword.stop,
    ),
    **dict.fromkeys(["START", "YES", "UNSTOP", "订阅", "訂閱", "开始", "開始"], Keyword.start),
    **dict.fromkeys(["HELP", "INFO", "帮助", "幫助", "AJUDA"], Keyword.help),
}
_TRAILING = " \t\r\n.!?。！？,，;；"


def keyword_of(body: str | None) -> Keyword | None:
    text = (body or "").strip().strip(_TRAILING).upper()
    return KEYWORDS.get(text)


REPLIES: dict[Keyword, dict[str, str]] = {
    Keyword.stop: {
        "zh-Hans": "横琴三防：您已退订预警短信。回复START或“订阅”可重新订阅。",
        "zh-Hant": "橫琴三防：您已退訂預警短訊。回覆START或「訂閱」可重新訂閱。",
        "pt": "Hengqin: cancelou os alertas por SMS. Responda START para voltar a recebe-los.",
        "en": "Hengqin alerts: you are unsubscribed. Reply START to subscribe again.",
    },
    Keyword.start: {
        "zh-Hans": "横琴三防：您已重新订阅预警短信。回复STOP或“退订”可退订。",
        "zh-Hant": "橫琴三防：您已重新訂閱預警短訊。回覆STOP或「退訂」可退訂。",
        "pt": "Hengqin: voltou a receber os alertas por SMS. Responda STOP para cancelar.",
        "en": "Hengqin alerts: you are subscribed again. Reply STOP to unsubscribe.",
    },
    Keyword.help: {
        "zh-Hans": "横琴三防预警短信。回复STOP退订，START订阅。紧急求助：110/119/120。",
        "zh-Hant": "橫琴三防預警短訊。回覆STOP退訂，START訂閱。緊急求助：110/119/120。",
        "pt": "Alertas de Hengqin. Responda STOP para cancelar, START para receber. "
        "Emergencia: 110/119/120.",
        "en": "Hengqin typhoon alerts. Reply STOP to unsubscribe, START to subscribe. "
        "Emergency: 110/119/120.",
    },
}


def reply_text(keyword: Keyword, language: str | None) -> str:
    texts = REPLIES[keyword]
    if language in texts:
        return texts[language]
    return texts["zh-Hans"] + "\n" + texts["en"]  # unknown sender: both main languages


def twiml(text: str | None) -> str:
    """A TwiML answer: one <Message>, or an empty <Response/> (no reply)."""
    from twilio.twiml.messaging_response import MessagingResponse

    response = MessagingResponse()
    if text:
        response.message(text)
    return str(response)


@dataclass(frozen=True)
class InboundOutcome:
    keyword: Keyword | None
    subscriber_id: int | None
    language: str | None
    changed: bool  # the opt-out state changed (audit it)
    opted_out: bool | None
    reply: str | None
    change: OptOutChange | None = None  # for the caller's audit


def handle_inbound(
    session: Session, *, from_phone: str, body: str | None, now: datetime | None = None
) -> InboundOutcome:
    """A reply from a phone: STOP/START change its opt-out, HELP answers; anything else is
    left unanswered. ``from_phone`` is Twilio's ``From`` (E.164)."""
    keyword = keyword_of(body)
    try:
        phone = normalise_phone(from_phone)
    except PhoneError:
        phone = (from_phone or "").strip()
    subscriber = subscriber_service.get_by_phone(session, phone) if phone else None
    language = subscriber.language if subscriber else None
    if keyword is None:
        return InboundOutcome(
            None, subscriber.id if subscriber else None, language, False, None, None
        )
    if keyword == Keyword.help or not phone:
        return InboundOutcome(
            keyword,
            subscriber.id if subscriber else None,
            language,
            False,
            None,
            reply_text(keyword, language),
        )
    change = subscriber_service.set_opt_out(
        session, phone=phone, opted_out=keyword == Keyword.stop, now=now
    )
    if change is None:  # START from a number we do not know
        return InboundOutcome(keyword, None, None, False, None, reply_text(keyword, None))
    language = None if change.created else change.language
    return InboundOutcome(
        keyword,
        change.subscriber_id,
        language,
        change.changed,
        change.after,
        reply_text(keyword, language),
        change,
    )
