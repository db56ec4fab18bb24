"""The operator's cockpit in Debian's Chromium, one test per flow: an alarm pushed to every
open screen and handled from the desk; the Yagi drill run by an operator, an approver
and a liaison officer from the dashboard alone (password sign-in, drill signal, liaison desk,
composer, approval); every field-operation screen's action; the wall read from 4 m at
1920×1080 and 1366×768 in the four languages; axe-core on / and /field. Screenshots go to
var/screenshots/ (1920×1080, 1366×768, 390×844)."""

from __future__ import annotations

import json
import shutil
import time
import uuid
from pathlib import Path

import pytest

from tests.browser.test_dashboard import (
    LIVE,
    add_subscribers,
    broadcasts_available,
    open_dashboard,
    post,
    signal,
    storm,
    tile,
)
from tests.support import server
from tests.support.waits import UI_TIMEOUT

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api").expect

AXE = Path(__file__).resolve().parents[2] / "emergency/web/node_modules/axe-core/axe.min.js"
LIANHUA = (22.1405, 113.5405)
PASSWORD = "typhoon-night-2024"


# --- helpers -------------------------------------------------------------------------------


def person(app, name: str, role: str, password: str = PASSWORD) -> str:
    """A user who signs in with a password (as after `typhoon user add` and the link)."""
    from emergency.auth import service as auth_service
    from emergency.auth.sessions import service as session_service

    with app.db.unit_of_work() as session:
        user, _ = auth_service.create_user(session, name=name, role=role, actor="test")
        session_service.set_password(session, user=user, password=password, actor="test")
    return name


def sign_in(context, app, name: str, *, lang="en", mode="desk", password=PASSWORD):
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors
    page.goto(f"{app.url}/?lang={lang}&mode={mode}")
    page.fill("#name", name)
    page.fill("#password", password)
    page.click("#password-form button[type=submit]")
    page.wait_for_selector(LIVE, timeout=UI_TIMEOUT)
    return page


def confirm(page, scope="body"):
    page.locator(f"{scope} .confirm [data-testid=confirm]").last.click()


def context_of(browser, width=1366, height=768, **kw):
    ctx = browser.new_context(viewport={"width": width, "height": height}, locale="en-US", **kw)
    ctx.set_default_timeout(UI_TIMEOUT)
    return ctx


def crew(app, name="Rescue team A", lat=22.138, lon=113.538):
    made = post(app, "/api/v1/crews", {"name": name, "headcount": 8, "lat": lat, "lon": lon}).json()
    return made


def field_token(app) -> str:
    name = f"Group {uuid.uuid4().hex[:4]}"
    group = post(app, "/api/v1/inspection-groups", {"name": name, "members": ["A"]}).json()
    link = post(app, "/api/v1/field/links", {"label": "Group 5 phone", "group_id": group["id"]})
    return link.json()["token"]


@pytest.fixture
def drill_app(tmp_path, _sqlite_template, settings_for):
    db = tmp_path / "typhoon.db"
    shutil.copy(_sqlite_template, db)
    settings = settings_for(
        f"sqlite:///{db}",
        TYPHOON_DATA_DIR=str(tmp_path / "data"),
        TYPHOON_SMS_RATE=40,
        TYPHOON_APPROVAL_THRESHOLD=20,
    )
    # as `typhoon serve` runs it: the dispatch worker sends what is approved
    with server.run(settings, embedded_worker=True, embedded_scheduler=True) as running:
        if not broadcasts_available(running):
            pytest.skip("broadcasts are not there")
        yield running


# --- 1. alarms -------------------------------------------------------------------------------


def test_a_live_update_keeps_the_crew_chosen_and_the_outcome_being_typed(browser, live_app):
    """Every live alarm update rebuilds the alarm list: a crew chosen but not yet assigned, and
    an outcome half typed (with the caret in it), must survive it (they were wiped, and the
    next click said "Choose a crew")."""
    app = live_app
    operator = person(app, "duty-lam", "operator")
    crew(app)
    token = field_token(app)

    def help_request(key: str, people: int) -> None:
        r = app.client.post(
            "/api/v1/field-reports",
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key},
            json={"kind": "help", "people": people, "lat": LIANHUA[0], "lon": LIANHUA[1]},
        )
        assert r.status_code == 201, r.text

    context = context_of(browser)
    try:
        desk = sign_in(context, app, operator)
        help_request("keep-0001-abcd", 3)
        expect(desk.locator("#alarms [data-alarm]")).to_have_count(1)
        alarm_id = desk.locator("#alarms [data-alarm]").get_attribute("data-alarm")
        first = desk.locator(f"#alarms [data-alarm='{alarm_id}']")
        first.locator("[data-testid=alarm-crew]").select_option(label="Rescue team A · standby · 8")
        first.locator("[data-testid=alarm-note]").click()
        first.locator("[data-testid=alarm-note]").press_sequentially("taken to the sch")
        help_request("keep-0002-abcd", 2)  # a second alarm: the list is rebuilt
        expect(desk.locator("#alarms [data-alarm]")).to_have_count(2)
        kept = first  # the same alarm's row, rebuilt
        expect(kept.locator("[data-testid=alarm-note]")).to_have_value("taken to the sch")
        expect(kept.locator("[data-testid=alarm-note]")).to_be_focused()
        desk.keyboard.type("ool")  # the caret is still there
        expect(kept.locator("[data-testid=alarm-note]")).to_have_value("taken to the school")
        kept.locator("[data-testid=alarm-assign]").click()
        expect(desk.locator("#alarms")).to_contain_text("Crew Rescue team A assigned")
        assert desk.errors == []
    finally:
        context.close()


