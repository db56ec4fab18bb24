"""Broadcasts: drafting, the two-person approval, scheduling, starting to send, cancelling.

States::

    draft → awaiting_approval → scheduled → sending → completed
                 │                  │          │
                 └──────────────────┴──────────┴──→ cancelled

- A broadcast whose audience is at least ``approval_threshold`` recipients (outbox rows:
  one per person and channel) waits for an approver who is not its drafter. "At least": a
  1,000-recipient broadcast with the default threshold of 1,000 waits; a threshold of 0
  makes every broadcast wait. ``needs_approval`` (a template not pre-approved) makes it wait
  whatever its audience. A ``preapproved_by`` (a rule sending a pre-approved template)
  skips the wait and is recorded as the approver. The threshold is checked again when the
  audience is fixed at the start (a scheduled broadcast whose audience grew past it and that
  nobody approved goes back to ``awaiting_approval`` and sends nothing).
- Without approval pending it is ``scheduled``; :func:`start_sending` moves it to
  ``sending`` at once (no ``send_at``) or when its time comes (the caller's scheduler).
- :func:`start_sending` recomputes the audience at that moment (an opt-out since drafting
  counts), writes its messages (or, given ``first_chunk``, the first of them, e.g.
  :data:`FIRST_CHUNK`) into the outbox in bulk, and hands their ids to the queue only after
  the commit. A conditional UPDATE claims the broadcast
  (``scheduled`` → ``sending``), and the outbox's unique (broadcast, dedupe_key) backs it:
  starting twice sends nothing twice.
- The rest of a bigger audience is written after that commit, :data:`CHUNK` at a time, each
  chunk in its own transaction and queued after it (:func:`finish_audience`: the caller runs
  it at once, and a periodic job for any that a dead process left unfinished). The broadcast
  row says how far it got (``audience_complete``, ``audience_cursor``: push subscriptions
  by id, then subscribers by id), and each chunk locks that row and advances the cursor in
  the transaction that writes it, so a chunk is written once even by two writers at once;
  the unique (broadcast, dedupe_key) stays the last guard. Each chunk runs the audience
  query again: an opt-out after the start is respected by the chunks not yet written (and a
  new subscriber in the target is included). A broadcast is not ``completed`` before its
  audience is complete; cancelling stops the chunks.
- :func:`cancel_broadcast` turns every message still ``queued`` into ``cancelled`` in one
  UPDATE; a worker claims only ``queued`` rows, so nothing more leaves.

``completed`` and the progress counts are the dispatch engine's. Given a ``journal``
(alerts.journal: the application's audit log and events), the life-cycle steps record
themselves: ``broadcast.created``, ``.approved``, ``.started``, ``.cancelled`` (audited and
emitted) and ``broadcast.completed`` for one that reaches nobody; ``on_started`` is the
application's step when a broadcast goes public (emergency.broadcasts.service: its CAP alert).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from alerts import text as sms_text
from alerts.broadcasts import audience as audience_mod
from alerts.broadcasts.audience import Audience, Target
from alerts.dispatch import lanes, store
from alerts.dispatch.queue import MessageQueue
from alerts.errors import CodedError, Conflict, Forbidden, NotFound
from alerts.journal import Journal
from alerts.languages import LANGUAGES
from alerts.models import Broadcast, BroadcastStatus, Channel, Message, MessageStatus
from alerts.sqltypes import rowcount, stored_id, utcnow
from alerts.templates import mark_exercise
from geo.areas import AreaError, parse_area
from geo.zones import UnknownZoneError, ZoneSet

log = logging.getLogger(__name__)

MAX_SCHEDULE_AHEAD = timedelta(days=30)
# Outbox rows written in the transaction that starts a broadcast (the first to be sent), then
# per later transaction: small enough that a signal's request commits at once, big enough that
# 200,000 rows take a few seconds. The application passes FIRST_CHUNK as ``first_chunk``.
FIRST_CHUNK = 2_000
# A broadcast started before it is counted (``count_later``: the signal's warning) writes at
# most this many: 500 rows are 5 s of sending at one short code's 100/s while the next chunk is
# written after the commit; 2,000 took the signal's request about 0.5 s more on 2 shared cores.
FIRST_CHUNK_UNCOUNTED = 500
CHUNK = 10_000
STAGES = (Channel.push.value, Channel.sms.value)  # the order the audience is written in
ACTIVE = (
    BroadcastStatus.draft,
    BroadcastStatus.awaiting_approval,
    BroadcastStatus.scheduled,
    BroadcastStatus.sending,
)


# What the application does when a broadcast goes public (in the same unit of work).
OnStarted = Callable[[Session, Broadcast], None]


# --- errors (coded: the application answers them as they are) -------------------------


class BroadcastError(CodedError):
    """What alerts refuses of a broadcast; `field` names the part of the request at fault."""

    status_code = 422
    code = "invalid_broadcast"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None):
        super().__init__(message, code=code)
        self.field = field


class InvalidBroadcast(BroadcastError):
    pass


# The others are a BroadcastError of another kind: its status and code come first.
class BroadcastNotFound(NotFound, BroadcastError):
    pass


class BroadcastConflict(Conflict, BroadcastError):
    pass


class SelfApproval(Forbidden, BroadcastError):
    code = "self_approval"


# --- checking what is asked ------------------------------------------------------------


def check_messages(messages: Mapping[str, str] | None, *, exercise: bool) -> dict[str, str]:
    """The four texts, trimmed, exercise-marked if need be, each within Twilio's limit."""
    if not messages:
        raise InvalidBroadcast(
            "messages: give a text for each of zh-Hans, zh-Hant, pt, en (or a template)",
            field="messages",
        )
    unknown = [lang for lang in messages if lang not in LANGUAGES]
    if unknown:
        raise InvalidBroadcast(
            f"messages: unknown language(s) {', '.join(repr(u) for u in unknown)}; the keys "
            f"are {', '.join(LANGUAGES)}",
            field="messages",
        )
    cleaned = {lang: (messages.get(lang) or "").strip() for lang in LANGUAGES}
    missing = [lang for lang, text in cleaned.items() if not text]
    if missing:
        raise InvalidBroadcast(
            f"messages: no text for {', '.join(missing)}: every broadcast carries all four "
            "languages, so each resident reads it in their own",
            field="messages",
        )
    if exercise:
        cleaned = mark_exercise(cleaned)
    for lang, text in cleaned.items():
        problem = sms_text.body_problem(text)
        if problem:
            raise InvalidBroadcast(
                f"messages.{lang}: {problem}", field=f"messages.{lang}", code="text_too_long"
            )
        if any(ord(ch) < 0x20 and ch not in "\n" for ch in text):
            raise InvalidBroadcast(
                f"messages.{lang}: contains control characters", field=f"messages.{lang}"
            )
    return cleaned


