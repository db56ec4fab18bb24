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
4. the rules: the actions the new signal state calls for (`evaluate_rules`: the rules engine,
   with the response level it asks for applied through this flow).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Unpack

from sqlmodel import Session

from emergency.db import stored_id
from emergency.events import service as event_service
from emergency.rules import actions as rule_actions
from emergency.rules import engine as rules_engine
from emergency.signals import service as signal_service
from emergency.signals.models import Origin, SignalChange
from emergency.signals.service import SignalDetails

if TYPE_CHECKING:
    from emergency.runtime import Runtime

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
    runtime: Runtime,
    source: str,
    kind: str,
    level: str | None,
    actor: str,
    origin: Origin | str,
    exercise: bool = False,
    run_rules: bool = True,
    **details: Unpack[SignalDetails],
) -> SignalOutcome:
    """Set a signal level (None lowers it) and run what it sets off (see the module docstring).

    `run_rules=False` is for the rules engine itself, which re-evaluates after its own changes.
    """
    if run_rules:
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
        exercise=exercise,
        **details,
    )
    outcome = SignalOutcome(change=change)
    if change is None:
        return outcome
    after_change(session, runtime=runtime, change=change, outcome=outcome)
    if run_rules:
        evaluate_rules(
            session, runtime=runtime, exercise=change.exercise, trigger=change, outcome=outcome
        )
    return outcome


def evaluate_rules(
    session: Session,
    *,
    runtime: Runtime,
    exercise: bool = False,
    trigger: SignalChange | None = None,
    outcome: SignalOutcome | None = None,
) -> list[dict[str, Any]]:
    """The rules engine on the signals in force (`rules.engine.evaluate`); the response
    level it asks for is set through this flow (and so published and announced)."""

    def respond(level: str | None, rule_id: str | None) -> bool:
        return _apply_response_level(
            session,
            runtime=runtime,
            level=level,
            rule_id=rule_id,
            exercise=exercise,
            outcome=outcome,
        )

    runs = rules_engine.evaluate(
        session, runtime=runtime, respond=respond, exercise=exercise, trigger=trigger
    )
    if outcome is not None:
        outcome.actions.extend(runs)
    return runs


def _apply_response_level(
    session: Session,
    *,
    runtime: Runtime,
    level: str | None,
    rule_id: str | None,
    exercise: bool,
    outcome: SignalOutcome | None,
) -> bool:
    """Bring the response level to the highest of what the rules ask and a person's last
    setting (`rules.engine.response_floor`: a person's decision is not undone by
    automation); True when it changed."""
    response = rules_engine.RESPONSE
    floor = rules_engine.response_floor(session, exercise=exercise)
    target = rules_engine.effective_response(runtime.catalogue, level, floor)
    in_force = signal_service.change_in_force(
        session, source=response[0], kind=response[1], exercise=exercise
    )
    if target == (in_force.level if in_force else None):
        return False
    if target == level and rule_id:
        actor, note = (
            rule_actions.actor_of(rule_id),
            "the highest response level asked by the rules that hold",
        )
    elif target is not None:
        actor, note = "rules", "back to the level last set by a person"
    else:
        actor, note = "rules", "no rule asks for a response level any more"
    result = apply_signal(
        session,
        runtime=runtime,
        source=response[0],
        kind=response[1],
        level=target,
        actor=actor,
        origin=Origin.rule,
        exercise=exercise,
        run_rules=False,
        note=note,
    )
    if outcome is not None and result.change is not None:
        outcome.published.extend(result.published)
        outcome.notices.extend(result.notices)
        outcome.changes.extend(result.changes)
    return result.change is not None


def after_change(
    session: Session, *, runtime: Runtime, change: SignalChange, outcome: SignalOutcome
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
        outcome.notices.append(stored_id(notice))