def test_the_approve_button_keeps_the_focus_when_the_queue_is_redrawn(
    browser, drill_app, screenshots
):
    """A broadcast's events redraw the approvals queue (several times a second while one is
    being sent): an approver taken to the Approve button by the note at the top of the desk
    must still be on it after a redraw (the focus was lost; CI's drill test caught it)."""
    app = drill_app
    add_subscribers(app, 30)  # over the threshold of 20: each draft awaits approval
    approver = person(app, "duty-chan", "approver")
    body = {
        "messages": {
            "zh-Hans": "台风：请留在室内。",
            "zh-Hant": "颱風：請留在室內。",
            "pt": "Tufao: fique em casa.",
            "en": "Typhoon: stay indoors.",
        },
        "zones": ["lianhua"],
        "channels": ["sms"],
        "exercise": True,
    }
    first = post(app, "/api/v1/broadcasts", body).json()
    assert first["status"] == "awaiting_approval", first
    context = context_of(browser)
    try:
        desk = sign_in(context, app, approver)
        desk.click("#approval-note [data-testid=go-approvals]")
        button = desk.locator(f'[data-approval="{first["id"]}"] [data-action=approve]')
        expect(button).to_be_focused()
        post(app, "/api/v1/broadcasts", body)  # a second draft: the queue is redrawn
        expect(desk.locator("#approvals [data-approval]")).to_have_count(2)
        expect(button).to_be_focused()
        desk.screenshot(path=str(screenshots / "approvals-focus-1366x768.png"))
        desk.keyboard.press("Enter")  # the same button: its confirmation opens
        expect(desk.locator(f'[data-approval="{first["id"]}"] .confirm')).to_be_visible()
        assert desk.errors == []
    finally:
        context.close()


def test_an_alarm_reaches_open_desk_and_wall_screens_and_is_handled(browser, live_app, screenshots):
    app = live_app
    operator = person(app, "duty-chan", "operator")
    crew(app)
    token = field_token(app)
    desk_ctx, wall_ctx = context_of(browser), context_of(browser, 1920, 1080)
    try:
        desk = sign_in(desk_ctx, app, operator)
        desk.click("#sound")  # sound allowed by a person's click
        wall = open_dashboard(wall_ctx, app, "viewer", mode="wall")
        started = time.monotonic()
        r = app.client.post(
            "/api/v1/field-reports",
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "help-0001-abcd"},
            json={
                "kind": "help",
                "people": 3,
                "urgency": "critical",
                "note": "3 people trapped on car roof, water rising",
                "lat": LIANHUA[0],
                "lon": LIANHUA[1],
            },
        )
        assert r.status_code == 201, r.text
        # Pushed to the open pages (they poll nothing): the banner comes without a reload.
        # How fast (README: two seconds) is a machine's figure, not this test's: an event's
        # POST → screen latency is `make bench`'s /ws/live row (bench_load_websocket).
        for page in (desk, wall):
            page.wait_for_selector("#alarms[role=alert] [data-alarm]", timeout=UI_TIMEOUT)
        print(f"\nalarm on both screens {time.monotonic() - started:.2f} s after the report")
        for page in (desk, wall):
            banner = page.inner_text("#alarms")
            assert "Help request" in banner and "3 people" in banner and "Lianhua" in banner
            assert page.title().startswith("(1)")
            page.wait_for_selector("#map .mk.alarm")
        assert "car roof" in desk.inner_text("#alarms")  # the words: for the desk, not a viewer
        assert desk.inner_text("#alarms [data-testid=alarm-urgency]") == "critical"
        assert desk.evaluate("window.__dashboard.ctx.alarms.played") >= 1
        wall.screenshot(path=str(screenshots / "cockpit-alarm-wall-1920x1080.png"))
        desk.screenshot(path=str(screenshots / "cockpit-alarm-desk-1366x768.png"))

        desk.click("[data-testid=alarm-ack]")
        for page in (desk, wall):
            expect(page.locator("#alarms")).to_contain_text(f"Acknowledged by {operator}")
        desk.select_option("[data-testid=alarm-crew]", label="Rescue team A · standby · 8")
        desk.click("[data-testid=alarm-assign]")
        for page in (desk, wall):
            expect(page.locator("#alarms")).to_contain_text("Crew Rescue team A assigned")
        desk.fill("#alarms input[placeholder=Outcome]", "all three taken to the shelter")
        desk.click("[data-testid=alarm-close]")
        confirm(desk, "#alarms")
        for page in (desk, wall):
            page.wait_for_selector("#alarms", state="hidden", timeout=UI_TIMEOUT)
            assert not page.title().startswith("(")
        [alarm] = app.client.get("/api/v1/alarms", headers=app.auth("viewer")).json()
        assert alarm["status"] == "closed" and alarm["acknowledged_by"] == operator
        assert alarm["crew_name"] == "Rescue team A" and alarm["close_note"].startswith("all three")
        assert desk.errors == [] and wall.errors == []
    finally:
        desk_ctx.close()
        wall_ctx.close()


