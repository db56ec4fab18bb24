"""What `alerts` writes beside its own rows, without knowing the application: a `Journal`
records an audit entry, emits an event and runs a step after the commit, each in the
caller's unit of work. The application passes its own (emergency.journal: the hash-chained
audit log, the event table and its live hub); tests pass `RecordingJournal`.

`after_commit` is the one after-commit hook of the code base: a step that must not run for a
transaction that rolls back (queueing outbox rows, scheduling a timed job, writing the rest
of an audience). "Commits" means the root transaction: SQLAlchemy also fires ``after_commit``
when a savepoint (``session.begin_nested()``) is released, and rows written inside one (a
rule's broadcast, a liaison notice's SMS) are not visible to another connection until the
outer transaction commits; a step run then would find nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from sqlalchemy import event
from sqlmodel import Session

log = logging.getLogger(__name__)


def after_commit(session: Session, step: Callable[[], None], *, repaired_by: str = "") -> None:
    """Run ``step`` once, when ``session``'s root transaction commits (never on a rollback).

    ``repaired_by``: what repairs a step that fails (a periodic job); given, a failure is
    logged, since the transaction is committed and its caller has nothing to undo. Not
    given, the failure reaches the code that committed."""
    done = False

    def run(committed: Session) -> None:
        nonlocal done
        if done or committed.in_nested_transaction():  # a savepoint released: not yet
            return
        done = True
        if not repaired_by:
            step()
            return
        try:
            step()
        except Exception:
            log.exception("an after-commit step failed; %s repairs it", repaired_by)

    event.listen(session, "after_commit", run)


class Journal(Protocol):
    """The application's record of what alerts did (see the module's docstring)."""

    def audit(
        self,
        session: Session,
        *,
        actor: str,
        action: str,
        target_type: str,
        target_id: str | int,
        before: Any = None,
        after: Any = None,
    ) -> None: ...

    def emit(self, session: Session, type: str, data: dict[str, Any]) -> object:
        """Emit an event; what it returns (the data as stored, say) is the application's."""
        ...


class RecordingJournal:
    """A journal for tests of alerts alone: keeps what it is given."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.audits: list[dict[str, Any]] = []

    def audit(self, session: Session, **entry: Any) -> None:
        self.audits.append(entry)

    def emit(self, session: Session, type: str, data: Mapping[str, Any]) -> None:
        self.events.append((type, dict(data)))
