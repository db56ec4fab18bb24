"""Carrying out one action of a rule, through the owning domain's own service function
(never its tables): facilities, crews, evacuation and shelters, liaison, broadcasts, prompts.

`execute` fills a RuleActionRun: status (done, unchanged, simulated, failed), a one-line
summary and a result. Each action runs in its own savepoint, so a failure (an unknown
facility in the database, a service refusing) rolls back only that action; the events and
audit entries it had queued are dropped with it. Every change is made as actor and origin
"rule:<id>".
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypedDict

from sqlmodel import Session

from emergency.catalogue import LANGUAGES, Catalogue
from emergency.clock import local_iso
from emergency.db import savepoint, stored_id, utcnow
from emergency.rules.config import (
    Action,
    BroadcastAction,
    Computed,
    CrewsStandbyAction,
    EvacuateAction,
    FacilityAction,
    LiaisonAction,
    LiftEvacuationAction,
    PromptAction,
    ResponseLevelAction,
    SheltersAction,
    ZoneTarget,
)
from emergency.rules.models import RuleActionRun, RunStatus
from emergency.signals.models import SignalChange

if TYPE_CHECKING:
    from emergency.evacuation.flows import Outcome as EvacuationOutcome
    from emergency.runtime import Runtime

log = logging.getLogger(__name__)

# What a drill (exercise) really does, as exercise records (evacuation orders, the shelters'
# and crews' drill state); the other actions (real bridges, schools) are only recorded as
# simulated.
DONE_IN_DRILLS = {
    "liaison",
    "prompt",
    "broadcast",
    "response_level",
    "evacuate",
    "lift_evacuation",
    "shelters",
    "crews_standby",
}


class ActionUnavailable(RuntimeError):
    """The service an action needs is not part of this installation."""


def actor_of(rule_id: str) -> str:
    return f"rule:{rule_id}"


def execute(
    session: Session, *, runtime: Runtime, rule_id: str, action: Action, run: RuleActionRun
) -> None:
    """Run `action` now and record the outcome on `run` (not flushed here)."""
    if run.exercise and action.do not in DONE_IN_DRILLS:
        run.status, run.summary = RunStatus.simulated, f"drill: {describe(action)}"[:500]
        return
    try:
        with savepoint(session):
            status, summary, result = _run(
                session, runtime=runtime, rule_id=rule_id, action=action, run=run
            )
    except Exception as exc:
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        log.warning(
            "rule action failed",
            extra={"rule": rule_id, "key": run.key, "error": type(exc).__name__},
        )
        run.status, run.summary = RunStatus.failed, f"{describe(action)}: {message}"[:500]
        run.result = {"error": type(exc).__name__, "message": message[:300]}
        return
    run.status, run.summary, run.result = status, summary[:500], result


# --- a person's later decision wins over a delayed action --------------------------------

# Origins of changes that are not a person's decision (field.common.check_origin).
_AUTOMATIC = ("rule:", "system")


def overriding_decision(
    session: Session, *, action: Action, since: datetime
) -> dict[str, Any] | None:
    """A person's decision about what a delayed action would change, made after `since` (when
    the rule fired): e.g. the duty operator kept the Lotus Bridge open, or closed it early.
    The decision wins and the delayed action is skipped; returns what was decided, or None."""
    if not isinstance(action, FacilityAction):
        return None  # only facility actions can be delayed (config: delay_minutes)
    from emergency.exceptions import NotFound
    from emergency.facilities import service as facility_service

    try:
        changes = facility_service.history(session, facility_id=action.facility, limit=100)
    except NotFound:
        return None  # running it reports the unknown facility
    for change in changes:  # newest first
        if change.at <= since:
            break
        if not change.origin.startswith(_AUTOMATIC):
            return {
                "facility": action.facility,
                "status": change.status,
                "actor": change.actor,
                "origin": change.origin,
                "at": change.at.isoformat(),
                "at_local": local_iso(change.at),
                "facility_change_id": change.id,
                "summary": f"{action.facility} set to {change.status} by {change.actor} at "
                f"{local_iso(change.at)[11:16]}, after the rule fired",
            }
    return None


# --- executors: (status, summary, result) -------------------------------------------------

Outcome = tuple[RunStatus, str, dict[str, Any]]


def _run(
    session: Session, *, runtime: Runtime, rule_id: str, action: Action, run: RuleActionRun
) -> Outcome:
    match action:
        case FacilityAction():
            return _facility(session, rule_id=rule_id, action=action)
        case CrewsStandbyAction():
            return _crews(session, rule_id=rule_id, run=run)
        case ResponseLevelAction():
            # The level itself is set once all rules have run (engine: the highest asked wins).
            return (
                RunStatus.done,
                f"asks for response level {action.level}",
                {"level": action.level},
            )
        case LiaisonAction():
            return _liaison(session, runtime=runtime, rule_id=rule_id, action=action, run=run)
        case BroadcastAction():
            return _broadcast(session, runtime=runtime, rule_id=rule_id, action=action, run=run)
        case EvacuateAction():
            return _evacuate(session, runtime=runtime, rule_id=rule_id, action=action, run=run)
        case LiftEvacuationAction():
            return _lift(session, runtime=runtime, rule_id=rule_id, action=action, run=run)
        case SheltersAction():
            return _shelters(session, rule_id=rule_id, action=action, run=run)
        case PromptAction():
            return _prompt(session, rule_id=rule_id, action=action, run=run)


def _facility(session: Session, *, rule_id: str, action: FacilityAction) -> Outcome:
    from emergency.facilities import service as facility_service

    change = facility_service.set_status(
        session,
        facility_id=action.facility,
        status=action.status,
        actor=actor_of(rule_id),
        origin=actor_of(rule_id),
        note=action.note,
    )
    if change is None:
        return RunStatus.unchanged, f"{action.facility} already {action.status}", {}
    return (
        RunStatus.done,
        f"{action.facility}: {change.previous_status} → {change.status}",
        {"facility_change_id": change.id},
    )


def _crews(session: Session, *, rule_id: str, run: RuleActionRun) -> Outcome:
    from emergency.crews import service as crew_service

    changed = crew_service.set_all_standby(
        session, actor=actor_of(rule_id), origin=actor_of(rule_id), exercise=run.exercise
    )
    if not changed:
        return RunStatus.unchanged, "no crew resting or released: all on standby or deployed", {}
    people = sum(c.headcount for c in changed)
    return (
        RunStatus.done,
        f"{len(changed)} crews ({people} people) to standby",
        {"crews": [c.id for c in changed], "people": people},
    )


def _liaison(
    session: Session,
    *,
    runtime: Runtime,
    rule_id: str,
    action: LiaisonAction,
    run: RuleActionRun,
) -> Outcome:
    from emergency.liaison import service as liaison_service

    notice = liaison_service.notify(
        session,
        runtime=runtime,
        kind="rule",
        dedupe_key=run.key,
        texts=dict(action.text.items()),
        actor=actor_of(rule_id),
        exercise=run.exercise,
        extra={"rule_id": rule_id},
    )
    count = len(liaison_service.recipients(session, notice_id=stored_id(notice)))
    return (
        RunStatus.done,
        f"liaison notice #{notice.id} to {count} contacts",
        {"notice_id": notice.id},
    )


def _broadcast(
    session: Session,
    *,
    runtime: Runtime,
    rule_id: str,
    action: BroadcastAction,
    run: RuleActionRun,
) -> Outcome:
    try:
        from emergency.broadcasts import service as broadcast_service
    except ImportError:
        raise ActionUnavailable(
            "the broadcasts service (emergency.broadcasts.service.create_broadcast) is not "
            "installed"
        ) from None
    zone_ids = target_zones(runtime, action)
    broadcast = broadcast_service.create_broadcast(
        session,
        template=action.template,
        variables=template_variables(session, runtime=runtime, action=action, run=run),
        zones=zone_ids,
        channels=list(action.channels),
        exercise=run.exercise,
        actor=actor_of(rule_id),
        origin=actor_of(rule_id),
        idempotency_key=run.key,
        preapproved_by=actor_of(rule_id) if action.send == "auto" else None,
        runtime=runtime,
    )
    status = str(getattr(broadcast, "status", ""))
    result = {"broadcast_id": broadcast.id, "status": status}
    if status in ("sending", "completed"):  # public now: our CAP alert of it (idempotent)
        from emergency.cap import service as cap_service

        # A reverse action's broadcast says the danger has passed: an all-clear, not a warning.
        published = cap_service.publish_broadcast_cap(
            session, runtime=runtime, broadcast=broadcast, all_clear=run.phase == "off"
        )
        result["cap_identifier"] = published.identifier if published else None
    return (
        RunStatus.done,
        f"broadcast #{broadcast.id} '{action.template}' to {len(zone_ids)} zones ({status})",
        result,
    )


def template_variables(
    session: Session, *, runtime: Runtime, action: BroadcastAction, run: RuleActionRun
) -> dict[str, str | dict[str, str]]:
    """The template's variables: texts as given, computed ones (Computed) filled in now."""
    trigger = session.get(SignalChange, run.trigger_change_id) if run.trigger_change_id else None
    out: dict[str, str | dict[str, str]] = {}
    for name, value in action.variables.items():
        if not isinstance(value, Computed):
            out[name] = value if isinstance(value, str) else dict(value.items())
        elif value.from_ == "trigger_time":
            out[name] = local_iso(trigger.at if trigger else utcnow())[11:16]
        elif value.from_ == "trigger_signal":
            out[name] = _signal_names(runtime.catalogue, trigger)
        else:
            names = [runtime.zones[z].name for z in target_zones(runtime, action)]
            out[name] = {
                lang: ("、" if lang.startswith("zh") else ", ").join(
                    n.get(lang) or n.get("en", "") for n in names
                )
                for lang in LANGUAGES
            }
    return out


