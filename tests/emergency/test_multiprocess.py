"""With Redis: a signal posted to one API process reaches a websocket client connected to a
second API process (separate OS processes sharing the database and Redis)."""

from __future__ import annotations

import pytest

from tests.support.live import LiveClient
from tests.support.processes import start_api


@pytest.mark.redis
def test_signal_on_one_api_reaches_client_of_another(database_url, redis_url, tmp_path):
    if database_url.startswith("sqlite"):
        pytest.skip("several processes share PostgreSQL in production")
    from emergency.auth import service as auth_service
    from emergency.db import Database

    db = Database(database_url)
    with db.unit_of_work() as session:
        _, operator = auth_service.create_user(session, name="op", role="operator", actor="t")
        _, viewer = auth_service.create_user(session, name="wall", role="viewer", actor="t")
    db.dispose()
    env = {"TYPHOON_DATABASE_URL": database_url, "TYPHOON_REDIS_URL": redis_url}
    with start_api(env, tmp_path / "a.log") as api_a, start_api(env, tmp_path / "b.log") as api_b:
        import httpx

        with LiveClient(api_b.ws_url, viewer) as client:
            snap = client.next()
            r = httpx.post(
                f"{api_a.url}/api/v1/signals",
                headers={"Authorization": f"Bearer {operator}"},
                json={"source": "SMG", "kind": "tropical_cyclone", "level": "8NW"},
            )
            assert r.status_code == 200, r.text
            event = client.next_event(timeout=30)
    assert event["type"] == "signal.changed" and event["data"]["level"] == "8NW"
    assert event["seq"] == snap["seq"] + 1
