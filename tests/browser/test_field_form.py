"""The field form on a phone: a hazard with a photo, then offline, two reports queued, back
online, and both arrive exactly once (even when an answer is lost on the way back).
Screenshots of every form in two languages go to var/screenshots/."""

from __future__ import annotations

import time
from io import BytesIO

import pytest
from PIL import Image

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api").expect


def setup_teams(app) -> dict[str, str]:
    op = app.auth("operator")
    c = app.client
    group = c.post(
        "/api/v1/inspection-groups",
        headers=op,
        json={
            "name": "Inspection group 7",
            "members": ["Chen", "Leong", "Wong"],
            "vehicles": ["粤C·12345"],
            "zone_ids": ["lianhua"],
        },
    ).json()
    crew = c.post(
        "/api/v1/crews",
        headers=op,
        json={"name": "Rescue team 3", "headcount": 60, "station": "Lianhua"},
    ).json()
    c.post("/api/v1/shelters/lianhua_sports_hall/open", headers=op, json={"open": True})
    c.post("/api/v1/shelters/hengqin_hou_kong_school/open", headers=op, json={"open": True})
    c.post(
        "/api/v1/hazards",
        headers=op,
        json={
            "kind": "fallen_tree",
            "severity": "high",
            "place": "Huandao E Rd",
            "lat": 22.131,
            "lon": 113.541,
        },
    )
    links = {}
    for label, body in (
        ("group", {"group_id": group["id"]}),
        ("crew", {"crew_id": crew["id"]}),
        ("social", {}),
    ):
        r = c.post(
            "/api/v1/field/links",
            headers=op,
            json={
                "label": {
                    "group": "Inspection group 7",
                    "crew": "Rescue team 3",
                    "social": "Social worker Lam",
                }[label],
                **body,
            },
        ).json()
        links[label] = r["token"]
    ctx = c.get(
        "/api/v1/field/context", headers={"Authorization": f"Bearer {links['social']}"}
    ).json()
    c.post(
        "/api/v1/vulnerable/residents",
        headers=op,
        json={
            "name": "Demo Resident",
            "address": "Block 2, Xiaohengqin",
            "community": "xiaohengqin",
            "followed_by": ctx["user"],
        },
    )
    return links


def photo_file(tmp_path):
    path = tmp_path / "tree.jpg"
    img = Image.new("RGB", (3000, 2000), (40, 120, 40))
    for x in range(0, 3000, 100):
        img.paste((90, 60, 30), (x, 900, x + 50, 1100))
    img.save(path, "JPEG")
    return path


def reports(app, role="operator"):
    return app.client.get("/api/v1/field-reports", headers=app.auth(role)).json()


