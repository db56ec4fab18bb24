"""Progress of the broadcasts being sent, and their completion (exactly once).

A few times a second, for each broadcast in ``sending``: one GROUP BY on
``ix_message_broadcast_status`` gives the counts; the rate (messages finished per second
over the last few seconds) comes from this process's recent samples; the ETA is what is
left over that rate. A ``broadcast.progress`` event is emitted when something changed (and
every few seconds anyway, so a screen that joins sees it move).

When nothing is left ``queued`` or ``sending``, a conditional UPDATE (``WHERE status =
'sending'`` and its audience is all in the outbox) marks the broadcast completed: only the
tick whose UPDATE changed the row records the audit entry and emits ``broadcast.completed``,
so it happens once even with two schedulers overlapping during a hand-over.

``alerts`` does not know the application's events or audit log: a ``Journal``
(alerts.journal) is passed in.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlmodel import Session

from alerts.dispatch.store import B, count_by_status
from alerts.journal import Journal
from alerts.models import BroadcastStatus
from alerts.sqltypes import utcnow

log = logging.getLogger(__name__)

STATUSES = ("queued", "sending", "sent", "delivered", "failed", "cancelled")
FINISHED = ("sent", "delivered", "failed", "cancelled")
ACTOR = "dispatch"


@dataclass
class ProgressTracker:
    """What a progress emitter remembers between ticks (one per process)."""

    window: float = 5.0  # seconds of history for the rate
    keepalive: float = 3.0  # emit at least this often while sending
    samples: dict[int, deque[tuple[float, int]]] = field(default_factory=dict)
    last: dict[int, tuple[tuple[int, ...], float]] = field(default_factory=dict)

    def rate(self, broadcast_id: int, now: float, finished: int) -> float:
        history = self.samples.setdefault(broadcast_id, deque())
        history.append((now, finished))
        while len(history) > 2 and now - history[0][0] > self.window:
            history.popleft()
        first_t, first_n = history[0]
        if now - first_t < 0.2:
            return 0.0
        return max(0.0, (finished - first_n) / (now - first_t))

    def should_emit(self, broadcast_id: int, counts: tuple[int, ...], now: float) -> bool:
        previous = self.last.get(broadcast_id)
        if previous is not None and previous[0] == counts and now - previous[1] < self.keepalive:
            return False
        self.last[broadcast_id] = (counts, now)
        return True

    def forget(self, broadcast_id: int) -> None:
        self.samples.pop(broadcast_id, None)
        self.last.pop(broadcast_id, None)


def counts_of(raw: dict[str, int]) -> dict[str, int]:
    counts = {status: int(raw.get(status, 0)) for status in STATUSES}
    counts["total"] = sum(raw.values())
    return counts


def tick(
    session: Session,
    *,
    tracker: ProgressTracker,
    journal: Journal,
    now: float | None = None,
) -> list[dict[str, Any]]:
    """One round over the broadcasts in ``sending``; returns the progress it computed.

    Call inside a unit of work: the events and the audit entry commit with the completion.
    """
    now = time.monotonic() if now is None else now
    sending = list(
        session.execute(
            select(B.c.id).where(B.c.status == BroadcastStatus.sending.value).order_by(B.c.id)
        ).scalars()
    )
    for gone in set(tracker.samples) - set(sending):
        tracker.forget(gone)
    report = []
    for broadcast_id in sending:
        counts = counts_of(count_by_status(session, broadcast_id))
        finished = sum(counts[s] for s in FINISHED)
        left = counts["queued"] + counts["sending"]
        rate = tracker.rate(broadcast_id, now, finished)
        data = {
            "id": broadcast_id,
            "counts": counts,
            "rate": round(rate, 1),
            "eta_seconds": round(left / rate, 1)
            if rate > 0 and left
            else (0 if not left else None),
        }
        report.append(data)
        if left == 0:
            _complete(session, broadcast_id, data, journal)
            tracker.forget(broadcast_id)
            continue
        if tracker.should_emit(broadcast_id, tuple(counts.values()), now):
            journal.emit(session, "broadcast.progress", data)
    return report


def _complete(session: Session, broadcast_id: int, data: dict[str, Any], journal: Journal) -> bool:
    at = utcnow()
    result = session.execute(
        update(B)
        .where(
            B.c.id == broadcast_id,
            B.c.status == BroadcastStatus.sending.value,
            B.c.audience_complete.is_(True),  # not while chunks of its outbox are to come
        )
        .values(status=BroadcastStatus.completed.value, completed_at=at)
    )
    if not cast("CursorResult[Any]", result).rowcount:  # an UPDATE's result
        return False
    journal.emit(session, "broadcast.progress", data)
    journal.audit(
        session,
        actor=ACTOR,
        action="broadcast.completed",
        target_type="broadcast",
        target_id=broadcast_id,
        before={"status": BroadcastStatus.sending.value},
        after={"status": BroadcastStatus.completed.value, "counts": data["counts"]},
    )
    journal.emit(
        session,
        "broadcast.completed",
        {"id": broadcast_id, "status": "completed", "counts": data["counts"], "completed_at": at},
    )
    log.info("broadcast %s completed: %s", broadcast_id, data["counts"])
    return True


def run_ticks(
    *,
    unit_of_work: Callable[[], AbstractContextManager[Session]],
    tracker: ProgressTracker,
    journal: Journal,
    seconds: float,
    interval: float = 0.25,
    should_stop: Callable[[], bool] = lambda: False,
) -> int:
    """Tick every ``interval`` for about ``seconds`` (a periodic job's body); returns ticks.
    Returns at once when no broadcast is being sent (one query per run when idle)."""
    end = time.monotonic() + seconds
    ticks = 0
    while not should_stop():
        started = time.monotonic()
        try:
            with unit_of_work() as session:
                report = tick(session, tracker=tracker, journal=journal)
        except Exception as exc:  # the database is restarting: the next tick tries again
            log.warning("progress tick failed (%s: %s)", type(exc).__name__, str(exc)[:200])
            report = None
        ticks += 1
        if report == []:
            break
        next_at = started + interval
        if next_at >= end:
            break
        time.sleep(max(0.0, next_at - time.monotonic()))
    return ticks
