"""Evacuation: orders per zone (idempotent, superseded, lifted), shelters open/close and
occupancy, people moved, the nearest open shelter with room; bad input changes nothing."""

from __future__ import annotations

import pytest

from emergency.evacuation import service as evacuation_service
from tests.emergency.field.conftest import GUANGZHOU, LIANHUA, events_of, last_seq

ORDERS = "/api/v1/evacuation/orders"


def test_shelters_come_from_the_geojson_closed(api):
    shelters = api.ok(api.get("/api/v1/shelters"))
    assert {s["id"] for s in shelters} >= {"lianhua_sports_hall", "hengqin_hou_kong_school"}
    hall = next(s for s in shelters if s["id"] == "lianhua_sports_hall")
    assert hall["capacity"] == 1200 and hall["occupancy"] == 0 and hall["is_open"] is False
    assert hall["zone_id"] == "lianhua"


def test_orders_issue_supersede_lift_idempotent(api, app):
    r = api.ok(api.post(ORDERS, {"zone_id": "north_shore_works", "level": "advised"}))
    assert r["changed"] and r["order"]["level"] == "advised"
    assert r["order"]["zone_name"]["en"]
    assert (
        api.ok(api.post(ORDERS, {"zone_id": "north_shore_works", "level": "advised"}))["changed"]
        is False
    )
    r = api.ok(api.post(ORDERS, {"zone_id": "north_shore_works", "level": "mandatory"}))
    assert r["order"]["level"] == "mandatory"
    active = api.ok(api.get(ORDERS + "?active=true"))
    assert [(o["zone_id"], o["level"]) for o in active] == [("north_shore_works", "mandatory")]
    assert [o["status"] for o in api.ok(api.get(ORDERS))] == ["active", "superseded"]
    lifted = api.ok(api.post(ORDERS + "/lift", {"zone_id": "north_shore_works"}))
    assert lifted["changed"] and lifted["order"]["status"] == "lifted"
    assert api.ok(api.post(ORDERS + "/lift", {"zone_id": "north_shore_works"}))["changed"] is False
    assert api.ok(api.get(ORDERS + "?active=true")) == []
    actions = [e["data"]["action"] for e in events_of(app, "evacuation.updated")]
    assert actions == ["issued", "changed", "lifted"]


def test_rules_call_issue_and_lift(app):
    with app.db.unit_of_work() as session:
        order = evacuation_service.issue_order(
            session, zone_id="lianhua", level="mandatory", actor="rules", origin="rule:surge-orange"
        )
        assert order.origin == "rule:surge-orange"
        assert (
            evacuation_service.issue_order(
                session,
                zone_id="lianhua",
                level="mandatory",
                actor="rules",
                origin="rule:surge-orange",
            )
            is None
        )
        assert (
            evacuation_service.set_shelter_open(
                session,
                shelter_id="lianhua_sports_hall",
                open=True,
                actor="rules",
                origin="rule:surge-orange",
            )
            is not None
        )
        assert (
            evacuation_service.set_shelter_open(
                session,
                shelter_id="lianhua_sports_hall",
                open=True,
                actor="rules",
                origin="rule:surge-orange",
            )
            is None
        )
    with app.db.unit_of_work() as session:
        assert (
            evacuation_service.lift_order(
                session, zone_id="lianhua", actor="rules", origin="rule:surge-orange"
            )
            is not None
        )
        assert (
            evacuation_service.lift_order(
                session, zone_id="lianhua", actor="rules", origin="rule:surge-orange"
            )
            is None
        )


