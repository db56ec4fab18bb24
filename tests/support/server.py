"""Running the real app with uvicorn on a free loopback port, inside the test process."""

from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager

import httpx
import uvicorn


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RunningApp:
    def __init__(self, app, port: int) -> None:
        self.app = app
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}"
        self.client = httpx.Client(base_url=self.url, timeout=30)
        self._tokens: dict[str, str] = {}

    @property
    def db(self):
        return self.app.state.db

    def token(self, role: str, name: str | None = None) -> str:
        """A new user with `role` (cached per role unless a name is given)."""
        from emergency.auth import service as auth_service

        if name is None and role in self._tokens:
            return self._tokens[role]
        import uuid

        with self.db.unit_of_work() as session:
            _, token = auth_service.create_user(
                session, name=name or f"{role}-{uuid.uuid4().hex[:6]}", role=role, actor="test"
            )
        if name is None:
            self._tokens[role] = token
        return token

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role)}"}


@contextmanager
def run(settings, **app_kwargs):
    from emergency.app import create_app

    app = create_app(settings, **app_kwargs)
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_config=None,
        ws_ping_interval=20,
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the app did not start")
        time.sleep(0.02)
    running = RunningApp(app, port)
    try:
        yield running
    finally:
        running.client.close()
        server.should_exit = True
        thread.join(timeout=15)
