"""Browser push on the exercise list is for the staff who take part in drills at the desk:
field phones and viewer screens are refused (403) and nothing is stored; admins, operators,
approvers and liaison officers subscribe."""

from __future__ import annotations

from sqlalchemy import text

from alerts.testing import run_push_endpoint

PUSH = "/api/v1/push/subscriptions"


def subscriptions(app) -> int:
    with app.db.session() as session:
        return session.execute(text("SELECT count(*) FROM push_subscription")).scalar_one()


def test_exercise_push_subscriptions_only_for_drill_staff(alerts_app):
    app = alerts_app
    with run_push_endpoint() as push:
        browsers = {role: push.new_subscription() for role in ("field", "viewer")}
        staff = {
            role: push.new_subscription() for role in ("admin", "operator", "approver", "liaison")
        }
    for role, subscription in browsers.items():
        r = app.client.post(
            PUSH,
            headers=app.auth(role),
            json={"subscription": subscription, "language": "en", "exercise": True},
        )
        assert r.status_code == 403, (role, r.text)
        assert r.json()["error"]["code"] == "forbidden"
    assert subscriptions(app) == 0
    for role, subscription in staff.items():
        r = app.client.post(
            PUSH,
            headers=app.auth(role),
            json={"subscription": subscription, "language": "en", "exercise": True},
        )
        assert r.status_code == 201 and r.json()["exercise"] is True, (role, r.text)
    # the same field phone may still get the real warnings like any resident
    r = app.client.post(
        PUSH, headers=app.auth("field"), json={"subscription": browsers["field"], "language": "en"}
    )
    assert r.status_code == 201 and r.json()["exercise"] is False
