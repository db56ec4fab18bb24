"""A kiosk's token from the link (`/#token=…`) is kept for that tab's session only
(sessionStorage), never left in localStorage for the next person at the machine; "stay
signed in", ticked by the person on the sign-in form, is what keeps a token."""

from __future__ import annotations

import pytest

from tests.support.waits import UI_TIMEOUT

pytestmark = pytest.mark.browser

LIVE = "#conn[data-status=live]"
STORED = "localStorage.getItem('typhoon.token')"
SESSION = "sessionStorage.getItem('typhoon.token')"


def test_a_token_from_the_link_lasts_the_session_only(browser, live_app):
    context = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="en-US")
    context.set_default_timeout(UI_TIMEOUT)
    try:
        token = live_app.token("viewer")
        wall = context.new_page()
        wall.goto(f"{live_app.url}/?mode=wall#token={token}")
        wall.wait_for_selector(LIVE)
        assert wall.evaluate(STORED) is None
        assert wall.evaluate(SESSION) == token
        wall.reload()  # the same tab stays signed in
        wall.wait_for_selector(LIVE)
        # another tab of the same browser (the next person) starts at the sign-in form
        desk = context.new_page()
        desk.goto(f"{live_app.url}/?lang=en")
        desk.wait_for_selector("#password-form")
        # the person who chooses to stay signed in (with a token) is kept signed in
        desk.click("#token-signin summary")
        desk.fill("#token", token)
        desk.check("#remember")
        desk.click("#token-button")
        desk.wait_for_selector(LIVE)
        assert desk.evaluate(STORED) == token
    finally:
        context.close()
