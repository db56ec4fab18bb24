"""The public CAP output (no token) is rate-limited per client address: beyond
TYPHOON_CAP_FEED_RATE_LIMIT requests a minute, 429 with Retry-After and our JSON error; other
addresses and the authenticated CAP routes are not affected."""

from __future__ import annotations

import httpx
import pytest

from tests.support import server

PUBLIC = ("/api/v1/cap/feed.atom", "/api/v1/cap/alerts")


@pytest.fixture
def app(database_url, settings_for):
    with server.run(settings_for(database_url, TYPHOON_CAP_FEED_RATE_LIMIT=5)) as running:
        yield running


def from_address(app, address: str) -> httpx.Client:
    """A client whose requests come from another loopback address (another 'client')."""
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=f"http://127.0.0.1:{app.port}", transport=transport, timeout=10)


def test_public_feed_is_limited_per_client_with_retry_after(app):
    r = app.client.post(
        "/api/v1/signals",
        headers=app.auth("operator"),
        json={"source": "SMG", "kind": "tropical_cyclone", "level": "1"},
    )
    assert r.status_code == 200, r.text
    [identifier] = r.json()["published"]
    with from_address(app, "127.0.0.2") as reader:
        answers = [reader.get(PUBLIC[i % 2]).status_code for i in range(4)]
        answers.append(reader.get(f"/api/v1/cap/alerts/{identifier}.xml").status_code)
        assert answers == [200] * 5
        # the next one is refused, a conditional request too
        refused = reader.get("/api/v1/cap/feed.atom", headers={"If-None-Match": '"x"'})
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "rate_limited"
        retry = int(refused.headers["Retry-After"])
        assert 1 <= retry <= 60
        assert reader.get(f"/api/v1/cap/alerts/{identifier}.xml").status_code == 429
        assert reader.get("/api/v1/cap/alerts").status_code == 429
    # Another address has its own allowance; token-holding routes are not limited by it.
    with from_address(app, "127.0.0.3") as other:
        assert other.get("/api/v1/cap/feed.atom").status_code == 200
    for _ in range(3):
        r = app.client.get("/api/v1/cap/received", headers=app.auth("viewer"))
        assert r.status_code == 200


def test_limit_setting_default_and_off(database_url, settings_for):
    from emergency.settings import Settings

    assert Settings.model_fields["cap_feed_rate_limit"].default == 120
    with server.run(settings_for(database_url, TYPHOON_CAP_FEED_RATE_LIMIT=0)) as app:
        assert all(app.client.get("/api/v1/cap/feed.atom").status_code == 200 for _ in range(30))
