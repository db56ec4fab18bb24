"""When every database connection is taken, a request answers 503 with Retry-After (not a
500 after 30 s), stores nothing, and the same request succeeds once connections are free."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy.exc import TimeoutError as PoolTimeout

from emergency import db as db_module
from tests.support import server


@pytest.fixture
def app(database_url, settings_for, tmp_path, monkeypatch):
    monkeypatch.setattr(db_module, "POOL_TIMEOUT", 0.3)
    settings = settings_for(database_url, TYPHOON_DATA_DIR=str(tmp_path / "data"))
    with server.run(settings) as running:
        yield running


def _take_every_connection(engine) -> list:
    held = []
    try:
        while len(held) < 100:  # bounded: the pool's size plus overflow is far below
            held.append(engine.connect())
    except PoolTimeout:
        return held
    raise AssertionError("the pool never ran out")


def test_pool_exhausted_answers_503_and_the_retry_is_stored(app):
    headers = {**app.auth("field"), "Idempotency-Key": uuid.uuid4().hex}
    body = {
        "kind": "hazard",
        "hazard_kind": "flooding",
        "severity": "high",
        "lat": 22.14,
        "lon": 113.54,
    }
    app.token("field")  # the user exists before the pool is taken
    held = _take_every_connection(app.db.engine)
    try:
        busy = app.client.post("/api/v1/field-reports", json=body, headers=headers)
    finally:
        for conn in held:
            conn.close()
    assert busy.status_code == 503, busy.text
    assert busy.headers["Retry-After"] == "2"
    assert busy.json()["error"]["code"] == "database_unavailable"

    retried = app.client.post("/api/v1/field-reports", json=body, headers=headers)
    assert retried.status_code == 201, retried.text
    again = app.client.post("/api/v1/field-reports", json=body, headers=headers)
    assert again.status_code == 200 and again.json()["id"] == retried.json()["id"]
    listed = app.client.get("/api/v1/field-reports", headers=app.auth("operator")).json()
    assert [r["id"] for r in listed] == [retried.json()["id"]]