def wait_for(page, predicate, timeout=30.0, what="condition"):
    """Poll the server; page.wait_for_timeout (not time.sleep) lets Playwright run the route
    handlers meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        page.wait_for_timeout(200)
    raise AssertionError(f"timed out waiting for {what}")


def open_form(page, token, lang="en"):
    page.add_init_script(f"localStorage.setItem('field_lang', '{lang}')")
    page.goto(f"/field#token={token}")
    page.wait_for_selector("#kinds button")
    assert "token" not in page.url  # the token left the address bar


def test_hazard_with_photo_then_offline_reports_arrive_once(phone, live_app, tmp_path, screenshots):
    links = setup_teams(live_app)
    page = phone.new_page()
    open_form(page, links["group"])
    assert page.evaluate("'serviceWorker' in navigator")

    page.click("button.k-hazard")
    page.select_option("#f-hazard_kind", "fallen_tree")
    page.select_option("#f-severity", "critical")
    page.fill("#f-place", "Huandao E Rd near the port")
    page.set_input_files("input[type=file]", str(photo_file(tmp_path)))
    page.wait_for_selector("#preview:not([hidden])")
    page.wait_for_function("document.querySelector('#loc-text').textContent.includes('22.13')")
    page.fill("#f-note", "Tree across both lanes")
    page.screenshot(path=str(screenshots / "field-offline-test-hazard-filled.png"), full_page=True)
    page.click("#send")
    wait_for(page, lambda: len(reports(live_app)) == 1, what="the hazard report")
    hazard_report = reports(live_app)[0]
    assert hazard_report["kind"] == "hazard" and hazard_report["photo_id"]
    assert abs(hazard_report["lat"] - 22.1302) < 1e-4
    photo = live_app.client.get(
        f"/api/v1/photos/{hazard_report['photo_id']}", headers=live_app.auth("operator")
    )
    assert photo.status_code == 200
    assert max(Image.open(BytesIO(photo.content)).size) <= 1600  # resized on the phone
    page.wait_for_function("document.querySelector('#queue').className === 'ok'")

    # Make sure the service worker has the form's files, then lose the connection.
    page.wait_for_function("navigator.serviceWorker.ready.then(() => true)")
    page.reload()
    page.wait_for_selector("#kinds button")
    phone.set_offline(True)
    page.wait_for_function("document.querySelector('#net').className === 'off'")

    page.click("button.k-help")
    page.fill("#f-people", "3")
    page.fill("#f-note", "Family trapped on the 2nd floor, water rising")
    page.click("#send")
    page.wait_for_selector("#kinds:not([hidden])")
    page.click("button.k-check_in")
    page.click("#send")
    page.wait_for_function("document.querySelector('#queue').textContent.startsWith('2 ')")
    assert page.text_content("#queue") == "2 report(s) waiting to send"
    page.screenshot(path=str(screenshots / "field-offline-two-waiting.png"), full_page=True)
    # a whole sending round with both reports queued, failed offline: nothing got through
    failed = page.evaluate("window.fieldForm.failedRounds()")
    wait_for(
        page,
        lambda: (
            page.evaluate("window.fieldForm.flush().then(window.fieldForm.failedRounds)") > failed
        ),
        what="a sending round to fail offline",
    )
    assert len(reports(live_app)) == 1
    assert page.text_content("#queue") == "2 report(s) waiting to send"

    # Offline reload: the form comes from the service worker's cache, the queue from IndexedDB.
    page.reload()
    page.wait_for_selector("#kinds button")
    page.wait_for_function("document.querySelector('#queue').textContent.startsWith('2 ')")

    # Back online; the first answer from the server is lost on the way back, so the phone
    # sends that report again: the server must answer the stored one, not store another.
    lost = {"n": 0}

    def lose_first_answer(route):
        if lost["n"] == 0:
            lost["n"] += 1
            route.fetch()  # reaches the server, which stores the report
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/api/v1/field-reports", lose_first_answer)
    phone.set_offline(False)
    wait_for(page, lambda: len(reports(live_app)) == 3, timeout=60, what="both queued reports")
    page.wait_for_function("document.querySelector('#queue').className === 'ok'", timeout=60_000)
    page.evaluate("window.fieldForm.flush()")  # one more whole round: nothing sent twice
    stored = reports(live_app)
    assert sorted(r["kind"] for r in stored) == ["check_in", "hazard", "help"]
    assert len({r["idempotency_key"] for r in stored}) == 3 and lost["n"] == 1
    sit = live_app.client.get("/api/v1/situation", headers=live_app.auth("viewer")).json()
    assert sit["field"]["help_requests"]["open"] == 1
    assert sit["field"]["inspections"]["person_trips"] == 3
    page.screenshot(path=str(screenshots / "field-back-online-all-sent.png"), full_page=True)


FORMS = {
    "group": ["check_in", "check_out", "hazard", "rectified", "evacuated", "help"],
    "crew": ["crew_status"],
    "social": ["resident_check"],
}


@pytest.mark.parametrize("lang", ["en", "zh-Hans", "zh-Hant", "pt"])
def test_screenshots_of_every_form(phone, live_app, screenshots, lang):
    links = setup_teams(live_app)
    for team, kinds in FORMS.items():
        page = phone.new_page()
        open_form(page, links[team], lang)
        page.wait_for_function("document.querySelector('#team').textContent.length > 0")
        page.screenshot(path=str(screenshots / f"field-{lang}-menu-{team}.png"), full_page=True)
        assert page.evaluate("document.documentElement.lang") == lang
        for kind in kinds:
            page.click(f"button.k-{kind}")
            page.wait_for_function(
                "document.querySelector('#loc-text').textContent.includes('22.13')"
            )
            page.screenshot(path=str(screenshots / f"field-{lang}-{kind}.png"), full_page=True)
            page.click("#back")
        page.close()


def test_page_is_small_and_self_contained(live_app):
    """Under 100 KB without photos, and nothing from another origin."""
    import re

    html = live_app.client.get("/field").text
    assets = re.findall(r'(?:src|href|data-src)="([^"]+)"', html)
    assert all(a.startswith("/") for a in assets), assets
    total = len(html.encode()) + sum(len(live_app.client.get(a).content) for a in assets)
    assert total < 100_000, total


def test_a_rejected_report_is_corrected_and_resent_with_its_photo_and_a_dead_link_stops(
    phone, live_app, tmp_path, screenshots
):
    """A refusal says why in the form's language and can be corrected (photo kept); a 401
    stops the retries and says to ask for a new link; every tap target is at least 44×44."""
    links = setup_teams(live_app)
    phone.set_geolocation({"latitude": 23.13, "longitude": 113.26, "accuracy": 10})  # Guangzhou
    page = phone.new_page()
    open_form(page, links["group"], lang="zh-Hans")
    small = page.evaluate(
        """() => [...document.querySelectorAll('button, select, input, textarea, a')]
          .filter((e) => e.offsetParent).map((e) => e.getBoundingClientRect())
          .filter((r) => r.width < 44 || r.height < 44).length"""
    )
    assert small == 0
    page.click("button.k-hazard")
    assert page.evaluate(
        """() => [...document.querySelectorAll('#form button, #form select, #form input:not([type=file]), #form textarea')]
          .filter((e) => e.offsetParent).every((e) => { const r = e.getBoundingClientRect();
            return r.width >= 44 && r.height >= 44; })"""
    )
    page.select_option("#f-severity", "high")
    page.fill("#f-place", "Huandao E Rd")
    page.set_input_files("input[type=file]", str(photo_file(tmp_path)))
    page.wait_for_selector("#preview:not([hidden])")
    page.wait_for_function("document.querySelector('#loc-text').textContent.includes('23.13')")
    page.click("#send")
    page.wait_for_selector("#recent .st-rejected button.fix")
    expect(page.locator("#queue")).to_have_text("1 条报告需要修改")
    assert "位置不在横琴范围内" in page.inner_text(
        "#recent .st-rejected"
    )  # not the server's English
    page.screenshot(path=str(screenshots / "field-rejected-zh-Hans.png"), full_page=True)

    phone.set_geolocation({"latitude": 22.1302, "longitude": 113.5405, "accuracy": 12})
    page.click("#recent .st-rejected button.fix")
    expect(page.locator("#f-place")).to_have_value("Huandao E Rd")  # as it was written
    page.wait_for_selector("#preview:not([hidden])")  # its photo kept
    page.click("#loc-retry")
    page.wait_for_function("document.querySelector('#loc-text').textContent.includes('22.13')")
    page.click("#send")
    wait_for(page, lambda: len(reports(live_app)) == 1, what="the corrected report")
    [report] = reports(live_app)
    assert report["photo_id"] and abs(report["lat"] - 22.1302) < 1e-4
    page.wait_for_function("document.querySelector('#queue').className === 'ok'")
    assert page.locator("#recent .st-rejected").count() == 0

    # The link is revoked (a lost phone): the next report is kept, not retried, and the
    # form says to ask for a new link.
    op = live_app.auth("operator")
    [link] = [
        x
        for x in live_app.client.get("/api/v1/field/links", headers=op).json()
        if x["label"] == "Inspection group 7"
    ]
    live_app.client.post(f"/api/v1/field/links/{link['user_id']}/revoke", headers=op)
    sent = []
    page.on("request", lambda r: sent.append(r.url) if "/api/v1/field-reports" in r.url else None)
    page.click("button.k-check_in")
    page.click("#send")
    page.wait_for_selector("#dead:not([hidden])")
    assert "请向指挥部索取新的链接" in page.inner_text("#dead")
    tries = len(sent)
    page.evaluate("window.fieldForm.flush()")  # what the timer would do: nothing is sent
    assert len(sent) == tries == 1
    expect(page.locator("#queue")).to_have_text("1 条报告等待发送")
    page.screenshot(path=str(screenshots / "field-link-dead-zh-Hans.png"), full_page=True)


def test_a_report_saved_while_another_is_on_its_way_follows_it(phone, live_app):
    """A slow link: the first report is still on its way when the second is saved. The second
    is sent as soon as the first is through, not at the form's next 15 s round."""
    links = setup_teams(live_app)
    page = phone.new_page()
    open_form(page, links["group"])
    held = []

    def hold_the_first(route):
        if not held:
            held.append(route)  # on its way, answered when the test says so
        else:
            route.continue_()

    page.route("**/api/v1/field-reports", hold_the_first)
    page.click("button.k-help")
    page.fill("#f-people", "2")
    page.fill("#f-note", "Two people on a roof")
    page.click("#send")
    wait_for(page, lambda: held, what="the first report on its way")
    page.wait_for_selector("#kinds:not([hidden])")
    page.click("button.k-check_in")
    page.click("#send")
    page.wait_for_function("document.querySelector('#queue').textContent.startsWith('2 ')")
    with page.expect_request("**/api/v1/field-reports", timeout=30_000):
        held[0].continue_()
    wait_for(page, lambda: len(reports(live_app)) == 2, what="both reports")
    page.wait_for_function("document.querySelector('#queue').className === 'ok'")
    assert sorted(r["kind"] for r in reports(live_app)) == ["check_in", "help"]