def check_priority(priority: str | None) -> lanes.Priority:
    for known in lanes.LANES:
        if priority == known:
            return known
    raise InvalidBroadcast(
        f"priority: unknown priority {priority!r}: use {', '.join(lanes.LANES)}",
        field="priority",
    )


def check_channels(channels: Sequence[str] | None) -> list[str]:
    if not channels:
        raise InvalidBroadcast("channels: give at least one of sms, push", field="channels")
    wrong = [c for c in channels if c not in (Channel.sms.value, Channel.push.value)]
    if wrong:
        raise InvalidBroadcast(
            f"channels: unknown channel(s) {', '.join(wrong)}: use sms, push", field="channels"
        )
    return [c.value for c in Channel if c.value in channels]


def resolve_target(
    zones: ZoneSet, zone_ids: Sequence[str] | None, area: Mapping[str, Any] | None
) -> Target:
    """Zones (by id, from the ZoneSet) and/or an area (GeoJSON, checked by geo.areas)."""
    ids = list(dict.fromkeys(zone_ids or []))
    if not ids and not area:
        raise InvalidBroadcast(
            "give zones or an area (or both) to say who receives it", field="zones"
        )
    unknown = [z for z in ids if z not in zones]
    if unknown:
        message = str(UnknownZoneError(unknown))
        raise InvalidBroadcast(
            f"zones: {message} (known: {', '.join(zones.ids)})", field="zones", code="unknown_zone"
        )
    geometry = None
    if area:
        try:
            geometry = parse_area(area)
        except AreaError as exc:
            where = f"area.{exc.field}" if exc.field else "area"
            raise InvalidBroadcast(
                f"{where}: {exc.message}", field=where, code="invalid_area"
            ) from None
    return Target(
        zone_ids=tuple(ids), geometries=tuple(zones[z].geometry for z in ids), area=geometry
    )


def check_send_at(send_at: datetime | None, *, now: datetime) -> datetime | None:
    if send_at is None:
        return None
    if send_at.tzinfo is None:
        raise InvalidBroadcast(
            "send_at: give a time zone (e.g. 2024-09-05T22:00:00+08:00)", field="send_at"
        )
    if send_at < now:
        raise InvalidBroadcast(f"send_at: {send_at.isoformat()} is in the past", field="send_at")
    if send_at > now + MAX_SCHEDULE_AHEAD:
        raise InvalidBroadcast(
            f"send_at: more than {MAX_SCHEDULE_AHEAD.days} days ahead", field="send_at"
        )
    return send_at


# --- preview -------------------------------------------------------------------------


def preview(
    session: Session,
    *,
    messages: Mapping[str, str],
    target: Target,
    channels: Sequence[str],
    exercise: bool,
    approval_threshold: int,
    price_per_segment: float,
    currency: str,
    sms_rate: float,
    max_eta_seconds: float,
) -> dict[str, Any]:
    """What the operator sees before sending: per language the text, its encoding and
    segments; the audience by language and channel; the SMS cost and how long it takes."""
    audience = audience_mod.compute(session, target=target, channels=channels, exercise=exercise)
    split = audience.by_language_and_channel(LANGUAGES)
    languages: dict[str, Any] = {}
    segments_total = 0
    warnings: list[str] = []
    for lang in LANGUAGES:
        facts = sms_text.preview(messages[lang], price_per_segment)
        recipients = split[lang]
        segments_total += facts["segments"] * recipients["sms"]
        languages[lang] = {
            "text": messages[lang],
            "encoding": facts["encoding"],
            "segments": facts["segments"],
            "characters": facts["characters"],
            "units": facts["units"],
            "too_long": facts["too_long"],
            "recipients": recipients,
            "cost": round(facts["segments"] * recipients["sms"] * price_per_segment, 4),
        }
        if facts["characters"] > sms_text.RECOMMENDED_MAX_CHARS:
            warnings.append(
                f"{lang}: {facts['characters']} characters; Twilio recommends at "
                f"most {sms_text.RECOMMENDED_MAX_CHARS}"
            )
    eta = segments_total / sms_rate if sms_rate else 0.0
    if eta > max_eta_seconds:
        warnings.append(
            f"sending {segments_total} SMS segments at {sms_rate:g}/s takes "
            f"{_duration(eta)}, more than the {_duration(max_eta_seconds)} a sender can queue: "
            "the last messages would fail. Use more senders, a shorter text, or push"
        )
    if audience.total == 0:
        warnings.append("nobody is in the target: the broadcast would reach no one")
    return {
        "languages": languages,
        "audience": {
            "total": audience.total,
            "by_language": audience.by_language(LANGUAGES),
            "by_channel": audience.by_channel(),
        },
        "cost": {
            "currency": currency,
            "price_per_segment": price_per_segment,
            "segments": segments_total,
            "total": round(segments_total * price_per_segment, 4),
        },
        "eta": {
            "seconds": round(eta, 1),
            "sms_rate": sms_rate,
            "limit_seconds": max_eta_seconds,
            "within_limit": eta <= max_eta_seconds,
        },
        "needs_approval": audience.total >= approval_threshold,
        "approval_threshold": approval_threshold,
        "warnings": warnings,
    }


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


# --- creating, approving, cancelling -------------------------------------------------


@dataclass
class Created:
    broadcast: Broadcast
    created: bool  # False: the idempotency key named an existing broadcast
    audience: Audience | None = None


