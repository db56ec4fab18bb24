"""Liaison with Macau: contacts, the hotline call log, notices and their acknowledgements.

- `sync_contacts`: config/liaison.yaml into the table (by key); contacts added or edited
  through the API stay as they are.
- `notify_signal_change`: called by the signal flow for every change; for a shared source
  (SMG, ZHUHAI) it sends a notice to every active contact, once per change.
- `notify`: a notice of a rule or of the liaison desk (idempotent on its dedupe key).
- `acknowledge` (a liaison user, for a contact or for the desk) and `acknowledge_link` (the
  contact's own link token).
- `escalate_due`: the periodic job's work: a notice nobody acknowledged within
  `ack_minutes` is escalated once (event liaison.escalated, audit, a prompt for the duty
  operator; no broadcast).
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlmodel import Session, col, select

from alerts.templates import EXERCISE_MARK
from alerts.text import body_problem
from emergency.audit import service as audit_service
from emergency.catalogue import LANGUAGES, Catalogue
from emergency.clock import local_iso
from emergency.db import get_or_404, newest_first, savepoint, stored_id, to_public, utcnow
from emergency.events import service as event_service
from emergency.exceptions import Conflict, InvalidInput, NotFound
from emergency.liaison.config import LiaisonFile, liaison_config
from emergency.liaison.models import (
    Direction,
    HotlineCall,
    LiaisonContact,
    LiaisonNotice,
    NoticeKind,
    NoticeRecipient,
    NoticeStatus,
)
from emergency.liaison.schemas import CallPublic
from emergency.rules import prompts as prompt_service
from emergency.signals import service as signal_service
from emergency.signals.models import SignalChange

if TYPE_CHECKING:
    from emergency.runtime import Runtime

log = logging.getLogger(__name__)


# --- contacts --------------------------------------------------------------------------


def sync_contacts(session: Session, *, config: LiaisonFile) -> int:
    """Add the contacts of the file the table lacks, refresh those the file owns; returns how
    many were added. A contact edited through the API (origin api) is left alone."""
    added = 0
    for c in config.contacts:
        row = session.exec(select(LiaisonContact).where(LiaisonContact.key == c.key)).first()
        if row is None:
            row = LiaisonContact(key=c.key, name=c.name, organisation={})
            added += 1
        elif row.origin != "config":
            continue
        # the stored texts are keyed by str (a language the config file checked)
        row.name, row.organisation = c.name, dict(c.organisation.items())
        row.role = dict((c.role or {}).items())
        row.phone, row.email, row.language, row.demo = c.phone, c.email, c.language, c.demo
        session.add(row)
    session.flush()
    return added


def list_contacts(session: Session, *, active_only: bool = False) -> list[LiaisonContact]:
    query = select(LiaisonContact).order_by(col(LiaisonContact.id))
    if active_only:
        query = query.where(LiaisonContact.active == True)  # noqa: E712
    return list(session.exec(query))


def get_contact(session: Session, *, contact_id: int) -> LiaisonContact:
    return get_or_404(
        session, LiaisonContact, contact_id, "liaison contact", code="contact_not_found"
    )


def save_contact(
    session: Session, *, actor: str, contact_id: int | None = None, **fields: Any
) -> LiaisonContact:
    """Create (contact_id None) or update a contact; audited, `liaison.contact_changed`."""
    if contact_id is None:
        key = fields.get("key")
        if session.exec(select(LiaisonContact).where(LiaisonContact.key == key)).first():
            raise Conflict(f"a contact with key {key!r} exists", code="contact_exists")
        row, was_active = LiaisonContact(**fields, origin="api"), None
    else:
        row = get_contact(session, contact_id=contact_id)
        was_active = row.active
        for name, value in fields.items():
            if name != "key":
                setattr(row, name, value)
        row.origin = "api"
    row.updated_at, row.updated_by = utcnow(), actor
    # Names and numbers are personal data: the audit keeps which contact, not who.
    audit_service.record_write(
        session,
        row,
        actor=actor,
        action="liaison.contact_saved",
        target_type="liaison_contact",
        before=None if was_active is None else {"active": was_active},
        after={"key": row.key, "active": row.active},
    )
    event_service.emit(session, "liaison.contact_changed", {"contact_id": row.id, "key": row.key})
    return row


# --- hotline ---------------------------------------------------------------------------


def log_call(
    session: Session,
    *,
    runtime: Runtime,
    direction: str,
    caller: str,
    summary: str,
    actor: str,
    at: datetime | None = None,
    contact_id: int | None = None,
    follow_up: str | None = None,
    exercise: bool = False,
) -> HotlineCall:
    """One call of the 24-hour line, with the signals in force at the time (for the report);
    a drill's call (`exercise`) with the drill's signals, counted apart."""
    try:
        direction = Direction(direction)
    except ValueError:
        raise InvalidInput("direction: must be 'inbound' or 'outbound'") from None
    if contact_id is not None:
        get_contact(session, contact_id=contact_id)
    now = utcnow()
    if at is not None and at > now + timedelta(minutes=5):
        raise InvalidInput("at: a call cannot be logged in the future")
    in_force = signal_service.active_levels(session, exercise=exercise)
    call = HotlineCall(
        at=at or now,
        direction=direction,
        caller=caller.strip(),
        contact_id=contact_id,
        summary=summary.strip(),
        follow_up=(follow_up or "").strip() or None,
        signals=sorted(f"{s}:{k}:{lv}" for (s, k), lv in in_force.items()),
        logged_by=actor,
        exercise=exercise,
    )
    audit_service.record_write(
        session,
        call,
        actor=actor,
        action="liaison.call_logged",
        target_type="hotline_call",
        after={"direction": direction, "follow_up": call.follow_up is not None},
        exercise=exercise,
    )
    event_service.emit(session, "liaison.logged", call_public(call))
    return call


def close_follow_up(session: Session, *, call_id: int, actor: str) -> HotlineCall:
    call = get_or_404(session, HotlineCall, call_id, "call", code="call_not_found")
    if call.follow_up is None:
        raise Conflict(f"call {call_id} has no follow-up", code="no_follow_up")
    if call.follow_up_done_at is not None:
        return call
    call.follow_up_done_at, call.follow_up_done_by = utcnow(), actor
    audit_service.record_write(
        session,
        call,
        actor=actor,
        action="liaison.follow_up_done",
        target_type="hotline_call",
        exercise=call.exercise,
    )
    event_service.emit(session, "liaison.logged", call_public(call))
    return call


def list_calls(
    session: Session,
    *,
    open_follow_ups: bool = False,
    limit: int = 200,
    exercise: bool | None = None,
) -> list[HotlineCall]:
    """Calls, newest first: real and drill ones, or only those of `exercise`."""
    query = newest_first(HotlineCall, limit=limit, exercise=exercise, by=HotlineCall.at)
    if open_follow_ups:
        query = query.where(
            col(HotlineCall.follow_up).is_not(None), col(HotlineCall.follow_up_done_at).is_(None)
        )
    return list(session.exec(query))


def call_public(c: HotlineCall) -> dict[str, Any]:
    """What the API and the `liaison.logged` event show of a call."""
    return to_public(CallPublic, c, at_local=local_iso(c.at)).model_dump()


# --- notices ---------------------------------------------------------------------------


def notify_signal_change(
    session: Session, *, runtime: Runtime, change: SignalChange
) -> LiaisonNotice | None:
    """The notice of a shared signal's change to every active contact (None: not shared)."""
    config = liaison_config(runtime)
    if change.source not in config.shared_sources:
        return None
    texts = _signal_texts(runtime.catalogue, change)
    code = f"{change.source}:{change.kind}"
    return notify(
        session,
        runtime=runtime,
        kind=NoticeKind.signal,
        dedupe_key=f"signal:{change.id}",
        texts=texts,
        actor=change.actor,
        exercise=change.exercise,
        signal=f"{code}:{change.level}" if change.level else code,
        previous=f"{code}:{change.previous_level}" if change.previous_level else None,
        signal_change_id=change.id,
    )


