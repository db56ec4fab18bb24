"""The application's `Journal` (alerts.journal): what alerts does is recorded in the
hash-chained audit log (emergency.audit) and emitted as events (emergency.events: the event
table, then /ws/live), in the caller's unit of work."""

from __future__ import annotations

from emergency.audit import service as audit_service
from emergency.events import service as event_service


class AppJournal:
    """The journal is the application's own audit and event services, as they are."""

    audit = staticmethod(audit_service.record)
    emit = staticmethod(event_service.emit)


JOURNAL = AppJournal()