def create_broadcast(
    session: Session,
    *,
    zones: ZoneSet,
    queue: MessageQueue,
    messages: Mapping[str, str],
    zone_ids: Sequence[str] = (),
    area: Mapping[str, Any] | None = None,
    channels: Sequence[str] = ("sms", "push"),
    send_at: datetime | None = None,
    exercise: bool = False,
    created_by: str,
    approval_threshold: int,
    title: str = "",
    origin: str = "operator",
    idempotency_key: str | None = None,
    preapproved_by: str | None = None,
    now: datetime | None = None,
    first_chunk: int | None = None,
    template: str | None = None,
    journal: Journal | None = None,
    on_started: OnStarted | None = None,
    priority: str = lanes.NORMAL,
    needs_approval: bool = False,
) -> Created:
    """Store a broadcast and take it as far as it may go now.

    ``messages`` are the texts as given (the exercise mark is added here). Ends
    ``awaiting_approval`` (audience ≥ threshold and not pre-approved), ``scheduled``
    (``send_at`` ahead: the caller schedules :func:`start_sending`), or ``sending`` (its
    messages are in the outbox and queued after commit). With an ``idempotency_key`` that
    was used before, the earlier broadcast is returned (``created=False``) and nothing else
    happens. Raises :class:`InvalidBroadcast` before storing anything.
    """
    now = now or utcnow()
    if idempotency_key:
        existing = by_idempotency_key(session, idempotency_key)
        if existing is not None:
            return Created(existing, created=False)
    texts = check_messages(messages, exercise=exercise)
    chosen = check_channels(channels)
    priority = check_priority(priority)
    target = resolve_target(zones, zone_ids, area)
    send_at = check_send_at(send_at, now=now)
    # A pre-approved broadcast that starts now needs no count to decide on: with a first
    # chunk it starts from LIMIT queries, and the caller counts it after the commit
    # (count_audience): at 200,000 residents the count is time the warning need not wait.
    count_later = bool(preapproved_by and first_chunk and (send_at is None or send_at <= now))
    audience = (
        None
        if count_later
        else audience_mod.compute(session, target=target, channels=chosen, exercise=exercise)
    )

    broadcast = Broadcast(
        status=BroadcastStatus.draft,
        title=title[:200],
        messages=texts,
        zones=list(target.zone_ids),
        area=dict(area) if area else None,
        channels=chosen,
        exercise=exercise,
        priority=priority,
        send_at=send_at,
        recipients=audience.total if audience else 0,
        by_language=audience.by_language(LANGUAGES) if audience else dict.fromkeys(LANGUAGES, 0),
        origin=origin,
        idempotency_key=idempotency_key,
        created_by=created_by,
        created_at=now,
    )
    if preapproved_by:
        broadcast.approved_by, broadcast.approved_at = preapproved_by, now
        broadcast.status = BroadcastStatus.scheduled
    elif needs_approval or (audience is not None and audience.total >= approval_threshold):
        broadcast.status = BroadcastStatus.awaiting_approval
    else:
        broadcast.status = BroadcastStatus.scheduled

    existing = _insert_once(session, broadcast)
    if existing is not None:
        return Created(existing, created=False)

    if broadcast.status == BroadcastStatus.scheduled and (send_at is None or send_at <= now):
        # the audience just computed, in this transaction: no second query of it
        start_sending(
            session,
            broadcast_id=stored_id(broadcast),
            zones=zones,
            queue=queue,
            now=now,
            audience=audience,
            first_chunk=first_chunk,
            approval_threshold=approval_threshold,
            count_later=count_later,
        )
        session.refresh(broadcast)
    if journal is not None:
        _journal(
            session,
            journal,
            broadcast,
            "created",
            actor=created_by,
            after={
                "status": str(broadcast.status),
                "recipients": broadcast.recipients,
                "zones": broadcast.zones,
                "area": bool(broadcast.area),
                "channels": broadcast.channels,
                "exercise": broadcast.exercise,
                "template": template,
                "priority": broadcast.priority,
                "origin": broadcast.origin,
                "approved_by": broadcast.approved_by,
                "send_at": broadcast.send_at,
            },
            template=template,
        )
        _journal_started(session, journal, broadcast, actor=created_by, on_started=on_started)
    return Created(broadcast, created=True, audience=audience)


def _move(session: Session, broadcast_id: int, *where: ColumnElement[bool], **values: Any) -> bool:
    """One conditional UPDATE of the broadcast: ``values`` only if it still matches ``where``
    (the UPDATE locks its row); whether it did. Two callers at once: one moves it."""
    moved = session.execute(
        update(Broadcast).where(col(Broadcast.id) == broadcast_id, *where).values(**values)
    )
    return rowcount(moved) == 1


def _insert_once(session: Session, broadcast: Broadcast) -> Broadcast | None:
    """Insert ``broadcast``: None, or the broadcast another transaction stored meanwhile
    under its idempotency key (two rule runs at once: the unique key lets one insert win,
    the other answers the winner)."""
    key = broadcast.idempotency_key
    if not key:
        session.add(broadcast)
        session.flush()
        return None
    try:
        with session.begin_nested():
            session.add(broadcast)
            session.flush()
    except IntegrityError:
        existing = by_idempotency_key(session, key)
        if existing is None:
            raise
        return existing
    return None


def by_idempotency_key(session: Session, key: str) -> Broadcast | None:
    return (
        session.execute(select(Broadcast).where(col(Broadcast.idempotency_key) == key))
        .scalars()
        .first()
    )


def get(session: Session, broadcast_id: int, *, lock: bool = False) -> Broadcast:
    query = select(Broadcast).where(col(Broadcast.id) == broadcast_id)
    if lock:
        query = query.with_for_update()
    found: Broadcast | None = session.execute(query).scalars().first()
    if found is None:
        raise BroadcastNotFound(f"no broadcast {broadcast_id}")
    return found