# --- 2. the Yagi drill, from the dashboard alone ------------------------------------------------


def test_yagi_drill_run_by_operator_approver_and_liaison_from_the_dashboard(
    browser, drill_app, screenshots
):
    from emergency.auth import service as auth_service
    from emergency.auth.sessions import service as session_service

    app = drill_app
    add_subscribers(app, 30)  # residents in Lianhua on the exercise list, four languages
    operator = person(app, "op-chan", "operator")
    approver = person(app, "ap-wong", "approver")
    with app.db.unit_of_work() as session:  # the liaison officer sets a password from the link
        user, _ = auth_service.create_user(session, name="li-lam", role="liaison", actor="cli")
        link = session_service.issue_link(session, user=user, actor="cli", public_url=app.url)
    contexts = [context_of(browser) for _ in range(3)]
    try:
        setter = contexts[2].new_page()
        setter.goto(link.replace("http://127.0.0.1:8000", app.url) + "&lang=en")
        setter.fill("#password", "liaison-desk-2024")
        setter.fill("#again", "liaison-desk-2024")
        setter.click("#set-password button")
        expect(setter.locator("#result")).to_contain_text("Password set for li-lam")
        setter.close()

        op = sign_in(contexts[0], app, operator)
        ap = sign_in(contexts[1], app, approver)
        li = sign_in(contexts[2], app, "li-lam", password="liaison-desk-2024")
        assert li.locator("#compose").is_hidden() and li.locator("#signal-form").is_hidden()
        assert li.locator("[data-tab]").all_inner_texts() == ["Liaison desk"]

        # 09-05 22:00: Macau hoists No. 8 NE, a drill level (never on the real tiles)
        op.select_option("#signal-form select[name=source]", "SMG")
        op.select_option("#signal-form select[name=kind]", "tropical_cyclone")
        op.select_option("#signal-form select[name=level]", "8NE")
        op.check("#signal-form input[name=exercise]")
        op.click("#signal-form [data-testid=raise]")
        op.click("#signal-form [data-testid=confirm-signal]")
        op.wait_for_selector('#drill [data-signal="SMG:tropical_cyclone"]')
        assert op.locator(tile("SMG", "tropical_cyclone")).is_visible()

        # the liaison desk acknowledges the notice and logs a hotline call
        li.wait_for_selector("#screen-liaison [data-notice] [data-testid=notice-ack]")
        notice = li.locator("#screen-liaison [data-notice]").first
        notice.locator("[data-testid=notice-ack]").click()
        status = li.locator("#screen-liaison [data-testid=status]")
        expect(status).to_contain_text("acknowledged")
        form = li.locator("#screen-liaison [data-form=call]")
        form.locator("[name=caller]").fill("SMG duty forecaster")
        form.locator("[name=summary]").fill("Confirmed No. 8 NE; gusts 150 km/h expected")
        form.locator("[name=follow_up]").fill("Call back at 23:00 about No. 9")
        form.locator("[data-testid=log-call]").click()
        expect(status).to_contain_text("logged")
        expect(li.locator("#screen-liaison [data-form=call] [name=caller]")).to_have_value("")
        li.wait_for_selector("#screen-liaison [data-call]")

        # the operator composes the stay-indoors drill broadcast from its template
        op.select_option("#compose select[name=template]", "stay_indoors_signal8")
        op.fill("#compose [data-var=issued_at][data-lang=en]", "22:00")
        op.fill("#compose [data-var=issued_at][data-lang=pt]", "22:00")
        op.check("#compose input[name=zone][value=lianhua]")
        op.check("#compose input[name=exercise]")
        op.wait_for_selector("#compose [data-phone=pt]")
        expect(op.locator("#compose [data-testid=preview-recipients]")).to_have_text("30")
        assert "GSM-7" in op.inner_text("#compose tr[data-lang=pt]")
        # the live count, as typed, says what the preview says (the drill mark included)
        segments = op.inner_text("#compose tr[data-lang=en] td:nth-child(4)")
        assert f"{segments} seg." in op.inner_text("#compose [data-count=en]")
        assert "UCS-2" in op.inner_text("#compose tr[data-lang=zh-Hant]")
        assert "22:00" in op.inner_text("#compose [data-phone=en]")
        assert op.locator("#compose [data-testid=preview-eta]").is_visible()
        op.screenshot(path=str(screenshots / "cockpit-composer-1366x768.png"), full_page=True)
        op.click("#compose [data-testid=send]")
        confirm(op, "#compose")
        sent = op.locator("#compose [data-testid=sent]")
        expect(sent).to_contain_text("Awaiting approval")
        broadcast_id = int(sent.inner_text().split("#")[1].split(",")[0])
        assert op.input_value("#compose textarea[name=msg-en]") == ""  # reset for the next

        # the approver (never the drafter) approves it
        card = f'[data-approval="{broadcast_id}"]'
        op.wait_for_selector(card)
        assert op.locator(f"{card} [data-action=approve]").count() == 0
        assert op.locator("#approval-note").is_hidden()  # one's own draft: nothing to do
        # the approver is told at the top of the desk (the queue is below the map)
        expect(ap.locator("#approval-note")).to_contain_text("Broadcasts awaiting your approval: 1")
        ap.click("#approval-note [data-testid=go-approvals]")
        expect(ap.locator(f"{card} [data-action=approve]")).to_be_focused()
        ap.click(f"{card} [data-action=approve]")
        confirm(ap, card)
        for page in (op, ap):
            page.wait_for_selector(card, state="detached")
        expect(ap.locator("#approval-note")).to_be_hidden()
        op.wait_for_selector(f'[data-broadcast="{broadcast_id}"].st-completed', timeout=60_000)

        # 09-06 14:00: No. 8 lowered (the drill level)
        op.select_option("#signal-form select[name=level]", "8NE")
        op.click("#signal-form [data-testid=lower]")
        op.click("#signal-form [data-testid=confirm-signal]")
        op.wait_for_selector("#drill", state="hidden")

        viewer = app.auth("viewer")
        body = app.client.get(f"/api/v1/broadcasts/{broadcast_id}", headers=viewer).json()
        assert body["status"] == "completed" and body["exercise"] is True
        notices = app.client.get("/api/v1/liaison/notices", headers=app.auth("liaison")).json()
        assert any(n["status"] == "acknowledged" for n in notices)
        calls = app.client.get("/api/v1/liaison/calls", headers=app.auth("liaison")).json()
        assert calls[0]["caller"] == "SMG duty forecaster"
        assert op.errors == [] and ap.errors == [] and li.errors == []
    finally:
        for ctx in contexts:
            ctx.close()


