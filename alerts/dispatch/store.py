"""The outbox: one ``message`` row per recipient and channel, from its bulk write to its
result. Writing a broadcast's rows (:func:`write_outbox`, :func:`write_chunk`), handing them
to the queue once committed (:func:`enqueue_after_commit`), and dispatch's SQL: claiming
rows, storing results, finding stuck rows.

Synchronous functions on a caller's Session (the worker runs them in a thread, one session
per batch). They use SQLAlchemy Core on the tables, not ORM objects: a worker handles
thousands of rows a second and needs only a few columns of each.

The claim is the only gate to sending: one conditional UPDATE moves ``queued`` rows to
``sending`` for one worker, so an id delivered twice by the queue, or claimed by two
workers at once, is sent once. A cancelled broadcast's rows are never claimed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    String,
    any_,
    bindparam,
    cast,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from alerts import text as sms_text
from alerts.broadcasts.audience import Audience
from alerts.dispatch.lanes import LANES, NORMAL, Priority, lane
from alerts.dispatch.queue import MessageQueue
from alerts.journal import after_commit
from alerts.models import (
    Broadcast,
    BroadcastStatus,
    Channel,
    Message,
    MessageStatus,
    PushSubscription,
    Subscriber,
)
from alerts.sqltypes import rowcount, table_of, utcnow
from alerts.subscribers.service import endpoint_key, remove_push_subscription

log = logging.getLogger(__name__)

M = table_of(Message)
B = table_of(Broadcast)
P = table_of(PushSubscription)
S = table_of(Subscriber)

QUEUED, SENDING = MessageStatus.queued.value, MessageStatus.sending.value
SENT, FAILED, CANCELLED = MessageStatus.sent.value, MessageStatus.failed.value, "cancelled"


@dataclass(slots=True)
class Claimed:
    """What a worker needs of one claimed row (no ORM object)."""

    id: int
    broadcast_id: int
    channel: str
    address: str
    language: str
    segments: int
    attempts: int
    subscriber_id: int | None
    push_subscription_id: int | None
    queued_at: Any  # as the driver returns it (text on SQLite): see as_utc()
    body: str | None = None  # the row's own text, else the broadcast's (Message.body)
    entry: Any = None  # the worker's bookkeeping (which queue entry it came from)


@dataclass(slots=True)
class BroadcastInfo:
    id: int
    status: str
    messages: dict[str, str]
    title: str
    exercise: bool
    priority: Priority = NORMAL


@dataclass(slots=True)
class ClaimOutcome:
    claimed: list[Claimed]
    deferred: dict[int, datetime] = field(default_factory=dict)  # id → its next_attempt_at
    broadcasts: dict[int, BroadcastInfo] = field(default_factory=dict)
    push_keys: dict[int, dict[str, Any]] = field(default_factory=dict)


@dataclass(slots=True)
class Triage:
    """What a batch of queued ids needs, found without claiming anything."""

    claimable: set[int] = field(default_factory=set)  # queued, due, broadcast not cancelled
    deferred: dict[int, datetime] = field(default_factory=dict)  # queued, due later
    cancelled: int = 0  # queued rows of a cancelled broadcast, marked cancelled now


@dataclass(slots=True)
class Result:
    """One attempt's outcome, to be stored. ``kind`` is what happens to the row:

    sent · failed · retry (back to queued at ``next_attempt_at``) · cancelled (its broadcast
    was cancelled before it left) · release (not sent: back to queued now, e.g. shutdown) ·
    unresolved (ambiguous and the provider could not tell: stays ``sending``; the reconciler
    looks it up again after the claim timeout) · dropped (nothing to store: a claim of this
    worker that a newer claim of the same row superseded, after the reconciler took it over).
    """

    id: int
    kind: str
    provider_id: str | None = None
    provider_status: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    next_attempt_at: datetime | None = None
    opted_out_subscriber: int | None = None
    gone_subscription: int | None = None
    entry: Any = None


_RETURNING = (
    M.c.id,
    M.c.broadcast_id,
    M.c.channel,
    M.c.address,
    M.c.language,
    M.c.segments,
    M.c.attempts,
    M.c.subscriber_id,
    M.c.push_subscription_id,
    M.c.queued_at,
    M.c.body,
)
_CANCELLED_BROADCASTS = select(B.c.id).where(B.c.status == BroadcastStatus.cancelled.value)

# The two statements on the hot path are plain SQL with values converted once per batch:
# SQLAlchemy's per-row parameter processing would hold the GIL that the sending loop needs.
# A claim retried after an error of unknown outcome (the connection dropped while COMMIT was
# on its way) takes again the rows its own earlier attempt claimed: same worker, same `now`
# stamped in updated_at, still `sending`. Those never reached a sender (the attempt returned
# nothing), so taking them is safe; without it they waited for the reconciler's claim timeout.
#
# The rows are found by their ids alone: the status test is a CASE, which no index serves.
# Written as (status = 'queued' AND …) OR (status = 'sending' AND …), PostgreSQL's planner
# (statistics lagging behind a freshly written outbox say "one queued row") read the whole
# queued range of ix_message_status_next_attempt for every claim and ANDed it with the ids:
# 200,000 index entries, ~8 ms of the server's CPU for a claim of a few rows.
_CLAIM_SQL = (
    "UPDATE message SET status = 'sending', claimed_by = {p}, claimed_at = {claimed_at}, "
    "attempts = attempts + CASE WHEN status = 'queued' THEN 1 ELSE 0 END, updated_at = {p} "
    "WHERE id = {ids} AND CASE status "
    "WHEN 'queued' THEN (next_attempt_at IS NULL OR next_attempt_at <= {p}) "
    "WHEN 'sending' THEN (claimed_by = {p} AND updated_at = {p}) ELSE FALSE END "
    "AND broadcast_id NOT IN (SELECT id FROM broadcast WHERE status = 'cancelled') "
    "RETURNING id, broadcast_id, channel, address, language, segments, attempts, "
    "subscriber_id, push_subscription_id, queued_at, body"
)
_SENT_SQL = (
    "WITH v(id, pid, pst) AS (VALUES {rows}) "
    "UPDATE message SET status = 'sent', provider_id = v.pid, provider_status = v.pst, "
    "sent_at = {p}, updated_at = {p}, error_code = NULL, error_message = NULL "
    "FROM v WHERE message.id = v.id AND message.status IN ('queued', 'sending')"
)
_SENT_CHUNK = 1000


def _db_time(dialect: Any, moment: datetime) -> Any:
    """A datetime as the driver stores it in a UTCDateTime column (naive UTC text on SQLite)."""
    processor = M.c.updated_at.type.bind_processor(dialect)
    return processor(moment) if processor else moment


def as_utc(value: Any) -> datetime | None:
    """A stored time as an aware datetime (the driver gives text on SQLite)."""
    if value is None or isinstance(value, datetime):
        return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)  # SQLite text


def record_sent(session: Session, sent: Sequence[Result], *, now: datetime) -> None:
    """``sent`` results: one UPDATE … FROM (VALUES …) per thousand rows."""
    conn = session.connection()
    pg = conn.dialect.name == "postgresql"
    p = "%s" if pg else "?"
    when = _db_time(conn.dialect, now)
    for first in range(0, len(sent), _SENT_CHUNK):
        chunk = sent[first : first + _SENT_CHUNK]
        rows = ",".join([f"({p}, {p}, {p})"] * len(chunk))
        if pg:  # VALUES needs its column types spelled out once
            rows = f"({p}::bigint, {p}::varchar, {p}::varchar)" + rows[len(f"({p}, {p}, {p})") :]
        params: list[Any] = []
        for r in chunk:
            params += (r.id, _trim(r.provider_id, 80), _trim(r.provider_status, 20))
        params += (when, when)
        conn.exec_driver_sql(_SENT_SQL.format(rows=rows, p=p), tuple(params))


def claim(
    session: Session,
    ids: Sequence[int],
    *,
    worker_id: str,
    now: datetime,
    known_broadcasts: Iterable[int] = (),
) -> ClaimOutcome:
    """Claim the ``queued`` rows among ``ids`` that are due, for ``worker_id`` (and, on a retry
    with the same ``now``, the rows its own lost attempt claimed: see _CLAIM_SQL).

    Also returns the broadcasts' texts (those not in ``known_broadcasts``), push keys for
    push rows, and the due time of rows that are queued but not yet due (a retry enqueued
    early), so the worker can come back for them at the right time.
    """
    conn = session.connection()
    dialect = conn.dialect
    when = _db_time(dialect, now)
    ids = list(ids)
    if dialect.name == "postgresql":
        # The claim's time is the database's (one clock for every worker and the reconciler
        # that judges claims by their age), not this host's.
        sql = _CLAIM_SQL.format(ids="ANY(%s)", p="%s", claimed_at="now()")
        params = (worker_id, when, ids, when, worker_id, when)
    else:  # one host: its clock is the only one
        sql = _CLAIM_SQL.format(ids="(" + ",".join("?" * len(ids)) + ")", p="?", claimed_at="?")
        sql = sql.replace("id = (", "id IN (")
        params = (worker_id, when, when, *ids, when, worker_id, when)
    rows = conn.exec_driver_sql(sql, params).fetchall()
    outcome = ClaimOutcome([Claimed(*row) for row in rows])
    if len(rows) < len(ids):
        _sort_out_unclaimed(session, ids, {r[0] for r in rows}, outcome, now)
    known = set(known_broadcasts)
    wanted = {c.broadcast_id for c in outcome.claimed} - known
    if wanted:
        outcome.broadcasts = load_broadcasts(session, wanted)
    push_ids = {c.push_subscription_id for c in outcome.claimed if c.channel == "push"}
    push_ids.discard(None)
    if push_ids:
        found = session.execute(
            select(P.c.id, P.c.endpoint, P.c.p256dh, P.c.auth).where(P.c.id.in_(push_ids))
        ).all()
        outcome.push_keys = {
            pid: {"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": auth}}
            for pid, endpoint, p256dh, auth in found
        }
    return outcome


def _sort_out_unclaimed(
    session: Session, ids: Sequence[int], claimed: set[int], outcome: ClaimOutcome, now: datetime
) -> None:
    rest = [i for i in ids if i not in claimed]
    # Claimable ones here changed hands since the UPDATE: whoever re-queued them enqueues them.
    outcome.deferred.update(triage(session, rest, now=now).deferred)


_TRIAGE_CHUNK_SQLITE = 5000  # under SQLite's 32,766 bound variables


def triage(session: Session, ids: Sequence[int], *, now: datetime) -> Triage:
    """Sort queue ids without claiming them: one indexed read per batch, however many ids.

    The worker runs it on a large batch of queue entries at once when entries turn out to
    need nothing (a cancelled broadcast's, or already sent), so skipping costs one query per
    hundreds of entries instead of a claim per entry. Ids absent from the answer are done
    (sent, failed, cancelled, or claimed by someone): nothing to do for them. Queued rows
    of a cancelled broadcast (a retry that came back after the cancel) are marked cancelled.
    Read-only otherwise: the claim stays the only gate to sending.
    """
    outcome = Triage()
    ids = list(dict.fromkeys(ids))
    if not ids:
        return outcome
    if session.connection().dialect.name == "postgresql":
        # One text parameter made an array by the server: binding 50,000 ids as a list (or
        # an expanding IN) costs the worker's process 2-5x more than the query itself.
        listed = bindparam("ids", ",".join(map(str, ids)), type_=String)
        filters = [M.c.id == any_(cast(func.string_to_array(listed, ","), ARRAY(BigInteger)))]
    else:
        filters = [
            M.c.id.in_(ids[i : i + _TRIAGE_CHUNK_SQLITE])
            for i in range(0, len(ids), _TRIAGE_CHUNK_SQLITE)
        ]
    cancelled: list[int] = []
    for among in filters:
        rows = session.execute(
            select(M.c.id, M.c.next_attempt_at, B.c.status)
            .select_from(M.join(B, B.c.id == M.c.broadcast_id))
            .where(among, M.c.status == QUEUED)
        ).all()
        for message_id, next_attempt_at, broadcast_status in rows:
            if broadcast_status == BroadcastStatus.cancelled.value:
                cancelled.append(message_id)
            elif next_attempt_at is not None and next_attempt_at > now:
                outcome.deferred[message_id] = next_attempt_at
            else:
                outcome.claimable.add(message_id)
    for first in range(0, len(cancelled), _TRIAGE_CHUNK_SQLITE):
        chunk = cancelled[first : first + _TRIAGE_CHUNK_SQLITE]
        answer = session.execute(
            update(M)
            .where(M.c.id.in_(chunk), M.c.status == QUEUED)
            .values(status=CANCELLED, updated_at=now)
        )
        outcome.cancelled += rowcount(answer)
    return outcome


def load_broadcasts(session: Session, ids: Iterable[int]) -> dict[int, BroadcastInfo]:
    rows = session.execute(
        select(B.c.id, B.c.status, B.c.messages, B.c.title, B.c.exercise, B.c.priority).where(
            B.c.id.in_(list(ids))
        )
    ).all()
    return {
        r[0]: BroadcastInfo(r[0], r[1], dict(r[2] or {}), r[3] or "", bool(r[4]), lane(r[5]))
        for r in rows
    }


def by_lane(session: Session, ids: Sequence[int]) -> dict[Priority, list[int]]:
    """Message ids grouped by the lane of their broadcast (for re-queueing them)."""
    out: dict[Priority, list[int]] = {}
    ids = list(ids)
    for first in range(0, len(ids), _TRIAGE_CHUNK_SQLITE):
        rows = session.execute(
            select(M.c.id, B.c.priority)
            .select_from(M.join(B, B.c.id == M.c.broadcast_id))
            .where(M.c.id.in_(ids[first : first + _TRIAGE_CHUNK_SQLITE]))
        ).all()
        for message_id, priority in rows:
            out.setdefault(lane(priority), []).append(message_id)
    return out


def broadcast_statuses(session: Session, ids: Iterable[int]) -> dict[int, str]:
    rows = session.execute(select(B.c.id, B.c.status).where(B.c.id.in_(list(ids)))).all()
    return {r[0]: r[1] for r in rows}


# -- results --------------------------------------------------------------------------------

_SENT = (
    update(M)
    .where(M.c.id == bindparam("mid"), or_(M.c.status == SENDING, M.c.status == QUEUED))
    .values(
        status=SENT,
        provider_id=bindparam("pid"),
        provider_status=bindparam("pst"),
        sent_at=bindparam("at"),
        updated_at=bindparam("at2"),
        error_code=None,
        error_message=None,
    )
)


def _mine(worker_id_param: str = "wid") -> Any:
    return (
        (M.c.id == bindparam("mid"))
        & (M.c.status == SENDING)
        & (M.c.claimed_by == bindparam(worker_id_param))
    )


_FAILED = (
    update(M)
    .where(_mine())
    .values(
        status=FAILED,
        provider_id=bindparam("pid"),
        provider_status=bindparam("pst"),
        error_code=bindparam("code"),
        error_message=bindparam("text"),
        updated_at=bindparam("at"),
    )
)
_RETRY = (
    update(M)
    .where(_mine())
    .values(
        status=QUEUED,
        claimed_by=None,
        next_attempt_at=bindparam("due"),
        provider_status=bindparam("pst"),
        error_code=bindparam("code"),
        error_message=bindparam("text"),
        updated_at=bindparam("at"),
    )
)
_CANCEL = update(M).where(_mine()).values(status=CANCELLED, updated_at=bindparam("at"))
_RELEASE = (
    update(M)
    .where(_mine())
    .values(status=QUEUED, claimed_by=None, attempts=M.c.attempts - 1, updated_at=bindparam("at"))
)
_UNRESOLVED = (
    update(M).where(_mine()).values(error_code=bindparam("code"), error_message=bindparam("text"))
)


def _trim(text: str | None, size: int) -> str | None:
    return text[:size] if text else text


def record(session: Session, results: Sequence[Result], *, worker_id: str, now: datetime) -> None:
    """Store a batch of results in the caller's transaction.

    ``sent`` wins over ``queued``/``sending`` whoever claimed the row (the provider has it:
    that must never be forgotten, even if the reconciler re-queued the row meanwhile);
    every other change applies only while the row is still this worker's claim.
    """
    by_kind: dict[str, list[dict[str, Any]]] = {}
    opted_out: set[int] = set()
    gone: set[int] = set()
    for r in results:
        params: dict[str, Any] = {"mid": r.id}
        if r.kind == "sent":
            pass  # record_sent
        else:
            params.update(wid=worker_id, at=now)
            if r.kind == "failed":
                params.update(pid=_trim(r.provider_id, 80), pst=_trim(r.provider_status, 20))
            if r.kind in ("failed", "retry", "unresolved"):
                params.update(code=_trim(r.error_code, 20), text=_trim(r.error_message, 300))
            if r.kind == "retry":
                params.update(due=r.next_attempt_at, pst=_trim(r.provider_status, 20))
        by_kind.setdefault(r.kind, []).append(params)
        if r.opted_out_subscriber is not None:
            opted_out.add(r.opted_out_subscriber)
        if r.gone_subscription is not None:
            gone.add(r.gone_subscription)
    statements = {
        "sent": _SENT,
        "failed": _FAILED,
        "retry": _RETRY,
        "cancelled": _CANCEL,
        "release": _RELEASE,
        "unresolved": _UNRESOLVED,
    }
    for kind, params_list in by_kind.items():
        if kind not in ("sent", "dropped"):
            session.execute(statements[kind], params_list)
    sent = [r for r in results if r.kind == "sent"]
    if sent:
        record_sent(session, sent, now=now)
    if opted_out:
        mark_opted_out(session, opted_out, now=now)
    if gone:
        remove_push_subscriptions(session, gone)


def renew_claims(
    session: Session, ids: Sequence[int], *, worker_id: str, now: datetime
) -> list[int]:
    """Renew this worker's claims on ``ids`` (``claimed_at`` = now): the reconciler reclaims
    only claims older than its timeouts, so a live worker's are never taken from it. Returns
    the ids still claimed by this worker (the others were taken over, or finished)."""
    answer = session.execute(
        update(M)
        .where(M.c.id.in_(list(ids)), M.c.status == SENDING, M.c.claimed_by == worker_id)
        .values(claimed_at=_claim_time(session, now))
        .returning(M.c.id)
    )
    return list(answer.scalars())


def _claim_time(session: Session, now: datetime) -> Any:
    """What `claimed_at` is set to: the database's clock on PostgreSQL (see `claim`)."""
    return func.now() if session.get_bind().dialect.name == "postgresql" else now


def database_now(session: Session) -> datetime:
    """The database's clock (PostgreSQL), else this host's: what claims' ages are judged by."""
    if session.get_bind().dialect.name == "postgresql":
        value: datetime = session.execute(select(func.now())).scalar_one()
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return utcnow()


def mark_opted_out(session: Session, subscriber_ids: Iterable[int], *, now: datetime) -> None:
    """The provider says this number unsubscribed (STOP): never target it again."""
    session.execute(
        update(S)
        .where(S.c.id.in_(list(subscriber_ids)), S.c.opted_out.is_(False))
        .values(opted_out=True, opted_out_at=now, updated_at=now)
    )


def remove_push_subscriptions(session: Session, subscription_ids: Iterable[int]) -> None:
    """The push service says these subscriptions are gone (404/410): delete them, by the
    subscribers service's rule (messages still queued for one fail; every message keeps its
    endpoint as its address)."""
    for subscription_id in subscription_ids:
        remove_push_subscription(session, subscription_id)


def fail_messages(
    session: Session, ids: Sequence[int], *, code: str, text: str, now: datetime
) -> int:
    """Mark not-yet-final rows failed (a parked queue entry's messages)."""
    answer = session.execute(
        update(M)
        .where(M.c.id.in_(list(ids)), or_(M.c.status == QUEUED, M.c.status == SENDING))
        .values(status=FAILED, error_code=code[:20], error_message=text[:300], updated_at=now)
    )
    return rowcount(answer)


def due_queued(
    session: Session, *, now: datetime, limit: int, lanes: Sequence[Priority] = LANES
) -> list[int]:
    """Ids a claim would take now (queued, due, their broadcast not cancelled), the highest
    lane first and oldest first within a lane: the work itself, read from the outbox while
    the queue cannot be reached (an evacuation order never waits behind bulk, Redis or not)."""
    ids: list[int] = []
    for priority in [p for p in LANES if p in lanes]:
        if len(ids) >= limit:
            break
        if priority == NORMAL:  # whatever is not in a higher lane (as `lane()` reads it)
            in_lane = M.c.broadcast_id.not_in(
                select(B.c.id).where(B.c.priority.in_([p for p in LANES if p != NORMAL]))
            )
        else:
            in_lane = M.c.broadcast_id.in_(select(B.c.id).where(B.c.priority == priority))
        ids += session.execute(
            select(M.c.id)
            .where(
                M.c.status == QUEUED,
                or_(M.c.next_attempt_at.is_(None), M.c.next_attempt_at <= now),
                M.c.broadcast_id.not_in(_CANCELLED_BROADCASTS),
                in_lane,
            )
            .order_by(M.c.id)
            .limit(limit - len(ids))
        ).scalars()
    return ids


def fail_poison(
    session: Session, ids: Sequence[int], *, min_attempts: int, code: str, text: str, now: datetime
) -> list[int]:
    """Mark failed the not-yet-final rows among ``ids`` that this database has seen claimed
    ``min_attempts`` times or more (a queue entry that keeps coming back): the database's
    own count decides, never the queue's delivery count. Returns the ids marked."""
    answer = session.execute(
        update(M)
        .where(
            M.c.id.in_(list(ids)),
            or_(M.c.status == QUEUED, M.c.status == SENDING),
            M.c.attempts >= min_attempts,
        )
        .values(status=FAILED, error_code=code[:20], error_message=text[:300], updated_at=now)
        .returning(M.c.id)
    )
    return [int(i) for i in answer.scalars()]


# -- reconciliation ------------------------------------------------------------------------


def stale_queued(session: Session, *, cutoff: datetime, now: datetime, limit: int) -> list[int]:
    """Queued rows that are due and have not been touched since ``cutoff``: nobody holds
    them (a crash between commit and enqueue, a lost queue, a worker that died with a retry
    timer). Touching ``updated_at`` makes the next run leave them alone for a while."""
    ids = list(
        session.execute(
            select(M.c.id)
            .where(
                M.c.status == QUEUED,
                or_(M.c.next_attempt_at.is_(None), M.c.next_attempt_at <= cutoff),
                M.c.updated_at <= cutoff,
            )
            .order_by(M.c.id)
            .limit(limit)
        ).scalars()
    )
    if ids:
        session.execute(
            update(M).where(M.c.id.in_(ids), M.c.status == QUEUED).values(updated_at=now)
        )
    return ids


@dataclass(slots=True)
class Stuck:
    id: int
    broadcast_id: int
    channel: str
    address: str
    language: str
    claimed_by: str | None
    claimed_at: datetime | None
    queued_at: datetime | None
    push_subscription_id: int | None
    body: str | None = None  # the row's own text, else the broadcast's


def stuck_sending(
    session: Session,
    *,
    timeout_cutoff: datetime,
    dead_cutoff: datetime | None,
    live_workers: set[str] | None,
    limit: int,
) -> list[Stuck]:
    """Rows in ``sending`` whose worker is gone: claimed before ``timeout_cutoff``, or
    claimed before ``dead_cutoff`` by a worker that is not in ``live_workers``."""
    condition = M.c.claimed_at <= timeout_cutoff
    if live_workers is not None and dead_cutoff is not None:
        dead = M.c.claimed_at <= dead_cutoff
        if live_workers:
            dead = dead & (M.c.claimed_by.is_(None) | M.c.claimed_by.not_in(list(live_workers)))
        condition = condition | dead
    rows = session.execute(
        select(
            M.c.id,
            M.c.broadcast_id,
            M.c.channel,
            M.c.address,
            M.c.language,
            M.c.claimed_by,
            M.c.claimed_at,
            M.c.queued_at,
            M.c.push_subscription_id,
            M.c.body,
        )
        .where(M.c.status == SENDING, condition | M.c.claimed_at.is_(None))
        .order_by(M.c.claimed_at)
        .limit(limit)
    ).all()
    return [Stuck(*row) for row in rows]


def settle_stuck(
    session: Session,
    row: Stuck,
    *,
    kind: str,
    now: datetime,
    provider_id: str | None = None,
    provider_status: str | None = None,
    error_code: str | None = None,
) -> bool:
    """Apply the reconciler's verdict to one stuck row, only if nobody touched it since:
    ``sent`` (the provider has it), ``failed``, ``requeue`` (it never left), ``later`` (the
    provider could not tell: look again after another claim timeout)."""
    guard = (
        (M.c.id == row.id)
        & (M.c.status == SENDING)
        & (
            M.c.claimed_by.is_(None)
            if row.claimed_by is None
            else (M.c.claimed_by == row.claimed_by)
        )
    )
    if row.claimed_at is not None:
        guard = guard & (M.c.claimed_at == row.claimed_at)
    if kind == "sent":
        values: dict[str, Any] = dict(
            status=SENT, provider_id=provider_id, provider_status=provider_status, sent_at=now
        )
    elif kind == "failed":
        values = dict(
            status=FAILED,
            provider_id=provider_id,
            provider_status=provider_status,
            error_code=error_code,
            error_message="reconciled: the provider reports it failed",
        )
    elif kind == "requeue":
        values = dict(status=QUEUED, claimed_by=None, next_attempt_at=None)
    elif kind == "later":
        values = dict(claimed_at=now)
    else:
        raise ValueError(kind)
    return bool(rowcount(session.execute(update(M).where(guard).values(updated_at=now, **values))))


def count_by_status(session: Session, broadcast_id: int) -> dict[str, int]:
    """One GROUP BY on ix_message_broadcast_status."""
    rows = session.execute(
        select(M.c.status, func.count())
        .where(M.c.broadcast_id == broadcast_id)
        .group_by(M.c.status)
    ).all()
    return {status: int(n) for status, n in rows}


# --- writing the outbox ----------------------------------------------------------------------


def enqueue_after_commit(
    session: Session, queue: MessageQueue, message_ids: Sequence[int], priority: Priority = NORMAL
) -> None:
    """``message_ids`` to ``queue`` in the lane of ``priority`` (their broadcast's) once the root
    transaction of ``session`` has committed.

    A rolled-back broadcast queues nothing, and a crash between commit and enqueue is
    repaired by the reconciler, which re-queues rows still ``queued`` (the claim makes a
    second enqueue harmless). "Commits" means the root transaction (alerts.journal.after_commit):
    rows written inside a savepoint are not visible to a worker until the outer transaction
    commits; enqueued before, a worker would find nothing to claim, drop the ids, and the
    messages would wait for the reconciler.
    """
    ids = list(message_ids)
    if ids:
        after_commit(session, lambda: queue.enqueue(ids, priority))


def write_outbox(
    session: Session, *, broadcast: Broadcast, audience: Audience, now: datetime
) -> None:
    """Bulk INSERT of one outbox row per recipient (push first: it is instant and free).

    Through the driver, in the session's transaction: PostgreSQL ``COPY`` (psycopg runs it in
    C; executemany would still send one INSERT per row), SQLite's C ``executemany`` over a
    generator (no list of 200,000 dicts, no per-row SQLAlchemy bind processing: the one
    timestamp is rendered once). The unique (broadcast_id, dedupe_key) stays the guard: a
    duplicate fails the whole transaction rather than send anything twice.
    """
    bind = session.connection()
    dialect = bind.dialect
    if dialect.name == "postgresql":
        stamp: Any = now
    else:
        processor = M.c.queued_at.type._cached_bind_processor(dialect)
        stamp = processor(now) if processor else now
    rows = _rows(broadcast, audience, stamp)
    raw: Any = bind.connection.driver_connection  # psycopg's or sqlite3's own connection
    columns = ", ".join(_COPY_COLUMNS)
    if dialect.name == "postgresql":
        with raw.cursor() as cursor, cursor.copy(f"COPY message ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    cursor = raw.cursor()
    try:
        marks = ", ".join("?" for _ in _COPY_COLUMNS)
        cursor.executemany(f"INSERT INTO message ({columns}) VALUES ({marks})", rows)
    finally:
        cursor.close()


def _rows(broadcast: Broadcast, audience: Audience, stamp: Any) -> Iterator[tuple[Any, ...]]:
    """The outbox rows of ``audience``, in _COPY_COLUMNS order (push first)."""
    segments = {lang: sms_text.segments(text) for lang, text in broadcast.messages.items()}
    queued, sms, push = MessageStatus.queued.value, Channel.sms.value, Channel.push.value
    bid = broadcast.id
    for pid, endpoint, lang in zip(
        audience.push_ids, audience.push_endpoints, audience.push_languages, strict=True
    ):
        yield (
            bid,
            push,
            None,
            pid,
            endpoint_key(endpoint),
            endpoint,
            lang,
            1,
            queued,
            0,
            stamp,
            stamp,
        )
    for sid, phone, lang in zip(
        audience.sms_subscriber_ids, audience.sms_phones, audience.sms_languages, strict=True
    ):
        yield (
            bid,
            sms,
            sid,
            None,
            f"sms:{phone}",
            phone,
            lang,
            segments[lang],
            queued,
            0,
            stamp,
            stamp,
        )


_COPY_COLUMNS = (
    "broadcast_id",
    "channel",
    "subscriber_id",
    "push_subscription_id",
    "dedupe_key",
    "address",
    "language",
    "segments",
    "status",
    "attempts",
    "queued_at",
    "updated_at",
)


def write_chunk(
    session: Session, *, broadcast: Broadcast, audience: Audience, now: datetime
) -> list[int]:
    """:func:`write_outbox`, conflict-safe; returns the new rows' ids.

    The lock and the cursor keep a chunk from being written twice; a row that is there all
    the same (a phone number that moved from one subscriber to a later one) must not fail the
    chunk for ever: on a unique violation the chunk is written again row by row, skipping
    the rows already there. The ids are those above the highest id before the write (ids
    only grow, and nobody else writes this broadcast's rows while it is locked).
    """
    if not audience.total:
        return []
    before = session.execute(select(func.coalesce(func.max(M.c.id), 0))).scalar_one()
    bind = session.connection()
    try:
        with session.begin_nested():
            write_outbox(session, broadcast=broadcast, audience=audience, now=now)
    except (IntegrityError, bind.dialect.loaded_dbapi.IntegrityError):
        log.warning("broadcast %s: a chunk met rows already written; skipping them", broadcast.id)
        _insert_skipping_duplicates(session, broadcast=broadcast, audience=audience, now=now)
    # By the primary key alone (a range of the newest rows); the broadcast is picked here: an
    # index on broadcast_id would walk all its earlier rows for every chunk.
    rows = session.connection().execute(
        select(M.c.id, M.c.broadcast_id).where(M.c.id > before).order_by(M.c.id)
    )
    return [message_id for message_id, bid in rows if bid == broadcast.id]


def _insert_skipping_duplicates(
    session: Session, *, broadcast: Broadcast, audience: Audience, now: datetime
) -> None:
    postgresql = session.connection().dialect.name == "postgresql"
    insert = postgresql_insert if postgresql else sqlite_insert
    rows = [dict(zip(_COPY_COLUMNS, row, strict=True)) for row in _rows(broadcast, audience, now)]
    session.execute(
        insert(M).on_conflict_do_nothing(index_elements=["broadcast_id", "dedupe_key"]),
        rows,
    )
