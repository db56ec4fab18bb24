"""The dashboard's "Messages sent": every real message of the night, after a reload too (the
server's total, not what this screen saw), moved by live progress, never by a drill."""

from __future__ import annotations

import threading

import pytest

from tests.browser.test_dashboard import add_subscribers, open_dashboard, post

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api").expect

SENT = "[data-counter=c_sent] .value"
TEXTS = {
    "zh-Hans": "台风：请留在室内。",
    "zh-Hant": "颱風：請留在室內。",
    "pt": "Tufao: fique em casa.",
    "en": "Typhoon: stay indoors.",
}


def broadcast(app, *, exercise: bool) -> dict:
    body = {"messages": TEXTS, "zones": ["lianhua"], "channels": ["sms"], "exercise": exercise}
    return post(app, "/api/v1/broadcasts", body).json()


def drain(app) -> None:
    """Send what is queued (in a thread: Playwright keeps an event loop in this one)."""
    worker = threading.Thread(target=app.drain)
    worker.start()
    worker.join()


def test_messages_sent_is_the_nights_total_and_never_a_drills(browser, live_app):
    add_subscribers(live_app, 3)  # in Lianhua, on the exercise list too
    for _ in range(7):  # more than the snapshot lists
        broadcast(live_app, exercise=False)
    # a replay's drills, one a minute, push the real broadcasts out of any recent list
    for _ in range(55):
        broadcast(live_app, exercise=True)
    drain(live_app)

    # bypass_csp: the test's own wait_for_function (the page's CSP allows no eval)
    context = browser.new_context(
        viewport={"width": 1366, "height": 768}, locale="en-US", bypass_csp=True
    )
    try:
        page = open_dashboard(context, live_app)
        expect(page.locator(SENT)).to_have_text("21")

        real = broadcast(live_app, exercise=False)
        drain(live_app)
        page.wait_for_selector(f'[data-broadcast="{real["id"]}"].st-completed')
        expect(page.locator(SENT)).to_have_text("24")  # the live update adds to the total

        drill = broadcast(live_app, exercise=True)
        drain(live_app)
        page.wait_for_function(  # the screen has its completion (below the real ones)
            "id => window.__dashboard.state.broadcasts.get(id)?.status === 'completed'",
            arg=drill["id"],
        )
        expect(page.locator(SENT)).to_have_text("24")

        page.reload()
        page.wait_for_selector("#conn[data-status=live]")
        expect(page.locator(SENT)).to_have_text("24")
        assert page.errors == []
    finally:
        context.close()
