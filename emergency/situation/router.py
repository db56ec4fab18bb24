"""GET /api/v1/situation (reality) and GET /api/v1/situation?exercise=true (the drills)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from emergency import visibility
from emergency.auth.dependencies import Reader, SessionDep
from emergency.dependencies import CatalogueDep
from emergency.situation import service as situation_service
from emergency.situation.schemas import Situation

router = APIRouter(prefix="/api/v1", tags=["situation"])


@router.get("/situation")
def get_situation(
    user: Reader,
    session: SessionDep,
    catalogue: CatalogueDep,
    request: Request,
    exercise: bool = False,
) -> Situation:
    """Everything the command center shows, of reality; `?exercise=true`: of the drills only;
    personal details as the caller's role may read them (emergency.visibility)."""
    data = situation_service.build(
        session, catalogue=catalogue, app_state=request.app.state, exercise=exercise
    )
    return Situation.model_validate(visibility.situation_for(data, user.role))
