"""WS /ws/live?token=…[&since=N]: snapshot, then every event, in seq order."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket

from emergency.auth import service as auth_service
from emergency.live.hub import CLOSE_UNAUTHORIZED
from emergency.situation import service as situation_service

router = APIRouter(tags=["live"])


@router.websocket("/ws/live")
async def live(ws: WebSocket, token: str = "", since: int | None = None) -> None:
    state = ws.app.state
    await ws.accept()
    with state.db.session() as session:
        user = auth_service.user_for_token(session, token)
    if user is None:
        await ws.close(code=CLOSE_UNAUTHORIZED, reason="missing or invalid token")
        return
    if since is not None and since < 0:
        await ws.close(code=1008, reason="since must be ≥ 0")
        return
    await state.hub.serve(
        ws,
        since=since,
        snapshot_fn=lambda: situation_service.snapshot_with_seq(
            state.db, catalogue=state.catalogue, app_state=state
        ),
    )