# --- 3. every field-operation screen ---------------------------------------------------------------


def test_each_field_operation_screen_acts_and_shows_the_result(browser, live_app, screenshots):
    app = live_app
    operator = person(app, "op-ho", "operator")
    team = crew(app)
    post(app, f"/api/v1/crews/{team['id']}/status", {"status": "standby"})
    hazard = post(
        app,
        "/api/v1/hazards",
        {
            "kind": "fallen_tree",
            "severity": "high",
            "place": "Huandao E Rd",
            "lat": 22.131,
            "lon": 113.541,
        },
    ).json()
    post(
        app,
        "/api/v1/vulnerable/residents",
        {"name": "Madam Leong", "address": "Block 2, Xiaohengqin", "community": "xiaohengqin"},
    )
    ctx = context_of(browser)
    try:
        page = sign_in(ctx, app, operator)

        def tab(name):
            page.click(f"[data-tab={name}]")
            return page.locator(f"#screen-{name}")

        # evacuation: one action, the order and its broadcast (confirmed), then lifted
        s = tab("evacuation")
        s.locator("select[name=zone_id]").select_option("north_shore_works")
        s.locator("[data-testid=issue-order]").click()
        confirm(page, "#screen-evacuation")
        expect(s.locator("[data-testid=status]")).to_contain_text("Order issued")
        expect(s.locator("[data-testid=status]")).to_contain_text("broadcast #")
        page.wait_for_selector("#map .leaflet-overlay-pane path[stroke='#ef4444']")
        s.locator("[data-order=north_shore_works] [data-testid=lift-order]").click()
        confirm(page, "#screen-evacuation")
        page.wait_for_selector("#screen-evacuation [data-order]", state="detached")

        # the composer: a template's variables take each language's name from the data
        page.select_option("#compose select[name=template]", "evacuation_order")
        page.select_option("#compose [data-choice=zone]", "xiaohengqin")
        page.select_option("#compose [data-choice=shelter]", "lianhua_sports_hall")
        pt = page.input_value("#compose textarea[name=msg-pt]")
        assert "Xiaohengqin" in pt and "Pavilhao" in pt  # accents off: the text stays GSM-7
        assert "小横琴" in page.input_value("#compose textarea[name=msg-zh-Hans]")
        assert "小橫琴" in page.input_value("#compose textarea[name=msg-zh-Hant]")
        expect(page.locator("#compose [data-count=pt]")).to_contain_text("GSM-7")

        # shelters: open one, set its occupancy
        s = tab("shelters")
        row = s.locator("[data-shelter=lianhua_sports_hall]")
        row.locator("[data-testid=shelter-toggle]").click()
        expect(s.locator("[data-testid=status]")).to_contain_text("Open")
        expect(s.locator("[data-shelter=lianhua_sports_hall] .chip").first).to_have_text("Open")
        row = s.locator("[data-shelter=lianhua_sports_hall]")
        row.locator("input[name=occupancy]").fill("412")
        row.locator("[data-testid=shelter-occupancy]").click()
        expect(page.locator("[data-shelter=lianhua_sports_hall]").first).to_contain_text("412")

        # crews: a task
        s = tab("crews")
        row = s.locator(f"[data-crew='{team['id']}']")
        row.locator("input[name=task]").fill("Sandbags at the school")
        row.locator("[data-testid=crew-task]").click()
        expect(s.locator(f"[data-crew='{team['id']}']")).to_contain_text("Sandbags at the school")

        # facilities: an override needs a reason, then a confirmation
        s = tab("facilities")
        row = s.locator("[data-facility=lotus_bridge]")
        row.locator("select[name=status]").select_option("closed")
        row.locator("[data-testid=facility-override]").click()
        expect(s.locator("[data-testid=status]")).to_have_text("Give the reason")
        row.locator("input[name=reason]").fill("Police closed it early: debris on the deck")
        row.locator("[data-testid=facility-override]").click()
        confirm(page, "#screen-facilities [data-facility=lotus_bridge]")
        page.wait_for_selector('#facilities [data-facility="lotus_bridge"][data-status="closed"]')

        # hazards: assign to the crew, then rectified, then verified
        s = tab("hazards")
        row = s.locator(f"[data-hazard='{hazard['id']}']")
        row.locator("select[name=assignee]").select_option(f"crew:{team['id']}")
        row.locator("[data-testid=hazard-assign]").click()
        expect(s.locator(f"[data-hazard='{hazard['id']}']")).to_contain_text("assigned")
        s.locator(f"[data-hazard='{hazard['id']}'] [data-testid=hazard-rectify]").click()
        confirm(page, "#screen-hazards")
        s.locator(f"[data-hazard='{hazard['id']}'] [data-testid=hazard-verify]").click()
        confirm(page, "#screen-hazards")
        page.wait_for_selector(f"#screen-hazards [data-hazard='{hazard['id']}']", state="detached")

        # field links: a QR code for a team's phone, then revoked
        s = tab("links")
        s.locator("[name=label]").fill("Group 9 phone")
        s.locator("[data-testid=make-link]").click()
        expect(s.locator("[data-testid=qr]")).to_be_visible()
        url = s.locator("[data-testid=link-url]").inner_text()
        assert "/field#token=" in url
        s.locator("[data-testid=revoke-link]").first.click()
        confirm(page, "#screen-links")
        expect(s.locator("[data-link]").first).to_contain_text("revoked")
        r = app.client.get(
            "/api/v1/field/context", headers={"Authorization": f"Bearer {url.split('=')[1]}"}
        )
        assert r.status_code == 401

        # vulnerable residents: names for an operator; a check recorded
        s = tab("vulnerable")
        row = s.locator("[data-resident]").first
        expect(row).to_contain_text("Madam Leong")
        row.locator("[data-testid=resident-check]").click()  # no outcome chosen in advance
        expect(s.locator("[data-testid=status]")).to_have_text("Choose what the check found")
        row.locator("select[name=state]").select_option("reached")
        row.locator("[data-testid=resident-check]").click()
        expect(s.locator("[data-testid=status]")).to_contain_text("reached")
        page.screenshot(path=str(screenshots / "cockpit-work-desk-1366x768.png"), full_page=True)
        assert page.errors == []
    finally:
        ctx.close()

    # roles that may not see names never get the tab (the server refuses them too)
    liaison_ctx = context_of(browser)
    try:
        page = open_dashboard(liaison_ctx, app, "liaison")
        assert page.locator("[data-tab=vulnerable]").count() == 0
    finally:
        liaison_ctx.close()


