"""Migrations apply on an empty SQLite and PostgreSQL database and produce exactly the tables
the models describe (no model change without its migration)."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlmodel import SQLModel

import emergency.models  # noqa: F401
from emergency import migrate
from emergency.db import make_engine
from tests.conftest import PG_ADMIN_URL
from tests.support import pg


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    if not PG_ADMIN_URL:
        pytest.skip("PostgreSQL: set TYPHOON_TEST_DATABASE_URL")
    from sqlalchemy import text

    name = f"{pg.PREFIX}_{__import__('os').getpid()}_empty"
    engine = pg._admin(PG_ADMIN_URL)
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = pg._with_db(PG_ADMIN_URL, name)
    yield url
    pg.drop(PG_ADMIN_URL, url)


def test_upgrade_on_empty_database_matches_models(empty_url):
    migrate.upgrade(empty_url)
    engine = make_engine(empty_url)
    with engine.connect() as conn:
        tables = set(inspect(conn).get_table_names())
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    engine.dispose()
    assert set(SQLModel.metadata.tables) <= tables
    assert diff == [], f"models and migrations differ: {diff}"
    migrate.upgrade(empty_url)  # twice is harmless
