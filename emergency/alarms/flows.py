"""The desk's actions on an alarm that reach into field operations: a crew assigned to it
(the request for help or the hazard gets the crew's task), and closing a request for help."""

from __future__ import annotations

from sqlmodel import Session

from emergency.alarms import service as alarm_service
from emergency.alarms.models import Alarm, AlarmSource
from emergency.field import service as field_service
from emergency.field.models import HelpStatus


def assign(session: Session, *, alarm_id: int, crew_id: int, actor: str) -> Alarm:
    """Give the alarm's record to a crew (a task for the crew; the alarm follows as assigned).
    The same crew again changes nothing."""
    alarm = alarm_service.get(session, alarm_id=alarm_id, lock=True)
    alarm_service.require_open(alarm)
    if alarm.crew_id == crew_id:
        return alarm
    if alarm.source == AlarmSource.help_request:
        field_service.assign_help_request(
            session, help_request_id=alarm.source_id, crew_id=crew_id, actor=actor
        )
    else:
        field_service.assign_hazard(
            session, hazard_id=alarm.source_id, crew_id=crew_id, actor=actor
        )
    session.refresh(alarm)
    return alarm


def close(session: Session, *, alarm_id: int, actor: str, note: str | None = None) -> Alarm:
    """Close the alarm; a request for help closes with it (its crew's task ends). A hazard
    keeps its own course (rectified, verified) on the hazards screen."""
    alarm = alarm_service.close(session, alarm_id=alarm_id, actor=actor, note=note)
    if alarm.source == AlarmSource.help_request:
        request = field_service.get_help_request(session, help_request_id=alarm.source_id)
        if request.status != HelpStatus.closed:
            field_service.close_help_request(session, help_request_id=alarm.source_id, actor=actor)
    return alarm
