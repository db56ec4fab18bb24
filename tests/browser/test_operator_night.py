"""What a duty operator met on a storm night at the desk (session 5 review): a drill
broadcast's row says what it is about, the editor never advises emptying a send time it then
refuses, and an alarm in the event log is said in the screen's language."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from alerts.templates import EXERCISE_MARK
from tests.browser.test_cockpit import LIANHUA, field_token
from tests.browser.test_dashboard import add_subscribers, open_dashboard, post
from tests.support.waits import UI_TIMEOUT

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api").expect


@pytest.fixture
def desk(browser):
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-US")
    context.set_default_timeout(UI_TIMEOUT)
    yield context
    context.close()


def draft_for_later(app, *, exercise: bool) -> dict:
    later = (datetime.now(UTC) + timedelta(hours=3)).replace(microsecond=0)
    return post(
        app,
        "/api/v1/broadcasts",
        {
            "template": "evacuation_order",
            "variables": {"zone": "Lianhua", "shelter": "Sports hall"},
            "zones": ["lianhua"],
            "channels": ["sms"],
            "send_at": later.isoformat(),
            "exercise": exercise,
        },
    ).json()


def test_a_drill_broadcast_row_shows_its_text_not_the_mark(desk, live_app):
    add_subscribers(live_app, 3)
    draft = draft_for_later(live_app, exercise=True)
    assert draft["messages"]["en"].startswith(EXERCISE_MARK["en"])
    page = open_dashboard(desk, live_app)
    row = page.locator(f'[data-broadcast="{draft["id"]}"]')
    expect(row.locator(".chip.ex")).to_have_text("Exercise")  # the chip says it is a drill
    text = row.locator(".bc-text")
    expect(text).to_have_text(draft["messages"]["en"][len(EXERCISE_MARK["en"]) :])
    page.select_option("#lang", "zh-Hans")
    expect(text).to_have_text(draft["messages"]["zh-Hans"][len(EXERCISE_MARK["zh-Hans"]) :])
    assert page.errors == []


def test_the_editor_never_says_an_empty_send_time_means_now(desk, live_app):
    add_subscribers(live_app, 3)
    draft = draft_for_later(live_app, exercise=False)
    page = open_dashboard(desk, live_app)
    page.click(f'[data-broadcast="{draft["id"]}"] [data-action=edit]')
    editor = page.locator("#bc-edit")
    send_at = editor.locator("input[name=edit-send_at]")
    expect(send_at).not_to_have_value("")
    label = editor.locator("label:has(input[name=edit-send_at])")
    expect(label).to_contain_text("Send at (Macau time)")
    expect(label).not_to_contain_text("empty")
    result = editor.locator("[data-testid=edit-result]")
    # a time gone by: the advice is a later time, not "leave it empty" (which is refused)
    send_at.fill("2020-01-01T08:00")
    editor.locator("[data-testid=save-edit]").click()
    expect(result).to_have_text("The send time has passed: choose a later time (Macau time)")
    send_at.fill("")
    editor.locator("[data-testid=save-edit]").click()
    expect(result).to_contain_text("can be moved, not removed")
    assert page.errors == []


def test_an_alarm_in_the_event_log_is_in_the_screens_language(desk, live_app):
    page = open_dashboard(desk, live_app, lang="zh-Hant")
    token = field_token(live_app)
    r = live_app.client.post(
        "/api/v1/field-reports",
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "help-night-0001"},
        json={"kind": "help", "people": 2, "lat": LIANHUA[0], "lon": LIANHUA[1]},
    )
    assert r.status_code == 201, r.text
    row = page.locator("#log .log-row.t-alarm-raised")
    expect(row).to_contain_text("求助 #1: 已發出")
    page.select_option("#lang", "pt")
    expect(row).to_contain_text("Pedido de socorro #1: dado")
    assert page.errors == []


def compose_a_test_to_lianhua(page) -> None:
    """A short text in each language to Lianhua, in the composer (the preview follows)."""
    for lang, text in {
        "zh-Hans": "测试。",
        "zh-Hant": "測試。",
        "pt": "Teste.",
        "en": "Test.",
    }.items():
        page.fill(f"#compose textarea[name='msg-{lang}']", text)
    page.check("#compose input[name=zone][value=lianhua]")


def test_the_preview_shows_recipients_and_cost_on_a_phone(phone, live_app):
    """390 px wide: the preview's table fits, the people reached and the cost in sight (the
    encoding and length of each text are on its own counter above)."""
    add_subscribers(live_app, 8)
    page = open_dashboard(phone, live_app, lang="pt")
    compose_a_test_to_lianhua(page)
    total = page.locator("#compose [data-testid=preview-recipients]")
    expect(total).to_have_text("8")
    table = page.locator("#compose table.preview")
    table.scroll_into_view_if_needed()
    width = page.evaluate("document.documentElement.clientWidth")
    for cell in (total, table.locator("tr.total td").last, table.locator("th").nth(4)):
        box = cell.bounding_box()
        assert box and box["x"] + box["width"] <= width, (cell, box, width)
    expect(table.locator("th").nth(4)).to_have_text("Destinatários")
    expect(page.locator("#compose [data-count=pt]")).to_contain_text("GSM-7")
    assert page.errors == []


def test_a_time_in_seconds_is_said_in_chinese(desk, live_app):
    add_subscribers(live_app, 4)
    page = open_dashboard(desk, live_app, lang="zh-Hant")
    compose_a_test_to_lianhua(page)
    eta = page.locator("#compose [data-testid=preview-eta]")
    expect(eta).to_contain_text("預計全部發出需 ")
    assert eta.inner_text().split("需 ")[1].split(" ")[1].startswith("秒"), eta.inner_text()
    page.select_option("#lang", "en")
    page.check("#compose input[name=zone][value=xinjiayuan]")  # a new preview, in English
    expect(eta).to_contain_text(" s (")
    assert page.errors == []


def test_the_approver_sees_when_it_goes_out(desk, live_app):
    """An evacuation order for later: the approver is told when it goes, not only when it was
    drafted; one for now: that it goes once approved. Its texts in the screen's order."""
    add_subscribers(live_app, 3)
    later = draft_for_later(live_app, exercise=False)
    now = post(
        live_app,
        "/api/v1/broadcasts",
        {
            "template": "evacuation_order",
            "variables": {"zone": "Lianhua", "shelter": "Sports hall"},
            "zones": ["lianhua"],
            "channels": ["sms"],
        },
    ).json()
    assert later["status"] == now["status"] == "awaiting_approval"
    at = datetime.fromisoformat(later["send_at"]).astimezone(timezone(timedelta(hours=8)))
    page = open_dashboard(desk, live_app, "approver")
    card = page.locator(f'[data-approval="{later["id"]}"]')
    expect(card.locator("[data-testid=goes]")).to_have_text(f"goes out at {at:%m/%d}, {at:%H:%M}")
    row = page.locator(f'[data-broadcast="{later["id"]}"] [data-testid=goes]')
    expect(row).to_contain_text(f"{at:%H:%M}")
    expect(page.locator(f'[data-approval="{now["id"]}"] [data-testid=goes]')).to_have_text(
        "goes out once approved"
    )
    assert card.locator("dt").all_inner_texts() == ["简体", "繁體", "Português", "English"]
    page.select_option("#lang", "zh-Hans")
    expect(card.locator("[data-testid=goes]")).to_have_text(f"{at:%m/%d} {at:%H:%M} 发出")
    assert page.errors == []
    # the wall's one line says it too
    wall = open_dashboard(desk, live_app, "approver", lang="zh-Hans", mode="wall")
    line = wall.locator(f'#approvals .one-line[data-approval="{later["id"]}"] [data-testid=goes]')
    expect(line).to_be_visible()
    expect(line).to_have_text(f"{at:%m/%d} {at:%H:%M} 发出")
    assert wall.errors == []