def test_movements_fill_shelters_and_nearest_skips_full_or_closed(api, app):
    lat, lon = LIANHUA
    assert api.ok(api.get(f"/api/v1/shelters/nearest?lat={lat}&lon={lon}")) == []  # all closed
    for sid in ("lianhua_sports_hall", "hengqin_hou_kong_school"):
        api.ok(api.post(f"/api/v1/shelters/{sid}/open", {"open": True}))
    near = api.ok(api.get(f"/api/v1/shelters/nearest?lat={lat}&lon={lon}"))
    assert near[0]["shelter"]["id"] == "lianhua_sports_hall" and near[0]["distance_m"] < 1000
    api.ok(api.post("/api/v1/evacuation/orders", {"zone_id": "lianhua", "level": "mandatory"}))
    with app.db.unit_of_work() as session:
        evacuation_service.set_occupancy(
            session, shelter_id="lianhua_sports_hall", occupancy=1180, actor="test"
        )
    m = api.ok(
        api.post(
            "/api/v1/evacuation/movements",
            {
                "people": 30,
                "lat": lat,
                "lon": lon,
                "from_place": "tin-roof shacks, Lianhua Rd",
                "shelter_id": "lianhua_sports_hall",
            },
        ),
        201,
    )
    assert m["from_zone_id"] == "lianhua" and m["order_id"] is not None
    hall = next(s for s in api.ok(api.get("/api/v1/shelters")) if s["id"] == "lianhua_sports_hall")
    assert hall["occupancy"] == 1210 and hall["over_capacity"] and hall["room"] == 0
    near = api.ok(api.get(f"/api/v1/shelters/nearest?lat={lat}&lon={lon}&people=10"))
    assert [n["shelter"]["id"] for n in near] == ["hengqin_hou_kong_school"]
    api.ok(
        api.post(
            "/api/v1/evacuation/movements",
            {"people": 4, "from_place": "Fuxiangwan", "to_place": "relatives in Xiangzhou"},
        ),
        201,
    )
    totals = api.ok(api.get("/api/v1/evacuation/totals"))
    assert totals["people_evacuated"] == 34 and totals["people_to_shelters"] == 30
    assert totals["orders_mandatory"] == 1
    sit = api.ok(api.get("/api/v1/situation"))["evacuation"]
    assert sit["people_evacuated"] == 34 and sit["shelters"]["occupancy"] == 1210
    assert events_of(app, "shelter.updated")[-1]["data"]["shelter"]["occupancy"] == 1210


@pytest.mark.parametrize(
    "path,body,status,code",
    [
        (ORDERS, {"zone_id": "atlantis", "level": "mandatory"}, 422, "unknown_zone"),
        (ORDERS, {"zone_id": "lianhua", "level": "please"}, 422, "invalid_input"),
        (
            "/api/v1/evacuation/movements",
            {"people": 5, "shelter_id": "lianhua_sports_hall"},
            409,
            "shelter_closed",
        ),
        (
            "/api/v1/evacuation/movements",
            {"people": 5, "shelter_id": "nowhere"},
            404,
            "shelter_not_found",
        ),
        ("/api/v1/evacuation/movements", {"people": 0, "to_place": "x"}, 422, "invalid_input"),
        ("/api/v1/evacuation/movements", {"people": 5}, 422, "invalid_input"),
        (
            "/api/v1/evacuation/movements",
            {"people": 5, "to_place": "x", "lat": GUANGZHOU[0], "lon": GUANGZHOU[1]},
            422,
            "outside_area",
        ),
    ],
)
def test_bad_input_changes_nothing(api, app, path, body, status, code):
    seq = last_seq(app)
    r = api.post(path, body)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code
    assert last_seq(app) == seq
    assert api.ok(api.get("/api/v1/evacuation/totals"))["movements"] == 0


def test_nearest_far_away_is_422(api):
    r = api.get(f"/api/v1/shelters/nearest?lat={GUANGZHOU[0]}&lon={GUANGZHOU[1]}")
    assert r.status_code == 422 and r.json()["error"]["code"] == "outside_area"


@pytest.mark.parametrize("role", ["field", "viewer", "liaison"])
def test_only_operators_order_evacuations(api, role):
    r = api.post(ORDERS, {"zone_id": "lianhua", "level": "mandatory"}, role=role)
    assert r.status_code == 403
    assert api.ok(api.get(ORDERS)) == []