def _signal_names(catalogue: Catalogue, change: SignalChange | None) -> dict[str, str]:
    """Short names of the signal a change is about: the level lowered for a downgrade or a
    lowering, else the new level."""
    if change is None:
        return {lang: "" for lang in LANGUAGES}
    down = change.change in ("downgrade", "lower")
    level = change.previous_level if down else change.level
    if level is None:
        return dict(catalogue.names(change.source, change.kind).items())
    found = catalogue.level(change.source, change.kind, level)
    return {lang: found.short_name(lang) for lang in LANGUAGES}


class _EvacuationByRule(TypedDict):
    """What a rule's action tells the evacuation flows, to order an evacuation or to lift it."""

    zone_ids: list[str]
    actor: str
    origin: str
    note: str | None
    exercise: bool
    channels: Sequence[str]
    idempotency_key: str
    template: str
    runtime: Runtime


def _evacuation_by_rule(
    runtime: Runtime,
    rule_id: str,
    action: EvacuateAction | LiftEvacuationAction,
    run: RuleActionRun,
) -> _EvacuationByRule:
    return _EvacuationByRule(
        zone_ids=target_zones(runtime, action),
        actor=actor_of(rule_id),
        origin=actor_of(rule_id),
        note=action.note,
        exercise=run.exercise,
        channels=action.channels,
        idempotency_key=run.key,
        template=action.template,
        runtime=runtime,
    )


