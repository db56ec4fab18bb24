"""What each role may read of what is personal or confidential: one set of rules for the REST
reads, the situation snapshot and the live stream, so that the stream never shows a role what
REST refuses it.

- Field reports in full (notes, photos, where a resident lives), and the people in a request
  for help (its note, photo, who reported it; the note copied into a crew's task and into the
  alarm it raises): operators and admins, as `GET /api/v1/field-reports` (a crew's own phone reads its tasks in full
  through `GET /api/v1/field/context`).
- The hotline log (callers, summaries, follow-ups) and what liaison notices said and to
  whom: liaison officers, operators and admins, as `/api/v1/liaison/*`.
- Everyone else (viewers' wall screens, field phones, approvers) still gets every event, in
  seq order with no gap (a screen resyncs on a gap), with those fields left out; counts,
  statuses, ids and places stay.
"""

from __future__ import annotations

from typing import Any

from emergency.auth.models import Role

PERSONAL = frozenset({Role.admin, Role.operator})
LIAISON = frozenset({Role.admin, Role.operator, Role.liaison})

_HELP_HIDDEN = ("note", "photo_id", "created_by")
_REPORT_KEPT = (
    "id",
    "kind",
    "zone_id",
    "group_id",
    "crew_id",
    "created_at",
    "created_at_local",
    "result",
    "exercise",  # a drill is never mistaken for reality, whoever reads it
)
_CALL_KEPT = ("id", "at", "at_local", "direction", "signals", "follow_up_done_at", "exercise")
_NOTICE_KEPT = (
    "id",
    "kind",
    "signal",
    "status",
    "exercise",
    "created_at",
    "created_at_local",
    "due_at",
    "due_at_local",
    "acknowledged_at",
    "escalated_at",
    "prompt_id",
)


def sees_personal(role: Role | str) -> bool:
    return Role(role) in PERSONAL


def sees_liaison(role: Role | str) -> bool:
    return Role(role) in LIAISON


def help_request(data: dict[str, Any], role: Role | str) -> dict[str, Any]:
    """A request for help (HelpPublic as a dict) as `role` may read it."""
    if sees_personal(role):
        return data
    return {**data, **{key: None for key in _HELP_HIDDEN if key in data}}


def crew(data: dict[str, Any], role: Role | str) -> dict[str, Any]:
    """A crew (CrewPublic as a dict): a task made from a request for help carries its note."""
    if sees_personal(role) or not data.get("open_tasks"):
        return data
    tasks = [
        {**task, "description": f"help request {task['help_request_id']}"}
        if task.get("help_request_id")
        else task
        for task in data["open_tasks"]
    ]
    return {**data, "open_tasks": tasks}


def alarm(data: dict[str, Any], role: Role | str) -> dict[str, Any]:
    """An alarm (alarms.service.public): one raised by a request for help carries its note."""
    if sees_personal(role) or data.get("source") != "help_request":
        return data
    return {**data, "note": None, "raised_by": None}


def field_report(data: dict[str, Any], role: Role | str) -> dict[str, Any]:
    if sees_personal(role):
        return data
    return {key: data[key] for key in _REPORT_KEPT if key in data}


def _kept(data: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {key: data[key] for key in keys if key in data}


def _event_data(kind: str, data: dict[str, Any], role: Role) -> dict[str, Any]:
    if kind == "field_report.created" and not sees_personal(role):
        return {**data, "report": field_report(data.get("report") or {}, role)}
    if kind == "help_request.updated" and not sees_personal(role):
        return {**data, "help_request": help_request(data.get("help_request") or {}, role)}
    if kind == "crew.updated" and not sees_personal(role):
        return {**data, "crew": crew(data.get("crew") or {}, role)}
    if kind in ("alarm.raised", "alarm.updated") and not sees_personal(role):
        return {**data, "alarm": alarm(data.get("alarm") or {}, role)}
    if kind == "liaison.logged" and not sees_liaison(role):
        return _kept(data, _CALL_KEPT)
    if kind in ("liaison.notified", "liaison.escalated") and not sees_liaison(role):
        return _kept(data, _NOTICE_KEPT)
    return data


def event_for(message: dict[str, Any], role: Role | str) -> dict[str, Any]:
    """A live-stream event as `role` may read it (the same message when nothing is hidden)."""
    data = message.get("data")
    if not isinstance(data, dict):
        return message
    shown = _event_data(str(message.get("type")), data, Role(role))
    return message if shown is data else {**message, "data": shown}


def situation_for(snapshot: dict[str, Any], role: Role | str) -> dict[str, Any]:
    """The situation (GET /api/v1/situation, the stream's first message) as `role` may read
    it: the crews' tasks and the alarms raised by requests for help lose their notes."""
    if sees_personal(role):
        return snapshot
    shown = dict(snapshot)
    for section, one in (("crews", crew), ("alarms", alarm)):
        part = snapshot.get(section)
        if isinstance(part, dict) and part.get("items"):
            shown[section] = {**part, "items": [one(item, role) for item in part["items"]]}
    return shown
