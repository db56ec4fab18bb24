"""A signal change and everything it sets off, in one unit of work.

    outcome = apply_signal(session, runtime=runtime, source="SMG", kind="tropical_cyclone",
                           level="8NE", actor="smg.gov.mo", origin=Origin.cap, ...)

Every origin comes through here (operator, CAP, feed poller, replay, rules). After the change
is stored (`signals.service.set_signal`, idempotent: the level in force again changes
nothing and sets off nothing), in this order and in the same transaction, so that they commit
together with the change or not at all:
1. `response.changed` when the change is the command post's response level;
2. our CAP 1.2 alert for the change (`cap.service.publish_signal_change`);
3. the liaison notice to the Macau contacts, for a shared signal (SMG, ZHUHAI);
4. the rules: the actions the new signal state calls for (`rules.engine.evaluate`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session

from emergency.events import service as event_service
from emergency.signals import service as signal_service
from emergency.signals.models import Origin, SignalChange

RESPONSE_LEVEL = ("HENGQIN", "response_level")


@dataclass
class SignalOutcome:
    """What one call did: the change (None: nothing changed) and what it set off."""

    change: SignalChange | None
    published: list[str] = field(default_factory=list)  # identifiers of our CAP alerts
    notices: list[int] = field(default_factory=list)  # liaison notice ids
    actions: list[dict[str, Any]] = field(default_factory=list)  # rule actions run
    changes: list[SignalChange] = field(default_factory=list)  # every change, rules' included

    @property
    def changed(self) -> bool:
        return self.change is not None


def apply_signal(
    session: Session,
    *,
    runtime: Any,
    source: str,
    kind: str,
    level: str | None,
    actor: str,
    origin: Origin | str,
    at: datetime | None = None,
    cap_identifier: str | None = None,
    cap_sender: str | None = None,
    cap_sent: datetime | None = None,
    note: str | None = None,
    exercise: bool = False,
    run_rules: bool = True,
    expires_at: datetime | None = None,
) -> SignalOutcome:
    """Set a signal level (None lowers it) and run what it sets off (see the module docstring).

    `run_rules=False` is for the rules engine itself, which re-evaluates after its own changes.
    """
    if run_rules:
        from emergency.rules import engine as rules_engine

        # Rules first, then the signal row: every change takes the locks in the same order
        # (the rules may set the response level, another signal row), so two changes at
        # once wait for each other instead of deadlocking.
        rules_engine.lock_states(session, runtime=runtime, exercise=exercise)
    change = signal_service.set_signal(
        session,
        catalogue=runtime.catalogue,
        source=source,
        kind=kind,
        level=level,
        actor=actor,
        origin=Origin(origin),
        at=at,
        cap_identifier=cap_identifier,
        cap_sender=cap_sender,
        cap_sent=cap_sent,
        note=note,
        exercise=exercise,
        expires_at=expires_at,
    )
    outcome = SignalOutcome(change=change)
    if change is None:
        return outcome
    after_change(session, runtime=runtime, change=change, outcome=outcome)
    if run_rules:
        rules_engine.evaluate(
            session, runtime=runtime, exercise=change.exercise, trigger=change, outcome=outcome
        )
    return outcome


def after_change(
    session: Session, *, runtime: Any, change: SignalChange, outcome: SignalOutcome
) -> None:
    """Steps 1-3 of the module docstring for one stored change."""
    from emergency.cap import service as cap_service
    from emergency.liaison import service as liaison_service

    outcome.changes.append(change)
    if (change.source, change.kind) == RESPONSE_LEVEL:
        names = (
            runtime.catalogue.names(change.source, change.kind, change.level)
            if change.level
            else None
        )
        event_service.emit(
            session,
            "response.changed",
            {
                "level": change.level,
                "previous_level": change.previous_level,
                "change": change.change,
                "names": names,
                "actor": change.actor,
                "origin": change.origin,
                "exercise": change.exercise,
                "signal_change_id": change.id,
            },
        )
    published = cap_service.publish_signal_change(session, runtime=runtime, change=change)
    if published is not None:
        outcome.published.append(published.identifier)
    notice = liaison_service.notify_signal_change(session, runtime=runtime, change=change)
    if notice is not None:
        outcome.notices.append(notice.id)
