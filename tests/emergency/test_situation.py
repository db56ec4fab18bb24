"""The situation snapshot's message totals: every real message ever sent, not only those of
the few broadcasts the snapshot lists, and never a drill's (the dashboard's "Messages sent"
after a reload)."""

from __future__ import annotations

from tests.emergency.broadcasts.factories import LIANHUA, TEXTS, XIAOHENGQIN, seed
from tests.emergency.broadcasts.test_broadcasts_api import post, zones_of


def test_message_totals_count_every_real_broadcast_and_no_drill(app_server):
    app = app_server
    seed(app.db, zones_of(app), 3, at=XIAOHENGQIN)
    seed(app.db, zones_of(app), 2, at=LIANHUA)
    seed(app.db, zones_of(app), 4, at=XIAOHENGQIN, exercise=True, seed=2)
    real = [
        post(app, {"messages": TEXTS, "zones": [zone], "channels": ["sms"]}).json()
        for zone in ["xiaohengqin", "lianhua"] * 4  # 8 broadcasts: more than the 5 listed
    ]
    drill = post(
        app, {"messages": TEXTS, "zones": ["xiaohengqin"], "channels": ["sms"], "exercise": True}
    ).json()
    # the exercise list's residents are residents too: real warnings reach them
    assert [b["recipients"] for b in real] == [7, 2] * 4 and drill["recipients"] == 4
    app.drain()

    situation = app.client.get("/api/v1/situation", headers=app.auth("viewer")).json()
    section = situation["broadcasts"]
    assert len(section["recent"]) == 5  # the snapshot lists a few broadcasts, counts them all
    totals = section["totals"]
    assert totals["sent"] + totals["delivered"] == 36 and totals["failed"] == 0
    assert totals["queued"] == totals["sending"] == 0
    assert totals["last_broadcast_id"] == real[-1]["id"]  # later ones are new to a screen

    drills = app.client.get(
        "/api/v1/situation", params={"exercise": "true"}, headers=app.auth("viewer")
    ).json()["broadcasts"]["totals"]
    assert drills["sent"] + drills["delivered"] == 4
    assert drills["last_broadcast_id"] == drill["id"]

    # what is still to go is not sent: a new real broadcast counts once it has left
    queued = post(app, {"messages": TEXTS, "zones": ["lianhua"], "channels": ["sms"]}).json()
    totals = app.client.get("/api/v1/situation", headers=app.auth("viewer")).json()["broadcasts"][
        "totals"
    ]
    assert totals["sent"] + totals["delivered"] == 36 and totals["queued"] == 2
    assert totals["last_broadcast_id"] == queued["id"]
