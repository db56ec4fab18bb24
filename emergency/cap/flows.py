"""Ingesting one incoming CAP 1.2 alert (POST /api/v1/cap, or the feed poller).

    result = ingest_cap(session, runtime=runtime, data=body, posted_by="operator-1")

1. `parse_cap`: size limit, no DTD/entities, the OASIS schema, CAP's rules; a CapError (4xx)
   stores nothing.
2. The same (sender, identifier) again is a duplicate: nothing changes (HTTP 200).
3. Status Test, Draft and System are stored and acknowledged, and never acted on.
4. The signals it asserts (our own SIGNAL eventCode, else config/cap_mappings.yaml) go through
   the signal flow (`signals.flows.apply_signal`), a drill (status Exercise) to the exercise
   levels only. An assertion is skipped, with the reason recorded, when:
   - `expired`: its <expires> has passed;
   - `outdated`: the level in force was set by a newer CAP alert (feeds deliver out of order);
   - `not_referenced`: a Cancel whose <references> do not name the alert that set the level
     in force (a Cancel of something else must not lower a signal). When the level was set
     by an earlier alert of the same sender and the Cancel references alerts we never
     received (a gap in the chain), it does apply: otherwise a missed Update would keep a
     Signal No. 8 in force for ever.
5. The alert is stored whole with what it did; `cap.received` is emitted and audited.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from lxml import etree
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from emergency.audit import service as audit_service
from emergency.cap.exceptions import CapError
from emergency.cap.mapping import CapMappings, SignalAssertion, load_cap_mappings, signals_from_cap
from emergency.cap.models import CapAlert, CapReference
from emergency.cap.parse import DEFAULT_MAX_BYTES, parse_cap, parse_xml_safely
from emergency.cap.tables import CapReceived, Outcome
from emergency.db import utcnow
from emergency.events import service as event_service
from emergency.exceptions import NotFound
from emergency.signals import flows as signal_flows
from emergency.signals import service as signal_service
from emergency.signals.context import cached
from emergency.signals.models import Origin

log = logging.getLogger(__name__)

ACTED_ON = ("Actual", "Exercise")


@dataclass
class IngestResult:
    record: CapReceived
    duplicate: bool = False
    signals: list[dict[str, Any]] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    published: list[str] = field(default_factory=list)
    notices: list[int] = field(default_factory=list)


def mappings(runtime: Any) -> CapMappings:
    """config/cap_mappings.yaml, checked against the catalogue, loaded once per Runtime."""
    return cached(
        runtime,
        "cap.mappings",
        lambda: load_cap_mappings(
            runtime.settings.config_dir / "cap_mappings.yaml", catalogue=runtime.catalogue
        ),
    )


def find_received(session: Session, *, sender: str, identifier: str) -> CapReceived | None:
    return session.exec(
        select(CapReceived).where(
            CapReceived.sender == sender, CapReceived.identifier == identifier
        )
    ).first()


def list_received(session: Session, *, limit: int = 100) -> list[CapReceived]:
    return list(session.exec(select(CapReceived).order_by(col(CapReceived.id).desc()).limit(limit)))


def get_received(session: Session, *, received_id: int) -> CapReceived:
    row = session.get(CapReceived, received_id)
    if row is None:
        raise NotFound(f"no received CAP alert {received_id}", code="cap_received_not_found")
    return row


def ingest_cap(
    session: Session,
    *,
    runtime: Any,
    data: bytes,
    posted_by: str,
    origin: Origin = Origin.cap,
    feed_id: str | None = None,
    source_url: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    cap_mappings: CapMappings | None = None,
) -> IngestResult:
    """Parse, store and act on one alert (see the module docstring); CapError if unusable.

    `cap_mappings`: the mappings that apply (a feed may use some only); default all."""
    alert = parse_cap(data, max_bytes=max_bytes)
    existing = find_received(session, sender=alert.sender, identifier=alert.identifier)
    if existing is not None:
        return IngestResult(
            record=existing, duplicate=True, signals=existing.result.get("signals", [])
        )
    assertions = []
    if alert.status in ACTED_ON:
        # Before anything is stored: an unknown level or a conflict is a CapError (4xx).
        assertions = signals_from_cap(
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
        raw_xml=_as_text(data),
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
    actor = f"feed:{feed_id}" if origin == Origin.feed and feed_id else alert.sender
    for assertion in assertions:
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
    if alert.status not in ACTED_ON:
        record.outcome = Outcome.not_actual
    elif not assertions:
        record.outcome = Outcome.nothing_mapped
    elif any(s["applied"] for s in result.signals):
        record.outcome = Outcome.applied
    record.result = {
        "signals": result.signals,
        "published": result.published,
        "notices": result.notices,
        "actions": len(result.actions),
    }
    session.add(record)
    session.flush()
    audit_service.record(
        session,
        actor=posted_by,
        action="cap.received",
        target_type="cap_alert",
        target_id=record.id,
        after={
            "identifier": alert.identifier,
            "sender": alert.sender,
            "status": alert.status,
            "msg_type": alert.msg_type,
            "outcome": record.outcome,
            "feed": feed_id,
        },
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


def _apply(
    session: Session,
    *,
    runtime: Any,
    alert: CapAlert,
    assertion: SignalAssertion,
    actor: str,
    origin: Origin,
    result: IngestResult,
) -> dict[str, Any]:
    exercise = assertion.exercise
    entry: dict[str, Any] = {
        "signal": assertion.code,
        "source": assertion.source,
        "kind": assertion.kind,
        "level": assertion.level,
        "exercise": exercise,
        "rule": assertion.rule,
        "applied": False,
        "change": None,
        "reason": None,
    }
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
    session: Session, *, alert: CapAlert, assertion: SignalAssertion, in_force
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


def _as_text(data: bytes) -> str:
    """The alert as text to store; a document in another encoding is re-written as UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        root = parse_xml_safely(data)
        return etree.tostring(root, encoding="unicode")


def _lookup(session: Session, reference: CapReference) -> CapAlert | None:
    """An earlier alert we received, for a Cancel that names its signals only by reference."""
    row = find_received(session, sender=reference.sender, identifier=reference.identifier)
    if row is None:
        return None
    try:
        return parse_cap(row.raw_xml.encode("utf-8"), max_bytes=max(len(row.raw_xml) * 4, 1))
    except CapError:
        return None