def test_what_is_typed_stays_when_the_teams_context_arrives(phone, live_app, tmp_path):
    """The form is drawn again when the team's context arrives (a slow link: after the
    writing has begun): what was typed, chosen and photographed stays (it was wiped: seen in
    CI, where a corrected report's place came back empty)."""
    links = setup_teams(live_app)
    page = phone.new_page()
    held = []
    page.route("**/api/v1/field/context", lambda route: held.append(route))
    open_form(page, links["group"])
    wait_for(page, lambda: held, what="the context on its way")
    page.click("button.k-hazard")
    page.select_option("#f-severity", "high")
    page.fill("#f-place", "Huandao E Rd")
    page.set_input_files("input[type=file]", str(photo_file(tmp_path)))
    page.wait_for_selector("#preview:not([hidden])")
    held[0].continue_()
    page.wait_for_function("document.querySelector('#team').textContent.length > 0")
    expect(page.locator("#f-place")).to_have_value("Huandao E Rd")
    expect(page.locator("#f-severity")).to_have_value("high")
    expect(page.locator("#preview")).to_be_visible()
    page.click("#send")
    wait_for(page, lambda: len(reports(live_app)) == 1, what="the report")
    [report] = reports(live_app)
    assert report["data"]["place"] == "Huandao E Rd" and report["data"]["severity"] == "high"
    assert report["photo_id"]
    page.click("button.k-hazard")  # the next report starts empty
    expect(page.locator("#f-place")).to_have_value("")
