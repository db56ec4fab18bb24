"""Migration 0013b_exercise_flags on a database that already holds field records: every
existing row is a real one (`exercise` false), shelters keep their real state and get an
empty drill state, and existing evacuation orders name no shelters and no broadcast."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from emergency import migrate
from emergency.db import make_engine
from tests.conftest import PG_ADMIN_URL
from tests.support import pg

BEFORE = ("0004_field", "0007_signals_expiry")  # what 0013b depends on (and the foundation)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    if not PG_ADMIN_URL:
        pytest.skip("PostgreSQL: set TYPHOON_TEST_DATABASE_URL")
    name = f"{pg.PREFIX}_{__import__('os').getpid()}_exercise_migration"
    engine = pg._admin(PG_ADMIN_URL)
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    url = pg._with_db(PG_ADMIN_URL, name)
    yield url
    pg.drop(PG_ADMIN_URL, url)


def test_existing_field_records_become_real_records(empty_url):
    for revision in BEFORE:
        migrate.upgrade(empty_url, revision)
    engine = make_engine(empty_url)
    now = "2024-09-05 22:00:00+00:00"
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO crew (name, headcount, status, status_at) "
                "VALUES ('Rescue team 1', 60, 'standby', :now)"
            ),
            {"now": now},
        )
        conn.execute(
            text(
                "INSERT INTO hazard (kind, severity, status, reported_at, reported_by) "
                "VALUES ('fallen_tree', 'high', 'open', :now, 'someone')"
            ),
            {"now": now},
        )
        conn.execute(
            text(
                "INSERT INTO shelter (id, name, lat, lon, capacity, occupancy, is_open, updated_at)"
                " VALUES ('hall', '{}', 22.14, 113.54, 100, 37, :yes, :now)"
            ),
            {"now": now, "yes": True},
        )
        conn.execute(
            text(
                "INSERT INTO evacuation_order (zone_id, level, status, issued_at, issued_by, origin)"
                " VALUES ('lianhua', 'mandatory', 'active', :now, 'someone', 'operator')"
            ),
            {"now": now},
        )
        conn.execute(
            text(
                "INSERT INTO hotline_call (at, direction, caller, summary, signals, logged_by,"
                " logged_at) VALUES (:now, 'inbound', 'SMG', 'No. 8', '[]', 'someone', :now)"
            ),
            {"now": now},
        )
    engine.dispose()

    migrate.upgrade(empty_url)  # every head: 0013b_exercise_flags among them
    engine = make_engine(empty_url)
    with engine.connect() as conn:
        for table in ("crew", "hazard", "evacuation_order", "hotline_call"):
            assert conn.execute(text(f"SELECT exercise FROM {table}")).scalars().all() == [False]
        shelter = conn.execute(
            text("SELECT occupancy, is_open, exercise_occupancy, exercise_is_open FROM shelter")
        ).one()
        assert tuple(shelter) == (37, True, 0, False)
        order = conn.execute(
            text("SELECT shelter_ids, broadcast_id, lift_broadcast_id FROM evacuation_order")
        ).one()
        assert order[0] in ([], "[]") and order[1] is None and order[2] is None
    engine.dispose()