def approve_broadcast(
    session: Session,
    *,
    broadcast_id: int,
    approver: str,
    zones: ZoneSet,
    queue: MessageQueue,
    now: datetime | None = None,
    first_chunk: int | None = None,
    journal: Journal | None = None,
    on_started: OnStarted | None = None,
) -> Broadcast:
    """The second person's approval: never the drafter; only once."""
    now = now or utcnow()
    broadcast = get(session, broadcast_id, lock=True)
    if broadcast.status != BroadcastStatus.awaiting_approval:
        if broadcast.approved_by:
            raise BroadcastConflict(
                f"broadcast {broadcast_id} was already approved by {broadcast.approved_by} "
                f"(it is {broadcast.status})",
                code="already_approved",
            )
        raise BroadcastConflict(
            f"broadcast {broadcast_id} is {broadcast.status}, not awaiting approval",
            code="not_awaiting_approval",
        )
    if approver == broadcast.created_by:
        raise SelfApproval(
            f"{approver} drafted broadcast {broadcast_id} and may not approve it: a second "
            "person must"
        )
    # Conditional, so two approvers at once cannot both move it on.
    moved = _move(
        session,
        broadcast_id,
        col(Broadcast.status) == BroadcastStatus.awaiting_approval,
        status=BroadcastStatus.scheduled,
        approved_by=approver,
        approved_at=now,
    )
    if not moved:
        raise BroadcastConflict(
            f"broadcast {broadcast_id} was approved meanwhile", code="already_approved"
        )
    session.refresh(broadcast)
    if broadcast.send_at is None or broadcast.send_at <= now:
        start_sending(
            session,
            broadcast_id=broadcast_id,
            zones=zones,
            queue=queue,
            now=now,
            first_chunk=first_chunk,
        )
        session.refresh(broadcast)
    if journal is not None:
        before, after = {"status": "awaiting_approval"}, {"status": str(broadcast.status)}
        _journal(
            session, journal, broadcast, "approved", actor=approver, before=before, after=after
        )
        _journal_started(session, journal, broadcast, actor=approver, on_started=on_started)
    return broadcast


def update_broadcast(
    session: Session,
    *,
    broadcast_id: int,
    editor: str,
    zones: ZoneSet,
    approval_threshold: int,
    messages: Mapping[str, str] | None = None,
    zone_ids: Sequence[str] | None = None,
    area: Mapping[str, Any] | None = None,
    send_at: datetime | None = None,
    needs_approval: bool = False,
    now: datetime | None = None,
) -> tuple[Broadcast, bool]:
    """Change a broadcast not yet started (its texts, target or ``send_at``), by its drafter.

    Any change voids its approval: what was approved is not what would be sent. It is then
    ``awaiting_approval`` if it had been approved, if ``needs_approval`` (its template is not
    pre-approved) or if its audience is now at least the threshold; else ``scheduled``.
    Returns the broadcast and whether an approval was voided."""
    now = now or utcnow()
    broadcast = get(session, broadcast_id, lock=True)
    if broadcast.status not in (BroadcastStatus.awaiting_approval, BroadcastStatus.scheduled):
        raise BroadcastConflict(
            f"broadcast {broadcast_id} is {broadcast.status}: only one not yet started changes",
            code="not_editable",
        )
    if editor != broadcast.created_by:
        raise SelfApproval(
            f"only {broadcast.created_by}, who drafted broadcast {broadcast_id}, may change it "
            "(draft a new one): its approver must be a second person",
            code="not_the_drafter",
        )
    if messages is not None:
        broadcast.messages = check_messages(messages, exercise=broadcast.exercise)
    if zone_ids is not None or area is not None:
        ids = list(zone_ids) if zone_ids is not None else list(broadcast.zones)
        target = resolve_target(zones, ids, area if area is not None else broadcast.area)
        broadcast.zones = list(target.zone_ids)
        broadcast.area = dict(area) if area is not None else broadcast.area
    if send_at is not None:
        broadcast.send_at = check_send_at(send_at, now=now)
    target = resolve_target(zones, broadcast.zones, broadcast.area)
    audience = audience_mod.compute(
        session, target=target, channels=broadcast.channels, exercise=broadcast.exercise
    )
    broadcast.recipients = audience.total
    broadcast.by_language = audience.by_language(LANGUAGES)
    voided = broadcast.approved_by is not None
    broadcast.approved_by = broadcast.approved_at = None
    waits = voided or needs_approval or audience.total >= approval_threshold
    broadcast.status = BroadcastStatus.awaiting_approval if waits else BroadcastStatus.scheduled
    session.add(broadcast)
    session.flush()
    return broadcast, voided


@dataclass
class Cancelled:
    broadcast: Broadcast
    previous_status: str
    messages_cancelled: int


def cancel_broadcast(
    session: Session,
    *,
    broadcast_id: int,
    actor: str,
    now: datetime | None = None,
    journal: Journal | None = None,
) -> Cancelled:
    """Stop what has not left yet: queued messages become cancelled in one UPDATE."""
    now = now or utcnow()
    broadcast = get(session, broadcast_id, lock=True)
    previous = broadcast.status
    if previous not in ACTIVE:
        raise BroadcastConflict(
            f"broadcast {broadcast_id} is already {previous}", code="not_cancellable"
        )
    moved = _move(
        session,
        broadcast_id,
        col(Broadcast.status).in_(ACTIVE),
        status=BroadcastStatus.cancelled,
        cancelled_by=actor,
        cancelled_at=now,
    )
    if not moved:
        raise BroadcastConflict(f"broadcast {broadcast_id} changed meanwhile; try again")
    stopped = rowcount(
        session.execute(
            update(Message)
            .where(
                col(Message.broadcast_id) == broadcast_id,
                col(Message.status).in_([MessageStatus.queued, MessageStatus.held]),
            )
            .values(status=MessageStatus.cancelled, updated_at=now)
        )
    )
    session.refresh(broadcast)
    if journal is not None:
        _journal(
            session,
            journal,
            broadcast,
            "cancelled",
            actor=actor,
            before={"status": str(previous)},
            after={"status": "cancelled", "messages_cancelled": stopped},
            messages_cancelled=stopped,
        )
    return Cancelled(broadcast, str(previous), stopped)


# --- starting to send ----------------------------------------------------------------