def test_the_editor_speaks_of_voiding_an_approval_only_where_there_is_one(desk, live_app):
    add_subscribers(live_app, 3)  # the exercise list: under the approval threshold
    later = (datetime.now(UTC) + timedelta(hours=3)).replace(microsecond=0)
    small = post(
        live_app,
        "/api/v1/broadcasts",
        {
            "messages": {
                "zh-Hans": "演习。",
                "zh-Hant": "演習。",
                "pt": "Exercicio.",
                "en": "Drill.",
            },
            "zones": ["lianhua"],
            "channels": ["sms"],
            "send_at": later.isoformat(),
            "exercise": True,
        },
    ).json()
    assert small["status"] == "scheduled" and not small["approved_by"]
    big = draft_for_later(live_app, exercise=False)
    assert big["status"] == "awaiting_approval"
    page = open_dashboard(desk, live_app)
    page.click(f'[data-broadcast="{small["id"]}"] [data-action=edit]')
    editor = page.locator("#bc-edit")
    expect(editor.locator("h3")).to_contain_text(f"#{small['id']}")
    expect(editor).not_to_contain_text("voids its approval")
    page.click(f'[data-broadcast="{big["id"]}"] [data-action=edit]')
    expect(editor.locator("h3")).to_contain_text(f"#{big['id']}")
    expect(editor.locator("[data-testid=edit-voids]")).to_have_text(
        "Any change voids its approval: a second person approves it again."
    )
    assert page.errors == []
