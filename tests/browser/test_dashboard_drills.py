"""The dashboard's real panels never show a drill's field records (issue 13 item 5): a drill's
live events say `"exercise": true` and leave the real counters as they are."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.test_dashboard import desk, open_dashboard, post  # noqa: F401 (fixture)
from tests.support.waits import UI_TIMEOUT


def test_a_drills_movement_never_reaches_the_real_counters(desk, live_app):  # noqa: F811
    page = open_dashboard(desk, live_app)
    evacuated = page.locator("[data-counter=c_evacuated] .value")
    post(live_app, "/api/v1/evacuation/movements", {"people": 37, "to_place": "Relatives"})
    expect(evacuated).to_have_text("37", timeout=UI_TIMEOUT)
    drill = {"people": 500, "to_place": "Drill muster point", "exercise": True}
    post(live_app, "/api/v1/evacuation/movements", drill)
    # An event after the drill's: once it is on the board, the drill's has been read too.
    post(live_app, "/api/v1/facilities/lotus_bridge/status", {"status": "closed"})
    page.wait_for_selector(
        '[data-facility="lotus_bridge"][data-status="closed"]', timeout=UI_TIMEOUT
    )
    expect(evacuated).to_have_text("37")
    page.reload()  # the snapshot (GET /api/v1/situation) is real records only, too
    expect(page.locator("[data-counter=c_evacuated] .value")).to_have_text("37")
    assert not page.errors
