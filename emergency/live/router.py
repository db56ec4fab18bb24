"""WS /ws/live?token=…[&since=N]: snapshot, then every event, in seq order, as the caller's role
may read them (emergency.visibility). The caller is an API token, or a browser signed in with
a password (its session cookie, from our own pages only)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, WebSocket

from emergency import visibility
from emergency.auth import service as auth_service
from emergency.auth.sessions import service as session_service
from emergency.db import Database
from emergency.live.hub import CLOSE_UNAUTHORIZED
from emergency.situation import service as situation_service

router = APIRouter(tags=["live"])


@router.websocket("/ws/live")
async def live(ws: WebSocket, token: str = "", since: int | None = None) -> None:
    state = ws.app.state
    await ws.accept()
    found = await asyncio.to_thread(_caller, state.db, ws, token)
    if found is None:
        await ws.close(code=CLOSE_UNAUTHORIZED, reason="missing, invalid or revoked token")
        return
    role, credential = found
    if since is not None and since < 0:
        await ws.close(code=1008, reason="since must be ≥ 0")
        return

    def snapshot() -> tuple[dict[str, Any], int]:
        data, seq = situation_service.snapshot_with_seq(
            state.db, catalogue=state.catalogue, app_state=state
        )
        return visibility.situation_for(data, role), seq

    await state.hub.serve(ws, since=since, snapshot_fn=snapshot, role=role, credential=credential)


def _caller(db: Database, ws: WebSocket, token: str) -> tuple[str, str] | None:
    """(role, credential key) of the caller: `token:<id>` or `session:<id>` (what the hub
    counts websockets by, and checks for revocation)."""
    with db.session() as session:
        if token:
            found = auth_service.authenticate(session, token)
            return (str(found.user.role), found.key) if found else None
        login = session_service.login_for_websocket(
            session, cookie=ws.cookies.get(session_service.COOKIE), headers=ws.headers
        )
        return (str(login[0].role), f"session:{login[1].id}") if login else None
