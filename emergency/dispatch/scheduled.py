"""Periodic dispatch jobs (listed in emergency.scheduled.PERIODIC_JOBS; the active scheduler
runs them, so there is one of each at a time across all processes)."""

from __future__ import annotations

from alerts.dispatch.progress import run_ticks
from alerts.dispatch.reconcile import reconcile
from emergency.dispatch import service as dispatch_service
from emergency.dispatch import status as degraded_status
from emergency.journal import JOURNAL
from emergency.runtime import Runtime

RECONCILE_EVERY = 5.0
PROGRESS_EVERY = 1.0  # the job ticks four times within its second
PROGRESS_INTERVAL = 0.25
SWEEP_EVERY = 10.0  # workers gone while degraded: dropped from the screens' banner


def reconcile_outbox(*, runtime: Runtime) -> None:
    """Re-queue lost ids; reclaim dead workers' claims after asking the provider."""
    settings = runtime.settings
    reconcile(
        unit_of_work=runtime.db.unit_of_work,
        queue=runtime.queue,
        providers=lambda: dispatch_service.build_dispatch_providers(runtime, pool_size=20),
        live_workers=dispatch_service.live_workers(runtime),
        grace=settings.queue_min_idle,
        claim_timeout=settings.claim_timeout,
        dead_after=min(settings.claim_timeout, dispatch_service.DEAD_WORKER_AFTER),
    )


def broadcast_progress(*, runtime: Runtime) -> None:
    """`broadcast.progress` a few times a second per broadcast being sent; completion."""
    run_ticks(
        unit_of_work=runtime.db.unit_of_work,
        tracker=runtime.progress,
        journal=JOURNAL,
        seconds=PROGRESS_EVERY - PROGRESS_INTERVAL / 2,
        interval=PROGRESS_INTERVAL,
    )


def sweep_degraded(*, runtime: Runtime) -> None:
    """Workers that died while sending without Redis: no longer listed, on open screens too."""
    with runtime.db.unit_of_work() as session:
        degraded_status.sweep_gone(session)
