"""The rules engine: from the signals in force to the actions of config/rules.yaml.

    evaluate(session, runtime=runtime, respond=…, trigger=change)  # signals.flows.evaluate_rules
    preview(session, runtime=runtime, levels={...})           # the same plan, nothing written

One pass (`_Cycle`), shared by both:
1. which rules hold for the levels in force (`plan`): those that hold and were not active
   become active (run `actions`, in file order), those active that no longer hold stop
   (run `reverse`, in reverse file order);
2. the response level: the highest asked by the rules that hold (`response_target`), never
   below the level a person last set (`response_floor`); a change is applied through the
   signal flow and the pass repeats (rules may watch the response level), at most
   MAX_ROUNDS times.

Idempotent, three ways: the signal flow calls this only when a level changed; a rule's
state (`rule_state`) says whether it already ran; and every action is journaled under a
unique key "<rule>:<activation>:<phase>:<index>" that is never run twice. It all happens in
the unit of work of the signal change: a rolled-back change ran nothing. An action that
fails is journaled as failed (its own savepoint rolled back) and the others still run.
A drill (exercise) evaluates the drill's levels with its own rule states: only liaison
notices, prompts, exercise broadcasts and the drill's response level are made; the rest is
journaled as simulated.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter
from sqlalchemy import update
from sqlmodel import Session, col, select

from emergency.audit import service as audit_service
from emergency.catalogue import Catalogue, parse_signal_code
from emergency.clock import local_iso
from emergency.db import utcnow
from emergency.events import service as event_service
from emergency.exceptions import InvalidInput
from emergency.rules import actions as rule_actions
from emergency.rules.config import Action, FacilityAction, Rule, RulesFile
from emergency.rules.models import RuleActionRun, RuleState, RunStatus
from emergency.signals import service as signal_service
from emergency.signals.models import Origin, SignalChange

if TYPE_CHECKING:
    from emergency.runtime import Runtime

log = logging.getLogger(__name__)

RESPONSE = ("HENGQIN", "response_level")
MAX_ROUNDS = 4
ACTION = TypeAdapter(Action)


def ruleset(runtime: Runtime) -> RulesFile:
    """config/rules.yaml of this Runtime, checked against the other config files."""
    return runtime.config.rules


# --- the plan (pure) ---------------------------------------------------------------------


@dataclass(frozen=True)
class Transition:
    rule: Rule
    phase: str  # on, off

    @property
    def actions(self) -> list[Action]:
        return list(self.rule.actions if self.phase == "on" else self.rule.reverse)


def plan(
    rules: RulesFile, levels: dict[tuple[str, str], str], active: set[str], catalogue: Catalogue
) -> list[Transition]:
    """The rules that stop holding (reverse file order), then those that start (file order)."""
    holds = {r.id: r.when.holds(levels, catalogue) for r in rules.rules}
    off = [
        Transition(r, "off") for r in reversed(rules.rules) if r.id in active and not holds[r.id]
    ]
    on = [Transition(r, "on") for r in rules.rules if r.id not in active and holds[r.id]]
    return off + on


def response_target(
    rules: RulesFile, active: set[str], catalogue: Catalogue
) -> tuple[str | None, str | None]:
    """(level, rule id): the highest response level asked by the active rules."""
    best: tuple[int, str, str] | None = None
    for rule in rules.rules:
        level = rule.response_level() if rule.id in active else None
        if level is None:
            continue
        canonical = catalogue.level(*RESPONSE, level)
        if best is None or canonical.rank > best[0]:
            best = (canonical.rank, canonical.id, rule.id)
    return (best[1], best[2]) if best else (None, None)


class _Cycle:
    """Plan, act, recompute the response level, until nothing changes (module docstring)."""

    def __init__(
        self,
        *,
        rules: RulesFile,
        catalogue: Catalogue,
        levels: Callable[[], dict[tuple[str, str], str]],
        active: set[str],
        transition: Callable[[Transition], None],
        response: Callable[[str | None, str | None], bool],
    ) -> None:
        self.rules, self.catalogue, self.levels = rules, catalogue, levels
        self.active, self.transition, self.response = set(active), transition, response

    def run(self) -> None:
        for _ in range(MAX_ROUNDS):
            for t in plan(self.rules, self.levels(), self.active, self.catalogue):
                self.transition(t)
                (self.active.add if t.phase == "on" else self.active.discard)(t.rule.id)
            level, rule_id = response_target(self.rules, self.active, self.catalogue)
            if not self.response(level, rule_id):
                return
        log.warning("rules did not settle after %d rounds", MAX_ROUNDS)


# --- evaluate: the plan, carried out -----------------------------------------------------


# Sets the response level (None: lowers it) as the rules ask, for the rule that asks (None:
# no rule asks any more); True when it changed. The signal flow's (`signals.flows`).
Respond = Callable[[str | None, str | None], bool]


def evaluate(
    session: Session,
    *,
    runtime: Runtime,
    respond: Respond,
    exercise: bool = False,
    trigger: SignalChange | None = None,
) -> list[dict[str, Any]]:
    """Run what the signals in force call for (see the module docstring); returns the action
    runs as dicts. Call it
    through `signals.flows.evaluate_rules`, which applies the response level."""
    rules = ruleset(runtime)
    states = _states(session, rules, exercise=exercise)
    runs: list[dict[str, Any]] = []

    def transition(t: Transition) -> None:
        runs.extend(
            _run_transition(session, runtime=runtime, t=t, state=states[t.rule.id], trigger=trigger)
        )

    _Cycle(
        rules=rules,
        catalogue=runtime.catalogue,
        levels=lambda: signal_service.active_levels(session, exercise=exercise),
        active={rid for rid, st in states.items() if st.active},
        transition=transition,
        response=respond,
    ).run()
    return runs


def lock_states(session: Session, *, runtime: Runtime, exercise: bool = False) -> None:
    """Take the rules' lock (their state rows) for the rest of the unit of work."""
    _states(session, ruleset(runtime), exercise=exercise)


