"""An evacuation order is one action (issue 13 item 4): issuing it, by a person or a rule,
makes each zone's order (level, shelters) and drafts its broadcast, linked to the orders;
lifting it drafts the lift message. The situation and the after-action report count it; a
drill's order is an exercise order with an exercise broadcast, apart from the real ones."""

from __future__ import annotations

import uuid

import pytest

from tests.emergency.field.conftest import Api, events_of, last_seq
from tests.support import server

ORDERS = "/api/v1/evacuation/orders"
HALL = "lianhua_sports_hall"


@pytest.fixture
def app(database_url, settings_for, tmp_path):
    """The real app, with an approval threshold of 1: any broadcast to someone needs a second
    person (so the drafted broadcast waits, whatever the two-person rule of its template)."""
    settings = settings_for(
        database_url, TYPHOON_DATA_DIR=str(tmp_path / "data"), TYPHOON_APPROVAL_THRESHOLD="1"
    )
    with server.run(settings) as running:
        yield running


@pytest.fixture
def api(app) -> Api:
    return Api(app)


def subscribe(api: Api, zone: str, n: int, *, exercise: bool = False, start: int = 0) -> None:
    for i in range(n):
        api.ok(
            api.post(
                "/api/v1/subscribers",
                {
                    "phone": f"+853665{1 if exercise else 2}{start + i:04d}",
                    "language": "en",
                    "zone": zone,
                    "exercise": exercise,
                },
            ),
            201,
        )


def broadcasts(api: Api) -> list[dict]:
    return api.ok(api.get("/api/v1/broadcasts"))


def test_an_order_is_one_action_with_its_broadcast_and_lifting_drafts_the_lift_message(api, app):
    subscribe(api, "lianhua", 2)
    subscribe(api, "xiaohengqin", 1, start=10)
    api.ok(api.post(f"/api/v1/shelters/{HALL}/open", {"open": True}))
    seq = last_seq(app)

    r = api.ok(
        api.post(
            ORDERS,
            {
                "zone_ids": ["lianhua", "xiaohengqin"],
                "level": "mandatory",
                "shelter_ids": [HALL],
                "channels": ["sms"],
            },
        )
    )
    assert r["changed"] and [o["zone_id"] for o in r["orders"]] == ["lianhua", "xiaohengqin"]
    ref = r["broadcast"]
    assert ref["needs_approval"] and ref["status"] == "awaiting_approval"
    assert ref["recipients"] == 3 and ref["exercise"] is False
    assert {o["broadcast_id"] for o in r["orders"]} == {ref["id"]}
    assert all(o["shelter_ids"] == [HALL] and o["level"] == "mandatory" for o in r["orders"])

    # The broadcast: the template's text, filled with the zones and the shelter, to the zones.
    b = api.ok(api.get(f"/api/v1/broadcasts/{ref['id']}"))
    assert b["zones"] == ["lianhua", "xiaohengqin"] and b["channels"] == ["sms"]
    assert b["origin"] == "operator" and b["approved_by"] is None
    assert b["messages"]["en"].startswith("[Hengqin] EVACUATION ORDER: residents of ")
    assert "Lianhua Community, Xiaohengqin Community" in b["messages"]["en"]
    assert "Lianhua Sports Hall" in b["messages"]["en"]
    assert "、" in b["messages"]["zh-Hans"]  # the names joined as Chinese lists them
    assert len(broadcasts(api)) == 1

    # Screens: one event per zone's order, with its broadcast; the situation counts them.
    events = [e["data"] for e in events_of(app, "evacuation.updated", seq)]
    assert [(e["action"], e["order"]["broadcast_id"], e["exercise"]) for e in events] == [
        ("issued", ref["id"], False),
        ("issued", ref["id"], False),
    ]
    assert any(e["type"] == "broadcast.created" for e in _events(app, seq))
    evacuation = api.ok(api.get("/api/v1/situation"))["evacuation"]
    assert evacuation["orders_active"] == 2 and evacuation["orders_issued"] == 2
    assert {o["broadcast_id"] for o in evacuation["orders"]} == {ref["id"]}

    # The same order again: nothing changes, nothing is drafted.
    again = api.ok(api.post(ORDERS, {"zone_ids": ["lianhua", "xiaohengqin"], "level": "mandatory"}))
    assert again == {"changed": False, "order": None, "orders": [], "broadcast": None}
    assert len(broadcasts(api)) == 1

    # Another level for one zone supersedes its order: a new broadcast to that zone only.
    r = api.ok(api.post(ORDERS, {"zone_id": "xiaohengqin", "level": "advised"}))
    advised = r["broadcast"]["id"]
    assert advised != ref["id"] and r["order"]["level"] == "advised"
    assert api.ok(api.get(f"/api/v1/broadcasts/{advised}"))["zones"] == ["xiaohengqin"]
    assert (
        "the nearest open shelter"
        in api.ok(api.get(f"/api/v1/broadcasts/{advised}"))["messages"]["en"]
    )

    # Lifting both drafts one lift message, linked to both lifted orders.
    lifted = api.ok(api.post(ORDERS + "/lift", {"zone_ids": ["lianhua", "xiaohengqin"]}))
    lift_id = lifted["broadcast"]["id"]
    assert [o["status"] for o in lifted["orders"]] == ["lifted", "lifted"]
    assert {o["lift_broadcast_id"] for o in lifted["orders"]} == {lift_id}
    lift = api.ok(api.get(f"/api/v1/broadcasts/{lift_id}"))
    assert lift["zones"] == ["lianhua", "xiaohengqin"] and lift["status"] == "awaiting_approval"
    assert lift["messages"]["en"].startswith("[Hengqin] Evacuation lifted: residents of ")
    nothing = api.ok(api.post(ORDERS + "/lift", {"zone_id": "lianhua"}))
    assert nothing["changed"] is False and nothing["broadcast"] is None
    assert len(broadcasts(api)) == 3

    # The after-action report counts every zone ordered, with the broadcast drafted for it.
    report = _report(app)
    assert report["figures"]["evacuation_orders"] == 3
    assert [
        (o["zone_id"], o["level"], o["broadcast_id"]) for o in report["evacuation"]["orders"]
    ] == [
        ("lianhua", "mandatory", ref["id"]),
        ("xiaohengqin", "mandatory", ref["id"]),
        ("xiaohengqin", "advised", advised),
    ]
    assert any(i["what"] == "evacuation_order" for i in report["timeline"])


