"""Fixtures of the field-operation tests: the real app with its own data dir, and helpers."""

from __future__ import annotations

import pytest

from tests.conftest import app_fixture, build_settings

LIANHUA = (22.140, 113.540)  # a point in the Lianhua community (GEOGRAPHY.md)
XIAOHENGQIN = (22.115, 113.525)
GUANGZHOU = (23.13, 113.26)  # far outside the operating area


# `app`: the real app on a free port, photos under a temporary TYPHOON_DATA_DIR (emptied
# between tests like the database).
app = app_fixture("app", lambda request, url, data: build_settings(url, TYPHOON_DATA_DIR=str(data)))


class Api:
    """Short calls: api.get(path, role), api.post(path, body, role)."""

    def __init__(self, app) -> None:
        self.app = app

    def get(self, path, role="viewer", **kw):
        return self.app.client.get(path, headers=self.app.auth(role), **kw)

    def post(self, path, body=None, role="operator", headers=None, **kw):
        return self.app.client.post(
            path, headers={**self.app.auth(role), **(headers or {})}, json=body, **kw
        )

    def put(self, path, body=None, role="operator", **kw):
        return self.app.client.put(path, headers=self.app.auth(role), json=body, **kw)

    def ok(self, response, status=200):
        assert response.status_code == status, response.text
        return response.json()


@pytest.fixture
def api(app) -> Api:
    return Api(app)


def events_of(app, type_: str, since: int = 0) -> list[dict]:
    from emergency.events import service as event_service

    with app.db.session() as session:
        return [e for e in event_service.events_since(session, since) if e["type"] == type_]


def last_seq(app) -> int:
    from emergency.events import service as event_service

    with app.db.session() as session:
        return event_service.last_seq(session)
