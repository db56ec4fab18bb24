"""Broadcasts as the application does them: `alerts.broadcasts.service` plus templates,
audit, events and the scheduler, in the caller's unit of work.

The entry points (the HTTP routes, the rules engine, the scheduled jobs call these):

- `create_broadcast(session, messages=… | template=…, variables=…, zones=[ids], area=…,
  channels=…, send_at=…, exercise=…, actor=…, origin=…, idempotency_key=…,
  preapproved_by=…, runtime=…) -> Broadcast`
- `approve_broadcast(session, broadcast_id=…, user=…, runtime=…) -> Broadcast`
- `cancel_broadcast(session, broadcast_id=…, user=…, runtime=…) -> (Broadcast, int)`
  (a drill user's: a drill's broadcast only, else 403)
- `start_broadcast(session, broadcast_id=…, runtime=…) -> Broadcast | None`
- `send_to_people(session, messages=…, recipients=[DirectRecipient], idempotency_key=…,
  actor=…, runtime=…) -> Broadcast`: SMS to a few named people (liaison notices)

Every entry point takes the caller's Runtime (`runtime=`). What is the application's stays
here: template resolution, the CAP alert of a broadcast that goes public,
the scheduler's timed jobs. The audit entries and events (`broadcast.created`, `.approved`,
`.started`, `.cancelled`, and `.completed` for one that reaches nobody) are written by
alerts.broadcasts.service through the application's journal (emergency.journal); progress
and completion otherwise come from the dispatch engine.
A timed broadcast's job is added to the scheduler's persistent store after the commit (a
rolled-back broadcast schedules nothing); the periodic `start_due_broadcasts` starts any
whose job was lost. A big broadcast's start writes only the first chunk of its outbox; the
rest is written by a thread started after the commit (`finish_audience_soon`), and by the
periodic `finish_audiences` for any that a stopped process left unfinished; SMS rows no more
than a minute of the rate ceiling ahead of sending (`finish_audience`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, NotRequired, TypedDict, Unpack

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from alerts.broadcasts import service as core
from alerts.dispatch import lanes
from alerts.dispatch.queue import MessageQueue
from alerts.journal import Journal, after_commit
from alerts.models import Broadcast, BroadcastStatus, Message, Subscriber
from alerts.sqltypes import stored_id
from alerts.templates import TemplateError
from emergency.auth.models import User
from emergency.broadcasts.schemas import BroadcastIn, BroadcastPublic, CountsPublic
from emergency.clock import local_iso
from emergency.db import to_public, utcnow
from emergency.drills import service as drill_service
from emergency.exceptions import Forbidden, InvalidInput
from emergency.journal import JOURNAL
from emergency.runtime import Runtime
from geo.zones import ZoneSet

log = logging.getLogger(__name__)
# What repairs an after-commit step of this module that failed (a lost timed job, an audience
# left unwritten, a cancelled job left in the store): the periodic jobs.
REPAIRED = "the periodic start_due_broadcasts / finish_audiences jobs"


def job_id(broadcast_id: int) -> str:
    return f"broadcast-{broadcast_id}"


# --- texts -----------------------------------------------------------------------------


def resolve_texts(
    runtime: Runtime,
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
            spec = runtime.config.templates.get(template)
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
    return to_public(
        BroadcastPublic,
        broadcast,
        id=stored_id(broadcast),
        status=str(broadcast.status),
        counts=CountsPublic(**(counts or {})),
        by_language=broadcast.by_language or {},
        created_at_local=local_iso(broadcast.created_at),
        send_at_local=local_iso(broadcast.send_at),
        needs_approval=broadcast.status == BroadcastStatus.awaiting_approval,
    )


def get_public(session: Session, broadcast_id: int) -> BroadcastPublic:
    broadcast = core.get(session, broadcast_id)
    return public(broadcast, core.counts(session, [broadcast_id])[broadcast_id])


def list_public(
    session: Session, *, status: str | None, limit: int, before_id: int | None = None
) -> list[BroadcastPublic]:
    if status and status not in {s.value for s in BroadcastStatus}:
        raise InvalidInput(
            f"status: unknown status {status!r}; use {', '.join(s.value for s in BroadcastStatus)}"
        )
    rows = core.list_broadcasts(session, status=status, limit=limit, before_id=before_id)
    counts = core.counts(session, [stored_id(b) for b in rows])
    return [public(b, counts[stored_id(b)]) for b in rows]


def summary(session: Session, *, limit: int = 10, exercise: bool = False) -> dict[str, Any]:
    """The dashboard's section: broadcasts waiting, scheduled or sending (with their counts),
    the latest finished ones, and how many people can be reached. Real broadcasts, or the
    drills' (`exercise`): the situation keeps them apart."""
    active_states = [
        BroadcastStatus.awaiting_approval,
        BroadcastStatus.scheduled,
        BroadcastStatus.sending,
    ]
    status, real_or_drill = col(Broadcast.status), col(Broadcast.exercise).is_(exercise)
    by_status: dict[str, int] = dict(
        session.execute(
            sa_select(status, func.count())
            .where(status.in_(active_states), real_or_drill)
            .group_by(status)
        )
        .tuples()
        .all()
    )
    active = list(
        session.execute(
            sa_select(Broadcast)
            .where(status.in_(active_states), real_or_drill)
            .order_by(col(Broadcast.id).desc())
            .limit(limit)
        ).scalars()
    )
    recent = list(
        session.execute(
            sa_select(Broadcast)
            .where(
                status.in_([BroadcastStatus.completed, BroadcastStatus.cancelled]),
                real_or_drill,
            )
            .order_by(col(Broadcast.id).desc())
            .limit(5)
        ).scalars()
    )
    counts = core.counts(session, [stored_id(b) for b in active + recent])
    reachable, opted_out = session.execute(
        sa_select(
            func.count().filter(col(Subscriber.opted_out).is_(False)),
            func.count().filter(col(Subscriber.opted_out).is_(True)),
        )
    ).one()
    return {
        **{str(state): by_status.get(state, 0) for state in active_states},
        "active": [
            public(b, counts[stored_id(b)]).model_dump(mode="json", exclude={"area"})
            for b in active
        ],
        "recent": [
            public(b, counts[stored_id(b)]).model_dump(mode="json", exclude={"area"})
            for b in recent
        ],
        "subscribers": {"reachable": reachable, "opted_out": opted_out},
    }


