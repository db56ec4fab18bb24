"""Field reports from phones: each kind does its work, the same Idempotency-Key stores one
report (201 then 200), races store one, and bad input (outside the area, an illegal state
change, a reused key, a field token on operator endpoints) is a 4xx with nothing stored."""

from __future__ import annotations

import concurrent.futures

import pytest

from tests.emergency.field.conftest import GUANGZHOU, LIANHUA, events_of, last_seq
from tests.emergency.field.factories import field_token, group, key, report


@pytest.fixture
def team(api, app):
    g = group(api)
    return g, field_token(api, app, group_id=g["id"])


def count_reports(api):
    return api.ok(api.get("/api/v1/situation"))["field"]["reports_total"]


def test_same_key_twice_stores_one_report(api, app, team):
    _, token = team
    idem = key()
    body = {
        "kind": "hazard",
        "hazard_kind": "fallen_tree",
        "severity": "high",
        "lat": LIANHUA[0],
        "lon": LIANHUA[1],
        "note": "tree across the road",
    }
    first = report(app, token, body, idem)
    assert first.status_code == 201, first.text
    second = report(app, token, body, idem)
    assert second.status_code == 200 and second.json() == first.json()
    assert count_reports(api) == 1
    assert len(api.ok(api.get("/api/v1/hazards"))) == 1
    assert len(events_of(app, "field_report.created")) == 1
    other = report(app, token, {**body, "note": "something else"}, idem)
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_key_reused"


def test_racing_retries_store_one(api, app, team):
    _, token = team
    idem = key()
    body = {"kind": "help", "people": 3, "lat": LIANHUA[0], "lon": LIANHUA[1]}
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        codes = sorted(
            r.status_code for r in pool.map(lambda _: report(app, token, body, idem), range(6))
        )
    assert codes.count(201) == 1 and set(codes) <= {200, 201}, codes
    assert len(api.ok(api.get("/api/v1/help-requests"))) == 1


