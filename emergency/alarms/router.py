"""Alarms: list them, acknowledge, assign a crew, close (operators; anyone signed in reads)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Query
from sqlmodel import Session

from emergency import visibility
from emergency.alarms import flows as alarm_flows
from emergency.alarms import service as alarm_service
from emergency.alarms.models import Alarm
from emergency.alarms.schemas import AlarmPublic, AssignIn, CloseIn
from emergency.auth.dependencies import Operator, Reader, SessionDep
from emergency.auth.models import User
from emergency.drills import service as drill_service
from emergency.idempotency import Idempotent, IdempotentDep

router = APIRouter(prefix="/api/v1/alarms", tags=["alarms"])


@router.get("")
def list_alarms(
    user: Reader,
    session: SessionDep,
    status: str | None = Query(None, description="comma-separated, e.g. open,acknowledged"),
    limit: int = Query(200, ge=1, le=2000),
) -> list[AlarmPublic]:
    statuses = [s for s in (status or "").split(",") if s] or None
    return [
        AlarmPublic.model_validate(visibility.alarm(alarm_service.public(session, a), user.role))
        for a in alarm_service.list_alarms(session, statuses=statuses, limit=limit)
    ]


@router.get("/{alarm_id}")
def get_alarm(alarm_id: int, user: Reader, session: SessionDep) -> AlarmPublic:
    """An alarm; one raised by a request for help shows its note to operators only."""
    alarm = alarm_service.public(session, alarm_service.get(session, alarm_id=alarm_id))
    return AlarmPublic.model_validate(visibility.alarm(alarm, user.role))


@router.post("/{alarm_id}/ack")
def acknowledge(
    alarm_id: int, user: Operator, session: SessionDep, once: IdempotentDep
) -> AlarmPublic:
    """I have seen it (who and when are kept). Again: the same answer, nothing changes."""

    def ack() -> Alarm:
        return alarm_service.acknowledge(session, alarm_id=alarm_id, actor=user.name)

    return _change(session, user, once, alarm_id, ack)


@router.post("/{alarm_id}/assign")
def assign(
    alarm_id: int, body: AssignIn, user: Operator, session: SessionDep, once: IdempotentDep
) -> AlarmPublic:
    """A crew goes: the request for help or the hazard becomes the crew's task."""

    def send_crew() -> Alarm:
        return alarm_flows.assign(session, alarm_id=alarm_id, crew_id=body.crew_id, actor=user.name)

    return _change(session, user, once, alarm_id, send_crew)


@router.post("/{alarm_id}/close")
def close(
    alarm_id: int, body: CloseIn, user: Operator, session: SessionDep, once: IdempotentDep
) -> AlarmPublic:
    def close_it() -> Alarm:
        return alarm_flows.close(session, alarm_id=alarm_id, actor=user.name, note=body.note)

    return _change(session, user, once, alarm_id, close_it)


def _change(
    session: Session, user: User, once: Idempotent, alarm_id: int, change: Callable[[], Alarm]
) -> AlarmPublic:
    """An operator's change of an alarm (a drill user's: of a drill's alarm only), answered
    with the alarm as it is then; the same Idempotency-Key again answers the same."""

    def changed() -> AlarmPublic:
        drill_service.check_user_on(session, user, Alarm, alarm_id, "alarm")
        return AlarmPublic.model_validate(alarm_service.public(session, change()))

    return once.run(changed)
