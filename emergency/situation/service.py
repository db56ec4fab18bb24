"""One snapshot of everything the command center shows (GET /api/v1/situation and the first
message of /ws/live). Each domain contributes its own section here, in one obvious place."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from emergency.broadcasts import service as broadcast_service
from emergency.clock import local_iso
from emergency.crews import service as crew_service
from emergency.db import utcnow
from emergency.evacuation import service as evacuation_service
from emergency.events import service as event_service
from emergency.facilities import service as facility_service
from emergency.feeds import service as feed_service
from emergency.field import service as field_service
from emergency.liaison import service as liaison_service
from emergency.rules import engine as rules_engine
from emergency.signals import service as signal_service
from emergency.vulnerable import service as vulnerable_service


def build(session: Session, *, catalogue, app_state: Any = None) -> dict[str, Any]:
    now = utcnow()
    active = signal_service.active_signals(session, catalogue=catalogue)
    response = next((s for s in active if s.kind == "response_level"), None)
    return {
        "generated_at": now.isoformat(),
        "generated_at_local": local_iso(now),
        "last_seq": event_service.last_seq(session),
        "signals": [s.model_dump(mode="json") for s in active],
        "response_level": response.model_dump(mode="json") if response else None,
        # a drill's levels, shown apart and marked EXERCISE (never on the real tiles)
        "exercise_signals": [
            s.model_dump(mode="json")
            for s in signal_service.active_signals(session, catalogue=catalogue, exercise=True)
        ],
        "facilities": facility_service.summary(session),
        "evacuation": evacuation_service.summary(session),
        "crews": crew_service.summary(session),
        "liaison": liaison_service.summary(session),
        "feeds": feed_service.summary(session, runtime=getattr(app_state, "runtime", None)),
        "rules": rules_engine.summary(session, runtime=getattr(app_state, "runtime", None)),
        "field": field_service.summary(session),
        "vulnerable": vulnerable_service.summary(session),
        "broadcasts": broadcast_service.summary(session),
    }


def snapshot_with_seq(db, *, catalogue, app_state: Any = None) -> tuple[dict[str, Any], int]:
    with db.session() as session:
        seq = event_service.last_seq(session)
        data = build(session, catalogue=catalogue, app_state=app_state)
        return data, seq