# --- preview -----------------------------------------------------------------------------


def preview(session: Session, *, runtime: Runtime, body: BroadcastIn) -> dict[str, Any]:
    texts, spec = resolve_texts(
        runtime, messages=body.messages, template=body.template, variables=body.variables
    )
    settings = runtime.settings
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
    priority = priority_for(body.priority, spec)
    result["template"] = (
        {"id": body.template, "preapproved": spec.preapproved, "priority": spec.priority}
        if spec is not None
        else None
    )
    result["exercise"] = body.exercise
    result["priority"] = priority
    if spec is not None and not spec.preapproved:
        result["needs_approval"] = True  # the two-person rule, whatever the audience
    _eta_behind_queue(session, result["eta"], sms_rate=settings.sms_rate, priority=priority)
    return result


def priority_for(asked: str | None, spec: Any) -> str:
    """The lane a broadcast goes in: as asked, else its template's, else normal."""
    if asked:
        return asked
    return str(spec.priority) if spec is not None else lanes.NORMAL


def _eta_behind_queue(
    session: Session, eta: dict[str, Any], *, sms_rate: float, priority: str
) -> None:
    """What the composer shows as the ETA: this broadcast's own time plus the SMS segments
    already waiting (queued or being sent) ahead of it at TYPHOON_SMS_RATE: those of its
    own lane and the lanes above it (a lower lane's wait for it, not it for them)."""
    ahead = session.exec(
        select(func.count(), func.coalesce(func.sum(Message.segments), 0))
        .join(Broadcast, col(Broadcast.id) == col(Message.broadcast_id))
        .where(
            Message.channel == "sms",
            col(Message.status).in_(("queued", "sending")),
            col(Broadcast.priority).in_(lanes.at_or_above(priority)),
        )
    ).one()
    eta["queue_ahead_messages"] = int(ahead[0])
    eta["queue_ahead_segments"] = int(ahead[1])
    wait = int(ahead[1]) / sms_rate if sms_rate else 0.0
    eta["queue_ahead_seconds"] = round(wait, 1)
    eta["seconds_with_queue"] = round(eta["seconds"] + wait, 1)
    eta["lanes_ahead"] = list(lanes.at_or_above(priority))


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
    priority: str | None = None,
    runtime: Runtime,
) -> Broadcast:
    """Draft a broadcast and take it as far as it may go (see alerts.broadcasts.service).

    `zones` are zone ids. `preapproved_by` (e.g. "rule:signal8-stay-indoors") skips the
    two-person approval and is recorded as the approver; only a template marked
    `preapproved: true` may be sent so. A template marked `preapproved: false` always waits
    for a second person, whoever drafts it and however few people it reaches. `priority`
    (None: the template's, else normal) is the queue lane. The same `idempotency_key` twice
    returns the first broadcast and does nothing else.
    """
    texts, spec = resolve_texts(runtime, messages=messages, template=template, variables=variables)
    if preapproved_by and (spec is None or not spec.preapproved):
        raise Forbidden(
            "only a template marked preapproved may be sent without approval",
            code="not_preapproved",
        )
    if not title and spec is not None:
        title = spec.title_in("en")
    created = core.create_broadcast(
        session,
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
        template=template,
        priority=priority_for(priority, spec),
        needs_approval=spec is not None and not spec.preapproved,
        **_sending(runtime),
    )
    if created.created:
        _schedule_if_timed(session, runtime, created.broadcast)
    return created.broadcast


