"""Broadcasts as the application does them: `alerts.broadcasts.service` plus templates,
audit, events and the scheduler, in the caller's unit of work.

The entry points (the HTTP routes, the rules engine, the scheduled jobs call these):

- `create_broadcast(session, messages=… | template=…, variables=…, zones=[ids], area=…,
  channels=…, send_at=…, exercise=…, actor=…, origin=…, idempotency_key=…,
  preapproved_by=…, runtime=…) -> Broadcast`
- `approve_broadcast(session, broadcast_id=…, actor=…, runtime=…) -> Broadcast`
- `cancel_broadcast(session, broadcast_id=…, actor=…, runtime=…) -> (Broadcast, int)`
- `start_broadcast(session, broadcast_id=…, runtime=…) -> Broadcast | None`
- `send_to_people(session, messages=…, recipients=[DirectRecipient], idempotency_key=…,
  actor=…, runtime=…) -> Broadcast`: SMS to a few named people (liaison notices)

`runtime` defaults to the process's Runtime (`emergency.scheduler.job_runtime()`), so the
rules engine can call without one. Events: `broadcast.created`, `broadcast.approved`,
`broadcast.started`, `broadcast.cancelled` (and `broadcast.completed` for a broadcast that
reaches nobody); progress and completion otherwise come from the dispatch engine.
A timed broadcast's job is added to the scheduler's persistent store after the commit (a
rolled-back broadcast schedules nothing); the periodic `start_due_broadcasts` starts any
whose job was lost. A big broadcast's start writes only the first chunk of its outbox; the
rest is written by a thread started after the commit (`finish_audience_soon`), and by the
periodic `finish_audiences` for any that a stopped process left unfinished.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import event
from sqlmodel import Session

from alerts.broadcasts import service as core
from alerts.models import Broadcast, BroadcastStatus
from alerts.templates import TemplateError
from emergency.audit import service as audit_service
from emergency.broadcasts.schemas import BroadcastPublic, CountsPublic
from emergency.broadcasts.templates import templates as runtime_templates
from emergency.clock import local_iso
from emergency.db import utcnow
from emergency.events import service as event_service
from emergency.exceptions import AppError, Forbidden, InvalidInput

log = logging.getLogger(__name__)


def _runtime(runtime: Any) -> Any:
    if runtime is not None:
        return runtime
    from emergency.scheduler import job_runtime

    return job_runtime()


def _app_error(exc: core.BroadcastError) -> AppError:
    return AppError(exc.message, code=exc.code, status_code=exc.status)


def job_id(broadcast_id: int) -> str:
    return f"broadcast-{broadcast_id}"


# --- texts -----------------------------------------------------------------------------


def resolve_texts(
    runtime: Any,
    *,
    messages: Mapping[str, str] | None,
    template: str | None,
    variables: Mapping[str, Any] | None,
) -> tuple[dict[str, str], Any]:
    """The four texts from `messages`, or from a template and its variables; and the
    template (or None). Raises InvalidInput (422) naming what is wrong."""
    if messages and template:
        raise InvalidInput(
            "give either messages or a template, not both", code="messages_and_template"
        )
    if template:
        try:
            spec = runtime_templates(runtime).get(template)
            return spec.render(variables or {}), spec
        except TemplateError as exc:
            code = "unknown_template" if exc.field == "template" else "template_variables"
            raise InvalidInput(exc.message, code=code) from None
    if variables:
        raise InvalidInput("variables go with a template", code="variables_without_template")
    if not messages:
        raise InvalidInput(
            "messages: give a text for each of zh-Hans, zh-Hant, pt, en (or a template)",
            code="invalid_broadcast",
        )
    return dict(messages), None


# --- the public shape --------------------------------------------------------------------


def public(broadcast: Broadcast, counts: Mapping[str, int] | None = None) -> BroadcastPublic:
    return BroadcastPublic(
        id=broadcast.id,
        status=str(broadcast.status),
        title=broadcast.title,
        recipients=broadcast.recipients,
        counts=CountsPublic(**(counts or {})),
        by_language=broadcast.by_language or {},
        messages=broadcast.messages,
        channels=broadcast.channels,
        zones=broadcast.zones,
        area=broadcast.area,
        exercise=broadcast.exercise,
        origin=broadcast.origin,
        created_by=broadcast.created_by,
        created_at=broadcast.created_at,
        created_at_local=local_iso(broadcast.created_at),
        approved_by=broadcast.approved_by,
        approved_at=broadcast.approved_at,
        send_at=broadcast.send_at,
        send_at_local=local_iso(broadcast.send_at),
        started_at=broadcast.started_at,
        completed_at=broadcast.completed_at,
        cancelled_by=broadcast.cancelled_by,
        cancelled_at=broadcast.cancelled_at,
        needs_approval=broadcast.status == BroadcastStatus.awaiting_approval,
    )


def get_public(session: Session, broadcast_id: int) -> BroadcastPublic:
    try:
        broadcast = core.get(session, broadcast_id)
    except core.BroadcastError as exc:
        raise _app_error(exc) from None
    return public(broadcast, core.counts(session, [broadcast_id])[broadcast_id])


def find_by_key(session: Session, key: str) -> Broadcast | None:
    return core.by_idempotency_key(session, key)


def list_public(
    session: Session, *, status: str | None, limit: int, before_id: int | None = None
) -> list[BroadcastPublic]:
    if status and status not in {s.value for s in BroadcastStatus}:
        raise InvalidInput(
            f"status: unknown status {status!r}; use {', '.join(s.value for s in BroadcastStatus)}"
        )
    rows = core.list_broadcasts(session, status=status, limit=limit, before_id=before_id)
    counts = core.counts(session, [b.id for b in rows])
    return [public(b, counts[b.id]) for b in rows]


def summary(session: Session, *, limit: int = 10) -> dict[str, Any]:
    """The dashboard's section: broadcasts waiting, scheduled or sending (with their counts),
    the latest finished ones, and how many people can be reached."""
    from sqlalchemy import func, select

    from alerts.models import Subscriber

    active_states = [
        BroadcastStatus.awaiting_approval,
        BroadcastStatus.scheduled,
        BroadcastStatus.sending,
    ]
    by_status = dict(
        session.execute(
            select(Broadcast.status, func.count())
            .where(Broadcast.status.in_(active_states))
            .group_by(Broadcast.status)
        ).all()
    )
    active = list(
        session.execute(
            select(Broadcast)
            .where(Broadcast.status.in_(active_states))
            .order_by(Broadcast.id.desc())
            .limit(limit)
        ).scalars()
    )
    recent = list(
        session.execute(
            select(Broadcast)
            .where(Broadcast.status.in_([BroadcastStatus.completed, BroadcastStatus.cancelled]))
            .order_by(Broadcast.id.desc())
            .limit(5)
        ).scalars()
    )
    counts = core.counts(session, [b.id for b in active + recent])
    reachable, opted_out = session.execute(
        select(
            func.count().filter(Subscriber.opted_out.is_(False)),
            func.count().filter(Subscriber.opted_out.is_(True)),
        )
    ).one()
    return {
        **{str(state): by_status.get(state, 0) for state in active_states},
        "active": [
            public(b, counts[b.id]).model_dump(mode="json", exclude={"area"}) for b in active
        ],
        "recent": [
            public(b, counts[b.id]).model_dump(mode="json", exclude={"area"}) for b in recent
        ],
        "subscribers": {"reachable": reachable, "opted_out": opted_out},
    }


def _event_data(broadcast: Broadcast, **extra: Any) -> dict[str, Any]:
    return {
        "id": broadcast.id,
        "status": str(broadcast.status),
        "title": broadcast.title,
        "recipients": broadcast.recipients,
        "by_language": broadcast.by_language,
        "channels": broadcast.channels,
        "zones": broadcast.zones,
        "exercise": broadcast.exercise,
        "origin": broadcast.origin,
        "created_by": broadcast.created_by,
        "approved_by": broadcast.approved_by,
        "send_at": broadcast.send_at,
        **extra,
    }


# --- preview -----------------------------------------------------------------------------


def preview(session: Session, *, runtime: Any, body) -> dict[str, Any]:
    texts, spec = resolve_texts(
        runtime, messages=body.messages, template=body.template, variables=body.variables
    )
    settings = runtime.settings
    try:
        checked = core.check_messages(texts, exercise=body.exercise)
        channels = core.check_channels(body.channels)
        target = core.resolve_target(runtime.zones, body.zones, body.area)
        core.check_send_at(body.send_at, now=utcnow())
        result = core.preview(
            session,
            messages=checked,
            target=target,
            channels=channels,
            exercise=body.exercise,
            approval_threshold=settings.approval_threshold,
            price_per_segment=settings.sms_price,
            currency=settings.sms_currency,
            sms_rate=settings.sms_rate,
            max_eta_seconds=settings.sms_max_eta,
        )
    except core.BroadcastError as exc:
        raise _app_error(exc) from None
    result["template"] = (
        {"id": body.template, "preapproved": spec.preapproved} if spec is not None else None
    )
    result["exercise"] = body.exercise
    return result


# --- the life cycle ----------------------------------------------------------------------


def create_broadcast(
    session: Session,
    *,
    actor: str,
    messages: Mapping[str, str] | None = None,
    template: str | None = None,
    variables: Mapping[str, Any] | None = None,
    zones: Sequence[str] = (),
    area: Mapping[str, Any] | None = None,
    channels: Sequence[str] = ("sms", "push"),
    send_at: datetime | None = None,
    exercise: bool = False,
    title: str = "",
    origin: str | None = None,
    idempotency_key: str | None = None,
    preapproved_by: str | None = None,
    runtime: Any = None,
) -> Broadcast:
    """Draft a broadcast and take it as far as it may go (see alerts.broadcasts.service).

    `zones` are zone ids. `preapproved_by` (e.g. "rule:signal8-stay-indoors") skips the
    two-person approval and is recorded as the approver; only a template marked
    `preapproved: true` may be sent so. The same `idempotency_key` twice returns the first
    broadcast and does nothing else.
    """
    runtime = _runtime(runtime)
    texts, spec = resolve_texts(runtime, messages=messages, template=template, variables=variables)
    if preapproved_by and (spec is None or not spec.preapproved):
        raise Forbidden(
            "only a template marked preapproved may be sent without approval",
            code="not_preapproved",
        )
    if not title and spec is not None:
        title = spec.title
    try:
        created = core.create_broadcast(
            session,
            zones=runtime.zones,
            queue=runtime.queue,
            messages=texts,
            zone_ids=list(zones),
            area=area,
            channels=list(channels),
            send_at=send_at,
            exercise=exercise,
            created_by=actor,
            approval_threshold=runtime.settings.approval_threshold,
            title=title,
            origin=origin or actor,
            idempotency_key=idempotency_key,
            preapproved_by=preapproved_by,
            first_chunk=core.FIRST_CHUNK,
        )
    except core.BroadcastError as exc:
        raise _app_error(exc) from None
    broadcast = created.broadcast
    if not created.created:
        return broadcast
    audit_service.record(
        session,
        actor=actor,
        action="broadcast.created",
        target_type="broadcast",
        target_id=broadcast.id,
        after={
            "status": str(broadcast.status),
            "recipients": broadcast.recipients,
            "zones": broadcast.zones,
            "area": bool(broadcast.area),
            "channels": broadcast.channels,
            "exercise": broadcast.exercise,
            "template": template,
            "origin": broadcast.origin,
            "approved_by": broadcast.approved_by,
            "send_at": broadcast.send_at,
        },
    )
    event_service.emit(session, "broadcast.created", _event_data(broadcast, template=template))
    _after_transition(session, runtime, broadcast, actor=actor)
    return broadcast


def send_to_people(
    session: Session,
    *,
    actor: str,
    messages: Mapping[str, str],
    recipients: Sequence[core.DirectRecipient],
    idempotency_key: str,
    title: str = "",
    origin: str | None = None,
    exercise: bool = False,
    runtime: Any = None,
) -> Broadcast:
    """SMS to a few named people (the liaison contacts), each possibly with a text of their
    own: through the same outbox, queue and workers as every broadcast, with no approval
    and no CAP alert (it is not a public warning). Audited, `broadcast.created` and
    `broadcast.started`; progress and completion from the dispatch engine. The same
    `idempotency_key` again returns the first broadcast and sends nothing."""
    runtime = _runtime(runtime)
    created = core.send_direct(
        session,
        queue=runtime.queue,
        messages=messages,
        recipients=recipients,
        created_by=actor,
        idempotency_key=idempotency_key,
        title=title,
        origin=origin or actor,
        exercise=exercise,
    )
    broadcast = created.broadcast
    if not created.created:
        return broadcast
    # Which people, by count only: numbers and personal texts (links) stay out of the log.
    audit_service.record(
        session,
        actor=actor,
        action="broadcast.created",
        target_type="broadcast",
        target_id=broadcast.id,
        after={
            "status": str(broadcast.status),
            "recipients": broadcast.recipients,
            "channels": broadcast.channels,
            "exercise": broadcast.exercise,
            "origin": broadcast.origin,
            "direct": True,
        },
    )
    event_service.emit(session, "broadcast.created", _event_data(broadcast, direct=True))
    event_service.emit(
        session, "broadcast.started", _event_data(broadcast, started_at=broadcast.started_at)
    )
    if broadcast.status == BroadcastStatus.completed:  # nobody with a number
        event_service.emit(
            session,
            "broadcast.completed",
            _event_data(broadcast, completed_at=broadcast.completed_at, counts={}),
        )
    return broadcast


def approve_broadcast(
    session: Session, *, broadcast_id: int, actor: str, runtime: Any = None
) -> Broadcast:
    runtime = _runtime(runtime)
    try:
        broadcast = core.approve_broadcast(
            session,
            broadcast_id=broadcast_id,
            approver=actor,
            zones=runtime.zones,
            queue=runtime.queue,
            first_chunk=core.FIRST_CHUNK,
        )
    except core.BroadcastError as exc:
        raise _app_error(exc) from None
    audit_service.record(
        session,
        actor=actor,
        action="broadcast.approved",
        target_type="broadcast",
        target_id=broadcast.id,
        before={"status": "awaiting_approval"},
        after={"status": str(broadcast.status)},
    )
    event_service.emit(session, "broadcast.approved", _event_data(broadcast))
    _after_transition(session, runtime, broadcast, actor=actor)
    return broadcast


def cancel_broadcast(
    session: Session, *, broadcast_id: int, actor: str, runtime: Any = None
) -> tuple[Broadcast, int]:
    runtime = _runtime(runtime)
    try:
        done = core.cancel_broadcast(session, broadcast_id=broadcast_id, actor=actor)
    except core.BroadcastError as exc:
        raise _app_error(exc) from None
    broadcast = done.broadcast
    audit_service.record(
        session,
        actor=actor,
        action="broadcast.cancelled",
        target_type="broadcast",
        target_id=broadcast.id,
        before={"status": done.previous_status},
        after={"status": "cancelled", "messages_cancelled": done.messages_cancelled},
    )
    event_service.emit(
        session,
        "broadcast.cancelled",
        _event_data(broadcast, messages_cancelled=done.messages_cancelled),
    )
    if done.previous_status == BroadcastStatus.scheduled:
        _after_commit(session, lambda: _unschedule(runtime, broadcast.id))
    return broadcast, done.messages_cancelled


def start_broadcast(
    session: Session, *, broadcast_id: int, actor: str = "scheduler", runtime: Any = None
) -> Broadcast | None:
    """Start a scheduled broadcast now (its time has come); None if it is not scheduled."""
    runtime = _runtime(runtime)
    try:
        started = core.start_sending(
            session,
            broadcast_id=broadcast_id,
            zones=runtime.zones,
            queue=runtime.queue,
            first_chunk=core.FIRST_CHUNK,
        )
    except core.BroadcastError as exc:
        raise _app_error(exc) from None
    if started is None:
        return None
    _started(session, runtime, started.broadcast, actor=actor)
    return started.broadcast


def _after_transition(session: Session, runtime: Any, broadcast: Broadcast, *, actor: str) -> None:
    """What follows a create or an approval: the start's events, or the timed job."""
    if broadcast.status in (BroadcastStatus.sending, BroadcastStatus.completed):
        _started(session, runtime, broadcast, actor=actor)
    elif broadcast.status == BroadcastStatus.scheduled and broadcast.send_at is not None:
        when, bid = broadcast.send_at, broadcast.id
        _after_commit(session, lambda: _schedule(runtime, bid, when))


