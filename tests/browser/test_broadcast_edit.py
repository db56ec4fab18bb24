"""The broadcast screen: a broadcast's priority (its queue lane) chosen when drafting, and a
broadcast not yet started changed by its drafter (PATCH): one Idempotency-Key per click, the
button disabled while in flight, the approval voided, and the server's refusals said."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from alerts.templates import EXERCISE_MARK
from tests.browser.test_cockpit import AXE, axe
from tests.browser.test_dashboard import add_subscribers, open_dashboard, post
from tests.support.waits import UI_TIMEOUT

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api").expect

MARK = EXERCISE_MARK["en"]
TEXTS = {
    "zh-Hans": "横琴：请留在室内。",
    "zh-Hant": "橫琴：請留在室內。",
    "pt": "Hengqin: fique em casa.",
    "en": "Hengqin: stay indoors.",
}


def get(app, broadcast_id: int) -> dict:
    return app.client.get(f"/api/v1/broadcasts/{broadcast_id}", headers=app.auth("viewer")).json()


@pytest.fixture
def desk(browser):
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-US")
    context.set_default_timeout(UI_TIMEOUT)
    yield context
    context.close()


def test_the_drafter_chooses_the_priority(desk, live_app):
    add_subscribers(live_app, 3)
    page = open_dashboard(desk, live_app)
    lane = page.locator("#compose select[name=priority]")
    expect(lane).to_have_value("normal")
    assert lane.locator("option").all_inner_texts() == ["emergency", "high", "normal"]
    for lang, text in TEXTS.items():
        page.fill(f"#compose textarea[name='msg-{lang}']", text)
    page.check("#compose input[name=zone][value=lianhua]")
    lane.select_option("emergency")
    page.wait_for_selector("#compose [data-testid=preview-recipients]")
    page.click("#compose [data-testid=send]")
    page.click("#compose .confirm [data-testid=confirm]")
    page.wait_for_selector("#compose [data-testid=sent]")
    sent = page.inner_text("#compose [data-testid=sent]")
    broadcast_id = int(sent.split("#")[1].split(",")[0].split()[0])
    assert get(live_app, broadcast_id)["priority"] == "emergency"
    page.wait_for_selector(f'[data-broadcast="{broadcast_id}"] [data-priority=emergency]')
    expect(lane).to_have_value("normal")  # the form is reset for the next one
    # a template brings its own lane (evacuation orders: emergency)
    page.select_option("#compose select[name=template]", "evacuation_order")
    expect(lane).to_have_value("emergency")
    page.select_option("#compose select[name=template]", "signal_lowered")
    expect(lane).to_have_value("normal")
    assert page.errors == []


def test_the_drafter_changes_a_broadcast_not_yet_started(desk, live_app):
    add_subscribers(live_app, 3)
    later = (datetime.now(UTC) + timedelta(hours=3)).replace(microsecond=0)
    # an evacuation order (never pre-approved) for later, approved by a second person
    draft = post(
        live_app,
        "/api/v1/broadcasts",
        {
            "template": "evacuation_order",
            "variables": {"zone": "Lianhua", "shelter": "Sports hall"},
            "zones": ["lianhua"],
            "channels": ["sms"],
            "send_at": later.isoformat(),
            "exercise": True,  # its texts carry the EXERCISE mark, which the editor shows
        },
    ).json()
    broadcast_id = draft["id"]
    post(live_app, f"/api/v1/broadcasts/{broadcast_id}/approve", role="approver")
    assert get(live_app, broadcast_id)["approved_by"]

    page = open_dashboard(desk, live_app)
    # the approver's screen never shows an Edit: only the drafter may change it
    other = open_dashboard(desk, live_app, "approver")
    other.wait_for_selector(f'[data-broadcast="{broadcast_id}"]')
    assert other.locator("[data-action=edit]").count() == 0

    page.click(f'[data-broadcast="{broadcast_id}"] [data-action=edit]')
    editor = page.locator("#bc-edit")
    expect(editor.locator("textarea[name=edit-en]")).to_have_value(draft["messages"]["en"])
    expect(editor.locator("input[name=edit-send_at]")).not_to_have_value("")
    save = editor.locator("[data-testid=save-edit]")
    result = editor.locator("[data-testid=edit-result]")

    save.click()  # nothing changed: said, nothing sent
    expect(result).to_have_text("Nothing was changed")

    held, keys = [], []

    def hold(route) -> None:
        keys.append(route.request.headers.get("idempotency-key"))
        held.append(route)

    page.route(f"**/api/v1/broadcasts/{broadcast_id}", hold)
    new_en = "[Hengqin] EVACUATION ORDER: Lianhua residents, go now to the Sports hall."
    editor.locator("textarea[name=edit-en]").fill(new_en)
    page.check("#bc-edit input[name=edit-zone][value=xinjiayuan]")
    save.click()
    expect(save).to_be_disabled()  # in flight: a second click cannot send it again
    save.click(force=True)
    assert len(held) == 1 and keys[0]
    held[0].continue_()
    page.unroute(f"**/api/v1/broadcasts/{broadcast_id}")
    expect(result).to_contain_text(f"Saved: broadcast #{broadcast_id}, Awaiting approval")
    expect(result).to_contain_text("its approval was voided")
    expect(save).to_be_enabled()
    changed = get(live_app, broadcast_id)
    assert changed["messages"]["en"] == MARK + new_en
    assert changed["zones"] == ["lianhua", "xinjiayuan"]
    assert changed["status"] == "awaiting_approval" and changed["approved_by"] is None
    assert changed["messages"]["pt"] == draft["messages"]["pt"]
    # the approver is shown the new text to approve, not the one approved before
    other.wait_for_selector(f'[data-approval="{broadcast_id}"] dd:has-text("{new_en}")')
    # the editor shows the texts as saved (the mark back in front): untouched, nothing to save
    expect(editor.locator("textarea[name=edit-en]")).to_have_value(MARK + new_en)
    save.click()
    expect(result).to_have_text("Nothing was changed")

    # each click is its own action: another change, another key (seen by the server)
    page.route(f"**/api/v1/broadcasts/{broadcast_id}", hold)
    editor.locator("textarea[name=edit-en]").fill(new_en + " Bring ID.")
    save.click()
    expect(save).to_be_disabled()  # held at the route
    assert len(held) == 2 and keys[1] and keys[1] != keys[0]
    held[1].continue_()
    page.unroute(f"**/api/v1/broadcasts/{broadcast_id}")
    expect(result).to_contain_text(f"Saved: broadcast #{broadcast_id}")
    # its lane too (a template's evacuation order is emergency; this one can wait behind it)
    lane = editor.locator("select[name=edit-priority]")
    expect(lane).to_have_value("emergency")
    lane.select_option("high")
    save.click()
    expect(result).to_contain_text(f"Saved: broadcast #{broadcast_id}")
    assert get(live_app, broadcast_id)["priority"] == "high"
    page.wait_for_selector(f'[data-broadcast="{broadcast_id}"] [data-priority=high]')

    # the server's refusal, in the screen's language: cancelled meanwhile, it cannot change
    post(live_app, f"/api/v1/broadcasts/{broadcast_id}/cancel", role="approver")
    editor.locator("textarea[name=edit-en]").fill(new_en + " Now.")
    save.click()
    expect(result).to_have_text(
        "Error: this broadcast has started or ended: it can no longer be changed "
        "(cancel it and draft a new one)"
    )
    assert get(live_app, broadcast_id)["messages"]["en"] == MARK + new_en + " Bring ID."
    page.select_option("#lang", "zh-Hant")
    save.click()
    expect(result).to_contain_text("這條廣播已開始發送或已結束")
    assert page.errors == [] and other.errors == []


def test_axe_finds_nothing_serious_with_the_editor_open(browser, live_app):
    """The editor, the priority chips and the map's closed shelters (all closed here)."""
    if not AXE.exists():
        pytest.skip("axe-core not installed (npm ci in emergency/web)")
    add_subscribers(live_app, 3)
    later = (datetime.now(UTC) + timedelta(hours=3)).replace(microsecond=0)
    draft = post(
        live_app,
        "/api/v1/broadcasts",
        {
            "template": "evacuation_order",
            "variables": {"zone": "Lianhua", "shelter": "Sports hall"},
            "zones": ["lianhua"],
            "channels": ["sms"],
            "send_at": later.isoformat(),
        },
    ).json()
    context = browser.new_context(viewport={"width": 1440, "height": 900}, bypass_csp=True)
    try:
        page = open_dashboard(context, live_app, lang="pt")
        page.click(f'[data-broadcast="{draft["id"]}"] [data-action=edit]')
        page.wait_for_selector("#bc-edit textarea")
        page.wait_for_selector("#map .mk.sh-closed")
        found = axe(page)
        assert found == [], json.dumps(found)
    finally:
        context.close()
