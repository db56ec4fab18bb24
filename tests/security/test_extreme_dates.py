"""Extreme dates (year 1 at +14:00, which cannot be turned into UTC; year 9999, where a
deadline added to it overflows) in every time a request carries are a 422 naming the field,
never a 500, and store nothing."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from tests.emergency.field.conftest import LIANHUA

EXTREMES = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "9999-12-31T23:00:00Z"]


def written(app) -> tuple[int, int]:
    with app.db.session() as session:
        return tuple(
            session.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
            for t in ("audit_entry", "event")
        )


@pytest.mark.parametrize("when", EXTREMES)
def test_extreme_dates_are_422(app, when):
    operator = app.auth("operator")
    hazard = app.client.post(
        "/api/v1/hazards",
        headers=operator,
        json={"kind": "flooding", "severity": "high", "place": "Rua 1"},
    ).json()["id"]
    group = app.client.post(
        "/api/v1/inspection-groups",
        headers=operator,
        json={
            "name": "G",
            "leader": "Chen",
            "members": ["Chen"],
            "vehicles": [],
            "zone_ids": [],
            "grid_cells": [],
        },
    ).json()["id"]
    app.token("field")
    before = written(app)
    field = {**app.auth("field"), "Idempotency-Key": str(uuid.uuid4())}
    calls = {
        "observed_at": app.client.post(
            "/api/v1/field-reports",
            headers=field,
            json={"kind": "help", "lat": LIANHUA[0], "lon": LIANHUA[1], "observed_at": when},
        ),
        "due_at (new hazard)": app.client.post(
            "/api/v1/hazards",
            headers=operator,
            json={"kind": "flooding", "severity": "high", "place": "Rua 2", "due_at": when},
        ),
        "due_at (assign)": app.client.post(
            f"/api/v1/hazards/{hazard}/assign",
            headers=operator,
            json={"group_id": group, "due_at": when},
        ),
        "liaison call at": app.client.post(
            "/api/v1/liaison/calls",
            headers=operator,
            json={"direction": "inbound", "caller": "SMG", "summary": "s", "at": when},
        ),
        "signal expires_at": app.client.post(
            "/api/v1/signals",
            headers=operator,
            json={"source": "SMG", "kind": "tropical_cyclone", "level": "1", "expires_at": when},
        ),
        "broadcast send_at": app.client.post(
            "/api/v1/broadcasts",
            headers=operator,
            json={"messages": {"en": "test"}, "zones": ["lianhua"], "send_at": when},
        ),
        "signals since": app.client.get(
            "/api/v1/signals", headers=operator, params={"since": when}
        ),
    }
    wrong = {
        name: (r.status_code, r.text[:200])
        for name, r in calls.items()
        if r.status_code != 422 or "between 2000 and 2099" not in r.text
    }
    assert not wrong, wrong
    assert "observed_at" in calls["observed_at"].json()["error"]["message"]
    assert written(app) == before
