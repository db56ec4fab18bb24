"""Every job of the service, listed in one place: the periodic ones (plain, idempotent
functions taking the process's Runtime; the active scheduler runs them) and the timed one-off
ones, by the name the job store keeps (emergency.scheduler.JsonJobStore)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from emergency import idempotency
from emergency.alarms import scheduled as alarm_jobs
from emergency.audit import scheduled as audit_jobs
from emergency.broadcasts import scheduled as broadcast_jobs
from emergency.dispatch import scheduled as dispatch_jobs
from emergency.feeds import scheduled as feed_jobs
from emergency.liaison import scheduled as liaison_jobs
from emergency.liveness import HEARTBEAT_KEY
from emergency.privacy import scheduled as privacy_jobs
from emergency.rules import scheduled as rule_jobs
from emergency.runtime import Runtime
from emergency.settings import Settings
from emergency.signals import scheduled as signal_jobs


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    func: Callable[..., object]
    every: Callable[[Settings], float]

    def seconds(self, settings: Settings) -> float:
        return self.every(settings)


def heartbeat(*, runtime: Runtime) -> None:
    """Records that the active scheduler is alive (shown by `typhoon health scheduler`)."""
    if runtime.settings.redis_url:
        runtime.redis().set(runtime.settings.redis_key(HEARTBEAT_KEY), "1", ex=30)


# One-off jobs kept in the database by name (never pickled); their kwargs are JSON values.
TIMED_JOBS: dict[str, Callable[..., object]] = {
    "broadcast.start": broadcast_jobs.start_broadcast,
}

PERIODIC_JOBS: list[PeriodicJob] = [
    PeriodicJob("heartbeat", heartbeat, lambda s: 5.0),
    PeriodicJob(
        "broadcasts-start-due",
        broadcast_jobs.start_due_broadcasts,
        lambda s: broadcast_jobs.START_DUE_EVERY,
    ),
    PeriodicJob(
        "broadcasts-finish-audience",
        broadcast_jobs.finish_audiences,
        lambda s: broadcast_jobs.FINISH_AUDIENCES_EVERY,
    ),
    PeriodicJob(
        "receipts-apply-pending",
        broadcast_jobs.apply_pending_receipts,
        lambda s: broadcast_jobs.RECEIPTS_EVERY,
    ),
    PeriodicJob(
        "liaison-escalate",
        liaison_jobs.escalate_unacknowledged,
        lambda s: liaison_jobs.ESCALATE_EVERY,
    ),
    PeriodicJob(
        "alarms-escalate",
        alarm_jobs.escalate_unacknowledged,
        lambda s: alarm_jobs.ESCALATE_EVERY,
    ),
    PeriodicJob(
        "rules-delayed-actions", rule_jobs.run_delayed_actions, lambda s: rule_jobs.RUN_DUE_EVERY
    ),
    PeriodicJob("signals-expire", signal_jobs.expire_signals, lambda s: signal_jobs.EXPIRE_EVERY),
    PeriodicJob("feeds-poll", feed_jobs.poll_feeds, feed_jobs.tick_seconds),
    PeriodicJob(
        "dispatch-reconcile",
        dispatch_jobs.reconcile_outbox,
        lambda s: dispatch_jobs.RECONCILE_EVERY,
    ),
    PeriodicJob("retention-purge", privacy_jobs.purge, lambda s: privacy_jobs.PURGE_EVERY),
    PeriodicJob("audit-anchor", audit_jobs.write_anchor, lambda s: audit_jobs.ANCHOR_EVERY),
    PeriodicJob("idempotency-purge", idempotency.purge_job, lambda s: idempotency.PURGE_EVERY),
    PeriodicJob(
        "dispatch-degraded-sweep",
        dispatch_jobs.sweep_degraded,
        lambda s: dispatch_jobs.SWEEP_EVERY,
    ),
    PeriodicJob(
        "dispatch-progress",
        dispatch_jobs.broadcast_progress,
        lambda s: dispatch_jobs.PROGRESS_EVERY,
    ),
]
