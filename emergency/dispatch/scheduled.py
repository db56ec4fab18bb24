"""Periodic dispatch jobs (listed in emergency.scheduled.PERIODIC_JOBS; the active scheduler
runs them, so there is one of each at a time across all processes)."""

from __future__ import annotations

from alerts.dispatch.progress import ProgressTracker, run_ticks
from alerts.dispatch.reconcile import reconcile
from emergency.audit import service as audit_service
from emergency.dispatch import service as dispatch_service
from emergency.events import service as event_service

RECONCILE_EVERY = 5.0
PROGRESS_EVERY = 1.0  # the job ticks four times within its second
PROGRESS_INTERVAL = 0.25
DEAD_WORKER_AFTER = 15.0  # seconds a claim of a worker gone from the registry is left alone


def reconcile_outbox(*, runtime) -> None:
    """Re-queue lost ids; reclaim dead workers' claims after asking the provider."""
    settings = runtime.settings
    reconcile(
        unit_of_work=runtime.db.unit_of_work,
        queue=runtime.queue,
        providers=lambda: dispatch_service.build_dispatch_providers(runtime, pool_size=20),
        live_workers=dispatch_service.live_workers(runtime),
        grace=settings.queue_min_idle,
        claim_timeout=settings.claim_timeout,
        dead_after=min(settings.claim_timeout, DEAD_WORKER_AFTER),
    )


def broadcast_progress(*, runtime) -> None:
    """`broadcast.progress` a few times a second per broadcast being sent; completion."""
    tracker = runtime.extras.setdefault("dispatch_progress", ProgressTracker())
    run_ticks(
        unit_of_work=runtime.db.unit_of_work,
        tracker=tracker,
        emit=event_service.emit,
        audit=audit_service.record,
        seconds=PROGRESS_EVERY - PROGRESS_INTERVAL / 2,
        interval=PROGRESS_INTERVAL,
    )
