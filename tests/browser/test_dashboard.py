"""The command-center dashboard in Debian's Chromium: a raised signal shows within a second,
nothing is fetched from outside this machine, the stream resyncs after a drop, roles see their
own actions, a broadcast's progress moves, one person drafts and another approves; and
screenshots at 1920×1080 (wall) and 1366×768 (desk) in several languages."""

from __future__ import annotations

import itertools
import shutil
import time
import uuid
from urllib.parse import urlsplit

import pytest

from tests.support import server
from tests.support.waits import UI_TIMEOUT

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api").expect

LIVE = "#conn[data-status=live]"
LOOPBACK = {"127.0.0.1", "localhost", "[::1]", "::1"}
PHONES = itertools.count(1)  # distinct Macau mobile numbers across calls


# --- helpers -------------------------------------------------------------------------------


class Outside:
    """Blocks (and records) every request to a host that is not this machine."""

    def __init__(self) -> None:
        self.blocked: list[str] = []
        self.requested: list[str] = []

    def install(self, context) -> None:
        context.route("**/*", self._route)

    def _route(self, route) -> None:
        url = route.request.url
        self.requested.append(url)
        host = urlsplit(url).hostname or ""
        if url.startswith(("data:", "blob:")) or host in LOOPBACK:
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()


def open_dashboard(
    context,
    app,
    role: str = "operator",
    *,
    lang: str = "en",
    mode: str = "desk",
    token: str | None = None,
):
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors
    page.goto(f"{app.url}/?lang={lang}&mode={mode}#token={token or app.token(role)}")
    page.wait_for_selector(LIVE, timeout=UI_TIMEOUT)
    assert "token=" not in page.url  # the token left the address bar
    return page


def post(app, path: str, body: dict | None = None, role: str = "operator", *, ok: bool = True):
    headers = {**app.auth(role), "Idempotency-Key": str(uuid.uuid4())}
    response = app.client.post(path, headers=headers, json=body or {})
    if ok:
        assert response.status_code < 300, response.text
    return response


def signal(app, source: str, kind: str, level: str | None) -> None:
    post(app, "/api/v1/signals", {"source": source, "kind": kind, "level": level})


def tile(source: str, kind: str, level: str = "") -> str:
    return f'[data-signal="{source}:{kind}"][data-level="{level}"]'


def broadcasts_available(app) -> bool:
    response = app.client.get("/api/v1/broadcasts", headers=app.auth("operator"))
    return response.status_code != 404


@pytest.fixture
def desk(browser):
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="en-US")
    context.set_default_timeout(UI_TIMEOUT)
    outside = Outside()
    outside.install(context)
    context.outside = outside
    yield context
    context.close()


# --- signals, live stream, no CDN ----------------------------------------------------------


def test_raised_signal_appears_with_nothing_from_outside(desk, live_app):
    page = open_dashboard(desk, live_app)
    page.wait_for_selector("#map .leaflet-overlay-pane path")  # our zones, no tiles
    assert page.locator("#map .leaflet-tile").count() == 0
    assert page.locator(tile("SMG", "tropical_cyclone")).is_visible()

    # How fast an event reaches the screens: the /ws/live row of `make bench` (bench_load).
    for level in ("8NE", "9"):
        signal(live_app, "SMG", "tropical_cyclone", level)
        page.wait_for_selector(tile("SMG", "tropical_cyclone", level), timeout=UI_TIMEOUT)
    text = page.inner_text(tile("SMG", "tropical_cyclone", "9"))
    assert "Signal No. 9" in text and "since" in text
    # the event log says it, in the page's language
    page.wait_for_selector("#log .t-signal-changed")

    signal(live_app, "ZHUHAI", "typhoon", "orange")
    page.wait_for_selector(tile("ZHUHAI", "typhoon", "orange"), timeout=UI_TIMEOUT)
    signal(live_app, "SMG", "tropical_cyclone", None)
    page.wait_for_selector(tile("SMG", "tropical_cyclone", ""), timeout=UI_TIMEOUT)

    assert desk.outside.blocked == []
    assert any("/vendor/leaflet/leaflet.js" in u for u in desk.outside.requested)
    assert page.errors == []