def notify(
    session: Session,
    *,
    runtime: Runtime,
    kind: NoticeKind | str,
    dedupe_key: str,
    texts: dict[str, str],
    actor: str,
    exercise: bool = False,
    signal: str | None = None,
    previous: str | None = None,
    signal_change_id: int | None = None,
    extra: dict[str, Any] | None = None,
) -> LiaisonNotice:
    """A notice to every active contact, with one link token each; the same key again returns
    the notice already sent."""
    existing = session.exec(
        select(LiaisonNotice).where(LiaisonNotice.dedupe_key == dedupe_key)
    ).first()
    if existing is not None:
        return existing
    now = utcnow()
    minutes = liaison_config(runtime).ack_minutes
    notice = LiaisonNotice(
        kind=NoticeKind(kind),
        dedupe_key=dedupe_key,
        texts=_complete(texts),
        signal=signal,
        previous=previous,
        signal_change_id=signal_change_id,
        exercise=exercise,
        created_at=now,
        created_by=actor,
        due_at=now + timedelta(minutes=minutes),
        extra=extra or {},
    )
    session.add(notice)
    session.flush()
    contacts = list_contacts(session, active_only=True)
    tokens = {stored_id(contact): secrets.token_urlsafe(24) for contact in contacts}
    rows = [
        NoticeRecipient(notice_id=stored_id(notice), contact_id=contact_id, token=token)
        for contact_id, token in tokens.items()
    ]
    session.add_all(rows)
    session.flush()
    broadcast_id = _send_sms(
        session, runtime=runtime, notice=notice, contacts=contacts, tokens=tokens, actor=actor
    )
    audit_service.record(
        session,
        actor=actor,
        action="liaison.notified",
        target_type="liaison_notice",
        target_id=stored_id(notice),
        after={
            "kind": notice.kind,
            "signal": signal,
            "exercise": exercise,
            "recipients": len(rows),
            "sms_broadcast_id": broadcast_id,
        },
    )
    # Events reach every screen and are kept in the event table: never the ack links.
    # The recipients and their contacts are the rows just written: not read back.
    rows.sort(key=stored_id)
    event_service.emit(
        session,
        "liaison.notified",
        notice_public(session, runtime, notice, links=False, rows=rows, contacts=contacts),
    )
    return notice


