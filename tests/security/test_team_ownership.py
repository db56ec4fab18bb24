"""A field token acts only on its own team's hazards and crew tasks: rectifying another
group's or crew's hazard, by the hazard endpoint or by a `rectified` field report, is a 403
that changes nothing; its own team's hazards it rectifies (ending the crew's task), and an
operator rectifies any."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.emergency.field.conftest import LIANHUA, Api
from tests.emergency.field.factories import field_token, group, report

HAZARD = {
    "kind": "hazard",
    "hazard_kind": "fallen_tree",
    "severity": "high",
    "lat": LIANHUA[0],
    "lon": LIANHUA[1],
}


def crew(api: Api, name: str) -> dict:
    return api.ok(
        api.post("/api/v1/crews", {"name": name, "headcount": 6, "lat": 22.14, "lon": 113.54}),
        201,
    )


def state(app, hazard_id: int) -> tuple[str, int, int]:
    """(hazard status, open crew tasks of it, audit entries)."""
    with app.db.session() as session:
        status = session.execute(
            text("SELECT status FROM hazard WHERE id = :h"), {"h": hazard_id}
        ).scalar_one()
        tasks = session.execute(
            text("SELECT count(*) FROM crew_task WHERE hazard_id = :h AND status = 'assigned'"),
            {"h": hazard_id},
        ).scalar_one()
        audit = session.execute(text("SELECT count(*) FROM audit_entry")).scalar_one()
    return status, tasks, audit


def rectify(app, token: str, hazard_id: int):
    return app.client.post(
        f"/api/v1/hazards/{hazard_id}/rectify",
        headers={"Authorization": f"Bearer {token}"},
        json={"note": "cleared"},
    )


@pytest.fixture
def teams(app, api):
    a, b = group(api, name="Group A")["id"], group(api, name="Group B")["id"]
    x, y = crew(api, "Crew X")["id"], crew(api, "Crew Y")["id"]
    return {
        "a": (a, field_token(api, app, group_id=a, label="Group A phone")),
        "b": (b, field_token(api, app, group_id=b, label="Group B phone")),
        "x": (x, field_token(api, app, crew_id=x, label="Crew X phone")),
        "y": (y, field_token(api, app, crew_id=y, label="Crew Y phone")),
    }


def test_field_tokens_rectify_only_their_own_teams_hazards(app, api, teams):
    _, token_a = teams["a"]
    _, token_b = teams["b"]
    crew_y, token_x = teams["y"][0], teams["x"][1]
    # B reports a hazard (open, B's); another one is assigned to crew Y (a crew task)
    r = report(app, token_b, HAZARD)
    assert r.status_code == 201, r.text
    of_b = r.json()["result"]["hazard_id"]
    of_y = api.ok(
        api.post("/api/v1/hazards", {"kind": "flooding", "severity": "high", "place": "Rua 1"}), 201
    )["id"]
    api.ok(api.post(f"/api/v1/hazards/{of_y}/assign", {"crew_id": crew_y}))
    before_b, before_y = state(app, of_b), state(app, of_y)
    assert before_y[:2] == ("assigned", 1)

    # another team's: refused both ways, nothing changes
    for token, hazard_id in ((token_a, of_b), (token_x, of_y), (token_a, of_y)):
        refused = rectify(app, token, hazard_id)
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["code"] == "not_your_team"
        by_report = report(app, token, {"kind": "rectified", "hazard_id": hazard_id})
        assert by_report.status_code == 403, by_report.text
    assert state(app, of_b) == before_b and state(app, of_y) == before_y
    with app.db.session() as session:
        assert (
            session.execute(
                text("SELECT count(*) FROM field_report WHERE kind = 'rectified'")
            ).scalar_one()
            == 0
        )

    # their own: B rectifies the hazard it reported; Y's phone ends Y's task
    assert rectify(app, token_b, of_b).status_code == 200
    token_y = teams["y"][1]
    done = report(app, token_y, {"kind": "rectified", "hazard_id": of_y, "note": "pumped"})
    assert done.status_code == 201, done.text
    assert state(app, of_y)[:2] == ("rectified", 0)


def test_assigned_to_another_team_leaves_the_reporting_group_out(app, api, teams):
    token_a, (b, token_b) = teams["a"][1], teams["b"]
    hazard_id = report(app, token_a, HAZARD).json()["result"]["hazard_id"]
    api.ok(api.post(f"/api/v1/hazards/{hazard_id}/assign", {"group_id": b}))
    assert rectify(app, token_a, hazard_id).status_code == 403  # A reported it, B has it now
    assert rectify(app, token_b, hazard_id).status_code == 200


def test_operators_rectify_any_hazard(app, api, teams):
    hazard_id = report(app, teams["b"][1], HAZARD).json()["result"]["hazard_id"]
    r = app.client.post(
        f"/api/v1/hazards/{hazard_id}/rectify", headers=app.auth("operator"), json={}
    )
    assert r.status_code == 200 and r.json()["status"] == "rectified"


def test_field_tokens_read_only_their_own_teams_photos(app, api, teams):
    """A photo may show a resident's home or face: a field token reads the photos of its own
    team's reports and hazards (reported by it or assigned to it) and what it uploaded;
    another team's are a 403; operators read any, viewers none."""
    from tests.emergency.field.factories import jpeg, upload

    token_a, token_b = teams["a"][1], teams["b"][1]
    (x, token_x), (_, token_y) = teams["x"], teams["y"]
    # B reports a hazard with a photo; the command post assigns it to crew X
    photo = upload(app, token_b, jpeg(color=(10, 200, 30))).json()["id"]
    hazard = report(app, token_b, {**HAZARD, "photo_id": photo})
    assert hazard.status_code == 201, hazard.text
    hazard_id = hazard.json()["result"]["hazard_id"]
    api.ok(api.post(f"/api/v1/hazards/{hazard_id}/assign", {"crew_id": x}))
    # A uploads one it has not sent with a report yet
    unsent = upload(app, token_a, jpeg(color=(240, 240, 10))).json()["id"]

    def read(token: str, photo_id: str) -> int:
        headers = {"Authorization": f"Bearer {token}"}
        return app.client.get(f"/api/v1/photos/{photo_id}", headers=headers).status_code

    another_b_phone = field_token(api, app, group_id=teams["b"][0], label="Group B phone 2")
    assert read(token_b, photo) == 200  # its own report's
    assert read(another_b_phone, photo) == 200  # its team's
    assert read(token_x, photo) == 200  # the hazard is assigned to its crew
    assert read(token_a, unsent) == 200  # what it uploaded itself
    for token, photo_id in ((token_a, photo), (token_y, photo), (token_b, unsent)):
        refused = app.client.get(
            f"/api/v1/photos/{photo_id}", headers={"Authorization": f"Bearer {token}"}
        )
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["code"] == "not_your_team"
    assert (
        app.client.get(f"/api/v1/photos/{photo}", headers=app.auth("operator")).status_code == 200
    )
    assert app.client.get(f"/api/v1/photos/{unsent}", headers=app.auth("admin")).status_code == 200
    assert app.client.get(f"/api/v1/photos/{photo}", headers=app.auth("viewer")).status_code == 403


