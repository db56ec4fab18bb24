"""Residents' personal data: kept no longer than it serves, and forgotten on request (Macau's
Personal Data Protection Act, mainland China's PIPL).

- `forget(session, phone=…)`: removes one person everywhere a phone number leads: subscriber
  rows (and their push subscriptions), vulnerable-resident records and their check history,
  liaison contacts (anonymised: notices they received keep their counts), hotline calls that
  name the number (caller, summary and follow-up erased, also in their live events), and the
  number in every message's address, dedupe key and text of its own. Audited by ids only, so
  the audit chain stays whole and holds no personal data to forget.
- `export(session, phone=…)`: what we hold about that number, as JSON.
- `purge(db, settings=…)`: the retention rules (README "Data protection"), run by the
  `retention-purge` job and by `typhoon retention purge`.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import phonenumbers
from fastapi.encoders import jsonable_encoder
from sqlalchemy import ColumnElement, String, and_, cast, delete, func, literal, or_, select, update
from sqlmodel import Session, SQLModel, col

from alerts.models import Broadcast, Message, MessageStatus, PushSubscription, Subscriber
from alerts.sqltypes import rowcount, table_of
from alerts.subscribers.phones import DEFAULT_REGIONS
from emergency.alarms.models import Alarm
from emergency.audit import service as audit_service
from emergency.audit.models import AuditEntry
from emergency.cap.models import CapPublished
from emergency.catalogue.service import Catalogue
from emergency.crews.models import Crew, CrewTask
from emergency.db import Database, utcnow
from emergency.evacuation.models import EvacuationOrder, Movement
from emergency.events.models import Event
from emergency.exceptions import InvalidInput
from emergency.facilities.models import FacilityChange
from emergency.field import photos as photo_service
from emergency.field.models import (
    FieldAccount,
    FieldReport,
    Hazard,
    HelpRequest,
    InspectionGroup,
    PatrolTrip,
    Photo,
)
from emergency.liaison.models import HotlineCall, LiaisonContact, LiaisonNotice, NoticeRecipient
from emergency.rules.models import OperatorPrompt
from emergency.settings import Settings
from emergency.signals.models import SignalChange
from emergency.vulnerable.models import ResidentCheck, VulnerableResident

log = logging.getLogger(__name__)

ERASED = "(erased)"
NUMBER_ERASED = "(number erased)"  # where a forgotten number was written in free text
FORGOTTEN = "(forgotten)"
FINAL = (
    MessageStatus.sent,
    MessageStatus.delivered,
    MessageStatus.failed,
    MessageStatus.cancelled,
)
_SEPARATORS = re.compile(r"[\s\-.()/\u00a0\u3000]+")


# --- whose number ------------------------------------------------------------------------


@dataclass(frozen=True)
class PhoneForms:
    """The forms one number is written in: E.164, and its digits with and without the
    country code (a local list writes 66123456 for +85366123456)."""

    e164: str
    digits: frozenset[str]

    @classmethod
    def of(cls, phone: str) -> PhoneForms:
        text = _SEPARATORS.sub("", phone or "")
        if text.startswith("00"):
            text = "+" + text[2:]
        number = None
        for region in DEFAULT_REGIONS:
            try:
                parsed = phonenumbers.parse(text, region)
            except phonenumbers.NumberParseException:
                continue
            if phonenumbers.is_possible_number(parsed):
                number = parsed
                break
        if number is None:
            raise InvalidInput(
                f"phone: {phone!r} is not a phone number (write it as +853…, +86… or local)",
                code="invalid_phone",
            )
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        national = str(number.national_number)
        return cls(e164=e164, digits=frozenset({e164[1:], national}))

    def matches(self, stored: str | None) -> bool:
        """A stored phone field (any format) is this number."""
        if not stored:
            return False
        text = _SEPARATORS.sub("", stored)
        if text.startswith("00"):
            text = "+" + text[2:]
        return text == self.e164 or text.lstrip("+") in self.digits

    def redact(self, text: str) -> str:
        """`text` with every writing of this number (spaced, dashed, with or without the
        country code) replaced by NUMBER_ERASED; the rest of the words kept."""
        return self.pattern.sub(NUMBER_ERASED, text)

    @functools.cached_property
    def pattern(self) -> re.Pattern[str]:
        """Each digit also full-width (６), any separators between them, an optional + or 00."""
        sep = r"[\s\-.()/\u00a0\u3000\uff08\uff09\uff0d]*"

        def digit(c: str) -> str:
            return f"[{c}{chr(ord(c) + 0xFEE0)}]"

        forms = sorted(self.digits, key=len, reverse=True)  # with the country code first
        spaced = "|".join(sep.join(digit(c) for c in form) for form in forms)
        lead = r"[(\uff08]?(?:(?:\+|\uff0b|00)[\s\u00a0]*)?"
        return re.compile(rf"(?<!\d){lead}(?:{spaced})(?!\d)")

    def found_in(self, text: str | None) -> bool:
        """Free text (a hotline log, a note) mentions this number, however it is written."""
        return text is not None and self.pattern.search(text) is not None


def liaison_file_phones(config_dir: Path, catalogue: Catalogue) -> list[str]:
    """The numbers config/liaison.yaml lists (forgetting one there is the command post's edit)."""
    from emergency.configfiles import ConfigFileError
    from emergency.liaison.config import load_liaison

    try:
        config = load_liaison(Path(config_dir) / "liaison.yaml", catalogue=catalogue)
    except (ConfigFileError, OSError):  # checked at start-up; here it only feeds a warning
        return []
    return [c.phone for c in config.contacts if c.phone]


# Everything a person writes in words (or a rule composes from them), where someone may have
# noted a phone number: "call her son on 6612 3456" in a field report, a neighbour's number in
# a resident's note, a contact's number in a liaison notice. Table → its free-text columns
# (JSON ones: every string inside). The hotline log is erased whole instead (`_erase_calls`);
# the rows of the person themself (subscriber, resident, contact) are removed above.
FREE_TEXT: tuple[tuple[type[SQLModel], tuple[str, ...]], ...] = (
    (FieldReport, ("note", "data", "result")),
    (HelpRequest, ("note",)),
    (Hazard, ("place", "description", "rectification_note")),
    (PatrolTrip, ("note",)),
    (InspectionGroup, ("leader", "members")),
    (FieldAccount, ("label",)),
    (Alarm, ("note", "place", "close_note")),
    (Crew, ("station", "note")),
    (CrewTask, ("description",)),
    (EvacuationOrder, ("note",)),
    (Movement, ("from_place", "to_place", "note")),
    (FacilityChange, ("note",)),
    (SignalChange, ("note",)),
    (VulnerableResident, ("address", "needs", "social_worker", "note")),
    (ResidentCheck, ("note",)),
    (LiaisonNotice, ("texts", "extra")),
    (NoticeRecipient, ("note",)),
    (OperatorPrompt, ("texts", "note")),
    (Broadcast, ("title", "messages")),
    # a text of its own (a liaison notice's, with its link); the provider's error (Twilio's
    # 21211 says "The 'To' number +853… is not a valid phone number.")
    (Message, ("body", "error_message")),
    (CapPublished, ("xml",)),  # a signal's note goes out in the CAP alert's <note>
    (Event, ("data",)),  # the live stream's copies of all of the above
)
SCAN_BATCH = 2000


def _redacted(value: Any, forms: PhoneForms) -> Any:
    """`value` (text, or JSON) with the number erased from every string in it."""
    if isinstance(value, str):
        return forms.redact(value)
    if isinstance(value, dict):
        return {key: _redacted(item, forms) for key, item in value.items()}
    if isinstance(value, list):
        return [_redacted(item, forms) for item in value]
    return value


def _mentions(value: Any, forms: PhoneForms) -> bool:
    if value is None:
        return False
    if isinstance(value, str):
        return forms.found_in(value)
    return forms.found_in(json.dumps(value, ensure_ascii=False))


def _free_text_mentions(
    session: Session, forms: PhoneForms
) -> dict[str, list[tuple[Any, dict[str, Any]]]]:
    """Where the number is written in free text (FREE_TEXT): table → (row id, {column: value
    holding it}) for each row that mentions it."""
    found: dict[str, list[tuple[Any, dict[str, Any]]]] = {}
    for model, names in FREE_TEXT:
        table = table_of(model)
        [key] = table.primary_key.columns
        columns = [table.c[name] for name in names]
        query = select(key, *columns).where(or_(*[c.is_not(None) for c in columns]))
        if model is Event:  # progress events carry counts only, and there are many
            query = query.where(table.c.type != "broadcast.progress")
        for row in session.execute(query.execution_options(yield_per=SCAN_BATCH)):
            values = {
                name: row[i + 1] for i, name in enumerate(names) if _mentions(row[i + 1], forms)
            }
            if values:
                found.setdefault(table.name, []).append((row[0], values))
    return found


def _redact_free_text(session: Session, forms: PhoneForms) -> dict[str, list[Any]]:
    """Erase the number wherever it was written in free text (FREE_TEXT), keeping the other
    words; returns the ids of the rows changed, per table."""
    found = _free_text_mentions(session, forms)
    tables = {table_of(model).name: table_of(model) for model, _ in FREE_TEXT}
    for name, rows in found.items():
        table = tables[name]
        [key] = table.primary_key.columns
        for row_id, values in rows:
            redacted = {column: _redacted(value, forms) for column, value in values.items()}
            session.execute(update(table).where(key == row_id).values(**redacted))
    return {name: [row_id for row_id, _ in rows] for name, rows in found.items()}


def _audit_mentions(session: Session, forms: PhoneForms) -> int:
    """Audit entries whose summary holds the number (a note given with an action): counted,
    never changed (the chain's hashes cover them; README "Data protection")."""
    rows = session.execute(
        select(col(AuditEntry.summary)).execution_options(yield_per=SCAN_BATCH)
    ).scalars()
    return sum(1 for summary in rows if _mentions(summary, forms))


# --- forget --------------------------------------------------------------------------------


@dataclass
class ForgetResult:
    subscribers: list[int] = field(default_factory=list)
    push_subscriptions: list[int] = field(default_factory=list)
    vulnerable_residents: list[int] = field(default_factory=list)
    resident_checks: int = 0
    liaison_contacts: list[int] = field(default_factory=list)
    notice_links: int = 0
    hotline_calls: list[int] = field(default_factory=list)
    events: int = 0
    messages: int = 0
    in_flight: int = 0  # being sent right now: forget again in a minute to erase them
    stored_answers: int = 0  # Idempotency-Key answers that carried the number
    # where the number was written in free text, erased: table → ids of the rows changed
    free_text: dict[str, list[Any]] = field(default_factory=dict)
    audit_mentions: int = 0  # audit entries whose notes hold it (kept: the chain is whole)
    config_lists_it: bool = False  # config/liaison.yaml still has the number

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def found(self) -> bool:
        return bool(
            self.subscribers
            or self.vulnerable_residents
            or self.liaison_contacts
            or self.hotline_calls
            or self.messages
            or self.free_text
        )


def forget(
    session: Session, *, phone: str, actor: str, config_phones: list[str] | None = None
) -> ForgetResult:
    """Remove the person behind `phone` everywhere (idempotent: again, nothing is found).
    `config_phones`: numbers of config/liaison.yaml, to warn that the file still has it."""
    forms = PhoneForms.of(phone)
    result = ForgetResult()
    now = utcnow()

    # Subscribers and their push subscriptions (a subscriber's phone is stored in E.164).
    # (ids read back are never None: `if i is not None` only tells the type checker so)
    subscriber_ids = [
        i
        for i in session.scalars(
            select(col(Subscriber.id)).where(col(Subscriber.phone) == forms.e164)
        )
        if i is not None
    ]
    push_ids = [
        i
        for i in session.scalars(
            select(col(PushSubscription.id)).where(
                col(PushSubscription.subscriber_id).in_(subscriber_ids)
            )
        )
        if i is not None
    ]
    result.subscribers, result.push_subscriptions = subscriber_ids, push_ids

    # Every message to the number, or to one of those subscriptions: address, dedupe key and
    # a text of its own (a liaison notice's link) erased; the row stays for the counts.
    condition = or_(
        col(Message.address) == forms.e164,
        col(Message.dedupe_key) == f"sms:{forms.e164}",
        *([col(Message.subscriber_id).in_(subscriber_ids)] if subscriber_ids else []),
        *([col(Message.push_subscription_id).in_(push_ids)] if push_ids else []),
    )
    # Not sent yet: cancelled (never sent to a forgotten person). In a worker's hands right
    # now ("sending"): left for the moment (the worker's result needs the row as it is);
    # forgetting again once it is sent erases it.
    session.execute(
        update(Message)
        .where(condition, col(Message.status) == MessageStatus.queued)
        .values(
            status=MessageStatus.cancelled,
            error_message="recipient forgotten",
            updated_at=now,
        )
    )
    result.in_flight = session.execute(
        select(func.count()).select_from(Message).where(condition, col(Message.status) == "sending")
    ).scalar_one()
    result.messages = _erase_messages(
        session, and_(condition, col(Message.status) != MessageStatus.sending), now=now
    )
    if subscriber_ids:
        session.execute(
            update(Message)
            .where(col(Message.subscriber_id).in_(subscriber_ids))
            .values(subscriber_id=None)
        )
    if push_ids:
        session.execute(
            update(Message)
            .where(col(Message.push_subscription_id).in_(push_ids))
            .values(push_subscription_id=None)
        )
        session.execute(delete(PushSubscription).where(col(PushSubscription.id).in_(push_ids)))
    if subscriber_ids:
        session.execute(delete(Subscriber).where(col(Subscriber.id).in_(subscriber_ids)))

    # Vulnerable residents (their phone may be written any way) and their check history.
    residents = [
        r.id
        for r in session.execute(select(VulnerableResident)).scalars()
        if forms.matches(r.phone)
    ]
    if residents:
        checks = session.execute(
            delete(ResidentCheck).where(col(ResidentCheck.resident_id).in_(residents))
        )
        result.resident_checks = rowcount(checks)
        session.execute(delete(VulnerableResident).where(col(VulnerableResident.id).in_(residents)))
    result.vulnerable_residents = residents

    # Liaison contacts: anonymised (the notices they were sent keep their counts); their
    # acknowledgement links dropped. origin "forgotten": the config file no longer owns it.
    contacts = [
        c for c in session.execute(select(LiaisonContact)).scalars() if forms.matches(c.phone)
    ]
    for contact in contacts:
        contact.name, contact.phone, contact.email = FORGOTTEN, None, None
        contact.active, contact.origin = False, "forgotten"
        contact.updated_at, contact.updated_by = now, actor
        session.add(contact)
    contact_ids = [c.id for c in contacts]
    if contact_ids:
        result.notice_links = _void_ack_links(
            session, col(NoticeRecipient.contact_id).in_(contact_ids)
        )
    result.liaison_contacts = contact_ids

    # Hotline calls with this caller (a contact) or that mention the number.
    calls = [
        c
        for c in session.execute(
            select(HotlineCall).where(col(HotlineCall.erased_at).is_(None))
        ).scalars()
        if (c.contact_id in contact_ids)
        or any(forms.found_in(t) for t in (c.caller, c.summary, c.follow_up))
    ]
    result.hotline_calls = [c.id for c in calls]
    result.events = _erase_calls(session, calls, now=now)

    # The stored answers of recent requests (Idempotency-Key, kept a day) that carry it.
    from emergency.idempotency import IdempotencyRecord

    answers = [
        r.id
        for r in session.execute(select(IdempotencyRecord)).scalars()
        if r.response is not None and forms.found_in(json.dumps(r.response, ensure_ascii=False))
    ]
    if answers:
        session.execute(delete(IdempotencyRecord).where(col(IdempotencyRecord.id).in_(answers)))
    result.stored_answers = len(answers)

    # The number wherever someone wrote it in words (and the live events that copied it).
    session.flush()
    result.free_text = _redact_free_text(session, forms)
    result.audit_mentions = _audit_mentions(session, forms)

    result.config_lists_it = any(forms.matches(p) for p in (config_phones or []))
    session.flush()
    # ids and counts only: the audit chain must never hold what was forgotten
    _audit_person(
        session,
        actor=actor,
        action="person.forgotten",
        subscriber_ids=subscriber_ids,
        after={k: v for k, v in result.as_dict().items() if k != "config_lists_it"},
    )
    return result


def _void_ack_links(session: Session, condition: ColumnElement[bool]) -> int:
    """Acknowledgement links (of the notice recipients matching `condition`) that no longer
    open: their token erased. How many."""
    voided = session.execute(
        update(NoticeRecipient)
        .where(col(NoticeRecipient.token).is_not(None), condition)
        .values(token=None)
    )
    return rowcount(voided)


def _erase_messages(session: Session, condition: ColumnElement[bool], *, now: datetime) -> int:
    ids = list(session.scalars(select(col(Message.id)).where(condition)))
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        session.execute(
            update(Message)
            .where(col(Message.id).in_(chunk))
            .values(
                address="",
                dedupe_key=literal("erased:", String).concat(cast(Message.id, String)),
                body=None,
                # the provider's error may name the number (Twilio's 21211 does); SET reads
                # the row as it was, so this is the address being erased
                error_message=func.replace(Message.error_message, Message.address, NUMBER_ERASED),
                erased_at=func.coalesce(Message.erased_at, now),
            )
        )
    return len(ids)


def _erase_calls(session: Session, calls: list[HotlineCall], *, now: datetime) -> int:
    """Erase the words of hotline calls, in their rows and in the live events that carried
    them (`liaison.logged`); returns how many events were erased."""
    if not calls:
        return 0
    ids = {c.id for c in calls}
    for call in calls:
        call.caller, call.summary = ERASED, ERASED
        call.follow_up = ERASED if call.follow_up is not None else None
        call.erased_at = now
        session.add(call)
    first = min(c.at for c in calls) - timedelta(minutes=1)
    erased = 0
    for event in session.execute(
        select(Event).where(col(Event.type) == "liaison.logged", col(Event.at) >= first)
    ).scalars():
        if isinstance(event.data, dict) and event.data.get("id") in ids:
            event.data = {"id": event.data["id"], "erased": True}
            session.add(event)
            erased += 1
    return erased


# --- export --------------------------------------------------------------------------------


def export(session: Session, *, phone: str, actor: str) -> dict[str, Any]:
    """Everything held about `phone`, as JSON values (the person's right of access)."""
    forms = PhoneForms.of(phone)
    subscribers = list(
        session.execute(select(Subscriber).where(col(Subscriber.phone) == forms.e164)).scalars()
    )
    subscriber_ids = [s.id for s in subscribers]
    pushes = (
        list(
            session.execute(
                select(PushSubscription).where(
                    col(PushSubscription.subscriber_id).in_(subscriber_ids)
                )
            ).scalars()
        )
        if subscriber_ids
        else []
    )
    messages = list(
        session.execute(
            select(Message)
            .where(
                or_(
                    col(Message.address) == forms.e164,
                    *([col(Message.subscriber_id).in_(subscriber_ids)] if subscriber_ids else []),
                )
            )
            .order_by(col(Message.id))
        ).scalars()
    )
    residents = [
        r for r in session.execute(select(VulnerableResident)).scalars() if forms.matches(r.phone)
    ]
    checks = (
        list(
            session.execute(
                select(ResidentCheck)
                .where(col(ResidentCheck.resident_id).in_([r.id for r in residents]))
                .order_by(col(ResidentCheck.id))
            ).scalars()
        )
        if residents
        else []
    )
    contacts = [
        c for c in session.execute(select(LiaisonContact)).scalars() if forms.matches(c.phone)
    ]
    contact_ids = [c.id for c in contacts]
    notices = (
        list(
            session.execute(
                select(NoticeRecipient).where(col(NoticeRecipient.contact_id).in_(contact_ids))
            ).scalars()
        )
        if contact_ids
        else []
    )
    calls = [
        c
        for c in session.execute(select(HotlineCall).order_by(col(HotlineCall.id))).scalars()
        if c.contact_id in contact_ids
        or any(forms.found_in(t) for t in (c.caller, c.summary, c.follow_up))
    ]
    data: dict[str, Any] = {
        "phone": forms.e164,
        "exported_at": utcnow().isoformat(),
        "subscribers": [_row(s) for s in subscribers],
        "push_subscriptions": [_row(p, drop=("p256dh", "auth")) for p in pushes],
        "messages": [
            _row(
                m,
                keep=(
                    "id",
                    "broadcast_id",
                    "channel",
                    "language",
                    "status",
                    "queued_at",
                    "sent_at",
                    "delivered_at",
                    "body",
                    "error_code",
                ),
            )
            for m in messages
        ],
        "vulnerable_residents": [_row(r) for r in residents],
        "resident_checks": [_row(c) for c in checks],
        "liaison_contacts": [_row(c) for c in contacts],
        "liaison_notices": [_row(n, drop=("token",)) for n in notices],
        "hotline_calls": [_row(c) for c in calls],
        # notes and texts where someone wrote the number: table → [{id, column: text}]
        "mentioned_in": {
            name: [jsonable_encoder({"id": row_id, **values}) for row_id, values in rows]
            for name, rows in _free_text_mentions(session, forms).items()
        },
    }
    _audit_person(
        session,
        actor=actor,
        action="person.exported",
        subscriber_ids=subscriber_ids,
        after={
            **{key: len(value) for key, value in data.items() if isinstance(value, list)},
            "mentioned_in": {name: len(rows) for name, rows in data["mentioned_in"].items()},
        },
    )
    return data


def _audit_person(
    session: Session,
    *,
    actor: str,
    action: str,
    subscriber_ids: Sequence[int],
    after: dict[str, Any],
) -> None:
    """What was done with one person's data, audited under the person (their first
    subscription's id; "-" when they had none): ids and counts only, never the data."""
    audit_service.record(
        session,
        actor=actor,
        action=action,
        target_type="person",
        target_id=f"subscriber:{subscriber_ids[0]}" if subscriber_ids else "-",
        after=after,
    )


def _row(
    obj: SQLModel, *, keep: tuple[str, ...] | None = None, drop: tuple[str, ...] = ()
) -> dict[str, Any]:
    values = obj.model_dump(warnings=False)
    if keep is not None:
        values = {k: v for k, v in values.items() if k in keep}
    row: dict[str, Any] = jsonable_encoder({k: v for k, v in values.items() if k not in drop})
    return row


# --- retention -----------------------------------------------------------------------------


@dataclass
class PurgeResult:
    message_addresses: int = 0
    ack_links: int = 0
    photos: int = 0
    orphan_photo_files: int = 0
    hotline_calls: int = 0
    progress_events: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    @property
    def total(self) -> int:
        return sum(self.as_dict().values())


BATCH = 5000
MAX_BATCHES = 200  # a run erases at most a million addresses; the next run goes on


def purge(db: Database, *, settings: Settings, now: datetime | None = None) -> PurgeResult:
    """Apply every retention rule once; each batch its own short transaction (no long lock
    on the outbox while the workers send). Audited once per run when anything went."""
    now = now or utcnow()
    result = PurgeResult()

    def cutoff(days: float) -> datetime | None:
        return now - timedelta(days=days) if days > 0 else None

    if (before := cutoff(settings.retain_message_addresses_days)) is not None:
        for _ in range(MAX_BATCHES):
            with db.unit_of_work() as session:
                ids = select(col(Message.id)).where(
                    col(Message.erased_at).is_(None),
                    col(Message.queued_at) < before,
                    col(Message.status).in_([s.value for s in FINAL]),
                )
                done = _erase_messages(session, col(Message.id).in_(ids.limit(BATCH)), now=now)
            result.message_addresses += done
            if done < BATCH:
                break
    if (before := cutoff(settings.retain_ack_links_days)) is not None:
        with db.unit_of_work() as session:
            old_notices = select(col(LiaisonNotice.id)).where(
                col(LiaisonNotice.created_at) < before
            )
            result.ack_links = _void_ack_links(
                session, col(NoticeRecipient.notice_id).in_(old_notices)
            )
    if (before := cutoff(settings.retain_photos_days)) is not None:
        result.photos = _purge_photos(db, settings=settings, before=before, now=now)
    result.orphan_photo_files = _remove_orphan_files(db, settings=settings, now=now)
    if (before := cutoff(settings.retain_hotline_days)) is not None:
        with db.unit_of_work() as session:
            calls = list(
                session.execute(
                    select(HotlineCall).where(
                        col(HotlineCall.erased_at).is_(None), col(HotlineCall.at) < before
                    )
                ).scalars()
            )
            _erase_calls(session, calls, now=now)
            result.hotline_calls = len(calls)
    if (before := cutoff(settings.retain_progress_events_days)) is not None:
        with db.unit_of_work() as session:
            gone = session.execute(
                delete(Event).where(
                    and_(col(Event.type) == "broadcast.progress", col(Event.at) < before)
                )
            )
            result.progress_events = rowcount(gone)
    if result.total:
        with db.unit_of_work() as session:
            audit_service.record(
                session,
                actor="retention",
                action="retention.purged",
                target_type="retention",
                target_id=now.date().isoformat(),
                after=result.as_dict(),
            )
        log.info("retention purge: %s", result.as_dict())
    return result


def _purge_photos(db: Database, *, settings: Settings, before: datetime, now: datetime) -> int:
    with db.unit_of_work() as session:
        photos = list(
            session.execute(
                select(Photo).where(col(Photo.deleted_at).is_(None), col(Photo.created_at) < before)
            ).scalars()
        )
        for photo in photos:
            photo.deleted_at = now
            session.add(photo)
    # The rows say "deleted" first: a crash in between leaves files the orphan sweep removes.
    for photo in photos:
        photo_service.path_for(settings.data_dir, photo.id, photo.content_type).unlink(
            missing_ok=True
        )
    return len(photos)


ORPHAN_AGE = timedelta(days=1)  # a file written for a request that then failed, long ago


def _remove_orphan_files(db: Database, *, settings: Settings, now: datetime) -> int:
    root = Path(settings.data_dir) / "photos"
    if not root.is_dir():
        return 0
    files = [p for p in root.glob("*/*") if p.is_file()]
    if not files:
        return 0
    with db.session() as session:
        kept = set(session.scalars(select(col(Photo.id)).where(col(Photo.deleted_at).is_(None))))
    removed = 0
    for path in files:
        photo_id = path.stem
        stale = now.timestamp() - path.stat().st_mtime > ORPHAN_AGE.total_seconds()
        if photo_id not in kept and stale:
            path.unlink(missing_ok=True)
            removed += 1
    return removed