def test_a_drill_signal_shows_apart_marked_exercise_never_on_the_real_tiles(desk, live_app):
    page = open_dashboard(desk, live_app)
    post(
        live_app,
        "/api/v1/signals",
        {"source": "SMG", "kind": "tropical_cyclone", "level": "8SE", "exercise": True},
    )
    page.wait_for_selector('#drill [data-signal="SMG:tropical_cyclone"]', timeout=UI_TIMEOUT)
    assert "EXERCISE" in page.inner_text("#drill")
    assert page.locator(tile("SMG", "tropical_cyclone")).is_visible()  # the real tile: none
    page.reload()  # the snapshot keeps them apart too
    page.wait_for_selector(LIVE)
    page.wait_for_selector('#drill [data-signal="SMG:tropical_cyclone"]')
    assert page.locator(tile("SMG", "tropical_cyclone")).is_visible()
    post(
        live_app,
        "/api/v1/signals",
        {"source": "SMG", "kind": "tropical_cyclone", "level": None, "exercise": True},
    )
    page.wait_for_selector("#drill", state="hidden", timeout=UI_TIMEOUT)
    assert page.errors == []


def test_reconnects_with_since_and_misses_nothing(desk, live_app):
    page = open_dashboard(desk, live_app)
    # Drop the socket, raise while the screen is away, and check that it catches up.
    page.evaluate("window.__dashboard.stream.ws.close()")
    signal(live_app, "SMG", "rainstorm", "red")
    page.wait_for_selector(tile("SMG", "rainstorm", "red"), timeout=UI_TIMEOUT)
    page.wait_for_selector(LIVE)
    since_urls = page.evaluate("window.__dashboard.stream.url()")
    assert "since=" in since_urls
    assert page.locator("#log .t-signal-changed").count() == 1  # once, not twice
    # A server that says it is ahead (ping last_seq) makes the screen resync too.
    signal(live_app, "SMG", "storm_surge", "blue")
    page.wait_for_selector(tile("SMG", "storm_surge", "blue"), timeout=UI_TIMEOUT)
    assert page.locator("#log .t-signal-changed").count() == 2
    assert page.errors == []


def test_bad_token_returns_to_sign_in(desk, live_app):
    page = desk.new_page()
    page.goto(f"{live_app.url}/?lang=en#token=tyh_not-a-token")
    page.wait_for_selector("#password-form")
    expect(page.locator("#signin-error")).to_have_text("Invalid or revoked token")
    page.click("#token-signin summary")
    page.fill("#token", live_app.token("viewer"))
    page.click("#token-button")
    page.wait_for_selector(LIVE)


def test_each_role_sees_its_own_actions(desk, live_app):
    viewer = open_dashboard(desk, live_app, "viewer")
    assert viewer.locator("#viewer-note").is_visible()
    for panel in ("#signal-form", "#compose", "#approvals"):
        assert viewer.locator(panel).is_hidden()
    approver = open_dashboard(desk, live_app, "approver")
    assert approver.locator("#approvals").is_visible()
    assert approver.locator("#compose").is_hidden() and approver.locator("#signal-form").is_hidden()
    operator = open_dashboard(desk, live_app, "operator")
    assert (
        operator.locator("#compose").is_visible() and operator.locator("#signal-form").is_visible()
    )


def test_operator_raises_and_lowers_a_signal_from_the_form(desk, live_app):
    page = open_dashboard(desk, live_app)
    page.select_option("#signal-form select[name=source]", "HENGQIN")
    page.select_option("#signal-form select[name=level]", "II")
    page.click("#signal-form [data-testid=raise]")
    page.click("#signal-form [data-testid=confirm-signal]")
    page.wait_for_selector(tile("HENGQIN", "response_level", "II"), timeout=UI_TIMEOUT)
    active = live_app.client.get("/api/v1/signals/active", headers=live_app.auth("viewer")).json()
    assert [(s["source"], s["level"]) for s in active] == [("HENGQIN", "II")]
    page.click("#signal-form [data-testid=lower]")
    page.click("#signal-form [data-testid=confirm-signal]")
    page.wait_for_selector(tile("HENGQIN", "response_level", ""), timeout=UI_TIMEOUT)


