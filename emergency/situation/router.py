"""GET /api/v1/situation."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from emergency.auth.dependencies import Reader, SessionDep
from emergency.dependencies import CatalogueDep
from emergency.situation import service as situation_service

router = APIRouter(prefix="/api/v1", tags=["situation"])


@router.get("/situation")
def get_situation(
    user: Reader, session: SessionDep, catalogue: CatalogueDep, request: Request
) -> dict[str, Any]:
    return situation_service.build(session, catalogue=catalogue, app_state=request.app.state)