def test_check_in_and_out_count_trips(api, app, team):
    g, token = team
    assert (
        report(app, token, {"kind": "check_in", "lat": LIANHUA[0], "lon": LIANHUA[1]}).status_code
        == 201
    )
    again = report(app, token, {"kind": "check_in"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_checked_in"
    out = report(app, token, {"kind": "check_out", "persons": 2})
    assert out.status_code == 201 and out.json()["result"]["persons"] == 2
    report(app, token, {"kind": "check_in", "vehicles": 2})
    report(app, token, {"kind": "check_out"})
    info = api.ok(api.get(f"/api/v1/inspection-groups/{g['id']}"))
    assert (info["trips"], info["person_trips"], info["vehicle_trips"]) == (2, 5, 3)
    assert info["open_trip"] is None
    sit = api.ok(api.get("/api/v1/situation"))["field"]["inspections"]
    assert sit["person_trips"] == 5 and sit["vehicle_trips"] == 3
    trips = api.ok(api.get("/api/v1/patrol-trips"))
    assert trips[-1]["zone_id"] == "lianhua" and trips[-1]["checked_in_by"].startswith("field-")


def test_every_kind_of_report(api, app, team):
    g, token = team
    crew = api.ok(api.post("/api/v1/crews", {"name": "Crew 9", "headcount": 40}), 201)
    crew_token = field_token(api, app, crew_id=crew["id"], label="Crew 9 phone")
    api.ok(api.post("/api/v1/shelters/lianhua_sports_hall/open", {"open": True}))
    hazard = report(
        app,
        token,
        {
            "kind": "hazard",
            "hazard_kind": "loose_object",
            "severity": "medium",
            "place": "billboard, Huandao E Rd",
        },
    )
    hazard_id = hazard.json()["result"]["hazard_id"]
    done = report(app, token, {"kind": "rectified", "hazard_id": hazard_id, "note": "tied down"})
    assert done.status_code == 201 and done.json()["result"]["status"] == "rectified"
    moved = report(
        app,
        token,
        {
            "kind": "evacuated",
            "people": 12,
            "lat": LIANHUA[0],
            "lon": LIANHUA[1],
            "shelter_id": "lianhua_sports_hall",
            "from_place": "shacks",
        },
    )
    assert moved.status_code == 201, moved.text
    assert (
        report(
            app, crew_token, {"kind": "crew_status", "crew_status": "resting", "headcount": 38}
        ).status_code
        == 201
    )
    help_ = report(
        app,
        crew_token,
        {
            "kind": "help",
            "people": 2,
            "urgency": "critical",
            "note": "trapped in a car",
            "lat": 22.13,
            "lon": 113.53,
        },
    )
    assert help_.status_code == 201
    sit = api.ok(api.get("/api/v1/situation"))
    assert sit["field"]["reports"] == {
        "hazard": 1,
        "rectified": 1,
        "evacuated": 1,
        "crew_status": 1,
        "help": 1,
    }
    assert sit["evacuation"]["people_to_shelters"] == 12
    assert sit["crews"]["by_status"]["resting"] == {"crews": 1, "people": 38}
    assert sit["field"]["help_requests"]["open"] == 1
    types = {e["type"] for e in events_of(app, "field_report.created")} | {
        e["type"] for e in events_of(app, "inspection.updated")
    }
    assert types == {"field_report.created", "inspection.updated"}
    ctx = app.client.get(
        "/api/v1/field/context", headers={"Authorization": f"Bearer {token}"}
    ).json()
    assert ctx["group"]["id"] == g["id"] and ctx["label"] == "Team phone"
    assert any(s["id"] == "lianhua_sports_hall" for s in ctx["shelters"])


BAD = [
    (
        "far outside the area",
        {"kind": "help", "lat": GUANGZHOU[0], "lon": GUANGZHOU[1]},
        422,
        "outside_area",
    ),
    ("only lat", {"kind": "help", "lat": 22.13}, 422, "invalid_input"),
    ("unknown kind", {"kind": "party"}, 422, "invalid_input"),
    ("unknown field", {"kind": "help", "mood": "bad"}, 422, "unknown_field"),
    (
        "hazard without kind",
        {"kind": "hazard", "severity": "low", "place": "x"},
        422,
        "invalid_input",
    ),
    (
        "hazard without place",
        {"kind": "hazard", "hazard_kind": "flooding", "severity": "low"},
        422,
        "missing_location",
    ),
    ("rectify unknown hazard", {"kind": "rectified", "hazard_id": 999}, 404, "hazard_not_found"),
    ("unknown photo", {"kind": "help", "photo_id": "0" * 64}, 422, "unknown_photo"),
    ("check out before in", {"kind": "check_out"}, 409, "not_checked_in"),
    (
        "closed shelter",
        {"kind": "evacuated", "people": 3, "shelter_id": "lianhua_sports_hall"},
        409,
        "shelter_closed",
    ),
    ("someone else's group", {"kind": "check_in", "group_id": 12345}, 403, "forbidden"),
]


@pytest.mark.parametrize("label,body,status,code", BAD, ids=[b[0] for b in BAD])
def test_bad_reports_store_nothing(api, app, team, label, body, status, code):
    _, token = team
    seq = last_seq(app)
    r = report(app, token, body)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code
    assert last_seq(app) == seq and count_reports(api) == 0


def test_illegal_hazard_change_by_report_stores_nothing(api, app, team):
    _, token = team
    h = report(
        app,
        token,
        {"kind": "hazard", "hazard_kind": "flooding", "severity": "low", "place": "underpass"},
    ).json()["result"]["hazard_id"]
    report(app, token, {"kind": "rectified", "hazard_id": h})
    api.ok(api.post(f"/api/v1/hazards/{h}/verify", {}))
    seq, before = last_seq(app), count_reports(api)
    r = report(app, token, {"kind": "rectified", "hazard_id": h})
    assert r.status_code == 409 and r.json()["error"]["code"] == "illegal_transition"
    assert last_seq(app) == seq and count_reports(api) == before


def test_key_is_required_and_checked(app, team):
    _, token = team
    r = app.client.post(
        "/api/v1/field-reports", json={"kind": "help"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "missing_idempotency_key"
    r = report(app, token, {"kind": "help"}, idem="short")
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_idempotency_key"


OPERATOR_ENDPOINTS = [
    ("post", "/api/v1/signals", {"source": "SMG", "kind": "tropical_cyclone", "level": "8NE"}),
    ("post", "/api/v1/facilities/lotus_bridge/status", {"status": "closed"}),
    ("post", "/api/v1/evacuation/orders", {"zone_id": "lianhua", "level": "mandatory"}),
    ("post", "/api/v1/shelters/lianhua_sports_hall/open", {"open": True}),
    ("post", "/api/v1/crews", {"name": "x", "headcount": 1}),
    ("post", "/api/v1/crews/standby", None),
    ("post", "/api/v1/inspection-groups", {"name": "x"}),
    ("post", "/api/v1/hazards/1/verify", {}),
    ("post", "/api/v1/hazards/1/assign", {"group_id": 1}),
    ("post", "/api/v1/field/links", {"label": "mine"}),
    ("post", "/api/v1/vulnerable/residents", {"name": "x", "address": "y"}),
    ("get", "/api/v1/field-reports", None),
    ("get", "/api/v1/vulnerable/residents", None),
]


@pytest.mark.parametrize(
    "method,path,body", OPERATOR_ENDPOINTS, ids=[e[1] for e in OPERATOR_ENDPOINTS]
)
def test_field_token_on_operator_endpoints_is_403(api, app, team, method, path, body):
    _, token = team
    seq = last_seq(app)
    headers = {"Authorization": f"Bearer {token}"}
    if method == "get":
        r = app.client.get(path, headers=headers)
        assert r.status_code == 403 if "vulnerable" not in path else r.status_code == 200
        return
    r = app.client.post(path, headers=headers, json=body)
    assert r.status_code == 403, r.text
    assert r.json()["error"]["code"] == "forbidden"
    assert last_seq(app) == seq


def test_each_events_totals_are_the_situations_after_it(api, app, team):
    """The hot path counts in the statement that writes (issue 18: the hazard's INSERT reads
    the hazards before it and adds itself; the report's result UPDATE reads the other reports
    and adds itself): each event's totals are what the situation says right after it, from
    the first hazard on, a drill's apart, an overdue one (its due time already past) too."""
    _, token = team
    hazard = {"kind": "hazard", "lat": LIANHUA[0], "lon": LIANHUA[1]}
    sent = [
        {**hazard, "hazard_kind": "fallen_tree", "severity": "high"},
        {**hazard, "hazard_kind": "flooding", "severity": "low"},
        {**hazard, "hazard_kind": "flooding", "severity": "low", "exercise": True},
        {"kind": "help", "people": 2, "lat": LIANHUA[0], "lon": LIANHUA[1]},
        {**hazard, "hazard_kind": "loose_object", "severity": "medium"},
    ]
    for body in sent:
        since = last_seq(app)
        answer = report(app, token, body, key())
        assert answer.status_code == 201, answer.text
        drill = bool(body.get("exercise"))
        field = api.ok(api.get("/api/v1/situation", params={"exercise": str(drill).lower()}))[
            "field"
        ]
        created = events_of(app, "field_report.created", since)
        assert len(created) == 1
        assert created[0]["data"]["totals"] == {
            "reports": field["reports"],
            "reports_total": field["reports_total"],
        }
        if body["kind"] == "hazard":
            (hazard_event,) = [
                e for e in events_of(app, "inspection.updated", since) if e["data"].get("hazard")
            ]
            assert hazard_event["data"]["totals"] == {"hazards": field["hazards"]}
    since = last_seq(app)
    overdue = api.post(
        "/api/v1/hazards",
        {
            "kind": "flooding",
            "severity": "low",
            "place": "Lotus Bridge approach",
            "due_at": "2020-01-01T00:00:00+08:00",
        },
    )
    assert overdue.status_code == 201, overdue.text
    field = api.ok(api.get("/api/v1/situation"))["field"]
    (last,) = [e for e in events_of(app, "inspection.updated", since) if e["data"].get("hazard")]
    assert last["data"]["totals"] == {"hazards": field["hazards"]}
    assert field["hazards"]["overdue"] == 1 and field["hazards"]["open"] == 4