# --- 3b. what an operator at 3 a.m. would trip on ----------------------------------------------


def test_drill_and_real_are_told_apart_and_wrong_input_is_named(browser, live_app, screenshots):
    """Found driving the demo as its operators: the figures counted a drill's SMS, a
    confirmation did not say whether it was real or a drill, a drill evacuation order issued
    from the screen could not be seen or lifted there, a negative occupancy did nothing and a
    typo of 99,999 went through unasked, the liaison desk offered "By phone: #1", a replay's
    drill alarms and prompts pushed the real ones away, a refusal was the server's English."""
    app = live_app
    operator = person(app, "op-lau", "operator")
    hazard = post(
        app,
        "/api/v1/hazards",
        {
            "kind": "fallen_tree",
            "severity": "high",
            "place": "Lianhua Rd",
            "lat": 22.14,
            "lon": 113.54,
        },
    ).json()
    post(
        app,
        "/api/v1/liaison/notices",
        {"texts": {"en": "Signal 8 at 22:00, please confirm"}},
        role="liaison",
    )
    ctx, liaison_ctx = context_of(browser), context_of(browser)
    try:
        page = sign_in(ctx, app, operator)

        # the figures reported upward are of reality: a drill's 80 SMS never count
        page.evaluate("""() => import("/static/dashboard/store.js").then((m) => {
          m.mergeBroadcast({ id: 9001, exercise: true, status: "completed", recipients: 80, counts: { sent: 80 } });
          m.mergeBroadcast({ id: 9002, exercise: false, status: "completed", recipients: 7, counts: { sent: 5, delivered: 2 } });
          m.mergeBroadcast({ id: 9003, exercise: true, status: "completed", recipients: 4, counts: { sent: 4 } });
          m.touch("broadcasts", "counters");
        })""")
        expect(page.locator("#counters [data-counter=c_sent] .value")).to_have_text("7")
        # and a later drill broadcast never pushes the real one down the list
        listed = page.locator("#broadcasts .list [data-broadcast]").evaluate_all(
            "els => els.map(e => e.dataset.broadcast)"
        )
        assert listed.index("9002") < listed.index("9003"), listed

        # a replay's drill alarms sit in one line under the real ones until opened; a real
        # decision is listed before the drill's prompts
        page.evaluate("""() => import("/static/dashboard/store.js").then((m) => {
          const at = new Date().toISOString();
          for (const id of [7001, 7002, 7003]) m.putAlarm({ id, exercise: true, kind: "help", status: "open", raised_at: at, people: 2 });
          m.state.prompts.set(8001, { id: 8001, exercise: false, kind: "call", texts: { en: "Call Macau" }, created_at: at });
          m.state.prompts.set(8002, { id: 8002, exercise: true, kind: "drill", texts: { en: "Drill prompt" }, created_at: at });
          m.touch("alarms", "prompts");
        })""")
        expect(page.locator("#alarms .drill-summary")).to_contain_text("3 drill alarms")
        assert page.locator("#alarms [data-alarm]").count() == 0
        page.click("#alarms [data-testid=drill-alarms-toggle]")
        expect(page.locator("#alarms [data-alarm]")).to_have_count(3)
        page.click("#alarms [data-testid=drill-alarms-toggle]")
        expect(page.locator("#alarms [data-alarm]")).to_have_count(0)
        ids = page.locator("#prompts [data-prompt]").evaluate_all(
            "els => els.map(e => e.dataset.prompt)"
        )
        assert ids == ["8001", "8002"]

        # a send time already gone is said before the server is asked, in the screen's words
        for lang_, text in (
            ("zh-Hans", "测试"),
            ("zh-Hant", "測試"),
            ("pt", "Teste"),
            ("en", "Test"),
        ):
            page.fill(f"#compose textarea[name=msg-{lang_}]", text)
        page.check("#compose input[name=zone][value=lianhua]")
        page.fill("#compose input[name=send_at]", "2020-01-01T10:00")
        page.click("#compose [data-testid=send]")
        expect(page.locator("#compose .preview-out")).to_contain_text("The send time has passed")

        # a signal's confirmation says first whether it is real or a drill
        page.click("#signal-form [data-testid=raise]")
        expect(page.locator("#signal-form [data-testid=says]")).to_contain_text(
            "REAL (not a drill)"
        )
        page.click("#signal-form .confirm button:not([data-testid])")  # back: nothing sent
        page.check("#signal-form input[name=exercise]")
        page.click("#signal-form [data-testid=raise]")
        expect(page.locator("#signal-form [data-testid=says]")).to_contain_text("EXERCISE")
        page.click("#signal-form .confirm button:not([data-testid])")

        # a drill evacuation order: said to be one, listed marked EXERCISE, lifted from here
        page.click("[data-tab=evacuation]")
        s = page.locator("#screen-evacuation")
        s.locator("select[name=zone_id]").select_option("xinjiayuan")
        s.locator("input[name=exercise]").check()
        s.locator("[data-testid=issue-order]").click()
        expect(s.locator(".confirm")).to_contain_text("EXERCISE")
        confirm(page, "#screen-evacuation")
        order = s.locator("[data-order=xinjiayuan][data-exercise=true]")
        expect(order).to_contain_text("Exercise")
        order.locator("[data-testid=lift-order]").click()
        expect(s.locator(".confirm")).to_contain_text("EXERCISE")
        confirm(page, "#screen-evacuation")
        expect(order).to_have_count(0)
        # the event log marks the drill's events
        expect(page.locator("#log .log-row.ex.t-evacuation-updated").first).to_contain_text(
            "Exercise"
        )
        assert app.client.get("/api/v1/evacuation/orders", headers=app.auth("viewer")).json() == []

        # someone else rectified the hazard meanwhile: the refusal is said in words
        s = page.locator("#screen-hazards")
        page.click("[data-tab=hazards]")
        row = s.locator(f"[data-hazard='{hazard['id']}']")
        row.locator("input[name=note]").click()  # typing there: the row is not redrawn
        post(app, f"/api/v1/hazards/{hazard['id']}/rectify", {"note": "done, by phone"})
        row.locator("[data-testid=hazard-rectify]").click()
        confirm(page, "#screen-hazards")
        expect(s.locator("[data-testid=status]")).to_have_text(
            "Error: someone already changed it; the screen shows it as it is now"
        )
        expect(
            s.locator(f"[data-hazard='{hazard['id']}'] [data-testid=hazard-verify]")
        ).to_be_visible()

        # shelters: a wrong occupancy is named; more than the capacity is asked about
        page.click("[data-tab=shelters]")
        s = page.locator("#screen-shelters")
        row = s.locator("[data-shelter=lianhua_sports_hall]")
        row.locator("input[name=occupancy]").fill("-5")
        row.locator("[data-testid=shelter-occupancy]").click()
        expect(s.locator("[data-testid=status]")).to_have_text(
            "Occupancy is a whole number, 0 or more"
        )
        row.locator("input[name=occupancy]").fill("99999")
        row.locator("[data-testid=shelter-occupancy]").click()
        expect(s.locator(".confirm")).to_contain_text("more than its capacity")
        s.locator(".confirm button:not([data-testid])").click()  # back: the typo never sent
        expect(s.locator("[data-testid=status]")).to_have_text("")  # no stale message left
        page.screenshot(path=str(screenshots / "cockpit-operator-3am-1366x768.png"))
        assert page.errors == []

        # the liaison desk names who confirmed by phone
        li = open_dashboard(liaison_ctx, app, "liaison")
        who = li.locator("#screen-liaison [data-notice] select").first
        expect(who.locator("option").nth(1)).to_contain_text("By phone: ")
        assert "#" not in " ".join(who.locator("option").all_inner_texts())
        # a call logged with nothing filled in says so (never the last action's ✓)
        li.locator("#screen-liaison [data-form=call] [data-testid=log-call]").click()
        expect(li.locator("#screen-liaison [data-testid=status]")).to_have_text(
            "Check what you entered"
        )
        assert li.errors == []
    finally:
        ctx.close()
        liaison_ctx.close()
    shelters = app.client.get("/api/v1/shelters", headers=app.auth("viewer")).json()
    assert all(x["occupancy"] == 0 for x in shelters)


