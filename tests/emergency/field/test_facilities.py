"""Facilities: loaded from config at start-up, status by operator or rule, idempotent, history,
`facility.changed` on the live stream, bad input refused with nothing changed."""

from __future__ import annotations

import pytest

from emergency.configfiles import ConfigFileError
from emergency.facilities import service as facility_service
from emergency.facilities.config import load_facilities
from emergency.settings import DEFAULT_CONFIG_DIR
from tests.emergency.field.conftest import events_of, last_seq
from tests.support.live import LiveClient
from tests.support.waits import lock_waiters, wait_for

EXPECTED = {
    "lotus_bridge",
    "um_connecting_bridge",
    "hengqin_port",
    "hengqin_school",
    "shuttle_bus",
    "macau_new_neighbourhood",
}


def test_facilities_are_loaded_with_names_and_statuses(api):
    items = api.ok(api.get("/api/v1/facilities"))
    assert {f["id"] for f in items} == EXPECTED
    lotus = next(f for f in items if f["id"] == "lotus_bridge")
    assert lotus["status"] == "open" and lotus["level"] == "ok"
    assert lotus["name"]["zh-Hans"] == "莲花大桥" and lotus["name"]["pt"]
    assert [s["id"] for s in lotus["statuses"]] == ["open", "closing", "closed"]
    school = next(f for f in items if f["id"] == "hengqin_school")
    assert [s["id"] for s in school["statuses"]] == [
        "classes_normal",
        "infant_primary_suspended",
        "all_suspended",
    ]


def test_operator_sets_status_with_history_and_live_event(api, app):
    with LiveClient(app.ws_url, app.token("viewer")) as live:
        assert live.next()["type"] == "snapshot"
        r = api.ok(
            api.post(
                "/api/v1/facilities/lotus_bridge/status",
                {"status": "closing", "note": "No. 8 hoisted"},
            )
        )
        assert r["changed"] and r["facility"]["status"] == "closing"
        assert r["facility"]["level"] == "warn"
        event = live.events_until(lambda m: m["type"] == "facility.changed")[-1]
        assert event["data"]["facility"]["id"] == "lotus_bridge"
        assert event["data"]["change"]["previous_status"] == "open"
    again = api.ok(api.post("/api/v1/facilities/lotus_bridge/status", {"status": "closing"}))
    assert again["changed"] is False and again["change"] is None
    api.ok(api.post("/api/v1/facilities/lotus_bridge/status", {"status": "closed"}))
    history = api.ok(api.get("/api/v1/facilities/lotus_bridge/history"))
    assert [(h["previous_status"], h["status"]) for h in history] == [
        ("closing", "closed"),
        ("open", "closing"),
    ]
    assert history[0]["origin"] == "operator" and history[0]["at_local"].endswith("+08:00")
    assert len(events_of(app, "facility.changed")) == 2
    sit = api.ok(api.get("/api/v1/situation"))
    assert sit["facilities"]["not_ok"] == 1


def test_rule_engine_calls_the_service(app):
    with app.db.unit_of_work() as session:
        change = facility_service.set_status(
            session,
            facility_id="hengqin_school",
            status="all_suspended",
            actor="rules",
            origin="rule:smg-8-classes",
        )
        assert change is not None and change.origin == "rule:smg-8-classes"
    seq = last_seq(app)
    with app.db.unit_of_work() as session:
        assert (
            facility_service.set_status(
                session,
                facility_id="hengqin_school",
                status="all_suspended",
                actor="rules",
                origin="rule:smg-8-classes",
            )
            is None
        )
    assert last_seq(app) == seq  # idempotent: no event
    with app.db.session() as session:
        assert [
            f.status for f in facility_service.list_facilities(session) if f.id == "hengqin_school"
        ] == ["all_suspended"]


@pytest.mark.parametrize(
    "path,body,status,code",
    [
        ("/api/v1/facilities/lotus_bridge/status", {"status": "purple"}, 422, "unknown_status"),
        (
            "/api/v1/facilities/lotus_bridge/status",
            {"status": "closed", "x": 1},
            422,
            "unknown_field",
        ),
        ("/api/v1/facilities/moon_bridge/status", {"status": "closed"}, 404, "facility_not_found"),
    ],
)
def test_bad_input_changes_nothing(api, app, path, body, status, code):
    seq = last_seq(app)
    r = api.post(path, body)
    assert r.status_code == status and r.json()["error"]["code"] == code
    assert last_seq(app) == seq
    assert api.ok(api.get("/api/v1/facilities/history")) == []


@pytest.mark.parametrize("role", ["field", "viewer", "liaison", "approver"])
def test_only_operators_set_status(api, role):
    r = api.post("/api/v1/facilities/lotus_bridge/status", {"status": "closed"}, role=role)
    assert r.status_code == 403
    assert all(f["status"] != "closed" for f in api.ok(api.get("/api/v1/facilities")))


def test_bad_origin_is_refused(app):
    from emergency.exceptions import InvalidInput

    with pytest.raises(InvalidInput), app.db.unit_of_work() as session:
        facility_service.set_status(
            session, facility_id="lotus_bridge", status="closed", actor="x", origin="whoever"
        )


def test_config_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "facilities.yaml"
    bad.write_text(
        (DEFAULT_CONFIG_DIR / "facilities.yaml")
        .read_text()
        .replace("initial: open", "initial: ajar", 1)
    )
    with pytest.raises(ConfigFileError) as err:
        load_facilities(bad)
    assert "facilities.yaml:" in str(err.value) and "ajar" in str(err.value)


def test_replicas_starting_together_both_load_the_reference_data(database_url):
    """Two API replicas start at once: the one whose insert of the facilities meets the
    other's (not yet committed) rows waits, fails on the unique key, and refreshes instead of
    crashing on start."""
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite serialises writers; the race is PostgreSQL's")
    import threading

    from sqlmodel import Session, func, select

    from emergency.config import ConfigSet
    from emergency.db import Database
    from emergency.facilities.models import Facility
    from emergency.startup import seed_reference_data

    first, second = Database(database_url), Database(database_url)
    config = load_facilities(DEFAULT_CONFIG_DIR / "facilities.yaml")
    result: dict = {}
    try:
        with Session(first.engine) as racer:  # replica 1, mid-way through its start
            facility_service.sync(racer, config=config)  # flushed, not committed
            thread = threading.Thread(
                target=lambda: result.update(
                    created=seed_reference_data(second, ConfigSet(DEFAULT_CONFIG_DIR))
                )
            )
            thread.start()
            # replica 2 waits on replica 1's uncommitted rows: a lock wait, seen as one
            wait_for(
                lambda: lock_waiters(database_url) or not thread.is_alive(),
                what="replica 2 waiting on replica 1's rows (or ending)",
            )
            assert thread.is_alive(), "replica 2 should wait on replica 1's rows"
            racer.commit()
        thread.join(30)
        assert result["created"]["facilities"] == 0  # replica 1 made them; 2 refreshed them
        with first.session() as session:
            assert session.exec(select(func.count()).select_from(Facility)).one() == len(EXPECTED)
    finally:
        first.dispose()
        second.dispose()