class DirectSend(TypedDict):
    """What a direct send is: the texts, the people, its idempotency key; its title, whether
    it is a drill's, and from how many people on it waits for a second person's approval."""

    messages: Mapping[str, str]
    recipients: Sequence[core.DirectRecipient]
    idempotency_key: str
    title: NotRequired[str]
    exercise: NotRequired[bool]
    approval_threshold: NotRequired[int | None]


def send_to_people(
    session: Session,
    *,
    actor: str,
    origin: str | None = None,
    runtime: Runtime,
    **send: Unpack[DirectSend],
) -> Broadcast:
    """SMS to a few named people (the liaison contacts), each possibly with a text of their
    own: through the same outbox, queue and workers as every broadcast, with no approval
    and no CAP alert (it is not a public warning). Audited, `broadcast.created` and
    `broadcast.started`; progress and completion from the dispatch engine. The same
    `idempotency_key` again returns the first broadcast and sends nothing. Priority
    `emergency`. Given `approval_threshold`, a list at least that long waits for a second
    person's approval (`awaiting_approval`: nothing sent until then)."""
    created = core.send_direct(
        session,
        queue=runtime.queue,
        created_by=actor,
        origin=origin or actor,
        journal=JOURNAL,
        **send,
    )
    return created.broadcast


def _check_drill_user(session: Session, *, broadcast_id: int, user: User) -> None:
    """A drill user (everything it does is an exercise) acts on the drills' broadcasts only:
    its approval is never the second person of a real one, nor does it stop one (403)."""
    if not drill_service.is_drill_user(session, user):
        return
    broadcast = session.get(Broadcast, broadcast_id)  # none: the action answers its 404
    if broadcast is not None and not broadcast.exercise:
        raise Forbidden(
            f"{user.name} is a drill user: it approves and cancels only a drill's broadcasts, "
            f"and broadcast {broadcast_id} is real",
            code="drill_user",
        )


def approve_broadcast(
    session: Session, *, broadcast_id: int, user: User, runtime: Runtime
) -> Broadcast:
    _check_drill_user(session, broadcast_id=broadcast_id, user=user)
    broadcast = core.approve_broadcast(
        session,
        broadcast_id=broadcast_id,
        approver=user.name,
        **_sending(runtime),
    )
    _schedule_if_timed(session, runtime, broadcast)
    return broadcast


