"""TYPHOON_PUBLIC_DETAILS and TYPHOON_METRICS_TOKEN (issue 20.10): in production /docs,
/redoc and /openapi.json are not served, / does not say which database, bus or SMS mode runs
behind it, and /metrics answers only its token. By default (development) all are open."""

from __future__ import annotations

import pytest

from tests.support import server

CLOSED = ("/docs", "/redoc", "/openapi.json")
RUNNING = ("What is running", "Event bus", "SMS provider", "sqlite", "postgresql")


@pytest.fixture
def sqlite_url(tmp_path, _sqlite_template):
    import shutil

    path = tmp_path / "typhoon.db"
    shutil.copy(_sqlite_template, path)
    return f"sqlite:///{path}"


def test_closed_in_production(sqlite_url, settings_for):
    settings = settings_for(
        sqlite_url, TYPHOON_PUBLIC_DETAILS="false", TYPHOON_METRICS_TOKEN="scrape-me"
    )
    with server.run(settings, embedded_worker=False, embedded_scheduler=False) as app:
        for path in CLOSED:
            assert app.client.get(path).status_code == 404, path
        page = app.client.get("/")
        assert page.status_code == 200
        assert not [word for word in RUNNING if word in page.text]
        assert app.client.get("/metrics").status_code == 401
        wrong = app.client.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        scraped = app.client.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
        assert scraped.status_code == 200 and "typhoon_" in scraped.text
        assert app.client.get("/readyz").status_code == 200  # probes stay open


def test_metrics_closed_without_a_token_when_details_are_off(sqlite_url, settings_for):
    settings = settings_for(sqlite_url, TYPHOON_PUBLIC_DETAILS="false")
    with server.run(settings, embedded_worker=False, embedded_scheduler=False) as app:
        assert app.client.get("/metrics").status_code == 404


def test_open_by_default(sqlite_url, settings_for):
    with server.run(
        settings_for(sqlite_url), embedded_worker=False, embedded_scheduler=False
    ) as app:
        for path in ("/docs", "/openapi.json", "/metrics"):
            assert app.client.get(path).status_code == 200, path
        assert app.client.get("/redoc").status_code == 404  # it loads from a CDN (#14.14)
        assert "What is running" in app.client.get("/").text


def test_readyz_checks_that_photos_can_be_written(sqlite_url, settings_for, tmp_path):
    """A replica that cannot write to the shared photo volume is not ready (issue 20.3)."""
    not_a_directory = tmp_path / "data-file"
    not_a_directory.write_text("a file where the data directory should be")
    settings = settings_for(sqlite_url, TYPHOON_DATA_DIR=str(not_a_directory))
    with server.run(settings, embedded_worker=False, embedded_scheduler=False) as app:
        ready = app.client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["photos"].startswith("not writable")
        assert ready.json()["checks"]["database"] == "ok"
