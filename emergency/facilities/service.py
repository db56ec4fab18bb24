"""Facility status: the one place that changes it (rules and operators alike), with history.

`set_status` is idempotent (the status in force again → None, no event), audited, and emits
`facility.changed`. The statuses a facility may be in come from config/facilities.yaml,
copied into the `facility` table by `sync` at start-up, so callers need only a session.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from emergency.audit import service as audit_service
from emergency.clock import local_iso
from emergency.db import get_or_404, to_public, utcnow
from emergency.events import service as event_service
from emergency.exceptions import InvalidInput
from emergency.facilities.config import FacilitiesFile
from emergency.facilities.models import Facility, FacilityChange
from emergency.facilities.schemas import (
    FacilityChangePublic,
    FacilityPublic,
)
from emergency.field.common import check_origin

EVENT = "facility.changed"


def sync(session: Session, *, config: FacilitiesFile) -> int:
    """Create or refresh the facilities of the config file; returns how many were created.

    Names, statuses and locations follow the file; a status in force is kept while the file
    still allows it (a restart never reopens a closed bridge).
    """
    created = 0
    for sort, fdef in enumerate(config.facilities):
        statuses = [s.model_dump() for s in config.statuses_of(fdef.kind)]
        row = session.get(Facility, fdef.id)
        if row is None:
            row = Facility(id=fdef.id, status=fdef.initial, kind=fdef.kind)
            created += 1
        elif row.status not in {s["id"] for s in statuses}:
            row.status = fdef.initial
        row.kind, row.name, row.statuses = fdef.kind, dict(fdef.name), statuses
        row.lat, row.lon, row.sort = fdef.lat, fdef.lon, sort
        session.add(row)
    session.flush()
    return created


def list_facilities(session: Session) -> list[Facility]:
    return list(session.exec(select(Facility).order_by(col(Facility.sort), col(Facility.id))))


def get(session: Session, *, facility_id: str, lock: bool = False) -> Facility:
    return get_or_404(
        session, Facility, facility_id, "facility", code="facility_not_found", lock=lock
    )


def set_status(
    session: Session,
    *,
    facility_id: str,
    status: str,
    actor: str,
    origin: str,
    note: str | None = None,
) -> FacilityChange | None:
    """Set a facility's status; None when it already is in that status (nothing recorded)."""
    origin = check_origin(origin)
    facility = get(session, facility_id=facility_id, lock=True)
    allowed = [s["id"] for s in facility.statuses]
    if status not in allowed:
        raise InvalidInput(
            f"status: {status!r} is not a status of {facility.id} ({', '.join(allowed)})",
            code="unknown_status",
        )
    if facility.status == status:
        return None
    now = utcnow()
    change = FacilityChange(
        facility_id=facility.id,
        previous_status=facility.status,
        status=status,
        at=now,
        actor=actor,
        origin=origin,
        note=note,
    )
    previous = facility.status
    facility.status, facility.changed_at = status, now
    facility.changed_by, facility.origin = actor, origin
    session.add_all([change, facility])
    session.flush()
    audit_service.record(
        session,
        actor=actor,
        action="facility.status_changed",
        target_type="facility",
        target_id=facility.id,
        before={"status": previous},
        after={"status": status, "origin": origin, "note": note},
    )
    event_service.emit(
        session,
        EVENT,
        {
            "facility": public(facility).model_dump(mode="json"),
            "change": change_public(change).model_dump(mode="json"),
        },
    )
    return change


def history(
    session: Session, *, facility_id: str | None = None, limit: int = 200
) -> list[FacilityChange]:
    query = select(FacilityChange).order_by(col(FacilityChange.id).desc()).limit(limit)
    if facility_id is not None:
        get(session, facility_id=facility_id)
        query = query.where(FacilityChange.facility_id == facility_id)
    return list(session.exec(query))


def _status_def(facility: Facility) -> dict[str, Any]:
    return next(
        (s for s in facility.statuses if s["id"] == facility.status),
        {"id": facility.status, "level": "warn", "name": {}},
    )


def public(facility: Facility) -> FacilityPublic:
    current = _status_def(facility)
    return to_public(
        FacilityPublic,
        facility,
        status_name=current["name"],
        level=current["level"],
        changed_at_local=local_iso(facility.changed_at),
    )


def change_public(change: FacilityChange) -> FacilityChangePublic:
    return to_public(FacilityChangePublic, change, at_local=local_iso(change.at))


def summary(session: Session) -> dict[str, Any]:
    """The situation's `facilities` section: each facility's status, and how many are not ok."""
    items = [public(f).model_dump(mode="json") for f in list_facilities(session)]
    return {
        "items": items,
        "not_ok": sum(1 for f in items if f["level"] != "ok"),
        "total": len(items),
    }
