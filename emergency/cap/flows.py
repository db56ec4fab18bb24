"""Ingesting one incoming CAP 1.2 alert (POST /api/v1/cap, or the feed poller).

    result = ingest_cap(session, runtime=runtime, data=body, posted_by="operator-1")

1. `parse_cap_within`: size limit (TYPHOON_CAP_MAX_BYTES), no DTD/entities, structural
   limits, the OASIS schema, CAP's rules, within a deadline; a CapError (4xx) stores nothing.
2. The same (sender, identifier) again is a duplicate: nothing changes (HTTP 200).
3. A <sent> more than 5 minutes ahead of our clock is refused (422 cap_sent_in_future): such an
   alert would stay "the latest" and make every genuine one after it look outdated. The
   refusal is audited (cap.refused) and shown to the operator as a prompt.
4. Status Test, Draft and System are stored and acknowledged, and never acted on.
5. The signals it asserts (our own SIGNAL eventCode, else config/cap_mappings.yaml) go through
   the signal flow (`signals.flows.apply_signal`), a drill (status Exercise) to the exercise
   levels only. An assertion is skipped, with the reason recorded, when:
   - `untrusted_sender`: the sender is not trusted for that source (config/feeds.yaml
     trusted_senders), whatever the eventCode: audited (cap.refused) and prompted;
   - `expired`: its <expires> has passed;
   - `outdated`: the level in force was set by a newer CAP alert (feeds deliver out of order);
   - `not_referenced`: a Cancel whose <references> do not name the alert that set the level
     in force (a Cancel of something else must not lower a signal). When the level was set
     by an earlier alert of the same sender and the Cancel references alerts we never
     received (a gap in the chain), it does apply: otherwise a missed Update would keep a
     Signal No. 8 in force for ever.
6. Nothing is silent: infos that disagree on a signal (the alert is stored, that signal is
   not changed), a signal named without a readable level (No. 8 without its quadrant), and an
   alert from a trusted sender that maps to nothing each raise an operator prompt naming
   the alert's headline.
7. The alert is stored whole (its bytes exactly, and as text) with what it did; `cap.received`
   is emitted and audited.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from emergency.audit import service as audit_service
from emergency.cap.alert import CapAlert, CapReference
from emergency.cap.build import cap_time
from emergency.cap.exceptions import CapError
from emergency.cap.mapping import (
    CapMappings,
    CapReading,
    SignalAssertion,
    read_cap,
)
from emergency.cap.models import CapReceived, Outcome
from emergency.cap.parse import parse_cap, parse_cap_within
from emergency.db import get_or_404, stored_id, utcnow
from emergency.events import service as event_service
from emergency.feeds.config import FeedsFile, feeds_config
from emergency.rules import prompts
from emergency.signals import flows as signal_flows
from emergency.signals import service as signal_service
from emergency.signals.models import Origin, SignalChange

if TYPE_CHECKING:
    from emergency.runtime import Runtime

log = logging.getLogger(__name__)

ACTED_ON = ("Actual", "Exercise")
# How far ahead of our clock a <sent> may be (clocks differ a little; a signal is not hoisted
# in the future).
FUTURE_TOLERANCE = timedelta(minutes=5)


@dataclass
class IngestResult:
    record: CapReceived
    duplicate: bool = False
    signals: list[dict[str, Any]] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    published: list[str] = field(default_factory=list)
    notices: list[int] = field(default_factory=list)


def mappings(runtime: Runtime) -> CapMappings:
    """config/cap_mappings.yaml, checked against the catalogue, loaded once per Runtime."""
    return runtime.config.cap_mappings


def find_received(session: Session, *, sender: str, identifier: str) -> CapReceived | None:
    return session.exec(
        select(CapReceived).where(
            CapReceived.sender == sender, CapReceived.identifier == identifier
        )
    ).first()


def list_received(session: Session, *, limit: int = 100) -> list[CapReceived]:
    return list(session.exec(select(CapReceived).order_by(col(CapReceived.id).desc()).limit(limit)))


def get_received(session: Session, *, received_id: int) -> CapReceived:
    return get_or_404(
        session, CapReceived, received_id, "received CAP alert", code="cap_received_not_found"
    )


def ingest_cap(
    session: Session,
    *,
    runtime: Runtime,
    data: bytes,
    posted_by: str,
    origin: Origin = Origin.cap,
    feed_id: str | None = None,
    source_url: str | None = None,
    cap_mappings: CapMappings | None = None,
    drill: bool = False,
) -> IngestResult:
    """Parse, store and act on one alert (see the module docstring); CapError if unusable.

    `cap_mappings`: the mappings that apply (a feed may use some only); default all.
    `drill`: posted by a drill user, whose alert must be an Exercise one."""
    settings = runtime.settings
    alert = parse_cap_within(
        data, max_bytes=settings.cap_max_bytes, seconds=settings.cap_parse_seconds
    )
    if drill and alert.status != "Exercise":
        raise CapError(
            "cap_drill_user",
            f"{posted_by} is a drill user: it posts only alerts with <status>Exercise</status> "
            f"(this one is {alert.status}), never one that changes the real signals",
            path="/alert/status",
        )
    existing = find_received(session, sender=alert.sender, identifier=alert.identifier)
    if existing is not None:
        return IngestResult(
            record=existing, duplicate=True, signals=existing.result.get("signals", [])
        )
    now = utcnow()
    if alert.sent > now + FUTURE_TOLERANCE:
        _refuse_future(runtime, alert=alert, posted_by=posted_by, feed_id=feed_id, now=now)
        raise CapError(
            "cap_sent_in_future",
            f"<sent> {cap_time(alert.sent)} is more than "
            f"{int(FUTURE_TOLERANCE.total_seconds() // 60)} minutes ahead of our clock "
            f"({cap_time(now)}): refused",
            path="/alert/sent",
        )
    reading = CapReading()
    if alert.status in ACTED_ON:
        # Before anything is stored: an unknown level is a CapError (4xx).
        reading = read_cap(
            alert,
            runtime.catalogue,
            cap_mappings or mappings(runtime),
            accept_status=ACTED_ON,
            lookup=lambda ref: _lookup(session, ref),
        )
    record = CapReceived(
        identifier=alert.identifier,
        sender=alert.sender,
        sent=alert.sent,
        status=alert.status,
        msg_type=alert.msg_type,
        references=" ".join(str(r) for r in alert.references) or None,
        origin=str(origin),
        feed_id=feed_id,
        source_url=source_url,
        posted_by=posted_by,
        size=len(data),
        raw_xml=as_text(data),
        raw=data,
        outcome=Outcome.no_change,
    )
    try:
        with session.begin_nested():  # two posts of the same alert at once: one stores it
            session.add(record)
            session.flush()
    except IntegrityError:
        existing = find_received(session, sender=alert.sender, identifier=alert.identifier)
        if existing is None:
            raise
        return IngestResult(
            record=existing, duplicate=True, signals=existing.result.get("signals", [])
        )

    result = IngestResult(record=record)
    trust = feeds_config(runtime)
    actor = f"feed:{feed_id}" if origin == Origin.feed and feed_id else alert.sender
    untrusted: list[SignalAssertion] = []
    for assertion in reading.assertions:
        if not assertion.exercise and not trust.trusts(assertion.source, alert.sender):
            untrusted.append(assertion)
            result.signals.append(_entry(assertion, reason="untrusted_sender"))
            continue
        result.signals.append(
            _apply(
                session,
                runtime=runtime,
                alert=alert,
                assertion=assertion,
                actor=actor,
                origin=origin,
                result=result,
            )
        )
    applied = any(s["applied"] for s in result.signals)
    if alert.status not in ACTED_ON:
        record.outcome = Outcome.not_actual
    elif applied:
        record.outcome = Outcome.applied
    elif reading.conflicts:
        record.outcome = Outcome.conflict
    elif untrusted:
        record.outcome = Outcome.untrusted
    elif not reading.assertions:
        record.outcome = Outcome.nothing_mapped
    record.result = {
        "signals": result.signals,
        "published": result.published,
        "notices": result.notices,
        "actions": len(result.actions),
        "conflicts": reading.conflicts,
        "questions": reading.questions,
    }
    audit_service.record_write(
        session,
        record,
        actor=posted_by,
        action="cap.received",
        target_type="cap_alert",
        after={
            "identifier": alert.identifier,
            "sender": alert.sender,
            "status": alert.status,
            "msg_type": alert.msg_type,
            "outcome": record.outcome,
            "feed": feed_id,
        },
    )
    _ask_the_operator(
        session,
        trust=trust,
        alert=alert,
        record=record,
        reading=reading,
        untrusted=untrusted,
        posted_by=posted_by,
    )
    event_service.emit(
        session,
        "cap.received",
        {
            "id": record.id,
            "identifier": alert.identifier,
            "sender": alert.sender,
            "status": alert.status,
            "msg_type": alert.msg_type,
            "origin": str(origin),
            "feed": feed_id,
            "outcome": record.outcome,
            "signals": result.signals,
        },
    )
    return result


def headline_of(alert: CapAlert) -> str:
    """What the alert calls itself: the first headline, else event, else its identifier."""
    for info in alert.infos:
        if info.headline:
            return info.headline
    return next((i.event for i in alert.infos if i.event), alert.identifier)


# What the duty operator is told of a CAP alert that changed nothing, by prompt kind: {said}
# names the alert, {what} what it claims or what is wrong.
_PROMPT_TEXTS: dict[str, dict[str, str]] = {
    "cap_refused": {
        "en": "CAP alert {said} claims {what}, but its sender is not trusted for "
        "that source: nothing changed. Check with the agency.",
        "zh-Hans": "CAP警报{said}声称{what}，但发送者不是该来源的受信发送者：未作任何更改。请向发布机构核实。",
        "zh-Hant": "CAP警報{said}聲稱{what}，但發送者不是該來源的受信發送者：未作任何更改。請向發布機構核實。",
        "pt": "Alerta CAP {said} indica {what}, mas o remetente não é de confiança "
        "para essa fonte: nada foi alterado. Confirme com a entidade.",
    },
    "cap_conflict": {
        "en": "CAP alert {said}: its languages disagree ({what}). The signal was not "
        "changed: decide which is right and set it.",
        "zh-Hans": "CAP警报{said}各语言内容不一致（{what}）。信号未更改：请判断并设定正确的信号。",
        "zh-Hant": "CAP警報{said}各語言內容不一致（{what}）。信號未更改：請判斷並設定正確的信號。",
        "pt": "Alerta CAP {said}: as línguas não coincidem ({what}). O sinal não foi "
        "alterado: decida qual está certo e defina-o.",
    },
    "cap_question": {
        "en": "CAP alert {said} names a signal we cannot read exactly ({what}). "
        "Set the signal by hand.",
        "zh-Hans": "CAP警报{said}提及的信号无法准确识别（{what}）。请手动设定信号。",
        "zh-Hant": "CAP警報{said}提及的信號無法準確識別（{what}）。請手動設定信號。",
        "pt": "Alerta CAP {said} refere um sinal que não se lê com exactidão "
        "({what}). Defina o sinal manualmente.",
    },
    "cap_unmapped": {
        "en": "CAP alert {said} from a trusted sender names none of our signals. "
        "Read it and decide whether anything must be done.",
        "zh-Hans": "受信发送者的CAP警报{said}未对应任何信号。请阅读并决定是否需要采取行动。",
        "zh-Hant": "受信發送者的CAP警報{said}未對應任何信號。請閱讀並決定是否需要採取行動。",
        "pt": "Alerta CAP {said} de um remetente de confiança não corresponde a "
        "nenhum dos nossos sinais. Leia-o e decida se é preciso agir.",
    },
}


def _ask_the_operator(
    session: Session,
    *,
    trust: FeedsFile,
    alert: CapAlert,
    record: CapReceived,
    reading: CapReading,
    untrusted: list[SignalAssertion],
    posted_by: str,
) -> None:
    """The prompts of step 6 (and the refusals of step 5), never a silent store."""
    headline = headline_of(alert)
    exercise = alert.status == "Exercise"
    said = f"«{headline}» ({alert.sender}, {alert.identifier})"

    def prompt(about: str, kind: str, **values: str) -> None:
        texts = _PROMPT_TEXTS[kind]
        prompts.create(
            session,
            dedupe_key=f"cap:{about}:{record.id}",
            kind=kind,
            texts={lang: text.format(said=said, **values) for lang, text in texts.items()},
            actor=posted_by,
            exercise=exercise,
        )

    if untrusted:
        signals = ", ".join(a.code for a in untrusted)
        audit_service.record(
            session,
            actor=posted_by,
            action="cap.refused",
            target_type="cap_alert",
            target_id=stored_id(record),
            after={"reason": "untrusted_sender", "sender": alert.sender, "signals": signals},
        )
        prompt("untrusted", "cap_refused", what=signals)
    if reading.conflicts:
        told = "; ".join(reading.conflicts)
        prompt("conflict", "cap_conflict", what=told)
    if reading.questions:
        asked = "; ".join(reading.questions)
        prompt("question", "cap_question", what=asked)
    if (
        alert.status in ACTED_ON
        and not reading.assertions
        and not reading.conflicts
        and not reading.questions
        and trust.trusted_sources(alert.sender)
    ):
        prompt("unmapped", "cap_unmapped")


def _refuse_future(
    runtime: Runtime, *, alert: CapAlert, posted_by: str, feed_id: str | None, now: datetime
) -> None:
    """Step 3's refusal, recorded in its own unit of work: the request's rolls back."""
    said = f"«{headline_of(alert)}» ({alert.sender}, {alert.identifier})"
    when = cap_time(alert.sent)
    with runtime.db.unit_of_work() as session:
        audit_service.record(
            session,
            actor=posted_by,
            action="cap.refused",
            target_type="cap_alert",
            target_id=f"{alert.sender},{alert.identifier}"[:120],
            after={"reason": "sent_in_future", "sent": alert.sent, "at": now, "feed": feed_id},
        )
        prompts.create(
            session,
            dedupe_key=f"cap:future:{alert.sender}:{alert.identifier}"[:200],
            kind="cap_refused",
            texts={
                "en": f"CAP alert {said} refused: it says it was sent at {when}, in the future. "
                "A clock is wrong, or the alert is forged: check with the agency.",
                "zh-Hans": f"已拒收CAP警报{said}：其发送时间{when}在未来。可能是时钟错误或伪造警报，请向发布机构核实。",
                "zh-Hant": f"已拒收CAP警報{said}：其發送時間{when}在未來。可能是時鐘錯誤或偽造警報，請向發布機構核實。",
                "pt": f"Alerta CAP {said} recusado: diz ter sido enviado às {when}, no futuro. "
                "Um relógio está errado ou o alerta é falso: confirme com a entidade.",
            },
            actor=posted_by,
            exercise=alert.status == "Exercise",
        )


def _entry(assertion: SignalAssertion, *, reason: str | None = None) -> dict[str, Any]:
    return {
        "signal": assertion.code,
        "source": assertion.source,
        "kind": assertion.kind,
        "level": assertion.level,
        "exercise": assertion.exercise,
        "rule": assertion.rule,
        "applied": False,
        "change": None,
        "reason": reason,
    }


def _apply(
    session: Session,
    *,
    runtime: Runtime,
    alert: CapAlert,
    assertion: SignalAssertion,
    actor: str,
    origin: Origin,
    result: IngestResult,
) -> dict[str, Any]:
    exercise = assertion.exercise
    entry = _entry(assertion)
    in_force = signal_service.change_in_force(
        session, source=assertion.source, kind=assertion.kind, exercise=exercise
    )
    reason = _skip_reason(session, alert=alert, assertion=assertion, in_force=in_force)
    if reason is not None:
        entry["reason"] = reason
        return entry
    outcome = signal_flows.apply_signal(
        session,
        runtime=runtime,
        source=assertion.source,
        kind=assertion.kind,
        level=assertion.level,
        actor=actor,
        origin=origin,
        cap_identifier=alert.identifier,
        cap_sender=alert.sender,
        cap_sent=alert.sent,
        exercise=exercise,
        note=f"CAP {alert.msg_type} {alert.identifier}"[:500],
        expires_at=assertion.expires,
    )
    if outcome.change is None:
        entry["reason"] = "already_in_force"
        return entry
    entry.update(applied=True, change=outcome.change.change, signal_change_id=outcome.change.id)
    result.published.extend(outcome.published)
    result.notices.extend(outcome.notices)
    result.actions.extend(outcome.actions)
    return entry


def _skip_reason(
    session: Session,
    *,
    alert: CapAlert,
    assertion: SignalAssertion,
    in_force: SignalChange | None,
) -> str | None:
    if assertion.expires is not None and assertion.expires <= utcnow():
        return "expired"
    if in_force is None:
        return None  # nothing in force: a Cancel is then "already_in_force" (nothing to do)
    if in_force.cap_sent is not None and in_force.cap_sent > alert.sent:
        return "outdated"
    if assertion.level is not None:
        return None
    # A Cancel: only of the alert that set the level in force (module docstring, step 4).
    referenced = {ref.key for ref in assertion.references}
    if in_force.cap_identifier and (in_force.cap_sender, in_force.cap_identifier) in referenced:
        return None
    same_sender = in_force.cap_sender == alert.sender and in_force.cap_sent is not None
    missed = [
        ref
        for ref in assertion.references
        if find_received(session, sender=ref.sender, identifier=ref.identifier) is None
    ]
    if same_sender and missed:
        return None
    return "not_referenced"


_DECLARED = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


def as_text(data: bytes) -> str:
    """The document as text, to read and search (the bytes themselves are kept too): UTF-8,
    else the encoding its XML declaration names."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        declared = _DECLARED.match(data)
        try:
            return data.decode(declared[1].decode() if declared else "latin-1", errors="replace")
        except LookupError:
            return data.decode("latin-1")


def _lookup(session: Session, reference: CapReference) -> CapAlert | None:
    """An earlier alert we received, for a Cancel that names its signals only by reference."""
    row = find_received(session, sender=reference.sender, identifier=reference.identifier)
    if row is None:
        return None
    data = row.raw if row.raw is not None else row.raw_xml.encode("utf-8")
    try:
        return parse_cap(data, max_bytes=max(len(data), 1))
    except CapError:
        return None