def _started(session: Session, runtime: Any, broadcast: Broadcast, *, actor: str) -> None:
    audit_service.record(
        session,
        actor=actor,
        action="broadcast.started",
        target_type="broadcast",
        target_id=broadcast.id,
        after={"recipients": broadcast.recipients, "by_language": broadcast.by_language},
    )
    event_service.emit(
        session, "broadcast.started", _event_data(broadcast, started_at=broadcast.started_at)
    )
    _publish_cap(session, runtime, broadcast)
    if broadcast.status == BroadcastStatus.sending and not broadcast.audience_complete:
        # Only the first chunk of the outbox is in this transaction: the rest right after
        # the commit, in a thread, so the request (a signal's) answers now.
        bid = broadcast.id
        _after_commit(session, lambda: finish_audience_soon(runtime, bid))
    if broadcast.status == BroadcastStatus.completed:  # reached nobody: done at once
        event_service.emit(
            session,
            "broadcast.completed",
            _event_data(broadcast, completed_at=broadcast.completed_at, counts={}),
        )


def _publish_cap(session: Session, runtime: Any, broadcast: Broadcast) -> None:
    """Our CAP 1.2 alert of the broadcast, now that it is public (idempotent per broadcast;
    emergency.cap owns the feed)."""
    try:
        from emergency.cap import service as cap_service
    except ImportError:  # pragma: no cover - the CAP domain is part of the application
        return
    cap_service.publish_broadcast_cap(session, runtime=runtime, broadcast=broadcast)