# --- 4. the wall, from 4 m ------------------------------------------------------------------------

# A text's font size (px) and whether it is seen whole: inside the window and its panel.
MEASURE = """() => {
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    if (!node.textContent.trim()) continue;
    const el = node.parentElement;
    if (!el || !el.offsetParent && getComputedStyle(el).position !== "fixed") continue;
    const style = getComputedStyle(el);
    if (style.visibility === "hidden" || el.closest("[hidden], .visually-hidden, .leaflet-control-attribution")) continue;
    const range = document.createRange(); range.selectNodeContents(node);
    // an ellipsis shows the start of a long text on purpose: the element's box is what is seen
    const r = style.textOverflow === "ellipsis" ? el.getBoundingClientRect() : range.getBoundingClientRect();
    if (!r.width || !r.height) continue;
    const panel = el.closest(".panel, header, .alarms, .banner");
    const p = panel ? panel.getBoundingClientRect() : { left: 0, top: 0, right: innerWidth, bottom: innerHeight };
    const cut = r.left < p.left - 1 || r.right > p.right + 1 || r.top < p.top - 1 || r.bottom > p.bottom + 1
      || r.right > innerWidth + 1 || r.bottom > innerHeight + 1
      || (el.scrollWidth > el.clientWidth + 1 && style.overflow === "hidden" && style.textOverflow !== "ellipsis");
    out.push({ text: node.textContent.trim().slice(0, 40), size: parseFloat(style.fontSize),
               figure: Boolean(el.closest(".counter .value")), cut, cls: el.className });
  }
  return out;
}"""
ENGLISH_UI = (
    "Broadcasts",
    "Figures",
    "EXERCISE",
    "Approval",
    "Facilities",
    "No signal",
    "Live",
    "Drill",
)