@dataclass
class Started:
    broadcast: Broadcast
    messages: int  # the whole audience
    message_ids: list[int]  # the first chunk's, queued after the commit
    seconds_audience: float
    seconds_insert: float
    complete: bool = True  # False: the rest is for finish_audience


def start_sending(
    session: Session,
    *,
    broadcast_id: int,
    zones: ZoneSet,
    queue: MessageQueue,
    now: datetime | None = None,
    audience: Audience | None = None,
    first_chunk: int | None = None,
    journal: Journal | None = None,
    actor: str = "scheduler",
    on_started: OnStarted | None = None,
    approval_threshold: int | None = None,
    count_later: bool = False,
) -> Started | None:
    """Write the broadcast's first outbox rows and queue them after commit; None if it is not
    (or no longer) ``scheduled`` — already sending, cancelled, awaiting approval.

    With ``count_later`` (and ``first_chunk``) the audience is not counted here: the first
    chunk is found with LIMIT queries (:func:`write_next_chunk`), ``recipients`` is what it
    holds until the caller runs :func:`count_audience` after the commit
    (:func:`counted_later` tells it to).

    The audience is computed now (or is ``audience``, computed in this transaction), so
    opt-outs since drafting are respected; ``recipients`` and ``by_language`` count all of it.
    With ``first_chunk``, only that many rows are written here; when more are left,
    ``audience_complete`` is False and the caller runs :func:`finish_audience` after the
    commit (and a periodic one, for a process that stops first). Without it, all of them
    (for a caller with neither). A broadcast that reaches
    nobody is ``completed`` at once (no worker would ever complete it).

    Given ``approval_threshold``, a broadcast nobody approved whose audience is now at least
    that goes back to ``awaiting_approval`` instead, with nothing written (None; journalled
    ``broadcast.awaiting_approval``). A direct send's rows held for approval
    (:func:`send_direct`) are queued as they are.
    """
    now = now or utcnow()
    scheduled = col(Broadcast.status) == BroadcastStatus.scheduled
    if not _move(session, broadcast_id, scheduled, status=BroadcastStatus.sending, started_at=now):
        return None
    broadcast = get(session, broadcast_id)
    session.refresh(broadcast)
    held = _release_held(session, broadcast, queue, now)
    if held is not None:
        if journal is not None:
            _journal_started(session, journal, broadcast, actor=actor, on_started=on_started)
        return held
    t0 = time.perf_counter()
    if count_later and audience is None and first_chunk:
        size = min(first_chunk, FIRST_CHUNK_UNCOUNTED)
        started = _start_from_first_chunk(
            session, broadcast=broadcast, zones=zones, queue=queue, now=now, size=size
        )
        if journal is not None:
            _journal_started(session, journal, broadcast, actor=actor, on_started=on_started)
        return started
    if audience is None:
        target = resolve_target(zones, broadcast.zones, broadcast.area)
        audience = audience_mod.compute(
            session, target=target, channels=broadcast.channels, exercise=broadcast.exercise
        )
    t1 = time.perf_counter()
    if (
        approval_threshold is not None
        and broadcast.approved_by is None
        and audience.total >= approval_threshold
    ):
        # The audience grew past the threshold since it was drafted: a second person first.
        _move(
            session,
            broadcast_id,
            col(Broadcast.status) == BroadcastStatus.sending,
            status=BroadcastStatus.awaiting_approval,
            started_at=None,
            recipients=audience.total,
            by_language=audience.by_language(LANGUAGES),
        )
        session.refresh(broadcast)
        log.warning(
            "broadcast %s: %s recipients now (threshold %s) and not approved: awaiting approval",
            broadcast_id,
            audience.total,
            approval_threshold,
        )
        if journal is not None:
            _journal(
                session,
                journal,
                broadcast,
                "awaiting_approval",
                actor=actor,
                before={"status": "scheduled"},
                after={"status": "awaiting_approval", "recipients": broadcast.recipients},
            )
        return None
    head, cursor = _head(audience, first_chunk)
    store.write_outbox(session, broadcast=broadcast, audience=head, now=now)
    ids = list(
        session.connection()
        .execute(
            select(store.M.c.id)
            .where(store.M.c.broadcast_id == broadcast_id, store.M.c.status == MessageStatus.queued)
            .order_by(store.M.c.id)
        )
        .scalars()
    )
    t2 = time.perf_counter()
    broadcast.recipients = audience.total
    broadcast.by_language = audience.by_language(LANGUAGES)
    broadcast.audience_complete = cursor is None
    broadcast.audience_cursor = cursor
    if not ids and audience.total == 0:
        broadcast.status = BroadcastStatus.completed
        broadcast.completed_at = now
    session.add(broadcast)
    session.flush()
    store.enqueue_after_commit(session, queue, ids, lanes.lane(broadcast.priority))
    if journal is not None:
        _journal_started(session, journal, broadcast, actor=actor, on_started=on_started)
    return Started(broadcast, audience.total, ids, t1 - t0, t2 - t1, complete=cursor is None)


def _release_held(
    session: Session, broadcast: Broadcast, queue: MessageQueue, now: datetime
) -> Started | None:
    """A direct send approved: its held rows queued as they are (None: it has none)."""
    ids = list(
        session.execute(
            select(col(Message.id))
            .where(
                col(Message.broadcast_id) == broadcast.id, col(Message.status) == MessageStatus.held
            )
            .order_by(col(Message.id))
        ).scalars()
    )
    if not ids:
        return None
    session.execute(
        update(Message)
        .where(col(Message.id).in_(ids), col(Message.status) == MessageStatus.held)
        .values(status=MessageStatus.queued, queued_at=now, updated_at=now)
    )
    store.enqueue_after_commit(session, queue, ids, lanes.lane(broadcast.priority))
    return Started(broadcast, len(ids), ids, 0.0, 0.0)


_UNCOUNTED = "alerts_uncounted_broadcasts"  # session.info: started before they were counted


