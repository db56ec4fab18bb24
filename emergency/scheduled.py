"""Every periodic job of the service, listed in one place. Each is a plain, idempotent function
taking the process's Runtime; the active scheduler runs them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from emergency.broadcasts import scheduled as broadcast_jobs
from emergency.dispatch import scheduled as dispatch_jobs
from emergency.feeds import scheduled as feed_jobs
from emergency.liaison import scheduled as liaison_jobs
from emergency.rules import scheduled as rule_jobs
from emergency.scheduler import HEARTBEAT_KEY
from emergency.settings import Settings
from emergency.signals import scheduled as signal_jobs


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    func: Callable
    every: Callable[[Settings], float]

    def seconds(self, settings: Settings) -> float:
        return self.every(settings)


def heartbeat(*, runtime) -> None:
    """Records that the active scheduler is alive (shown by `typhoon health scheduler`)."""
    if runtime.settings.redis_url:
        import redis

        client = redis.Redis.from_url(runtime.settings.redis_url, socket_timeout=5)
        client.set(runtime.settings.redis_key(HEARTBEAT_KEY), "1", ex=30)
        client.close()


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
        "rules-delayed-actions", rule_jobs.run_delayed_actions, lambda s: rule_jobs.RUN_DUE_EVERY
    ),
    PeriodicJob("signals-expire", signal_jobs.expire_signals, lambda s: signal_jobs.EXPIRE_EVERY),
    PeriodicJob("feeds-poll", feed_jobs.poll_feeds, feed_jobs.tick_seconds),
    PeriodicJob(
        "dispatch-reconcile",
        dispatch_jobs.reconcile_outbox,
        lambda s: dispatch_jobs.RECONCILE_EVERY,
    ),
    PeriodicJob(
        "dispatch-progress",
        dispatch_jobs.broadcast_progress,
        lambda s: dispatch_jobs.PROGRESS_EVERY,
    ),
]
