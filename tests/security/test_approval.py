"""Two-person approval, extending tests/emergency/broadcasts (where an approver-role drafter is
refused): an admin passes every role check, but still not the second-person rule."""

from __future__ import annotations

from tests.emergency.broadcasts.factories import TEXTS
from tests.emergency.broadcasts.test_broadcasts_api import URL, outbox


def test_an_admin_may_not_approve_their_own_broadcast(alerts_settings):
    from tests.support import server

    with server.run(alerts_settings(TYPHOON_APPROVAL_THRESHOLD="0"), embedded_worker=False) as app:
        drafter = {"Authorization": f"Bearer {app.token('admin', name='admin-drafter')}"}
        r = app.client.post(
            URL,
            headers=drafter,
            json={"messages": TEXTS, "zones": ["xiaohengqin"], "channels": ["sms"]},
        )
        assert r.status_code == 201 and r.json()["status"] == "awaiting_approval", r.text
        approve = f"{URL}/{r.json()['id']}/approve"
        own = app.client.post(approve, headers=drafter)
        assert own.status_code == 403 and own.json()["error"]["code"] == "self_approval"
        assert outbox(app, r.json()["id"]) == []
        second = app.client.post(approve, headers=app.auth("approver"))
        assert second.status_code == 200, second.text
        assert second.json()["status"] != "awaiting_approval"
