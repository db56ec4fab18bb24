"""The signals' periodic job (listed in emergency.scheduled.PERIODIC_JOBS): expiry.

A level set with an expiry (a CAP alert's <expires>, an operator's valid-until) ends by itself
when it passes: lowered through the signal flow like any lowering (origin `expiry`), so the
dashboard, the liaison contacts, our CAP feed (a Cancel) and the rules all follow.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from sqlmodel import Session

from emergency.clock import local_iso
from emergency.db import utcnow
from emergency.signals import flows as signal_flows
from emergency.signals import service as signal_service
from emergency.signals.models import Origin

if TYPE_CHECKING:
    from emergency.runtime import Runtime

log = logging.getLogger(__name__)

EXPIRE_EVERY = 15.0  # seconds: a signal ends at most this late
ACTOR = "expiry"


def expire_signals(*, runtime: Runtime, now: datetime | None = None) -> int:
    """Lower every level whose expiry has passed; returns how many. Idempotent: each in its own
    unit of work, checked again under the locks (a CAP Update may have extended it)."""
    now = now or utcnow()
    with runtime.db.session() as session:
        due = [(a.source, a.kind, a.exercise) for a in signal_service.expired(session, now=now)]
    lowered = 0
    for source, kind, exercise in due:
        try:
            with runtime.db.unit_of_work() as session:
                lowered += _expire_one(
                    session, runtime=runtime, source=source, kind=kind, exercise=exercise, now=now
                )
        except Exception:  # one signal failing never keeps the others in force
            log.exception("signal expiry failed", extra={"signal": f"{source}:{kind}"})
    return lowered


def _expire_one(
    session: Session, *, runtime: Runtime, source: str, kind: str, exercise: bool, now: datetime
) -> int:
    from emergency.rules import engine as rules_engine

    # The locks in the signal flow's order (rules, then the signal row) before looking again.
    rules_engine.lock_states(session, runtime=runtime, exercise=exercise)
    change = signal_service.change_in_force(session, source=source, kind=kind, exercise=exercise)
    active = signal_service.active_row(session, source=source, kind=kind, exercise=exercise)
    if change is None or active is None or active.expires_at is None or active.expires_at > now:
        return 0
    outcome = signal_flows.apply_signal(
        session,
        runtime=runtime,
        source=source,
        kind=kind,
        level=None,
        actor=ACTOR,
        origin=Origin.expiry,
        exercise=exercise,
        note=f"expired at {local_iso(active.expires_at)} (set by {change.actor})"[:500],
    )
    return 1 if outcome.change is not None else 0