def test_a_drills_order_is_an_exercise_order_with_an_exercise_broadcast(api, app):
    subscribe(api, "lianhua", 1)  # not on the exercise list: a drill never reaches them
    subscribe(api, "lianhua", 2, exercise=True, start=20)
    api.ok(api.post(f"/api/v1/shelters/{HALL}/open", {"open": True}))  # open for real only
    before = _real_situation(api)

    body = {"zone_id": "lianhua", "level": "mandatory", "shelter_ids": [HALL], "exercise": True}
    closed = api.post(ORDERS, body)
    assert closed.status_code == 409 and closed.json()["error"]["code"] == "shelter_closed"
    assert "in the drill" in closed.json()["error"]["message"]
    api.ok(api.post(f"/api/v1/shelters/{HALL}/open", {"open": True, "exercise": True}))
    r = api.ok(api.post(ORDERS, body))
    assert r["order"]["exercise"] is True and r["broadcast"]["exercise"] is True
    assert r["broadcast"]["recipients"] == 2  # the exercise list only
    b = api.ok(api.get(f"/api/v1/broadcasts/{r['broadcast']['id']}"))
    assert all("EXERCISE" in text for text in b["messages"].values())

    # Real orders, real situation: untouched. The drill's view shows it.
    assert api.ok(api.get(ORDERS)) == []
    assert _real_situation(api) == before
    drill = api.ok(api.get("/api/v1/situation", params={"exercise": "true"}))
    assert drill["exercise"] is True and drill["evacuation"]["orders_active"] == 1
    assert [o["zone_id"] for o in drill["evacuation"]["orders"]] == ["lianhua"]
    assert [b["id"] for b in drill["broadcasts"]["active"]] == [r["broadcast"]["id"]]
    # A real order of the same zone is its own: the drill's does not make it a no-op.
    real = api.ok(api.post(ORDERS, {"zone_id": "lianhua", "level": "mandatory"}))
    assert real["changed"] and real["order"]["exercise"] is False
    assert real["broadcast"]["recipients"] == 3  # every resident (the exercise list too)
    assert _report(app, exercise=True)["figures"]["evacuation_orders"] == 1
    assert _report(app)["figures"]["evacuation_orders"] == 1


def test_the_same_key_twice_issues_one_order(api, app):
    subscribe(api, "fuxiangwan", 1)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    body = {"zone_id": "fuxiangwan", "level": "advised"}
    first = api.post(ORDERS, body, headers=key)
    second = api.post(ORDERS, body, headers=key)
    assert first.status_code == second.status_code == 200, second.text
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert second.json() == first.json() and first.json()["changed"]
    assert len(api.ok(api.get(ORDERS))) == 1 and len(broadcasts(api)) == 1
    other = api.post(ORDERS, {**body, "level": "mandatory"}, headers=key)
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_key_reused"


@pytest.mark.parametrize(
    "body,status,code",
    [
        ({"zone_ids": ["lianhua", "atlantis"], "level": "mandatory"}, 422, "unknown_zone"),
        ({"level": "mandatory"}, 422, "invalid_input"),
        (
            {"zone_id": "lianhua", "level": "mandatory", "shelter_ids": [HALL]},
            409,
            "shelter_closed",
        ),
        (
            {"zone_id": "lianhua", "level": "mandatory", "shelter_ids": ["nowhere"]},
            404,
            "shelter_not_found",
        ),
        ({"zone_id": "lianhua", "level": "mandatory", "channels": ["fax"]}, 422, "invalid_input"),
    ],
)
def test_a_refused_order_stores_nothing(api, app, body, status, code):
    seq = last_seq(app)
    r = api.post(ORDERS, body)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code
    assert last_seq(app) == seq
    assert api.ok(api.get(ORDERS)) == [] and broadcasts(api) == []


# --- helpers -------------------------------------------------------------------------------


def _events(app, since: int) -> list[dict]:
    from emergency.events import service as event_service

    with app.db.session() as session:
        return event_service.events_since(session, since)


def _report(app, exercise: bool = False) -> dict:
    from emergency.report import data

    with app.db.session() as session:
        return data.build(session, catalogue=app.app.state.catalogue, exercise=exercise)


def _real_situation(api: Api) -> dict:
    """The real situation without what changes by itself (times, the event counter)."""
    sit = api.ok(api.get("/api/v1/situation"))
    for key in ("generated_at", "generated_at_local", "last_seq"):
        sit.pop(key)
    return sit
