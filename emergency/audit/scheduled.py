"""The audit anchor, kept fresh: every ANCHOR_EVERY seconds the active scheduler writes the
chain's latest row to TYPHOON_AUDIT_ANCHOR_FILE (nothing when it is unset)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from emergency.audit import service as audit_service

if TYPE_CHECKING:
    from emergency.runtime import Runtime

log = logging.getLogger(__name__)

ANCHOR_EVERY = 30.0


def write_anchor(*, runtime: Runtime) -> None:
    path = runtime.settings.audit_anchor_file
    if path is None:
        return
    try:
        with runtime.db.session() as session:
            audit_service.write_anchor(session, path)
    except audit_service.AnchorError as exc:
        # The database is behind the anchor: a restore nobody accepted. Never overwrite the
        # evidence; say so every time until someone looks.
        log.error("audit anchor not written: %s", exc)
