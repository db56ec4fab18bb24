"""Browser fixtures shared by the browser tests (field form, dashboard): Debian's Chromium
driven by Playwright, a phone context, the real app on SQLite, and a screenshot folder.

Skips cleanly when Chromium (or Playwright) is absent. Chromium comes from the system
(`apt-get install chromium`); `playwright install` is never needed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import app_fixture, build_settings
from tests.support.waits import UI_TIMEOUT

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "var" / "screenshots"
HENGQIN = {"latitude": 22.1302, "longitude": 113.5405, "accuracy": 12}
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


# Package scope: Playwright's sync API keeps an event loop running in the main thread while it
# lives; it must be gone before other packages' tests run plain `asyncio.run` code.
@pytest.fixture(scope="package")
def browser():
    path = chromium_path()
    if not path:
        pytest.skip("Chromium not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:  # pragma: no cover - dev extra missing
        pytest.skip("Playwright not installed")
    expect.set_options(timeout=UI_TIMEOUT)  # `expect(locator)` waits 5 s unless told
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield b
        b.close()


# `live_app`: the real app on SQLite with its own data dir (browser tests need one backend).
live_app = app_fixture(
    "live_app",
    lambda request, url, data: build_settings(url, TYPHOON_DATA_DIR=str(data)),
    one_db=True,
)


@pytest.fixture
def phone(browser, live_app):
    """A phone-sized context at a Hengqin location, geolocation allowed."""
    context = browser.new_context(
        **PHONE,
        geolocation=HENGQIN,
        permissions=["geolocation"],
        base_url=live_app.url,
        locale="en-US",
        service_workers="allow",
        bypass_csp=True,  # the tests' own wait_for_function strings (the page's CSP: no eval)
    )
    context.set_default_timeout(UI_TIMEOUT)
    yield context
    context.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