# session.info: {exercise: (the root transaction, its locked state rows)}
_LOCKED = "rules_locked_states"


def _states(session: Session, rules: RulesFile, *, exercise: bool) -> dict[str, RuleState]:
    """Every rule's state row, locked (two signal changes at once evaluate one after the
    other), created for rules new in the file. Once per transaction: a signal change locks
    them first (`lock_states`) and evaluates with the same rows, still locked."""
    transaction = session.get_transaction()
    held = session.info.get(_LOCKED, {}).get(exercise)
    if held is not None and transaction is not None and held[0] is transaction:
        states: dict[str, RuleState] = held[1]
        return states
    # A write, not only SELECT … FOR UPDATE: SQLite ignores FOR UPDATE and takes its one
    # write lock at a transaction's first write; PostgreSQL locks the rows either way.
    session.execute(
        update(RuleState)
        .where(col(RuleState.exercise) == exercise)
        .values(active=RuleState.active)
        .execution_options(synchronize_session=False)
    )
    rows = {
        s.rule_id: s
        for s in session.exec(
            select(RuleState)
            .where(RuleState.exercise == exercise)
            .order_by(col(RuleState.rule_id))
            .with_for_update()
        )
    }
    for rule in rules.rules:
        if rule.id not in rows:
            rows[rule.id] = RuleState(rule_id=rule.id, exercise=exercise)
            session.add(rows[rule.id])
    session.flush()
    session.info.setdefault(_LOCKED, {})[exercise] = (session.get_transaction(), rows)
    return rows