def check_texts(runtime: Runtime, texts: dict[str, str], *, exercise: bool = False) -> None:
    """422 naming the language when a contact's SMS (the text, a drill mark, their link)
    would be refused by Twilio: over 1,600 characters or 10 segments."""
    probe = LiaisonNotice(
        kind=NoticeKind.manual,
        dedupe_key="",
        texts=texts,
        exercise=exercise,
        created_by="",
        due_at=utcnow(),
    )
    link = ack_url(runtime, "x" * 32)  # secrets.token_urlsafe(24): 32 characters
    for language in texts:
        problem = body_problem(sms_text(probe, language=language, link=link))
        if problem:
            raise InvalidInput(
                f"texts.{language}: with the acknowledgement link, {problem}",
                code="text_too_long",
            )


def ack_url(runtime: Runtime, token: str) -> str:
    return f"{runtime.settings.public_url}/api/v1/liaison/ack/{token}"


def sms_text(notice: LiaisonNotice, *, language: str, link: str) -> str:
    """What one contact's phone shows: the notice in their language, then their own link."""
    text = notice.texts.get(language) or notice.texts.get("en", "")
    mark = EXERCISE_MARK.get(language, EXERCISE_MARK["en"])
    if notice.exercise and not text.startswith(mark.strip()):
        text = mark + text  # a drill's message to real people says so (rules' own texts)
    return f"{text}\n{link}"