def update_broadcast(
    session: Session,
    *,
    broadcast_id: int,
    actor: str,
    messages: Mapping[str, str] | None = None,
    template: str | None = None,
    variables: Mapping[str, Any] | None = None,
    zones: Sequence[str] | None = None,
    area: Mapping[str, Any] | None = None,
    send_at: datetime | None = None,
    priority: str | None = None,
    runtime: Runtime,
) -> Broadcast:
    """Change a broadcast not yet started (by its drafter): its approval is void, and it
    waits for a second person again when it needs one (see alerts.broadcasts.service).
    `priority` moves it to another lane (its messages are queued when it starts)."""
    texts = spec = None
    if messages is not None or template is not None:
        texts, spec = resolve_texts(
            runtime, messages=messages, template=template, variables=variables
        )
    before = core.get(session, broadcast_id)
    old = {"status": str(before.status), "approved_by": before.approved_by}
    broadcast, voided = core.update_broadcast(
        session,
        broadcast_id=broadcast_id,
        editor=actor,
        zones=runtime.zones,
        approval_threshold=runtime.settings.approval_threshold,
        messages=texts,
        zone_ids=zones,
        area=area,
        send_at=send_at,
        # one waiting for a second person still does, whatever changed: a change without
        # the template (priority, send time) would otherwise send an evacuation order
        # (template not pre-approved) to an audience under the threshold, unapproved
        needs_approval=(spec is not None and not spec.preapproved)
        or before.status == BroadcastStatus.awaiting_approval,
    )
    if priority is not None:
        broadcast.priority = priority
        session.add(broadcast)
    JOURNAL.audit(
        session,
        actor=actor,
        action="broadcast.updated",
        target_type="broadcast",
        target_id=stored_id(broadcast),
        before=old,
        after={
            "status": str(broadcast.status),
            "recipients": broadcast.recipients,
            "zones": broadcast.zones,
            "send_at": broadcast.send_at,
            "priority": broadcast.priority,
            "texts_changed": texts is not None,
            "approval_voided": voided,
        },
    )
    JOURNAL.emit(session, "broadcast.updated", core.event_data(broadcast, approval_voided=voided))
    bid = stored_id(broadcast)
    after_commit(session, lambda: _unschedule(runtime, bid), repaired_by=REPAIRED)
    if broadcast.status == BroadcastStatus.scheduled and broadcast.send_at is not None:
        _schedule_if_timed(session, runtime, broadcast)
    elif broadcast.status == BroadcastStatus.scheduled:  # no time: it goes now
        start_broadcast(session, broadcast_id=bid, actor=actor, runtime=runtime)
    return broadcast


def cancel_broadcast(
    session: Session, *, broadcast_id: int, user: User, runtime: Runtime
) -> tuple[Broadcast, int]:
    _check_drill_user(session, broadcast_id=broadcast_id, user=user)
    done = core.cancel_broadcast(
        session, broadcast_id=broadcast_id, actor=user.name, journal=JOURNAL
    )
    broadcast, bid = done.broadcast, stored_id(done.broadcast)
    if done.previous_status == BroadcastStatus.scheduled:
        after_commit(session, lambda: _unschedule(runtime, bid), repaired_by=REPAIRED)
    return broadcast, done.messages_cancelled


def start_broadcast(
    session: Session, *, broadcast_id: int, actor: str = "scheduler", runtime: Runtime
) -> Broadcast | None:
    """Start a scheduled broadcast now (its time has come); None if it is not scheduled."""
    started = core.start_sending(
        session,
        broadcast_id=broadcast_id,
        actor=actor,
        approval_threshold=runtime.settings.approval_threshold,
        **_sending(runtime),
    )
    return None if started is None else started.broadcast


def _schedule_if_timed(session: Session, runtime: Runtime, broadcast: Broadcast) -> None:
    """A broadcast scheduled for later: its timed job, added to the scheduler after the commit."""
    if broadcast.status == BroadcastStatus.scheduled and broadcast.send_at is not None:
        when, bid = broadcast.send_at, stored_id(broadcast)
        after_commit(session, lambda: _schedule(runtime, bid, when), repaired_by=REPAIRED)


class _Sending(TypedDict):
    """What alerts is given of the application to take a broadcast out: the zones, the
    queue, the journal, the first chunk of a big outbox and the step when it goes public."""

    zones: ZoneSet
    queue: MessageQueue
    first_chunk: int | None
    journal: Journal
    on_started: core.OnStarted


def _sending(runtime: Runtime) -> _Sending:
    return _Sending(
        zones=runtime.zones,
        queue=runtime.queue,
        first_chunk=core.FIRST_CHUNK,
        journal=JOURNAL,
        on_started=_on_started(runtime),
    )