def _after_commit(session: Session, action) -> None:
    """Run `action` once the unit of work has committed: its root transaction, not a
    savepoint (a rule's broadcast is drafted inside one, and SQLAlchemy fires after_commit
    when a savepoint is released too: a job scheduled then may run before the row exists)."""
    done = False

    def run(committed: Session) -> None:
        nonlocal done
        if done or committed.in_nested_transaction():
            return
        done = True
        try:
            action()
        except Exception:  # the periodic safety job repairs a lost timed job
            log.exception("after-commit scheduling step failed")

    event.listen(session, "after_commit", run)


def finish_audience(runtime: Any, broadcast_id: int) -> int:
    """Write the rest of a started broadcast's outbox (chunk by chunk, each queued after its
    commit); returns the rows written. A failure is logged: the periodic
    `finish_audiences` job resumes from the broadcast's cursor."""
    try:
        return core.finish_audience(
            unit_of_work=runtime.db.unit_of_work,
            broadcast_id=broadcast_id,
            zones=runtime.zones,
            queue=runtime.queue,
        )
    except Exception:
        log.exception(
            "broadcast %s: writing its outbox stopped; the periodic job resumes it", broadcast_id
        )
        return 0


def finish_audience_soon(runtime: Any, broadcast_id: int) -> None:
    threading.Thread(
        target=finish_audience,
        args=(runtime, broadcast_id),
        name=f"broadcast-{broadcast_id}-outbox",
        daemon=True,  # a process that stops mid-way leaves the rest to the periodic job
    ).start()


def _scheduler(runtime: Any):
    return runtime.extras.get("scheduler")


def _schedule(runtime: Any, broadcast_id: int, when: datetime) -> None:
    scheduler = _scheduler(runtime)
    if scheduler is None:  # no scheduler in this process: start_due_broadcasts will start it
        log.info("no scheduler here; broadcast %s waits for the periodic start", broadcast_id)
        return
    from emergency.broadcasts.scheduled import start_broadcast

    scheduler.run_at(
        start_broadcast, when, job_id=job_id(broadcast_id), kwargs={"broadcast_id": broadcast_id}
    )


def _unschedule(runtime: Any, broadcast_id: int) -> None:
    scheduler = _scheduler(runtime)
    if scheduler is not None:
        scheduler.cancel(job_id(broadcast_id))