def _send_sms(
    session: Session,
    *,
    runtime: Runtime,
    notice: LiaisonNotice,
    contacts: list[LiaisonContact],
    tokens: dict[int, str],
    actor: str,
) -> int | None:
    """The notice to every contact's phone, each SMS with that contact's own ack link
    (`tokens`: each contact's link token, by contact id).

    Through the outbox like every message (rows first, queued after the commit, sent by the
    dispatch workers); keyed on the notice, so it goes once. Its own savepoint: a failure
    here never undoes the signal change that the notice is about (nobody acknowledging is
    then escalated to the duty operator, who phones them). Returns the broadcast id."""
    from alerts.broadcasts.service import DirectRecipient
    from emergency.broadcasts import service as broadcast_service

    people = [
        DirectRecipient(
            phone=c.phone,
            language=c.language if c.language in LANGUAGES else "en",
            body=sms_text(notice, language=c.language, link=ack_url(runtime, tokens[stored_id(c)])),
        )
        for c in contacts
        if c.phone
    ]
    if not people:
        return None
    # A failed send's audit entries and events are dropped with its savepoint.
    try:
        with savepoint(session):
            broadcast = broadcast_service.send_to_people(
                session,
                actor=actor,
                messages=notice.texts,
                recipients=people,
                idempotency_key=f"liaison-notice:{notice.id}",
                title=f"Liaison notice #{notice.id}",
                origin="liaison",
                exercise=notice.exercise,
                # the two-person rule: a notice to that many numbers waits for an approver
                approval_threshold=runtime.settings.approval_threshold,
                runtime=runtime,
            )
    except Exception:
        log.exception("liaison notice %s: SMS not queued", notice.id)
        notice.extra = {**notice.extra, "sms_error": True}
        session.add(notice)
        session.flush()
        return None
    notice.extra = {**notice.extra, "sms_broadcast_id": broadcast.id}
    session.add(notice)
    session.flush()
    return broadcast.id


def _sms_statuses(session: Session, notice: LiaisonNotice) -> dict[str, str]:
    """{phone: message status} of the notice's SMS (empty when none was sent)."""
    from alerts.models import Message

    broadcast_id = (notice.extra or {}).get("sms_broadcast_id")
    if not broadcast_id:
        return {}
    rows = session.exec(
        select(Message.address, Message.status).where(Message.broadcast_id == broadcast_id)
    ).all()
    return {address: str(status) for address, status in rows}


def recipients(session: Session, *, notice_id: int) -> list[NoticeRecipient]:
    return list(
        session.exec(
            select(NoticeRecipient)
            .where(NoticeRecipient.notice_id == notice_id)
            .order_by(col(NoticeRecipient.id))
        )
    )


def get_notice(session: Session, *, notice_id: int, lock: bool = False) -> LiaisonNotice:
    return get_or_404(
        session, LiaisonNotice, notice_id, "notice", code="notice_not_found", lock=lock
    )


def list_notices(
    session: Session, *, status: str | None = None, limit: int = 100, exercise: bool | None = None
) -> list[LiaisonNotice]:
    query = newest_first(LiaisonNotice, limit=limit, exercise=exercise)
    if status:
        query = query.where(LiaisonNotice.status == status)
    return list(session.exec(query))


def acknowledge(
    session: Session,
    *,
    runtime: Runtime,
    notice_id: int,
    actor: str,
    contact_id: int | None = None,
    note: str | None = None,
) -> LiaisonNotice:
    """A liaison user acknowledges a notice, for one contact (who told them) or for the desk."""
    notice = get_notice(session, notice_id=notice_id, lock=True)
    rows = recipients(session, notice_id=stored_id(notice))
    if contact_id is not None:
        row = next((r for r in rows if r.contact_id == contact_id), None)
        if row is None:
            raise NotFound(
                f"contact {contact_id} is not a recipient of notice {notice_id}",
                code="not_a_recipient",
            )
    else:
        row = NoticeRecipient(
            notice_id=stored_id(notice), contact_id=None, token=secrets.token_urlsafe(24)
        )
    return _acknowledge(session, runtime=runtime, notice=notice, row=row, by=actor, note=note)