def _run_transition(
    session: Session,
    *,
    runtime: Runtime,
    t: Transition,
    state: RuleState,
    trigger: SignalChange | None,
) -> list[dict[str, Any]]:
    rule, now = t.rule, utcnow()
    if t.phase == "on":
        state.activation += 1
    state.active, state.changed_at = t.phase == "on", now
    state.trigger_change_id = trigger.id if trigger is not None else None
    session.add(state)
    session.flush()
    if t.phase == "off":
        _cancel_scheduled(session, rule_id=rule.id, exercise=state.exercise)
    actor = rule_actions.actor_of(rule.id)
    prefix = f"{'exercise:' if state.exercise else ''}{rule.id}:{state.activation}:{t.phase}"
    runs = []
    keys = [f"{prefix}:{index}" for index in range(len(t.actions))]
    # One query for the whole transition: the rules' lock (their state rows) is held, so no
    # one else adds runs under these keys meanwhile, and this loop adds each key once.
    done = set(
        session.exec(select(RuleActionRun.key).where(col(RuleActionRun.key).in_(keys))).all()
        if keys
        else ()
    )
    for index, action in enumerate(t.actions):
        key = keys[index]
        if key in done:
            continue  # done before: never twice
        run = RuleActionRun(
            key=key,
            rule_id=rule.id,
            exercise=state.exercise,
            activation=state.activation,
            phase=t.phase,
            index=index,
            do=action.do,
            action=action.model_dump(mode="json", by_alias=True, exclude_none=True),
            status=RunStatus.done,
            trigger_change_id=state.trigger_change_id,
            at=now,
        )
        delay = _delay(action)
        due = _due(trigger, now, delay) if delay and t.phase == "on" else None
        if due is not None and due > now:
            run.status, run.due_at = RunStatus.scheduled, due
            run.summary = f"{rule_actions.describe(action)} (due {local_iso(due)[11:16]})"
        else:  # due already when the alert came late: now
            rule_actions.execute(session, runtime=runtime, rule_id=rule.id, action=action, run=run)
        session.add(run)
        session.flush()
        runs.append(run_public(run))
    audit_service.record(
        session,
        actor=actor,
        action="rule.activated" if t.phase == "on" else "rule.deactivated",
        target_type="rule",
        target_id=rule.id,
        before={"active": t.phase == "off"},
        after={
            "active": t.phase == "on",
            "activation": state.activation,
            "exercise": state.exercise,
            "trigger_change_id": state.trigger_change_id,
            "actions": [f"{r['do']}:{r['status']}" for r in runs],
        },
    )
    event_service.emit(
        session,
        "rule.fired",
        {
            "rule_id": rule.id,
            "title": dict(rule.title),
            "phase": t.phase,
            "activation": state.activation,
            "exercise": state.exercise,
            "trigger": _trigger_public(trigger),
            "actions": runs,
        },
    )
    return runs


def _delay(action: Action) -> float | None:
    """The minutes an action waits (only a facility action can: config `delay_minutes`)."""
    return action.delay_minutes if isinstance(action, FacilityAction) else None


def _due(trigger: SignalChange | None, now: datetime, delay: float) -> datetime:
    """When a delayed action is due: `delay` minutes after the signal was issued (the CAP
    alert's <sent>, e.g. SMG hoisting No. 8), not after we happened to receive it."""
    issued = (trigger.cap_sent or trigger.at) if trigger is not None else now
    return min(issued, now) + timedelta(minutes=delay)


def _cancel_scheduled(session: Session, *, rule_id: str, exercise: bool) -> None:
    """A delayed action of a rule that stopped holding never runs."""
    for run in session.exec(
        select(RuleActionRun).where(
            RuleActionRun.rule_id == rule_id,
            RuleActionRun.exercise == exercise,
            RuleActionRun.status == RunStatus.scheduled,
        )
    ):
        run.status, run.summary = RunStatus.cancelled, f"cancelled: {run.summary}"[:500]
        session.add(run)
        event_service.emit(session, "rule.action_run", run_public(run))


def response_floor(session: Session, *, exercise: bool = False) -> str | None:
    """The response level a person last set (operator, CAP, replay): the rules raise above it
    but never lower below it; None when a person last lowered it, or never set it."""
    last = session.exec(
        select(SignalChange)
        .where(
            SignalChange.source == RESPONSE[0],
            SignalChange.kind == RESPONSE[1],
            SignalChange.exercise == exercise,
            SignalChange.origin != Origin.rule,
        )
        .order_by(col(SignalChange.id).desc())
        .limit(1)
    ).first()
    return last.level if last else None


def effective_response(catalogue: Catalogue, asked: str | None, floor: str | None) -> str | None:
    """The higher of what the rules ask and a person's floor."""
    return asked if catalogue.rank(*RESPONSE, asked) >= catalogue.rank(*RESPONSE, floor) else floor


def _trigger_public(trigger: SignalChange | None) -> dict[str, Any] | None:
    if trigger is None:
        return None
    code = f"{trigger.source}:{trigger.kind}"
    return {
        "signal_change_id": trigger.id,
        "signal": f"{code}:{trigger.level}" if trigger.level else code,
        "previous_level": trigger.previous_level,
    }