def _evacuate(
    session: Session,
    *,
    runtime: Runtime,
    rule_id: str,
    action: EvacuateAction,
    run: RuleActionRun,
) -> Outcome:
    from emergency.evacuation import flows as evacuation_flows

    outcome = evacuation_flows.issue(
        session,
        level=action.level,
        shelter_ids=action.shelters,
        **_evacuation_by_rule(runtime, rule_id, action, run),
    )
    issued = [o.zone_id for o in outcome.orders]
    if not issued:
        return RunStatus.unchanged, f"{action.level} evacuation already ordered", {}
    return _with_broadcast(
        outcome,
        f"{action.level} evacuation of {', '.join(issued)}",
        order_ids=[o.id for o in outcome.orders],
    )


def _lift(
    session: Session,
    *,
    runtime: Runtime,
    rule_id: str,
    action: LiftEvacuationAction,
    run: RuleActionRun,
) -> Outcome:
    from emergency.evacuation import flows as evacuation_flows

    outcome = evacuation_flows.lift(session, **_evacuation_by_rule(runtime, rule_id, action, run))
    lifted = [o.zone_id for o in outcome.orders]
    if not lifted:
        return RunStatus.unchanged, "no evacuation order to lift", {}
    return _with_broadcast(outcome, f"evacuation lifted: {', '.join(lifted)}")