def test_live_field_state_reaches_the_board(desk, live_app):
    page = open_dashboard(desk, live_app)
    post(live_app, "/api/v1/facilities/lotus_bridge/status", {"status": "closed"})
    page.wait_for_selector(
        '[data-facility="lotus_bridge"][data-status="closed"]', timeout=UI_TIMEOUT
    )
    post(
        live_app,
        "/api/v1/evacuation/movements",
        {"people": 37, "from_place": "Fish farm", "to_place": "Relatives in Zhuhai"},
    )
    expect(page.locator("[data-counter=c_evacuated] .value")).to_have_text("37", timeout=UI_TIMEOUT)
    post(
        live_app,
        "/api/v1/evacuation/orders",
        {"zone_id": "north_shore_works", "level": "mandatory"},
    )
    page.wait_for_selector("#map .leaflet-overlay-pane path[stroke='#ef4444']", timeout=UI_TIMEOUT)


# --- broadcasts ----------------------------------------------------------------------------


@pytest.fixture
def broadcast_app(tmp_path, _sqlite_template, settings_for):
    """The app with its embedded worker on the console provider and a modest send rate."""
    db = tmp_path / "typhoon.db"
    shutil.copy(_sqlite_template, db)
    settings = settings_for(
        f"sqlite:///{db}",
        TYPHOON_DATA_DIR=str(tmp_path / "data"),
        TYPHOON_SMS_RATE=40,
        TYPHOON_APPROVAL_THRESHOLD=50,
    )
    with server.run(settings, embedded_worker=True, embedded_scheduler=True) as running:
        if not broadcasts_available(running):
            pytest.skip("POST /api/v1/broadcasts is not there yet (404)")
        yield running


def add_subscribers(app, count: int, zone_point=(22.145, 113.54)) -> None:
    """Residents in Lianhua on the exercise list, in the four languages (the import path)."""
    from alerts.subscribers import service as subscriber_service

    zones = app.app.state.runtime.zones
    langs = ["zh-Hans", "zh-Hant", "pt", "en"]
    rows = [
        subscriber_service.clean(
            {
                "phone": f"+85366{next(PHONES):06d}",
                "language": langs[i % 4],
                "lat": zone_point[0] + (i % 7) * 1e-4,
                "lon": zone_point[1] + (i % 5) * 1e-4,
                "exercise": True,
            },
            zones=zones,
        )
        for i in range(count)
    ]
    subscriber_service.assign_zones(rows, zones=zones)
    with app.db.unit_of_work() as session:
        subscriber_service.upsert(session, rows)


def compose(page, *, zones=("lianhua",), exercise=True, text="Typhoon drill: stay indoors."):
    texts = {
        "zh-Hans": "台风演习：请留在室内。",
        "zh-Hant": "颱風演習：請留在室內。",
        "pt": "Exercicio de tufao: fique em casa.",
        "en": text,
    }
    for lang, value in texts.items():
        page.fill(f"#compose textarea[name='msg-{lang}']", value)
    for zone in zones:
        page.check(f"#compose input[name=zone][value={zone}]")
    if exercise:
        page.check("#compose input[name=exercise]")
    page.wait_for_selector("#compose [data-testid=preview-recipients]")  # previewed as typed
    page.click("#compose [data-testid=send]")
    page.click("#compose .confirm [data-testid=confirm]")
    page.wait_for_selector("#compose [data-testid=sent]")
    return int(
        page.inner_text("#compose [data-testid=sent]").split("#")[1].split(",")[0].split()[0]
    )


def test_broadcast_progress_moves(browser, broadcast_app):
    if getattr(broadcast_app.app.state, "dispatcher", None) is None:
        pytest.skip("no dispatch worker runs in the app (emergency.dispatch not there yet)")
    add_subscribers(broadcast_app, 40)  # under the threshold: sends at once
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    try:
        page = open_dashboard(context, broadcast_app, "operator")
        broadcast_id = compose(page)
        bar = f'[data-broadcast="{broadcast_id}"] .progress'
        page.wait_for_selector(bar)
        seen = set()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            seen.add(int(page.get_attribute(bar, "data-done")))
            if max(seen) >= 40:
                break
            page.wait_for_timeout(50)
        assert max(seen) == 40 and len(seen) >= 3, sorted(seen)  # it moved, in steps
        page.wait_for_selector(f'[data-broadcast="{broadcast_id}"].st-completed', timeout=60_000)
    finally:
        context.close()