def run_public(run: RuleActionRun) -> dict[str, Any]:
    return {
        "key": run.key,
        "rule_id": run.rule_id,
        "exercise": run.exercise,
        "activation": run.activation,
        "phase": run.phase,
        "index": run.index,
        "do": run.do,
        "status": str(run.status),
        "summary": run.summary,
        "result": run.result,
        "due_at": run.due_at,
        "due_at_local": local_iso(run.due_at),
        "at": run.at,
    }


# --- delayed actions ---------------------------------------------------------------------


def run_due(
    session: Session, *, runtime: Runtime, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Run the scheduled (delayed) actions that are due, if their rule still holds."""
    now = now or utcnow()
    query = (
        select(RuleActionRun)
        .where(RuleActionRun.status == RunStatus.scheduled, col(RuleActionRun.due_at) <= now)
        .order_by(col(RuleActionRun.due_at), col(RuleActionRun.id))
    )
    done = []
    for run in session.exec(query.with_for_update(skip_locked=True)).all():
        state = session.exec(
            select(RuleState).where(
                RuleState.rule_id == run.rule_id, RuleState.exercise == run.exercise
            )
        ).first()
        if state is None or not state.active or state.activation != run.activation:
            run.status, run.summary = RunStatus.cancelled, f"cancelled: {run.summary}"[:500]
        elif run.exercise and run.do not in rule_actions.DONE_IN_DRILLS:
            run.status = RunStatus.simulated
        else:
            action = ACTION.validate_python(run.action)
            # run.at is still when the rule fired and scheduled it.
            decision = rule_actions.overriding_decision(session, action=action, since=run.at)
            if decision is not None:  # a person decided since: their decision stands
                run.status = RunStatus.overridden
                run.summary = f"skipped ({decision['summary']}): {run.summary}"[:500]
                run.result = {"overridden_by": decision}
            else:
                rule_actions.execute(
                    session, runtime=runtime, rule_id=run.rule_id, action=action, run=run
                )
        run.at = now
        session.add(run)
        session.flush()
        audit_service.record(
            session,
            actor=rule_actions.actor_of(run.rule_id),
            action="rule.delayed_action",
            target_type="rule",
            target_id=run.rule_id,
            after={
                "key": run.key,
                "status": str(run.status),
                "summary": run.summary,
                **(
                    {"overridden_by": run.result["overridden_by"]}
                    if run.status == RunStatus.overridden
                    else {}
                ),
            },
        )
        event_service.emit(session, "rule.action_run", run_public(run))
        done.append(run_public(run))
    return done


# --- preview: the plan, described --------------------------------------------------------


def hypothetical_levels(
    session: Session, *, runtime: Runtime, signals: dict[str, str | None], replace: bool = False
) -> dict[tuple[str, str], str]:
    """The levels in force (or none, with replace) with `signals` set on top of them
    ({"SMG:tropical_cyclone": "8NE", "ZHUHAI:typhoon": null, …}); canonical ids."""
    catalogue = runtime.catalogue
    levels = {} if replace else dict(signal_service.active_levels(session))
    for code, level in signals.items():
        parsed = parse_signal_code(code, allow_no_level=True)
        if parsed.level is not None:  # "SMG:tropical_cyclone:8NE" as a key
            if level is not None:
                raise InvalidInput(f"signals: {code!r} already names a level")
            level = parsed.level
        source, kind, lv = catalogue.canonical(parsed.source, parsed.kind, level)
        if lv is None:
            levels.pop((source, kind), None)
        else:
            levels[(source, kind)] = lv
    return levels


def preview(
    session: Session, *, runtime: Runtime, levels: dict[tuple[str, str], str]
) -> dict[str, Any]:
    """What would run if `levels` were in force, from the rules' current state: the same plan
    and response-level rule as `evaluate`, with nothing written."""
    rules = ruleset(runtime)
    catalogue = runtime.catalogue
    states = {
        s.rule_id: s
        for s in session.exec(select(RuleState).where(RuleState.exercise == False))  # noqa: E712
    }
    active_now = {rid for rid, st in states.items() if st.active}
    levels = dict(levels)
    transitions: list[dict[str, Any]] = []
    in_force = signal_service.change_in_force(session, source=RESPONSE[0], kind=RESPONSE[1])
    response_now = in_force.level if in_force else None
    floor = response_floor(session)

    def transition(t: Transition) -> None:
        transitions.append(
            {
                "rule_id": t.rule.id,
                "title": dict(t.rule.title),
                "phase": t.phase,
                "actions": [
                    {
                        "index": i,
                        "do": a.do,
                        "summary": rule_actions.describe(a),
                        **({"delay_minutes": _delay(a)} if _delay(a) and t.phase == "on" else {}),
                    }
                    for i, a in enumerate(t.actions)
                ],
            }
        )

    def response(level: str | None, rule_id: str | None) -> bool:
        target = effective_response(catalogue, level, floor)
        if target == levels.get(RESPONSE):
            return False
        if target is None:
            levels.pop(RESPONSE, None)
        else:
            levels[RESPONSE] = target
        return True

    cycle = _Cycle(
        rules=rules,
        catalogue=catalogue,
        levels=lambda: levels,
        active=active_now,
        transition=transition,
        response=response,
    )
    cycle.run()
    return {
        "signals": {f"{s}:{k}": lv for (s, k), lv in sorted(levels.items())},
        "transitions": transitions,
        "response_level": {"now": response_now, "would_be": levels.get(RESPONSE)},
        "active_now": sorted(active_now),
        "active_after": [r.id for r in rules.rules if r.id in cycle.active],
    }


# --- reading -----------------------------------------------------------------------------


def rules_public(
    session: Session, *, runtime: Runtime, exercise: bool = False
) -> list[dict[str, Any]]:
    rules = ruleset(runtime)
    states = {
        s.rule_id: s for s in session.exec(select(RuleState).where(RuleState.exercise == exercise))
    }
    out = []
    for rule in rules.rules:
        st = states.get(rule.id)
        out.append(
            {
                "id": rule.id,
                "title": dict(rule.title),
                "description": rule.description,
                "when": rule.when.model_dump(mode="json", by_alias=True, exclude_none=True),
                "actions": [rule_actions.describe(a) for a in rule.actions],
                "reverse": [rule_actions.describe(a) for a in rule.reverse],
                "active": bool(st and st.active),
                "activation": st.activation if st else 0,
                "changed_at": st.changed_at if st else None,
                "changed_at_local": local_iso(st.changed_at) if st else None,
            }
        )
    return out


def journal(
    session: Session, *, rule_id: str | None = None, limit: int = 200
) -> list[dict[str, Any]]:
    query = select(RuleActionRun).order_by(col(RuleActionRun.id).desc()).limit(limit)
    if rule_id:
        query = query.where(RuleActionRun.rule_id == rule_id)
    return [run_public(r) for r in session.exec(query)]


def summary(session: Session, *, runtime: Runtime | None, exercise: bool = False) -> dict[str, Any]:
    """The situation's `rules` section: active rules, delayed actions, open prompts (of
    reality, or of the drills)."""
    from emergency.rules import prompts as prompt_service

    if runtime is not None:
        active = [
            r for r in rules_public(session, runtime=runtime, exercise=exercise) if r["active"]
        ]
    else:  # no Runtime at hand: the states alone, without titles
        active = [
            {"id": s.rule_id, "title": {}, "changed_at_local": local_iso(s.changed_at)}
            for s in session.exec(
                select(RuleState).where(RuleState.exercise == exercise, RuleState.active == True)  # noqa: E712
            )
        ]
    scheduled = session.exec(
        select(RuleActionRun)
        .where(RuleActionRun.status == RunStatus.scheduled, RuleActionRun.exercise == exercise)
        .order_by(col(RuleActionRun.due_at))
    ).all()
    return {
        "active": [
            {"id": r["id"], "title": r["title"], "since_local": r["changed_at_local"]}
            for r in active
        ],
        "scheduled": [
            {"rule_id": r.rule_id, "summary": r.summary, "due_at_local": local_iso(r.due_at)}
            for r in scheduled
        ],
        "prompts_open": len(prompt_service.list_prompts(session, status="open", exercise=exercise)),
    }
