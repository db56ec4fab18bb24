"""Shared fixtures: isolated databases (SQLite always, PostgreSQL when
TYPHOON_TEST_DATABASE_URL is set), Redis when TYPHOON_TEST_REDIS_URL is set, and the real app
served by uvicorn on a free port."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest

from tests.support import pg, server

PG_ADMIN_URL = os.environ.get("TYPHOON_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("TYPHOON_TEST_REDIS_URL")
BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory) -> Path:
    from emergency import migrate

    path = tmp_path_factory.mktemp("template") / "template.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def _pg_template() -> str | None:
    if not PG_ADMIN_URL:
        return None
    return pg.make_template(PG_ADMIN_URL)


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path, _sqlite_template) -> str:
    """A migrated, empty database of its own for each test."""
    if request.param == "sqlite":
        path = tmp_path / "typhoon.db"
        shutil.copy(_sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    if not PG_ADMIN_URL:
        pytest.skip("PostgreSQL: set TYPHOON_TEST_DATABASE_URL to run these")
    template = request.getfixturevalue("_pg_template")
    url = pg.clone(PG_ADMIN_URL, template)
    yield url
    pg.drop(PG_ADMIN_URL, url)


@pytest.fixture(autouse=True)
def _own_redis_prefix(monkeypatch) -> str:
    """Every test gets its own TYPHOON_REDIS_PREFIX (processes it starts inherit it), so tests
    and concurrent runs sharing one Redis never see each other's streams, channels or locks."""
    prefix = f"test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("TYPHOON_REDIS_PREFIX", prefix)
    return prefix


@pytest.fixture
def redis_url(_own_redis_prefix):
    if not REDIS_URL:
        pytest.skip("Redis: set TYPHOON_TEST_REDIS_URL to run these")
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except Exception as exc:  # pragma: no cover - depends on the machine
        if os.environ.get("TYPHOON_TEST_REQUIRE_SERVICES"):
            pytest.fail(f"Redis at TYPHOON_TEST_REDIS_URL is not reachable: {exc}")
        pytest.skip(f"Redis at TYPHOON_TEST_REDIS_URL is not reachable: {exc}")
    yield REDIS_URL
    try:  # leave the shared Redis as we found it
        for key in client.scan_iter(f"{_own_redis_prefix}:*", count=1000):
            client.delete(key)
    finally:
        client.close()


@pytest.fixture
def settings_for(tmp_path):
    """Build Settings for a test without reading the developer's environment by accident."""
    from emergency.settings import Settings

    def build(database_url: str, **overrides) -> Settings:
        values = dict(
            TYPHOON_DATABASE_URL=database_url,
            TYPHOON_REDIS_URL=None,
            TWILIO_ACCOUNT_SID=None,
            TWILIO_AUTH_TOKEN=None,
            TYPHOON_LOG_FORMAT="text",
            TYPHOON_WS_PING_SECONDS=1.0,
        )
        values.update(overrides)
        return Settings(**values)

    return build


@pytest.fixture
def app_server(database_url, settings_for):
    """The real app on a free port; `.client` is an httpx client, `.token(role)` a new user."""
    with server.run(settings_for(database_url)) as running:
        yield running


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"
