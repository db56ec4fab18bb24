"""PostgreSQL connection budget (issue 20 item 7): each process's pool is sized from settings
(by its role unless TYPHOON_DB_POOL_SIZE / TYPHOON_DB_MAX_OVERFLOW say otherwise), its
connections carry `application_name` naming the role, and the compose deployment's processes
together stay under PostgreSQL's default max_connections (README "Connection budget")."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from emergency.runtime import POOLS, Runtime

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_url(database_url):
    if database_url.startswith("sqlite"):
        pytest.skip("connection budgets are PostgreSQL's")
    return database_url


@pytest.mark.parametrize("role", ["api", "worker", "scheduler"])
def test_each_role_has_its_pool_and_names_itself(pg_url, settings_for, role):
    runtime = Runtime.build(settings_for(pg_url), role=role)
    try:
        pool = runtime.db.engine.pool
        assert (pool.size(), pool._max_overflow) == POOLS[role]  # type: ignore[attr-defined]
        with runtime.db.engine.connect() as conn:
            name = conn.execute(
                text("SELECT application_name FROM pg_stat_activity WHERE pid = pg_backend_pid()")
            ).scalar_one()
    finally:
        runtime.close()
    assert name.startswith(f"typhoon-{role}:")


def test_pool_sizes_from_settings(pg_url, settings_for):
    settings = settings_for(pg_url, TYPHOON_DB_POOL_SIZE=3, TYPHOON_DB_MAX_OVERFLOW=0)
    runtime = Runtime.build(settings, role="api")
    try:
        pool = runtime.db.engine.pool
        assert (pool.size(), pool._max_overflow) == (3, 0)  # type: ignore[attr-defined]
    finally:
        runtime.close()


def test_the_compose_deployment_fits_postgresqls_default_max_connections():
    # docker compose up --scale api=2 --scale worker=3 (README), one scheduler active and
    # one on standby, the migrate job (one connection) and the superuser's reserved three.
    processes = {"api": 2, "worker": 3, "scheduler": 2}
    used = sum(n * sum(POOLS[role]) for role, n in processes.items()) + 1
    assert used <= 100 - 3, used