def acknowledge_link(
    session: Session, *, runtime: Runtime, token: str, note: str | None = None
) -> LiaisonNotice:
    """A contact acknowledges with the link token of their notice."""
    row = recipient_for_token(
        session, token=token, valid_days=runtime.settings.retain_ack_links_days
    )
    notice = get_notice(session, notice_id=row.notice_id, lock=True)
    return _acknowledge(session, runtime=runtime, notice=notice, row=row, by="link", note=note)


def recipient_for_token(session: Session, *, token: str, valid_days: float = 0) -> NoticeRecipient:
    """The recipient of a link token; a link older than `valid_days`
    (TYPHOON_RETAIN_ACK_LINKS_DAYS; 0: no limit) has expired, even before the retention job
    drops its token."""
    row = (
        session.exec(select(NoticeRecipient).where(NoticeRecipient.token == token)).first()
        if token
        else None
    )
    if row is not None and valid_days > 0:
        notice = session.get(LiaisonNotice, row.notice_id)
        if notice is not None and notice.created_at < utcnow() - timedelta(days=valid_days):
            row = None
    if row is None:
        raise NotFound("unknown or expired acknowledgement link", code="ack_link_unknown")
    return row


def _acknowledge(
    session: Session,
    *,
    runtime: Runtime,
    notice: LiaisonNotice,
    row: NoticeRecipient,
    by: str,
    note: str | None,
) -> LiaisonNotice:
    if row.acknowledged_at is not None:
        return notice  # twice is once
    now = utcnow()
    row.acknowledged_at, row.acknowledged_by, row.note = now, by, note
    session.add(row)
    first = notice.acknowledged_at is None
    if first:
        notice.acknowledged_at = now
    if notice.status == NoticeStatus.open:
        notice.status = NoticeStatus.acknowledged
    audit_service.record_write(
        session,
        notice,
        actor=by if by != "link" else f"contact:{row.contact_id}",
        action="liaison.acknowledged",
        target_type="liaison_notice",
        after={
            "contact_id": row.contact_id,
            "via": "link" if by == "link" else "desk",
            "note": note,
        },
    )
    event_service.emit(
        session,
        "liaison.acknowledged",
        {
            "notice_id": notice.id,
            "contact_id": row.contact_id,
            "by": by,
            "at": now,
            "at_local": local_iso(now),
            "first": first,
            "status": notice.status,
            "late": now > notice.due_at,
        },
    )
    return notice


def escalate_due(
    session: Session, *, runtime: Runtime, now: datetime | None = None
) -> list[LiaisonNotice]:
    """Escalate, once, every notice nobody acknowledged before its deadline."""
    now = now or utcnow()
    due = list(
        session.exec(
            select(LiaisonNotice)
            .where(LiaisonNotice.status == NoticeStatus.open, col(LiaisonNotice.due_at) <= now)
            .order_by(col(LiaisonNotice.id))
            .with_for_update()
        )
    )
    for notice in due:
        notice.status, notice.escalated_at = NoticeStatus.escalated, now
        session.add(notice)
        session.flush()
        minutes = liaison_config(runtime).ack_minutes
        what = notice.texts.get("en", "")
        prompt, _ = prompt_service.create(
            session,
            dedupe_key=f"liaison-escalation:{notice.id}",
            kind="liaison_escalation",
            texts={
                "en": f"Nobody on the Macau side acknowledged liaison notice #{notice.id} "
                f"within {minutes:g} minutes: phone them on the 24-hour line. ({what})",
                "zh-Hans": f"澳门方面在{minutes:g}分钟内未确认联络通知#{notice.id}，"
                f"请致电24小时联络热线。",
                "zh-Hant": f"澳門方面在{minutes:g}分鐘內未確認聯絡通知#{notice.id}，"
                f"請致電24小時聯絡熱線。",
                "pt": f"Ninguém em Macau confirmou o aviso de ligação n.º {notice.id} em "
                f"{minutes:g} minutos: telefone pela linha de 24 horas.",
            },
            actor="system",
            notice_id=notice.id,
            exercise=notice.exercise,
        )
        audit_service.record(
            session,
            actor="system",
            action="liaison.escalated",
            target_type="liaison_notice",
            target_id=stored_id(notice),
            before={"status": "open"},
            after={"status": "escalated", "prompt_id": prompt.id},
        )
        event_service.emit(
            session,
            "liaison.escalated",
            {
                **notice_public(session, runtime, notice, links=False),
                "prompt_id": prompt.id,
            },
        )
    return due