@pytest.fixture
def wall_app(tmp_path, _sqlite_template, settings_for):
    db = tmp_path / "typhoon.db"
    shutil.copy(_sqlite_template, db)
    settings = settings_for(
        f"sqlite:///{db}",
        TYPHOON_DATA_DIR=str(tmp_path / "data"),
        TYPHOON_SMS_RATE=5,
        TYPHOON_APPROVAL_THRESHOLD=50,
    )
    with server.run(settings) as running:
        storm(running)
        add_subscribers(running, 60, zone_point=(22.145, 113.54))
        texts = {
            "zh-Hans": "台风：请留在室内。",
            "zh-Hant": "颱風：請留在室內。",
            "pt": "Tufao: fique em casa.",
            "en": "Typhoon: stay indoors.",
        }
        for exercise in (True, True, False):  # drill traffic, and one real broadcast
            post(
                running,
                "/api/v1/broadcasts",
                {
                    "messages": texts,
                    "zones": ["lianhua"],
                    "channels": ["sms"],
                    "exercise": exercise,
                },
            )
        signal(running, "SMG", "tropical_cyclone", "8NE")
        post(
            running,
            "/api/v1/signals",
            {"source": "SMG", "kind": "rainstorm", "level": "red", "exercise": True},
        )
        token = field_token(running)
        running.client.post(
            "/api/v1/field-reports",
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "help-wall-0001"},
            json={
                "kind": "help",
                "people": 2,
                "note": "elderly couple, ground floor flooding",
                "lat": LIANHUA[0],
                "lon": LIANHUA[1],
            },
        )
        yield running