def _with_broadcast(outcome: EvacuationOutcome, done: str, **details: Any) -> Outcome:
    """Orders issued or lifted: done, with the broadcast that goes with them (always one)."""
    b = outcome.broadcast
    if b is None:
        raise RuntimeError(f"{done}: evacuation orders without a broadcast")
    return (
        RunStatus.done,
        f"{done}; broadcast #{b.id} ({b.status})",
        {
            "zones": [o.zone_id for o in outcome.orders],
            **details,
            "broadcast_id": b.id,
            "status": str(b.status),
        },
    )


def _shelters(
    session: Session, *, rule_id: str, action: SheltersAction, run: RuleActionRun
) -> Outcome:
    from emergency.evacuation import service as evacuation_service

    ids = (
        [s.id for s in evacuation_service.list_shelters(session)]
        if action.shelters == "all"
        else list(action.shelters)
    )
    changed = [
        i
        for i in ids
        if evacuation_service.set_shelter_open(
            session,
            shelter_id=i,
            open=action.open,
            actor=actor_of(rule_id),
            origin=actor_of(rule_id),
            exercise=run.exercise,
        )
        is not None
    ]
    verb = "opened" if action.open else "closed"
    if not changed:
        return RunStatus.unchanged, f"shelters already {verb}", {}
    return RunStatus.done, f"{len(changed)} shelters {verb}", {"shelters": changed}


def _prompt(session: Session, *, rule_id: str, action: PromptAction, run: RuleActionRun) -> Outcome:
    from emergency.rules import prompts as prompt_service

    prompt, _ = prompt_service.create(
        session,
        dedupe_key=run.key,
        kind="rule",
        texts=dict(action.text.items()),
        actor=actor_of(rule_id),
        rule_id=rule_id,
        exercise=run.exercise,
    )
    return RunStatus.done, f"prompt #{prompt.id}: {action.text['en']}", {"prompt_id": prompt.id}


# --- helpers -----------------------------------------------------------------------------


def target_zones(runtime: Runtime, action: ZoneTarget) -> list[str]:
    """The zone ids an action names, by id and by kind, in a stable order, once each."""
    ids = list(action.zones)
    if action.zone_kinds:
        ids += [z.id for z in runtime.zones.of_kind(*action.zone_kinds)]
    return list(dict.fromkeys(ids))


def describe(action: Action) -> str:
    """One line for screens, previews and the journal."""
    match action:
        case FacilityAction():
            later = f" after {action.delay_minutes:g} min" if action.delay_minutes else ""
            return f"{action.facility} → {action.status}{later}"
        case CrewsStandbyAction():
            return "standby crews to standby"
        case ResponseLevelAction():
            return f"response level {action.level}"
        case LiaisonAction():
            return f"liaison notice: {action.text['en']}"
        case BroadcastAction():
            where = ", ".join([*action.zones, *(f"all {k}" for k in action.zone_kinds)])
            how = "sent automatically" if action.send == "auto" else "waiting for approval"
            return f"broadcast '{action.template}' to {where} ({how})"
        case EvacuateAction():
            where = ", ".join([*action.zones, *(f"all {k}" for k in action.zone_kinds)])
            return f"{action.level} evacuation of {where}"
        case LiftEvacuationAction():
            return "lift evacuation of " + ", ".join(
                [*action.zones, *(f"all {k}" for k in action.zone_kinds)]
            )
        case SheltersAction():
            which = "all shelters" if action.shelters == "all" else ", ".join(action.shelters)
            return f"{'open' if action.open else 'close'} {which}"
        case PromptAction():
            return f"ask the duty operator: {action.text['en']}"
    return action.do
