"""Timed and periodic jobs of broadcasts.

- `start_broadcast(broadcast_id=…)`: the one-off job of a broadcast with `send_at`, kept in
  the scheduler's persistent job store (it survives a restart), job id `broadcast-<id>`.
- `start_due_broadcasts(runtime=…)`: every few seconds, starts every `scheduled` broadcast
  whose time has come — the safety net for a job that was lost (a crash between the commit
  and adding the job, a process that had no scheduler). Starting is a conditional UPDATE
  (`scheduled` → `sending`), so the job and the safety net never both start one broadcast.
- `finish_audiences(runtime=…)`: every few seconds, writes the rest of the outbox of any
  broadcast being sent whose audience is not all written (the process that started it
  stopped between chunks), SMS up to a minute of the rate ceiling ahead (the rest at later
  runs). Chunks lock the broadcast and advance its cursor, so this job and the starting
  process's own writer never write a chunk twice.
- `apply_pending_receipts(runtime=…)`: status callbacks that came before their message had
  its provider id.
"""

from __future__ import annotations

import logging
from datetime import datetime

from alerts import receipts
from alerts.broadcasts import service as core
from emergency.broadcasts import service as broadcast_service
from emergency.runtime import Runtime

log = logging.getLogger(__name__)

START_DUE_EVERY = 10.0
FINISH_AUDIENCES_EVERY = 10.0
RECEIPTS_EVERY = 15.0


def start_broadcast(*, runtime: Runtime, broadcast_id: int) -> None:
    """One-off job (module-level, so the job store can name it)."""
    with runtime.db.unit_of_work() as session:
        started = broadcast_service.start_broadcast(
            session, broadcast_id=broadcast_id, runtime=runtime
        )
    if started is not None:
        log.info(
            "broadcast %s started at its time (%s recipients)", broadcast_id, started.recipients
        )


def start_due_broadcasts(*, runtime: Runtime, now: datetime | None = None) -> int:
    with runtime.db.session() as session:
        due = core.due_scheduled(session, now=now)
    count = 0
    for broadcast_id in due:
        with runtime.db.unit_of_work() as session:
            if (
                broadcast_service.start_broadcast(
                    session,
                    broadcast_id=broadcast_id,
                    actor="scheduler-safety-net",
                    runtime=runtime,
                )
                is not None
            ):
                count += 1
                log.warning(
                    "broadcast %s started by the safety job (its timed job was lost)", broadcast_id
                )
    return count


def finish_audiences(*, runtime: Runtime) -> int:
    with runtime.db.session() as session:
        unfinished = core.incomplete_audiences(session)
    written = 0
    for broadcast_id in unfinished:
        rows = broadcast_service.finish_audience(runtime, broadcast_id)
        if rows:  # (most runs write nothing: a minute of SMS is waiting)
            log.info("broadcast %s: %s more rows of its outbox written", broadcast_id, rows)
        written += rows
    return written


def apply_pending_receipts(*, runtime: Runtime) -> int:
    with runtime.db.unit_of_work() as session:
        return receipts.apply_pending(session)
