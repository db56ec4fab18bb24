"""Vulnerable residents, who follows them, and their check-in state during a storm.

Who sees names and addresses (`can_see_names`): admins and operators (the command post acts
on them), and a field user for the residents that user follows (the social worker's own
list). Everyone else, liaison and viewers included, and the live stream, get counts only:
these are personal data of Hengqin residents, not needed to coordinate with Macau.

A drill's residents (`exercise`, e.g. the replay's "Drill Resident A") and its checks are
exercise records: counted apart, and a drill never changes a real resident's state.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from emergency.audit import service as audit_service
from emergency.auth import service as auth_service
from emergency.auth.models import Role, User
from emergency.clock import local_iso
from emergency.db import get_or_404, stored_id, to_public, utcnow
from emergency.drills import service as drill_service
from emergency.events import service as event_service
from emergency.exceptions import Forbidden, InvalidInput
from emergency.field.common import check_location, zone_at
from emergency.vulnerable.models import CheckState, ResidentCheck, VulnerableResident
from emergency.vulnerable.schemas import ResidentPublic
from geo.zones import ZoneSet

EVENT = "vulnerable.updated"


def can_see_names(user: User, resident: VulnerableResident | None = None) -> bool:
    if user.role in (Role.admin, Role.operator):
        return True
    if user.role == Role.field:
        return resident is not None and resident.followed_by_user_id == user.id
    return False


def create_resident(
    session: Session,
    *,
    name: str,
    address: str,
    actor: str,
    phone: str | None = None,
    community: str | None = None,
    needs: str | None = None,
    social_worker: str | None = None,
    followed_by: str | None = None,
    lat: float | None = None,
    lon: float | None = None,
    zones: ZoneSet | None = None,
    exercise: bool = False,
) -> VulnerableResident:
    check_location(lat, lon)
    if community is not None and zones is not None and community not in zones:
        raise InvalidInput(f"community: unknown zone {community!r}", code="unknown_zone")
    if community is None:
        community = zone_at(zones, lat, lon)
    follower_id = None
    if followed_by:
        follower = auth_service.get_by_name(session, followed_by)
        if follower is None or follower.role != Role.field:
            raise InvalidInput(f"followed_by: no field user {followed_by!r}")
        follower_id = follower.id
    resident = VulnerableResident(
        name=name.strip(),
        address=address.strip(),
        phone=phone,
        community=community,
        needs=needs,
        social_worker=social_worker,
        followed_by_user_id=follower_id,
        lat=lat,
        lon=lon,
        exercise=exercise,
    )
    # No names in the audit summary either: the id is enough to find the record.
    after = {"community": community, "followed_by": followed_by}
    _stored(session, resident, "created", actor=actor, after=after)
    return resident


def get(session: Session, *, resident_id: int) -> VulnerableResident:
    return get_or_404(
        session, VulnerableResident, resident_id, "resident", code="resident_not_found"
    )


def list_for(session: Session, *, user: User, exercise: bool = False) -> list[VulnerableResident]:
    """The residents whose names `user` may see (403 for roles that see counts only): the
    real ones, or the drill's."""
    query = (
        select(VulnerableResident)
        .where(VulnerableResident.exercise == exercise)
        .order_by(col(VulnerableResident.id))
    )
    if user.role == Role.field:
        return list(session.exec(query.where(VulnerableResident.followed_by_user_id == user.id)))
    if not can_see_names(user):
        raise Forbidden(f"role '{user.role}' sees counts only: GET /api/v1/vulnerable/summary")
    return list(session.exec(query))


def record_check(
    session: Session,
    *,
    resident_id: int,
    state: CheckState | str,
    user: User,
    note: str | None = None,
    field_report_id: int | None = None,
    drill: bool = False,
) -> VulnerableResident:
    """A social worker (or the desk) reached, could not reach, or found in need, a resident."""
    resident = get(session, resident_id=resident_id)
    if not can_see_names(user, resident):
        raise Forbidden(f"resident {resident_id} is not followed by '{user.name}'")
    exercise = drill_service.follow(resident.exercise, drill=drill, what=f"resident {resident_id}")
    try:
        state = CheckState(state)
    except ValueError:
        raise InvalidInput(
            f"state: {state!r} is not one of {', '.join(s.value for s in CheckState)}"
        ) from None
    before = resident.state
    resident.state, resident.state_at, resident.state_by = state, utcnow(), user.name
    resident.note = note
    session.add(
        ResidentCheck(
            resident_id=stored_id(resident),
            state=state,
            by=user.name,
            note=note,
            field_report_id=field_report_id,
            exercise=exercise,
        )
    )
    after = {"state": state}
    _stored(session, resident, "checked", actor=user.name, before={"state": before}, after=after)
    return resident


def _stored(
    session: Session,
    resident: VulnerableResident,
    action: str,
    *,
    actor: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any],
) -> None:
    """The resident written, audited (`vulnerable.<action>`, a drill's for a drill's resident)
    and sent to the screens (its event carries no name)."""
    audit_service.record_write(
        session,
        resident,
        actor=actor,
        action=f"vulnerable.{action}",
        target_type="vulnerable_resident",
        before=before,
        after=after,
        exercise=resident.exercise,
    )
    _emit(session, resident, action)


def reset_for_storm(session: Session, *, actor: str, exercise: bool = False) -> int:
    """A new storm (or drill): everyone back to `unknown` (the history stays). Returns how
    many changed."""
    rows = list(
        session.exec(
            select(VulnerableResident).where(
                VulnerableResident.state != CheckState.unknown,
                VulnerableResident.exercise == exercise,
            )
        )
    )
    for r in rows:
        r.state, r.state_at, r.state_by, r.note = CheckState.unknown, utcnow(), actor, None
        session.add(r)
    session.flush()
    if rows:
        audit_service.record(
            session,
            actor=actor,
            action="vulnerable.reset",
            target_type="vulnerable_resident",
            target_id="*",
            after={"count": len(rows)},
            exercise=exercise,
        )
        event_service.emit(
            session,
            EVENT,
            {"action": "reset", "exercise": exercise, "totals": totals(session, exercise)},
        )
    return len(rows)


def public(session: Session, r: VulnerableResident) -> ResidentPublic:
    follower = session.get(User, r.followed_by_user_id) if r.followed_by_user_id else None
    return to_public(
        ResidentPublic,
        r,
        followed_by=follower.name if follower else None,
        state_at_local=local_iso(r.state_at),
    )


def totals(session: Session, exercise: bool = False) -> dict[str, Any]:
    """Counts only (safe for every role and the live stream), of reality or of the drills."""
    by_state = {s.value: 0 for s in CheckState}
    by_community: dict[str, dict[str, int]] = {}
    rows = session.exec(
        select(VulnerableResident.community, VulnerableResident.state, func.count())
        .where(VulnerableResident.exercise == exercise)
        .group_by(VulnerableResident.community, VulnerableResident.state)
    ).all()
    for community, state, count in rows:
        by_state[state] += count
        per = by_community.setdefault(community or "unknown", {s.value: 0 for s in CheckState})
        per[state] += count
    return {"total": sum(by_state.values()), "by_state": by_state, "by_community": by_community}


def summary(session: Session, exercise: bool = False) -> dict[str, Any]:
    """The situation's `vulnerable` section (counts only)."""
    return totals(session, exercise)


def _emit(session: Session, resident: VulnerableResident, action: str) -> None:
    event_service.emit(
        session,
        EVENT,
        {
            "action": action,
            "exercise": resident.exercise,
            "resident_id": resident.id,
            "community": resident.community,
            "state": resident.state,
            "totals": totals(session, resident.exercise),
        },
    )