@pytest.mark.parametrize("lang", ["zh-Hans", "zh-Hant", "pt", "en"])
def test_wall_is_read_from_four_metres_and_fits_both_screens(browser, wall_app, screenshots, lang):
    for width, height in ((1920, 1080), (1366, 768)):
        ctx = context_of(browser, width, height)
        try:
            page = open_dashboard(ctx, wall_app, "viewer", lang=lang, mode="wall")
            page.wait_for_selector(tile("SMG", "tropical_cyclone", "8NE"))
            page.wait_for_selector("#alarms [data-alarm]")
            page.wait_for_selector("#map .mk.alarm")
            page.wait_for_timeout(800)  # the map's fit and its labels settle
            page.screenshot(path=str(screenshots / f"cockpit-wall-{lang}-{width}x{height}.png"))
            sizes = page.evaluate(
                "[document.scrollingElement.scrollHeight, document.scrollingElement.scrollWidth]"
            )
            assert sizes[0] <= height and sizes[1] <= width, sizes  # nothing scrolls
            texts = page.evaluate(MEASURE)
            small = [x for x in texts if x["size"] < 20]
            assert not small, small[:5]
            figures = [x for x in texts if x["figure"]]
            assert figures and min(x["size"] for x in figures) >= 48
            cut = [x for x in texts if x["cut"]]
            assert not cut, cut[:5]
            # real broadcasts first; the drill's traffic is one line
            assert page.locator("#broadcasts [data-broadcast]").count() >= 1
            assert page.locator("#broadcasts [data-broadcast] .chip.ex").count() == 0
            assert page.locator("#drill-line").is_visible()
            assert page.locator("#approvals [data-approval]").count() >= 1
            if lang != "en":
                # the interface's own words; messages, notes and names are data
                shown = page.evaluate(
                    """() => { const b = document.body.cloneNode(true);
                    b.querySelectorAll('.bc-text, .alarm-note, .approval .bc-head').forEach((e) => e.remove());
                    return b.innerText; }"""
                )
                assert not [w for w in ENGLISH_UI if w in shown], lang
            assert page.errors == []
        finally:
            ctx.close()


def test_desk_screenshots_at_three_sizes(browser, wall_app, screenshots):
    for width, height, kw in (
        (1920, 1080, {}),
        (1366, 768, {}),
        (390, 844, {"is_mobile": True, "has_touch": True}),
    ):
        ctx = context_of(browser, width, height, **kw)
        try:
            page = open_dashboard(ctx, wall_app, "operator", lang="zh-Hant")
            page.wait_for_selector("#alarms [data-alarm]")
            page.wait_for_timeout(500)
            page.screenshot(
                path=str(screenshots / f"cockpit-desk-zh-Hant-{width}x{height}.png"), full_page=True
            )
            assert page.evaluate("document.scrollingElement.scrollWidth") <= width
            assert page.errors == []
        finally:
            ctx.close()


# --- 5. accessibility: axe-core -------------------------------------------------------------------


def axe(page) -> list[dict]:
    page.add_script_tag(path=str(AXE))
    found = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "nodes": [(n["target"], n["failureSummary"][-160:]) for n in v["nodes"]][:4],
        }
        for v in found
        if v["impact"] in ("serious", "critical")
    ]


def test_axe_finds_nothing_serious_on_the_dashboard_and_the_field_form(browser, wall_app):
    if not AXE.exists():
        pytest.skip("axe-core not installed (npm ci in emergency/web)")
    ctx = context_of(browser, bypass_csp=True)  # axe is injected as a script of the test's own
    try:
        page = ctx.new_page()
        page.goto(f"{wall_app.url}/?lang=en")
        page.wait_for_selector("#password-form")
        found = axe(page)
        assert found == [], json.dumps(found)
        page = open_dashboard(ctx, wall_app, "operator", lang="zh-Hans")
        page.wait_for_selector("#alarms [data-alarm]")
        page.wait_for_selector("[data-tab]")
        found = axe(page)
        assert found == [], json.dumps(found)
    finally:
        ctx.close()
    phone = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, bypass_csp=True
    )
    try:
        page = phone.new_page()
        page.goto(f"{wall_app.url}/field#token={field_token(wall_app)}")
        page.wait_for_selector("#kinds button")
        found = axe(page)
        assert found == [], json.dumps(found)
        page.click("#kinds button.k-hazard")
        found = axe(page)
        assert found == [], json.dumps(found)
    finally:
        phone.close()