def _start_from_first_chunk(
    session: Session,
    *,
    broadcast: Broadcast,
    zones: ZoneSet,
    queue: MessageQueue,
    now: datetime,
    size: int,
) -> Started:
    """The start of :func:`start_sending` with ``count_later``: the outbox's first chunk."""
    t0 = time.perf_counter()
    stages = [stage for stage in STAGES if stage in broadcast.channels]
    broadcast.audience_complete = not stages
    broadcast.audience_cursor = f"{stages[0]}:0" if stages else None
    session.add(broadcast)
    session.flush()
    ids: list[int] = []
    # Each stage (channel) is a chunk of its own: one with fewer candidates than asked moves
    # on to the next, until `size` rows are written or the audience is complete.
    for _ in range(len(stages) + 1):
        if broadcast.audience_complete or len(ids) >= size:
            break
        chunk = write_next_chunk(
            session,
            broadcast_id=stored_id(broadcast),
            zones=zones,
            queue=queue,
            size=size - len(ids),
            now=now,
        )
        if chunk is None:
            break
        ids += chunk.message_ids
    if broadcast.audience_complete:  # the first chunk was all of it: counted from the outbox
        if not broadcast.recipients:
            broadcast.status = BroadcastStatus.completed
            broadcast.completed_at = now
    else:  # what is known so far; count_audience tells the whole after the commit
        broadcast.recipients = len(ids)
        session.info.setdefault(_UNCOUNTED, set()).add(broadcast.id)
    session.add(broadcast)
    session.flush()
    seconds = time.perf_counter() - t0
    return Started(
        broadcast, broadcast.recipients, ids, 0.0, seconds, complete=broadcast.audience_complete
    )


def counted_later(session: Session, broadcast_id: int) -> bool:
    """Whether this unit of work started the broadcast before counting its audience (the
    caller runs :func:`count_audience` after the commit)."""
    return broadcast_id in session.info.get(_UNCOUNTED, set())


def count_audience(session: Session, *, broadcast_id: int, zones: ZoneSet) -> Broadcast | None:
    """Count the audience of a broadcast started with ``count_later`` (after its commit) and
    store ``recipients`` and ``by_language``; the broadcast, to tell the screens. Once its
    outbox is complete the figures counted from the rows written stand (:func:`write_next_chunk`
    counts them), and are what it returns. None when it was cancelled."""
    broadcast = get(session, broadcast_id)
    if broadcast.status not in (BroadcastStatus.sending, BroadcastStatus.completed):
        return None
    if broadcast.audience_complete:
        return broadcast
    target = resolve_target(zones, broadcast.zones, broadcast.area)
    audience = audience_mod.compute(
        session, target=target, channels=broadcast.channels, exercise=broadcast.exercise
    )
    _move(  # not once the outbox is complete: its own count stands
        session,
        broadcast_id,
        col(Broadcast.audience_complete).is_(False),
        recipients=audience.total,
        by_language=audience.by_language(LANGUAGES),
    )
    session.refresh(broadcast)
    status: str = broadcast.status  # as refreshed: it may have been cancelled meanwhile
    return broadcast if status != BroadcastStatus.cancelled else None


def event_data(broadcast: Broadcast, **extra: Any) -> dict[str, Any]:
    """A life-cycle event's data (``broadcast.created``, ``.started``, …)."""
    return {
        "id": broadcast.id,
        "status": str(broadcast.status),
        "title": broadcast.title,
        "recipients": broadcast.recipients,
        "by_language": broadcast.by_language,
        "channels": broadcast.channels,
        "zones": broadcast.zones,
        "exercise": broadcast.exercise,
        "priority": broadcast.priority,
        "origin": broadcast.origin,
        "created_by": broadcast.created_by,
        "approved_by": broadcast.approved_by,
        "send_at": broadcast.send_at,
        **extra,
    }


def _journal(
    session: Session,
    journal: Journal,
    broadcast: Broadcast,
    step: str,
    *,
    actor: str,
    after: Mapping[str, Any],
    before: Mapping[str, Any] | None = None,
    **event: Any,
) -> None:
    """A life-cycle step (``broadcast.<step>``): audited (``before``, ``after``) and emitted
    (:func:`event_data` and ``event``)."""
    journal.audit(
        session,
        actor=actor,
        action=f"broadcast.{step}",
        target_type="broadcast",
        target_id=stored_id(broadcast),
        before=before,
        after=after,
    )
    journal.emit(session, f"broadcast.{step}", event_data(broadcast, **event))


def _journal_started(
    session: Session,
    journal: Journal,
    broadcast: Broadcast,
    *,
    actor: str,
    on_started: OnStarted | None,
) -> None:
    """A broadcast that went public (sending, or completed at once having reached nobody):
    audited, ``broadcast.started``, the application's step, then ``broadcast.completed``."""
    if broadcast.status not in (BroadcastStatus.sending, BroadcastStatus.completed):
        return
    after = {"recipients": broadcast.recipients, "by_language": broadcast.by_language}
    _journal(
        session,
        journal,
        broadcast,
        "started",
        actor=actor,
        after=after,
        started_at=broadcast.started_at,
    )
    if on_started is not None:
        on_started(session, broadcast)
    if broadcast.status == BroadcastStatus.completed:  # reached nobody: done at once
        journal.emit(
            session,
            "broadcast.completed",
            event_data(broadcast, completed_at=broadcast.completed_at, counts={}),
        )


def _head(audience: Audience, size: int | None) -> tuple[Audience, str | None]:
    """The first ``size`` recipients in the order they are written (push, then SMS, each by
    id), and the cursor after them (None: that is everyone)."""
    if size is None or audience.total <= size:
        return audience, None
    size = max(size, 1)
    pushes = min(size, len(audience.push_ids))
    texts = size - pushes
    head = Audience(
        sms_subscriber_ids=audience.sms_subscriber_ids[:texts],
        sms_phones=audience.sms_phones[:texts],
        sms_languages=audience.sms_languages[:texts],
        push_ids=audience.push_ids[:pushes],
        push_endpoints=audience.push_endpoints[:pushes],
        push_languages=audience.push_languages[:pushes],
    )
    if texts:
        return head, f"{Channel.sms.value}:{audience.sms_subscriber_ids[texts - 1]}"
    return head, f"{Channel.push.value}:{audience.push_ids[pushes - 1]}"


# --- the rest of the audience, in chunks ---------------------------------------------


