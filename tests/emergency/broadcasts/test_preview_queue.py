"""The composer's ETA counts the SMS already waiting ahead of a new broadcast."""

from __future__ import annotations

import pytest

from tests.emergency.broadcasts.factories import TEXTS, seed
from tests.emergency.broadcasts.test_broadcasts_api import URL, post, zones_of


def test_preview_eta_includes_the_queue_ahead(alerts_app):
    app = alerts_app  # no worker: what is queued stays queued
    seed(app.db, zones_of(app), 30)
    body = {"messages": TEXTS, "zones": ["xiaohengqin"], "channels": ["sms"]}
    before = app.client.post(f"{URL}/preview", json=body, headers=app.auth("operator")).json()
    assert before["eta"]["queue_ahead_messages"] == 0
    assert before["eta"]["seconds_with_queue"] == before["eta"]["seconds"]
    assert post(app, body).status_code == 201
    after = app.client.post(f"{URL}/preview", json=body, headers=app.auth("operator")).json()
    eta = after["eta"]
    assert eta["queue_ahead_messages"] == 30
    assert eta["queue_ahead_segments"] >= 30
    assert eta["seconds_with_queue"] == pytest.approx(
        eta["seconds"] + eta["queue_ahead_segments"] / eta["sms_rate"], abs=0.1
    )


def test_priority_from_the_body_or_the_template_and_the_eta_counts_only_lanes_ahead(alerts_app):
    app = alerts_app  # no worker: what is queued stays queued
    seed(app.db, zones_of(app), 30)
    bulk = {"messages": TEXTS, "zones": ["xiaohengqin"], "channels": ["sms"]}
    r = post(app, bulk)
    assert r.status_code == 201 and r.json()["priority"] == "normal", r.text
    correction = {
        "template": "correction",
        "variables": {"sent_at": "08:07"},
        "zones": ["xiaohengqin"],
        "channels": ["sms"],
    }
    headers = app.auth("operator")
    ahead = {
        label: app.client.post(f"{URL}/preview", json=body, headers=headers).json()
        for label, body in (
            ("normal", bulk),
            ("high", {**bulk, "priority": "high"}),
            ("emergency template", correction),
        )
    }
    assert ahead["normal"]["eta"]["queue_ahead_messages"] == 30
    assert ahead["normal"]["priority"] == "normal"
    # 30 normal SMS queued: not ahead of a high or an emergency broadcast
    assert ahead["high"]["eta"]["queue_ahead_messages"] == 0
    assert ahead["high"]["eta"]["lanes_ahead"] == ["emergency", "high"]
    assert ahead["emergency template"]["priority"] == "emergency"
    assert ahead["emergency template"]["eta"]["queue_ahead_messages"] == 0
    r = post(app, {**bulk, "priority": "high"})
    assert r.status_code == 201 and r.json()["priority"] == "high", r.text
    eta = app.client.post(f"{URL}/preview", json=bulk, headers=headers).json()["eta"]
    assert eta["queue_ahead_messages"] == 60  # its own lane and the high one
