"""One snapshot of everything the command center shows (GET /api/v1/situation and the first
message of /ws/live). Each domain contributes its own section here, in one obvious place.

Reality only: a drill's records (signals, broadcasts, field operations, liaison notices and
calls, prompts, alarms) are left out. `exercise=True` (GET /api/v1/situation?exercise=true) is
the same snapshot of the drills' records only, marked `"exercise": true`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select
from starlette.datastructures import State

from alerts.models import Broadcast, Message, MessageStatus
from emergency.alarms import service as alarm_service
from emergency.broadcasts import service as broadcast_service
from emergency.catalogue import Catalogue
from emergency.clock import local_iso
from emergency.crews import service as crew_service
from emergency.db import Database, utcnow
from emergency.dispatch import status as dispatch_status
from emergency.evacuation import service as evacuation_service
from emergency.events import service as event_service
from emergency.facilities import service as facility_service
from emergency.feeds import service as feed_service
from emergency.field import service as field_service
from emergency.liaison import service as liaison_service
from emergency.rules import engine as rules_engine
from emergency.signals import service as signal_service
from emergency.vulnerable import service as vulnerable_service


def build(
    session: Session,
    *,
    catalogue: Catalogue,
    app_state: State | None = None,
    exercise: bool = False,
) -> dict[str, Any]:
    now = utcnow()
    runtime = getattr(app_state, "runtime", None)
    active = signal_service.active_signals(session, catalogue=catalogue, exercise=exercise)
    response = next((s for s in active if s.kind == "response_level"), None)
    return {
        "generated_at": now.isoformat(),
        "generated_at_local": local_iso(now),
        "last_seq": event_service.last_seq(session),
        "exercise": exercise,
        "signals": [s.model_dump(mode="json") for s in active],
        "response_level": response.model_dump(mode="json") if response else None,
        # a drill's levels, shown apart and marked EXERCISE (never on the real tiles)
        "exercise_signals": [
            s.model_dump(mode="json")
            for s in signal_service.active_signals(session, catalogue=catalogue, exercise=True)
        ],
        # facilities have no drill state: a drill only simulates closing a bridge
        "facilities": facility_service.summary(session),
        "evacuation": evacuation_service.summary(session, exercise),
        "crews": crew_service.summary(session, exercise),
        "liaison": liaison_service.summary(session, exercise),
        "feeds": feed_service.summary(session, runtime=runtime),
        "rules": rules_engine.summary(session, runtime=runtime, exercise=exercise),
        "field": field_service.summary(session, exercise),
        "vulnerable": vulnerable_service.summary(session, exercise),
        "broadcasts": {
            **broadcast_service.summary(session, exercise=exercise),
            "totals": message_totals(session, exercise=exercise),
        },
        "alarms": alarm_service.summary(session, exercise),
        # workers sending without Redis now (at their local share of the SMS rate)
        "dispatch": dispatch_status.summary(session),
    }


def message_totals(session: Session, *, exercise: bool = False) -> dict[str, int]:
    """Every message of every real broadcast (or every drill's), by status: the dashboard's
    "messages sent" is `sent + delivered`, as in the report. `last_broadcast_id` is the newest
    broadcast counted (a drill's never moves the real one), so a screen adds the progress of
    later ones to these totals."""
    counted = select(Broadcast.id).where(Broadcast.exercise == exercise)
    rows = session.exec(
        select(Message.status, func.count())
        .where(col(Message.broadcast_id).in_(counted))
        .group_by(col(Message.status))
    ).all()
    by_status = {str(status): int(n) for status, n in rows}
    last = session.exec(select(func.max(Broadcast.id)).where(Broadcast.exercise == exercise)).one()
    return {
        **{status.value: by_status.get(status.value, 0) for status in MessageStatus},
        "last_broadcast_id": int(last or 0),
    }


def snapshot_with_seq(
    db: Database, *, catalogue: Catalogue, app_state: State | None = None
) -> tuple[dict[str, Any], int]:
    with db.session() as session:
        seq = event_service.last_seq(session)
        data = build(session, catalogue=catalogue, app_state=app_state)
        return data, seq