def _on_started(runtime: Runtime) -> core.OnStarted:
    """The application's part when a broadcast goes public (alerts journals the rest): its
    CAP alert, and the rest of a big outbox written after the commit."""

    def step(session: Session, broadcast: Broadcast) -> None:
        if broadcast.zones or broadcast.area:  # public; a direct send (named people) is not
            _publish_cap(session, runtime, broadcast)
        if broadcast.status == BroadcastStatus.sending and not broadcast.audience_complete:
            # Only the first chunk of the outbox is in this transaction: the rest right after
            # the commit, in a thread, so the request (a signal's) answers now.
            bid = stored_id(broadcast)
            count = core.counted_later(session, bid)  # started from a first chunk: count it first
            after_commit(
                session,
                lambda: finish_audience_soon(runtime, bid, count=count),
                repaired_by=REPAIRED,
            )

    return step


def _publish_cap(session: Session, runtime: Runtime, broadcast: Broadcast) -> None:
    """Our CAP 1.2 alert of the broadcast, now that it is public (idempotent per broadcast;
    emergency.cap owns the feed)."""
    try:
        from emergency.cap import service as cap_service
    except ImportError:  # pragma: no cover - the CAP domain is part of the application
        return
    cap_service.publish_broadcast_cap(session, runtime=runtime, broadcast=broadcast)


# SMS written ahead of the rate ceiling: a minute of it (core.finish_audience says why).
SMS_AHEAD_SECONDS = 60.0
# How often a writer with a minute of SMS waiting looks again.
PAUSE_SECONDS = 5.0


def pause_writer() -> None:
    time.sleep(PAUSE_SECONDS)


def finish_audience(runtime: Runtime, broadcast_id: int, *, wait: bool = False) -> int:
    """Write the rest of a started broadcast's outbox (chunk by chunk, each queued after its
    commit), SMS no more than a minute of the rate ceiling ahead; returns the rows written.
    `wait`: pause until the SMS waiting need more (the starting process's thread); else return
    then (the periodic job, which looks again in a few seconds). A failure is logged: the
    periodic `finish_audiences` job resumes from the broadcast's cursor."""
    try:
        return core.finish_audience(
            unit_of_work=runtime.db.unit_of_work,
            broadcast_id=broadcast_id,
            zones=runtime.zones,
            queue=runtime.queue,
            sms_ahead=max(1, int(runtime.settings.sms_rate * SMS_AHEAD_SECONDS)),
            pause=pause_writer if wait else None,
        )
    except Exception:
        log.exception(
            "broadcast %s: writing its outbox stopped; the periodic job resumes it", broadcast_id
        )
        return 0


def count_audience(runtime: Runtime, broadcast_id: int) -> None:
    """Count the audience of a broadcast started before it was counted, store it, and tell
    the screens (`broadcast.counted`). A failure is logged: the outbox, once complete, is
    counted from its rows."""
    try:
        with runtime.db.unit_of_work() as session:
            broadcast = core.count_audience(session, broadcast_id=broadcast_id, zones=runtime.zones)
            if broadcast is not None:
                JOURNAL.emit(session, "broadcast.counted", core.event_data(broadcast))
    except Exception:
        log.exception("broadcast %s: counting its audience failed", broadcast_id)


def finish_audience_soon(runtime: Runtime, broadcast_id: int, *, count: bool = False) -> None:
    """In a thread: write the rest of the outbox; with `count`, another counts the audience
    meanwhile (the worker must not run dry behind the first chunk while it is counted)."""
    if count:
        threading.Thread(
            target=count_audience,
            args=(runtime, broadcast_id),
            name=f"broadcast-{broadcast_id}-count",
            daemon=True,  # a process that stops first: the complete outbox is counted
        ).start()
    threading.Thread(
        target=finish_audience,
        args=(runtime, broadcast_id),
        kwargs={"wait": True},
        name=f"broadcast-{broadcast_id}-outbox",
        daemon=True,  # a process that stops mid-way leaves the rest to the periodic job
    ).start()


def _schedule(runtime: Runtime, broadcast_id: int, when: datetime) -> None:
    scheduler = runtime.scheduler
    if scheduler is None:  # no scheduler in this process: start_due_broadcasts will start it
        log.info("no scheduler here; broadcast %s waits for the periodic start", broadcast_id)
        return
    scheduler.run_at(
        "broadcast.start", when, job_id=job_id(broadcast_id), kwargs={"broadcast_id": broadcast_id}
    )


def _unschedule(runtime: Runtime, broadcast_id: int) -> None:
    scheduler = runtime.scheduler
    if scheduler is not None:
        scheduler.cancel(job_id(broadcast_id))