def test_broadcast_drafted_by_one_and_approved_by_another(browser, broadcast_app):
    add_subscribers(broadcast_app, 60)  # over the threshold of 50
    drafter_ctx = browser.new_context(viewport={"width": 1366, "height": 768})
    approver_ctx = browser.new_context(viewport={"width": 1366, "height": 768})
    try:
        drafter = open_dashboard(drafter_ctx, broadcast_app, "operator")
        approver = open_dashboard(approver_ctx, broadcast_app, "approver")
        broadcast_id = compose(drafter)
        assert "Awaiting approval" in drafter.inner_text("#compose [data-testid=sent]")
        card = f'[data-approval="{broadcast_id}"]'
        # the drafter sees the queue but never an Approve button for their own draft
        drafter.wait_for_selector(card)
        assert drafter.locator(f"{card} [data-action=approve]").count() == 0
        approver.wait_for_selector(f"{card} [data-action=approve]", timeout=UI_TIMEOUT)
        approver.click(f"{card} [data-action=approve]")
        approver.click(f"{card} .confirm [data-testid=confirm]")
        for page in (drafter, approver):
            page.wait_for_selector(card, state="detached", timeout=UI_TIMEOUT)
            page.wait_for_selector(f'[data-broadcast="{broadcast_id}"]:not(.st-awaiting_approval)')
        body = broadcast_app.client.get(
            f"/api/v1/broadcasts/{broadcast_id}", headers=broadcast_app.auth("viewer")
        ).json()
        assert body["status"] != "awaiting_approval"
    finally:
        drafter_ctx.close()
        approver_ctx.close()


# --- screenshots ---------------------------------------------------------------------------


def storm(app) -> None:
    """A Yagi-like moment: signals on both sides, the bridge closed, shelters filling."""
    signal(app, "SMG", "tropical_cyclone", "8NE")
    signal(app, "SMG", "storm_surge", "yellow")
    signal(app, "ZHUHAI", "typhoon", "red")
    signal(app, "ZHUHAI", "rainstorm", "orange")
    signal(app, "HENGQIN", "response_level", "I")
    post(app, "/api/v1/facilities/lotus_bridge/status", {"status": "closed"})
    post(app, "/api/v1/facilities/hengqin_school/status", {"status": "all_suspended"})
    for shelter, people in (("lianhua_sports_hall", 412), ("hengqin_hou_kong_school", 655)):
        post(app, f"/api/v1/shelters/{shelter}/open", {"open": True})
        app.client.put(
            f"/api/v1/shelters/{shelter}/occupancy",
            headers=app.auth("operator"),
            json={"occupancy": people},
        )
    post(app, "/api/v1/evacuation/orders", {"zone_id": "north_shore_works", "level": "mandatory"})
    post(
        app,
        "/api/v1/evacuation/movements",
        {"people": 318, "from_place": "Fish farms", "shelter_id": "lianhua_sports_hall"},
    )
    for i, (lat, lon) in enumerate(((22.143, 113.545), (22.12, 113.52), (22.105, 113.505))):
        post(
            app,
            "/api/v1/crews",
            {
                "name": f"Rescue team {i + 1}",
                "headcount": 60,
                "station": "Hengqin",
                "lat": lat,
                "lon": lon,
            },
        )
        group = post(
            app,
            "/api/v1/inspection-groups",
            {
                "name": f"Inspection group {i + 1}",
                "members": ["A", "B", "C", "D"],
                "vehicles": ["V1"],
            },
        ).json()
        post(
            app,
            "/api/v1/field-reports",
            {"kind": "check_in", "group_id": group["id"], "lat": lat - 0.004, "lon": lon - 0.006},
        )
    post(
        app,
        "/api/v1/hazards",
        {
            "kind": "fallen_tree",
            "severity": "high",
            "place": "Huandao E Rd",
            "lat": 22.131,
            "lon": 113.541,
        },
    )


