"""Migration 0018b_field_totals on a database that already holds field records (made before
drills were told apart, so real ones): the counters the field events' totals are read from
(emergency.field.totals) start at what the tables hold."""

from __future__ import annotations

from sqlalchemy import text

from emergency import migrate
from emergency.db import make_engine
from tests.emergency.field.test_exercise_migration import empty_url  # noqa: F401 (fixture)

BEFORE = ("0004_field", "0007_signals_expiry")  # as in test_exercise_migration
NOW = "2024-09-05 22:00:00+00:00"


def test_the_counters_start_at_what_the_tables_hold(empty_url):  # noqa: F811
    for revision in BEFORE:
        migrate.upgrade(empty_url, revision)
    engine = make_engine(empty_url)
    with engine.begin() as conn:
        for status in ("open", "open", "verified"):
            conn.execute(
                text(
                    "INSERT INTO hazard (kind, severity, status, reported_at, reported_by) "
                    "VALUES ('flooding', 'low', :status, :now, 'someone')"
                ),
                {"status": status, "now": NOW},
            )
        conn.execute(
            text(
                "INSERT INTO help_request (status, urgency, people, created_at, created_by) "
                "VALUES ('closed', 'high', 2, :now, 'someone')"
            ),
            {"now": NOW},
        )
        conn.execute(
            text(
                "INSERT INTO inspection_group (id, name, members, vehicles, zone_ids, grid_cells, "
                "created_at, created_by) VALUES (1, 'G1', '[]', '[]', '[]', '[]', :now, 'x')"
            ),
            {"now": NOW},
        )
        # (SQLite: 0013b rebuilds inspection_group, which a trip's foreign key refuses)
        trips = (("closed", 3), ("open", 2)) if engine.dialect.name == "postgresql" else ()
        for status, persons in trips:
            conn.execute(
                text(
                    "INSERT INTO patrol_trip (group_id, status, persons, vehicles, "
                    "checked_in_at, checked_in_by) VALUES (1, :status, :persons, 1, :now, 'x')"
                ),
                {"status": status, "persons": persons, "now": NOW},
            )
    migrate.upgrade(empty_url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT exercise, section, name, value FROM field_total"))
        counters = {(bool(x), section, name): value for x, section, name, value in rows}
    engine.dispose()
    expected = {
        (False, "hazards", "open"): 2,
        (False, "hazards", "verified"): 1,
        (False, "help_requests", "closed"): 1,
        (False, "inspections", "groups"): 1,
    }
    if trips:
        expected |= {
            (False, "inspections", "trips"): 2,
            (False, "inspections", "on_patrol"): 1,
            (False, "inspections", "person_trips"): 5,
            (False, "inspections", "vehicle_trips"): 2,
        }
    assert counters == expected
