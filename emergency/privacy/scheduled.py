"""The retention purge, run by the active scheduler every PURGE_EVERY seconds (README "Data
protection" lists what goes when)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from emergency.privacy import service as privacy_service

if TYPE_CHECKING:
    from emergency.runtime import Runtime

PURGE_EVERY = 3600.0


def purge(*, runtime: Runtime) -> None:
    privacy_service.purge(runtime.db, settings=runtime.settings)