def notice_public(
    session: Session,
    runtime: Runtime,
    notice: LiaisonNotice,
    *,
    links: bool = True,
    rows: list[NoticeRecipient] | None = None,
    contacts: list[LiaisonContact] | None = None,
) -> dict[str, Any]:
    """The notice as the API and events show it; `rows` (its recipients, by id) and `contacts`
    (theirs) when the caller has them already."""
    if rows is None:
        rows = recipients(session, notice_id=stored_id(notice))
    sms = _sms_statuses(session, notice)
    if contacts is None and sms:
        contacts = list_contacts(session)
    phones = {c.id: c.phone for c in contacts or ()} if sms else {}
    return {
        "id": notice.id,
        "kind": notice.kind,
        "texts": notice.texts,
        "signal": notice.signal,
        "previous": notice.previous,
        "signal_change_id": notice.signal_change_id,
        "exercise": notice.exercise,
        "status": notice.status,
        "created_at": notice.created_at,
        "created_at_local": local_iso(notice.created_at),
        "created_by": notice.created_by,
        "due_at": notice.due_at,
        "due_at_local": local_iso(notice.due_at),
        "acknowledged_at": notice.acknowledged_at,
        "escalated_at": notice.escalated_at,
        "sms_broadcast_id": (notice.extra or {}).get("sms_broadcast_id"),
        "recipients": [
            {
                "contact_id": r.contact_id,
                "acknowledged_at": r.acknowledged_at,
                "acknowledged_by": r.acknowledged_by,
                "sms": sms.get(phones.get(r.contact_id) or ""),
                # an expired link (token dropped by the retention job) is shown as none
                **({"ack_url": ack_url(runtime, r.token) if r.token else None} if links else {}),
            }
            for r in rows
        ],
    }


def summary(session: Session, exercise: bool = False) -> dict[str, Any]:
    """The situation's `liaison` section: real notices and calls, or the drills'."""
    open_rows = list_notices(session, status=NoticeStatus.open, limit=50, exercise=exercise)
    escalated = list_notices(session, status=NoticeStatus.escalated, limit=50, exercise=exercise)
    return {
        "contacts": len(list_contacts(session, active_only=True)),
        "notices_open": len(open_rows),
        "notices_escalated": len(escalated),
        "follow_ups_open": len(list_calls(session, open_follow_ups=True, exercise=exercise)),
        "latest": [
            {
                "id": n.id,
                "kind": str(n.kind),
                "signal": n.signal,
                "status": str(n.status),
                "exercise": n.exercise,
                "created_at_local": local_iso(n.created_at),
                "due_at_local": local_iso(n.due_at),
            }
            for n in list_notices(session, limit=5, exercise=exercise)
        ],
    }


# --- wording ---------------------------------------------------------------------------

