"""Issue 20 item 7: while dispatch workers send without Redis (at their local share of the SMS
rate), every dashboard says so in a banner, a screen opened after it began too (the state is
in the situation snapshot, not only in an event it was not open for), in the screen's
language; the banner goes when they recover (or are gone: a worker that died degraded)."""

from __future__ import annotations

import threading

import pytest

from tests.browser.conftest import PHONE
from tests.browser.test_dashboard import open_dashboard

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api").expect

BANNER = "#dispatch-banner"
FLAG = "#dispatch-flag"
WORDS = {
    "zh-Hans": "短信降级发送",
    "zh-Hant": "短訊降級發送",
    "pt": "SMS em modo degradado",
    "en": "SMS degraded",
}


def say(app, worker: str, without_redis: list[str], sms_rate: float | None) -> None:
    """What a worker's heartbeat records (emergency.dispatch.status.record, as the worker)."""
    from emergency.dispatch import status

    with app.db.unit_of_work() as session:
        status.record(session, worker_id=worker, without_redis=without_redis, sms_rate=sms_rate)


def gone(app, worker: str) -> None:
    """`worker` not heard of for a while (it died degraded); the scheduler's sweep runs (in
    a thread: Playwright keeps an event loop in this one)."""
    from datetime import timedelta

    from sqlalchemy import update

    from emergency.dispatch import status

    with app.db.unit_of_work() as session:
        session.execute(
            update(status.DispatchDegraded)
            .where(status.DispatchDegraded.worker_id == worker)
            .values(seen_at=status.utcnow() - timedelta(minutes=5))
        )
    sweep = threading.Thread(target=app.drain)
    sweep.start()
    sweep.join()


def test_a_screen_opened_during_a_redis_outage_shows_the_banner_until_recovery(
    browser, live_app, screenshots
):
    say(live_app, "worker-a:4242:abc123", ["queue", "rate"], 5.0)
    say(live_app, "worker-b:4243:def456", ["queue"], 5.0)
    screens = {  # name: (context options, role, mode)
        "desk-1440x900": ({"viewport": {"width": 1440, "height": 900}}, "operator", "desk"),
        "wall-2560x1440": ({"viewport": {"width": 2560, "height": 1440}}, "viewer", "wall"),
        "phone-390x844": (PHONE, "operator", "desk"),
    }
    contexts, pages = [], {}
    try:
        for name, (options, role, mode) in screens.items():
            # bypass_csp: the test's own wait_for_function (the page's CSP allows no eval)
            context = browser.new_context(**options, locale="en-US", bypass_csp=True)
            contexts.append(context)
            # opened after both workers said so: what it shows comes from the snapshot
            page = pages[name] = open_dashboard(context, live_app, role, mode=mode)
            banner = page.locator(BANNER)
            expect(banner).to_be_visible()
            expect(banner).to_contain_text("SMS degraded")
            expect(banner).to_contain_text("2 worker(s)")
            expect(banner).to_contain_text("10/s")
            # scrolled down to the composer, the header still says so
            page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
            expect(page.locator(FLAG)).to_be_in_viewport()
            expect(page.locator(FLAG)).to_have_text("⚠ SMS degraded")
            page.evaluate("window.scrollTo(0, 0)")
            page.screenshot(path=str(screenshots / f"dispatch-degraded-{name}.png"))

        desk = pages["desk-1440x900"]
        for lang, words in WORDS.items():
            desk.select_option("#lang", lang)
            expect(desk.locator(BANNER)).to_contain_text(words)
            if lang != "en":
                expect(desk.locator(BANNER)).not_to_contain_text("SMS degraded")
                expect(desk.locator(FLAG)).not_to_have_text("⚠ SMS degraded")
                desk.screenshot(path=str(screenshots / f"dispatch-degraded-desk-{lang}.png"))

        say(live_app, "worker-a:4242:abc123", [], None)  # Redis answers worker A again
        for page in pages.values():
            expect(page.locator(BANNER)).to_contain_text("1 worker(s)")
            expect(page.locator(BANNER)).to_contain_text("5/s")
        gone(live_app, "worker-b:4243:def456")  # died degraded: the scheduler's sweep
        for page in pages.values():
            expect(page.locator(BANNER)).to_be_hidden()
            expect(page.locator(FLAG)).to_be_hidden()
            assert page.errors == []
        # a screen opened now: its snapshot lists no degraded worker, and no banner shows
        late = open_dashboard(contexts[0], live_app)
        late.wait_for_function(
            "() => window.__dashboard.state.situation?.dispatch?.degraded_workers?.length === 0"
        )
        expect(late.locator(BANNER)).to_be_hidden()
    finally:
        for context in contexts:
            context.close()