def broadcasts_under_way(app) -> None:
    """One exercise broadcast sending (approved by a second person), one awaiting approval."""
    if not broadcasts_available(app):
        return
    add_subscribers(app, 900, zone_point=(22.145, 113.54))
    add_subscribers(app, 300, zone_point=(22.13, 113.515))
    texts = {
        "zh-Hans": "【演习】台风演习：请留在室内。",
        "zh-Hant": "【演習】颱風演習：請留在室內。",
        "pt": "[EXERCICIO] Tufao: fique em casa.",
        "en": "[EXERCISE] Typhoon: stay indoors.",
    }
    first = post(
        app,
        "/api/v1/broadcasts",
        {
            "messages": texts,
            "zones": ["lianhua", "xinjiayuan"],
            "channels": ["sms"],
            "exercise": True,
            "title": "Stay indoors (drill)",
        },
    ).json()
    post(app, f"/api/v1/broadcasts/{first['id']}/approve", role="approver")
    post(
        app,
        "/api/v1/broadcasts",
        {
            "messages": texts,
            "zones": ["lianhua"],
            "channels": ["sms"],
            "exercise": True,
            "title": "Shelters open (drill)",
        },
    )


@pytest.fixture
def storm_app(tmp_path, _sqlite_template, settings_for):
    db = tmp_path / "typhoon.db"
    shutil.copy(_sqlite_template, db)
    settings = settings_for(
        f"sqlite:///{db}",
        TYPHOON_DATA_DIR=str(tmp_path / "data"),
        TYPHOON_SMS_RATE=40,
        TYPHOON_APPROVAL_THRESHOLD=500,
    )
    # Sending at 40/s behind the screenshots, as on a storm night.
    with server.run(settings, embedded_worker=True, embedded_scheduler=True) as running:
        storm(running)
        broadcasts_under_way(running)
        yield running


def test_broadcast_to_a_polygon_drawn_on_the_map(browser, broadcast_app):
    add_subscribers(broadcast_app, 12, zone_point=(22.145, 113.54))  # inside the polygon
    add_subscribers(broadcast_app, 5, zone_point=(22.105, 113.505))  # far outside it
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    try:
        page = open_dashboard(context, broadcast_app, "operator")
        page.click("#compose [data-testid=draw]")
        box = page.locator("#map").bounding_box()
        corners = [(22.150, 113.535), (22.150, 113.546), (22.140, 113.546), (22.140, 113.535)]
        for lat, lon in [*corners, corners[0]]:  # the last click on the first point closes it
            point = page.evaluate(
                "([lat, lon]) => window.__dashboard.ctx.map.map.latLngToContainerPoint([lat, lon])",
                [lat, lon],
            )
            page.mouse.click(box["x"] + point["x"], box["y"] + point["y"])
        page.wait_for_selector("#map .leaflet-overlay-pane path[stroke='#facc15']")
        area = page.evaluate("window.__dashboard.ctx.map.drawnArea()")
        assert area["type"] == "Polygon" and len(area["coordinates"][0]) == 5
        for lang, text in {
            "zh-Hans": "演习",
            "zh-Hant": "演習",
            "pt": "Exercicio",
            "en": "Drill",
        }.items():
            page.fill(f"#compose textarea[name='msg-{lang}']", text)
        page.check("#compose input[name=exercise]")
        expect(page.locator("#compose [data-testid=preview-recipients]")).to_have_text("12")
    finally:
        context.close()


def test_what_the_rules_did_and_what_they_leave_to_the_operator(desk, live_app):
    if (
        live_app.client.get("/api/v1/rules/prompts", headers=live_app.auth("viewer")).status_code
        == 404
    ):
        pytest.skip("the rules engine is not there")
    page = open_dashboard(desk, live_app)
    signal(live_app, "SMG", "tropical_cyclone", "3")
    # the rule suspended the school's infant and primary classes, and asks for a check
    page.wait_for_selector(
        '[data-facility="hengqin_school"][data-status="infant_primary_suspended"]'
    )
    page.wait_for_selector("#log .t-rule-fired")
    prompt = page.locator("#prompts [data-prompt]").first
    expect(prompt).to_contain_text("parents")
    prompt.locator("[data-action=prompt-done]").click()
    expect(page.locator("#prompts [data-prompt]")).to_have_count(0)
    left = live_app.client.get("/api/v1/rules/prompts", headers=live_app.auth("viewer")).json()
    assert left == []