def test_a_field_token_cannot_claim_another_teams_photo_by_attaching_it(app, api, teams):
    """The hazard list shows every field token the ids of other teams' photos; attaching one
    to a report of its own (any kind, or a rectification) must not make it readable: it is
    refused (403 not_your_team), nothing is stored, and the photo stays another team's."""
    from tests.emergency.field.factories import jpeg, upload

    token_a, (b, token_b) = teams["a"][1], teams["b"]
    photo = upload(app, token_b, jpeg(color=(200, 20, 130))).json()["id"]
    assert report(app, token_b, {**HAZARD, "photo_id": photo}).status_code == 201
    own_hazard = report(app, token_a, HAZARD).json()["result"]["hazard_id"]
    listed = app.client.get("/api/v1/hazards", headers={"Authorization": f"Bearer {token_a}"})
    assert photo in {h["photo_id"] for h in listed.json()}  # A learns the id this way

    def read() -> int:
        headers = {"Authorization": f"Bearer {token_a}"}
        return app.client.get(f"/api/v1/photos/{photo}", headers=headers).status_code

    assert read() == 403
    before = state(app, own_hazard)
    attempts = (
        report(app, token_a, {**HAZARD, "photo_id": photo}),
        report(app, token_a, {"kind": "check_in", "photo_id": photo}),
        report(app, token_a, {"kind": "rectified", "hazard_id": own_hazard, "photo_id": photo}),
        app.client.post(
            f"/api/v1/hazards/{own_hazard}/rectify",
            headers={"Authorization": f"Bearer {token_a}"},
            json={"photo_id": photo},
        ),
    )
    for attempt in attempts:
        assert attempt.status_code == 403, attempt.text
        assert attempt.json()["error"]["code"] == "not_your_team"
    assert read() == 403
    assert state(app, own_hazard) == before
    # its own team still attaches it (another phone of B), and operators any
    another_b = field_token(api, app, group_id=b, label="Group B second phone")
    assert report(app, another_b, {**HAZARD, "photo_id": photo}).status_code == 201
    assert api.post("/api/v1/hazards", {**HAZARD_DESK, "photo_id": photo}).status_code == 201


HAZARD_DESK = {"kind": "flooding", "severity": "high", "place": "Rua 2"}
