"""Handing stored outbox rows to the queue, only once they are committed.

A message is enqueued after the transaction that created it commits: a rolled-back broadcast
queues nothing, and a crash between commit and enqueue is repaired by the reconciler, which
re-queues rows still `queued` (the claim step makes a second enqueue harmless).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import event
from sqlmodel import Session

from alerts.dispatch.queue import MessageQueue


def enqueue_after_commit(session: Session, queue: MessageQueue, message_ids: Sequence[int]) -> None:
    ids = list(message_ids)
    if not ids:
        return
    event.listen(session, "after_commit", lambda _s: queue.enqueue(ids), once=True)