_CHANGE_WORDS = {
    "raise": {"en": "hoisted", "zh-Hans": "发出", "zh-Hant": "發出", "pt": "içado"},
    "upgrade": {"en": "raised to", "zh-Hans": "升级为", "zh-Hant": "升級為", "pt": "elevado para"},
    "downgrade": {
        "en": "lowered to",
        "zh-Hans": "降级为",
        "zh-Hant": "降級為",
        "pt": "reduzido para",
    },
    "change": {"en": "changed to", "zh-Hans": "改为", "zh-Hant": "改為", "pt": "alterado para"},
    "lower": {"en": "cancelled", "zh-Hans": "解除", "zh-Hant": "解除", "pt": "cancelado"},
}
# A tropical cyclone signal is not cancelled but lowered (除下, arriado); a warning is issued.
_LOWERED_SIGNAL = {"en": "lowered", "zh-Hans": "除下", "zh-Hant": "除下", "pt": "arriado"}
_ISSUED = {"en": "issued", "zh-Hans": "发布", "zh-Hant": "發布", "pt": "emitido"}
_HOISTED = {"en": "hoisted", "zh-Hans": "悬挂", "zh-Hant": "懸掛", "pt": "içado"}
_HEAD = {
    "en": "Hengqin command post, shared warning signal",
    "zh-Hans": "横琴三防指挥部·共享预警信号",
    "zh-Hant": "橫琴三防指揮部·共享預警信號",
    "pt": "Posto de comando de Hengqin, sinal partilhado",
}
_ACK = {
    "en": "Please acknowledge.",
    "zh-Hans": "请确认收悉。",
    "zh-Hant": "請確認收悉。",
    "pt": "Por favor, confirme a recepção.",
}


def _signal_texts(catalogue: Catalogue, change: SignalChange) -> dict[str, str]:
    """The notice of a shared signal's change, per language, naming whose signal it is ("içado
    em Macau", "澳門："). A tropical cyclone signal is hoisted and lowered (發出/除下, içado/
    arriado); a warning is issued and cancelled (發布/取消, emitido/cancelado)."""
    at = local_iso(change.at)[11:16]
    signal = change.kind == "tropical_cyclone"
    place = catalogue.source(change.source).place
    texts: dict[str, str] = {}
    for lang in LANGUAGES:
        zh = lang.startswith("zh")
        kind_name = catalogue.name(change.source, change.kind, language=lang)
        words = _CHANGE_WORDS.get(change.change, _CHANGE_WORDS["change"])
        if change.change == "lower":
            words = _LOWERED_SIGNAL if signal else words
        elif change.change == "raise":
            words = _HOISTED if signal else _ISSUED
        word = words[lang]
        if change.level is None:
            before = (
                catalogue.name(change.source, change.kind, change.previous_level, language=lang)
                if change.previous_level
                else kind_name
            )
            body = f"{before}已{word}" if zh else f"{before} {word}"
        else:
            now = catalogue.name(change.source, change.kind, change.level, language=lang)
            if change.change == "raise":
                body = f"{now}已{word}" if zh else f"{now} {word}"
            else:
                body = f"{kind_name}{word}{now}" if zh else f"{kind_name} {word} {now}"
        if place is not None:
            body = (
                f"{place[lang]}：{body}"
                if zh
                else f"{body} {'em' if lang == 'pt' else 'in'} {place[lang]}"
            )
        body = f"{body}（{at}）。" if zh else f"{body} ({at})."
        prefix = EXERCISE_MARK[lang] if change.exercise else ""
        texts[lang] = (
            f"{prefix}{_HEAD[lang]}{'：' if zh else ': '}{body}{'' if zh else ' '}{_ACK[lang]}"
        )
    return texts


def _complete(texts: dict[str, str]) -> dict[str, str]:
    """Every language, falling back to zh-Hans for Chinese and English otherwise."""
    out = {k: v for k, v in texts.items() if v}
    for lang in LANGUAGES:
        if lang not in out:
            fallback = "zh-Hans" if lang.startswith("zh") else "en"
            out[lang] = out.get(fallback) or out.get("en") or next(iter(out.values()), "")
    return out
