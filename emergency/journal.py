"""The application's `Journal` (alerts.journal): what alerts does is recorded in the
hash-chained audit log (emergency.audit) and emitted as events (emergency.events: the event
table, then /ws/live), in the caller's unit of work."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from emergency.audit import service as audit_service
from emergency.events import service as event_service


class AppJournal:
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
    ) -> None:
        audit_service.record(
            session,
            actor=actor,
            action=action,
            target_type=target_type,
            target_id=target_id,
            before=before,
            after=after,
        )

    def emit(self, session: Session, type: str, data: dict[str, Any]) -> None:
        event_service.emit(session, type, data)


JOURNAL = AppJournal()
