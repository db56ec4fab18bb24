"""Handing stored outbox rows to the queue, only once they are committed.

A message is enqueued after the transaction that created it commits: a rolled-back broadcast
queues nothing, and a crash between commit and enqueue is repaired by the reconciler, which
re-queues rows still `queued` (the claim step makes a second enqueue harmless).

"Commits" means the root transaction: SQLAlchemy also fires ``after_commit`` when a
savepoint (``session.begin_nested()``) is released, and rows written inside one (a rule's
broadcast, a liaison notice's SMS) are not visible to a worker until the outer transaction
commits. Enqueued then, a worker finds nothing to claim, drops the ids, and the messages
wait for the reconciler (30 s; up to 30 min while another broadcast keeps the queue busy).
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
    done = False

    def enqueue(committed: Session) -> None:
        nonlocal done
        if done or committed.in_nested_transaction():  # a savepoint released: not yet
            return
        done = True
        queue.enqueue(ids)

    event.listen(session, "after_commit", enqueue)
