"""What a route that shows records shows: reality's, or the drills' (emergency.drills)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from emergency.auth.dependencies import CurrentUser, SessionDep
from emergency.drills import service as drill_service


def drill_view(user: CurrentUser, session: SessionDep, exercise: bool = False) -> bool:
    """The drill's records: asked for with `?exercise=true`, or always for a drill user."""
    return drill_service.is_drill(session, user, exercise)


DrillView = Annotated[bool, Depends(drill_view)]