@dataclass
class ChunkWritten:
    broadcast_id: int
    message_ids: list[int]  # queued after the commit
    complete: bool  # the audience is now all in the outbox


def write_next_chunk(
    session: Session,
    *,
    broadcast_id: int,
    zones: ZoneSet,
    queue: MessageQueue,
    size: int | None = None,
    now: datetime | None = None,
) -> ChunkWritten | None:
    """Write the next chunk of a ``sending`` broadcast's audience in the caller's transaction
    and queue it after the commit; None when there is nothing to write (complete, cancelled,
    not sending).

    The broadcast row is locked first by a conditional UPDATE (a row lock on PostgreSQL, the
    database's write lock on SQLite, and the statement re-checks the state once it has the
    lock), and the cursor is read and advanced under that lock, in the transaction that
    writes the rows: a second writer waits, then starts after this chunk. A chunk looks at
    ``size`` (default :data:`CHUNK`) candidates of one channel; the one that finds fewer moves on to the next
    channel, or completes the audience (and recounts ``recipients`` and ``by_language`` from
    the outbox: who it was really written for).
    """
    now = now or utcnow()
    size = size or CHUNK
    locked = _move(
        session,
        broadcast_id,
        col(Broadcast.status) == BroadcastStatus.sending,
        col(Broadcast.audience_complete).is_(False),
        audience_cursor=col(Broadcast.audience_cursor),
    )
    if not locked:
        return None
    broadcast = (
        session.execute(
            select(Broadcast)
            .where(col(Broadcast.id) == broadcast_id)
            .execution_options(populate_existing=True)
        )
        .scalars()
        .one()
    )
    stages = [stage for stage in STAGES if stage in broadcast.channels]
    stage, _, after = (broadcast.audience_cursor or "").partition(":")
    ids: list[int] = []
    if stage in stages:
        target = resolve_target(zones, broadcast.zones, broadcast.area)
        chunk = audience_mod.compute_chunk(
            session,
            target=target,
            channel=stage,
            exercise=broadcast.exercise,
            after_id=int(after or 0),
            limit=size,
        )
        ids = store.write_chunk(session, broadcast=broadcast, audience=chunk.audience, now=now)
        if chunk.candidates >= size and chunk.last_id is not None:
            cursor: str | None = f"{stage}:{chunk.last_id}"
        else:  # this channel is done
            later = stages[stages.index(stage) + 1 :]
            cursor = f"{later[0]}:0" if later else None
    else:  # pragma: no cover - a cursor this code did not write
        log.error("broadcast %s: unknown audience cursor; marked complete", broadcast_id)
        cursor = None
    broadcast.audience_cursor = cursor
    if cursor is None:
        broadcast.audience_complete = True
        by_language = dict.fromkeys(LANGUAGES, 0)
        for language, count in session.execute(
            select(col(Message.language), func.count())
            .where(col(Message.broadcast_id) == broadcast_id)
            .group_by(col(Message.language))
        ).all():
            by_language[language] = count
        broadcast.recipients = sum(by_language.values())
        broadcast.by_language = by_language
    session.add(broadcast)
    session.flush()
    store.enqueue_after_commit(session, queue, ids, lanes.lane(broadcast.priority))
    return ChunkWritten(broadcast_id, ids, cursor is None)


def finish_audience(
    *,
    unit_of_work: Callable[[], AbstractContextManager[Session]],
    broadcast_id: int,
    zones: ZoneSet,
    queue: MessageQueue,
    size: int | None = None,
    sms_ahead: int | None = None,
    pause: Callable[[], None] | None = None,
) -> int:
    """Write the rest of a broadcast's audience, one transaction per chunk (each queued after
    its commit), until it is complete or no longer ``sending``; returns the rows written.
    Idempotent: what is written is on the broadcast row, so it resumes where any writer
    (this one, another process, one that died) stopped.

    With ``sms_ahead``, an SMS chunk is written only while fewer than that many of the
    broadcast's SMS wait in the outbox (callers pass a minute of the SMS rate ceiling, which
    counts segments: a minute of sending or more): the ceiling sends no faster, and the rest of 200,000 rows written at once cost the machine
    several core-seconds just when field reports pour in (issue 18). Push rows, which no
    ceiling paces, are written first and at once. While the SMS waiting are enough, ``pause()``
    is called before looking again; without it the writer returns (the periodic job, which
    must not hold the scheduler)."""
    written = 0
    while True:
        if sms_ahead is not None:
            with unit_of_work() as session:
                waiting = sms_waiting(session, broadcast_id)
            if waiting is not None and waiting >= sms_ahead:
                if pause is None:
                    return written
                pause()
                continue
        with unit_of_work() as session:
            chunk = write_next_chunk(
                session, broadcast_id=broadcast_id, zones=zones, queue=queue, size=size
            )
        if chunk is None:
            return written
        written += len(chunk.message_ids)
        if chunk.complete:
            log.info(
                "broadcast %s: audience written (%s rows after the start)", broadcast_id, written
            )
            return written


def sms_waiting(session: Session, broadcast_id: int, now: datetime | None = None) -> int | None:
    """How many of a broadcast's SMS wait in the outbox to be sent now (not those waiting out a
    retry), when its next chunk is SMS; None when it is not (push first, or nothing left to
    write, or no longer sending)."""
    state = session.execute(
        select(
            col(Broadcast.status), col(Broadcast.audience_complete), col(Broadcast.audience_cursor)
        ).where(col(Broadcast.id) == broadcast_id)
    ).one_or_none()
    if state is None or state[0] != BroadcastStatus.sending or state[1]:
        return None
    if (state[2] or "").partition(":")[0] != Channel.sms.value:
        return None
    return session.scalar(
        select(func.count())
        .select_from(Message)
        .where(
            col(Message.broadcast_id) == broadcast_id,
            col(Message.status) == MessageStatus.queued,
            col(Message.channel) == Channel.sms,
            or_(
                col(Message.next_attempt_at).is_(None),
                col(Message.next_attempt_at) <= (now or utcnow()),
            ),
        )
    )


