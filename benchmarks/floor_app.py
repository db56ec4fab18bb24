"""The floor the load benchmarks compare against: a trivial FastAPI app on the same stack as
ours (uvicorn, uvloop, httptools, Starlette websockets), doing nothing but the transport.

- ``POST /echo``: a JSON body checked by a pydantic model shaped like a field report, answered
  201 with the same model (no database, no auth): the least any endpoint costs.
- ``WS /ws``: accepts, sends nothing until ``POST /emit`` (any JSON), which is sent to every
  connected client (each client its own ``send_text``; no queue, no backpressure): a bare
  websocket fan-out.

    python -m uvicorn benchmarks.floor_app:app --port 8123
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from pydantic import BaseModel

app = FastAPI()
clients: set[WebSocket] = set()


class Report(BaseModel):
    kind: str
    lat: float | None = None
    lon: float | None = None
    note: str | None = None
    hazard_kind: str | None = None
    severity: str | None = None


@app.post("/echo", status_code=201)
def echo(body: Report) -> Report:
    return body


@app.get("/healthz")
def healthz() -> dict[str, bool]:
    return {"ok": True}


@app.websocket("/ws")
async def ws(socket: WebSocket) -> None:
    await socket.accept()
    clients.add(socket)
    try:
        while True:
            await socket.receive_text()
    except WebSocketDisconnect:
        pass
    finally:
        clients.discard(socket)


async def _send(socket: WebSocket, text: str) -> None:
    try:
        await socket.send_text(text)
    except Exception:  # a client gone mid-send: the bare floor just drops it
        clients.discard(socket)


@app.post("/emit")
async def emit(message: dict[str, Any]) -> dict[str, int]:
    text = json.dumps(message)
    targets = list(clients)
    await asyncio.gather(*(_send(s, text) for s in targets))
    return {"sent": len(targets)}