def incomplete_audiences(session: Session) -> list[int]:
    """Ids of the broadcasts being sent whose outbox is not all written yet."""
    return list(
        session.execute(
            select(col(Broadcast.id))
            .where(
                col(Broadcast.status) == BroadcastStatus.sending,
                col(Broadcast.audience_complete).is_(False),
            )
            .order_by(col(Broadcast.id))
        ).scalars()
    )


@dataclass(frozen=True)
class DirectRecipient:
    """One named recipient of a direct send: an SMS number, its language and, if it is to
    read something of its own (a personal link), its own text."""

    phone: str
    language: str
    body: str | None = None


def send_direct(
    session: Session,
    *,
    queue: MessageQueue,
    messages: Mapping[str, str],
    recipients: Sequence[DirectRecipient],
    created_by: str,
    idempotency_key: str,
    title: str = "",
    origin: str = "direct",
    exercise: bool = False,
    now: datetime | None = None,
    journal: Journal | None = None,
    priority: str = lanes.EMERGENCY,
    approval_threshold: int | None = None,
) -> Created:
    """SMS to a short list of named people (the liaison contacts), not to an audience of
    zones: the broadcast goes straight to ``sending``, its rows are written to the outbox
    (one per number, each with its own text when given) and queued after the commit.

    No approval for a few people who asked for these messages; given ``approval_threshold``,
    a list at least that long waits for a second person (``awaiting_approval``, its rows
    ``held``: :func:`approve_broadcast` queues them). ``idempotency_key`` is required: the same key again returns the first broadcast and
    writes nothing (``created=False``); the outbox's unique (broadcast, number) backs it.
    """
    now = now or utcnow()
    existing = by_idempotency_key(session, idempotency_key)
    if existing is not None:
        return Created(existing, created=False)
    texts = {lang: text for lang, text in messages.items() if text}
    rows: dict[str, DirectRecipient] = {}
    for r in recipients:  # a number listed twice gets one message
        rows.setdefault(r.phone, r)
    by_language = dict.fromkeys(LANGUAGES, 0)
    for r in rows.values():
        by_language[r.language] = by_language.get(r.language, 0) + 1
    wait = approval_threshold is not None and bool(rows) and len(rows) >= approval_threshold
    broadcast = Broadcast(
        status=(
            BroadcastStatus.awaiting_approval
            if wait
            else BroadcastStatus.sending
            if rows
            else BroadcastStatus.completed
        ),
        title=title[:200],
        messages=texts,
        zones=[],
        channels=[Channel.sms.value],
        exercise=exercise,
        priority=check_priority(priority),
        recipients=len(rows),
        by_language=by_language,
        origin=origin[:120],
        idempotency_key=idempotency_key,
        created_by=created_by[:120],
        created_at=now,
        approved_by=None if wait else created_by[:120],
        approved_at=None if wait else now,
        started_at=None if wait else now,
        completed_at=None if rows else now,
    )
    existing = _insert_once(session, broadcast)
    if existing is not None:
        return Created(existing, created=False)
    messages_rows = []
    for r in rows.values():
        body = r.body or texts.get(r.language) or next(iter(texts.values()), "")
        messages_rows.append(
            Message(
                broadcast_id=stored_id(broadcast),
                channel=Channel.sms,
                dedupe_key=f"sms:{r.phone}",
                address=r.phone,
                language=r.language,
                body=r.body,
                segments=sms_text.segments(body),
                status=MessageStatus.held if wait else MessageStatus.queued,
                queued_at=now,
                updated_at=now,
            )
        )
    session.add_all(messages_rows)
    session.flush()
    if not wait:
        store.enqueue_after_commit(
            session, queue, [stored_id(m) for m in messages_rows], lanes.lane(priority)
        )
    if journal is not None:
        # Which people, by count only: numbers and personal texts (links) stay out of the log.
        _journal(
            session,
            journal,
            broadcast,
            "created",
            actor=created_by,
            after={
                "status": str(broadcast.status),
                "recipients": broadcast.recipients,
                "channels": broadcast.channels,
                "exercise": broadcast.exercise,
                "origin": broadcast.origin,
                "direct": True,
            },
            direct=True,
        )
        if wait:  # its start is journalled when it is approved
            return Created(broadcast, created=True)
        started = event_data(broadcast, started_at=broadcast.started_at)
        journal.emit(session, "broadcast.started", started)
        if broadcast.status == BroadcastStatus.completed:  # nobody with a number
            done = event_data(broadcast, completed_at=broadcast.completed_at, counts={})
            journal.emit(session, "broadcast.completed", done)
    return Created(broadcast, created=True)


def due_scheduled(session: Session, *, now: datetime | None = None) -> list[int]:
    """Ids of scheduled broadcasts whose time has come (for the safety job)."""
    now = now or utcnow()
    return list(
        session.execute(
            select(col(Broadcast.id))
            .where(
                col(Broadcast.status) == BroadcastStatus.scheduled,
                (col(Broadcast.send_at).is_(None)) | (col(Broadcast.send_at) <= now),
            )
            .order_by(col(Broadcast.id))
        ).scalars()
    )


# --- reading -------------------------------------------------------------------------

COUNT_KEYS = ("queued", "sending", "sent", "delivered", "failed", "cancelled")


def counts(session: Session, broadcast_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """Messages by status, per broadcast (each message counted once, in its current state)."""
    out = {bid: dict.fromkeys(COUNT_KEYS, 0) for bid in broadcast_ids}
    if not out:
        return out
    rows = session.execute(
        select(col(Message.broadcast_id), col(Message.status), func.count())
        .where(col(Message.broadcast_id).in_(list(out)))
        .group_by(col(Message.broadcast_id), col(Message.status))
    ).all()
    for bid, status, count in rows:
        out[bid][str(status)] = count
    return out


def list_broadcasts(
    session: Session, *, status: str | None = None, limit: int = 50, before_id: int | None = None
) -> list[Broadcast]:
    query = select(Broadcast).order_by(col(Broadcast.id).desc()).limit(limit)
    if status:
        query = query.where(col(Broadcast.status) == status)
    if before_id:
        query = query.where(col(Broadcast.id) < before_id)
    return list(session.execute(query).scalars())
