"""The feed poller against a real local HTTP server, driven by the app's own scheduler: it
follows a feed whose content changes (inline and linked CAP entries, conditional requests
answered 304), the alerts go through the whole signal flow (rules included), and when the
server goes down the feed shows as stale while the scheduler keeps running its other jobs;
when it comes back the feed recovers."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from emergency.configfiles import ConfigFileError
from tests.emergency.cap.samples import fresh, minutes_ago
from tests.emergency.feeds.feedserver import FeedServer
from tests.support import server
from tests.support.live import LiveClient

ROOT = Path(__file__).resolve().parents[3]

FEEDS = """\
version: 1
trusted_senders:
  SMG: [smg.gov.mo]
defaults:
  interval_seconds: 1
  timeout_seconds: 10  # a local server: only a loaded machine is slow, and it must not fail
  max_backoff_seconds: 3
  stale_after_failures: 2
  stale_after_intervals: 30
feeds:
  - id: local_smg
    name: Local SMG test feed
    url: {url}
    kind: {kind}
    mappings: ["smg-*"]
"""


@pytest.fixture
def feed_server():
    srv = FeedServer().start()
    yield srv
    srv.stop()


def config_with_feed(tmp_path, url: str, kind: str = "atom", interval: int = 1) -> Path:
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    feeds = FEEDS.format(url=url, kind=kind)
    (config / "feeds.yaml").write_text(
        feeds.replace("interval_seconds: 1\n", f"interval_seconds: {interval}\n")
    )
    return config


def wait_for(predicate, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def tc_level(app):
    active = app.client.get("/api/v1/signals/active", headers=app.auth("viewer")).json()
    return next((s["level"] for s in active if s["kind"] == "tropical_cyclone"), None)


def feed_status(app) -> dict:
    [feed] = app.client.get("/api/v1/situation", headers=app.auth("viewer")).json()["feeds"]
    return feed


def poll_now(app) -> dict:
    """The feeds due now, polled at once (the operator's "poll now"); the one feed's result."""
    r = app.client.post("/api/v1/feeds/poll", headers=app.auth("operator"))
    assert r.status_code == 200, r.text
    [polled] = r.json()["polled"]
    return polled


def test_poller_follows_a_changing_feed_and_survives_it_going_down(
    tmp_path, database_url, settings_for, feed_server
):
    feed_server.publish(inline=[fresh("smg_tc3.xml", at=minutes_ago(60))])
    config = config_with_feed(tmp_path, f"{feed_server.base}/feed.atom")
    settings = settings_for(database_url, TYPHOON_CONFIG_DIR=str(config))
    with server.run(settings, embedded_scheduler=True) as app:  # the scheduler polls
        # Another job of the same scheduler, to see that it keeps running.
        ticks = []
        app.app.state.scheduler.aps.add_job(
            lambda: ticks.append(time.monotonic()),
            "interval",
            seconds=0.5,
            id="probe",
            jobstore="periodic",
        )
        wait_for(lambda: tc_level(app) == "3", what="No. 3 from the feed")
        history = app.client.get("/api/v1/signals", headers=app.auth("viewer")).json()
        assert history[0]["origin"] == "feed" and history[0]["actor"] == "feed:local_smg"
        # Unchanged feed: conditional requests, answered 304.
        wait_for(lambda: 304 in feed_server.statuses(), what="a 304")
        assert feed_status(app)["status"] == "ok"

        # The feed changes: No. 8 NE, behind a link; the rules run as for any other origin.
        feed_server.publish(
            inline=[fresh("smg_tc3.xml", at=minutes_ago(60))],
            linked={"tc8": fresh("smg_tc8ne.xml")},
        )
        wait_for(lambda: tc_level(app) == "8NE", what="No. 8 from the feed")
        facilities = {
            f["id"]: f["status"]
            for f in app.client.get("/api/v1/facilities", headers=app.auth("viewer")).json()
        }
        assert facilities["lotus_bridge"] == "closing"
        # Fetched once; asked again at each poll, conditionally: 304 while it is unchanged.
        assert feed_server.statuses("/alerts/tc8.xml")[0] == 200
        wait_for(lambda: feed_server.statuses().count(304) >= 2, what="304s after the change")
        assert set(feed_server.statuses("/alerts/tc8.xml")[1:]) <= {304}
        status = feed_status(app)
        assert status["alerts_ingested"] == 2 and status["failures"] == 0
        received = app.client.get("/api/v1/cap/received", headers=app.auth("viewer")).json()
        assert [(r["origin"], r["feed_id"]) for r in received] == [("feed", "local_smg")] * 2

        # The server goes down: failures, backoff, then stale; the scheduler carries on.
        with LiveClient(app.ws_url, app.token("viewer")) as live:
            live.next()
            feed_server.stop()
            event = live.events_until(lambda m: m["type"] == "feed.stale", timeout=60)[-1]
        assert event["data"]["id"] == "local_smg" and event["data"]["status"] == "stale"
        status = feed_status(app)
        assert status["status"] == "stale" and status["failures"] >= 2
        assert status["last_error"]
        before = len(ticks)
        wait_for(lambda: len(ticks) >= before + 2, what="other jobs still running")
        scheduler = app.app.state.scheduler.aps
        assert scheduler.running and scheduler.get_job("feeds-poll") is not None
        assert tc_level(app) == "8NE"  # a silent feed lowers nothing

        # Back, with No. 8 replaced by No. 3: the feed recovers and the rules reverse.
        with LiveClient(app.ws_url, app.token("viewer")) as live:
            live.next()  # listening before the server is back: the recovery may come at once
            feed_server.publish(inline=[fresh("smg_update.xml")])
            feed_server.start()
            live.events_until(lambda m: m["type"] == "feed.recovered", timeout=60)
        wait_for(lambda: tc_level(app) == "3", what="No. 3 again")
        assert feed_status(app)["status"] == "ok"


def test_single_cap_document_feed_and_a_broken_feed(
    tmp_path, database_url, settings_for, feed_server
):
    feed_server.documents["/alerts/now.xml"] = fresh("smg_tc8ne.xml")
    config = config_with_feed(tmp_path, f"{feed_server.base}/alerts/now.xml", kind="cap")
    with server.run(settings_for(database_url, TYPHOON_CONFIG_DIR=str(config))) as app:
        assert poll_now(app)["ok"] is True
        assert tc_level(app) == "8NE"
    # An Atom feed that is not Atom (an error page served as 200) counts as a failure.
    feed_server.raw = b"<html><body>maintenance</body></html>"
    config = config_with_feed(tmp_path / "b", f"{feed_server.base}/feed.atom")
    with server.run(settings_for(database_url, TYPHOON_CONFIG_DIR=str(config))) as app:
        assert poll_now(app)["ok"] is False
        status = feed_status(app)
        assert status["failures"] == 1
        assert "not a usable feed document" in status["last_error"]
        assert "not an Atom <feed>" in status["last_error"]


def test_poll_now_endpoint_and_hostile_feed(tmp_path, database_url, settings_for, feed_server):
    feed_server.raw = (
        b'<?xml version="1.0"?><!DOCTYPE feed [<!ENTITY x SYSTEM '
        b'"file:///etc/passwd">]><feed xmlns="http://www.w3.org/2005/Atom">'
        b"<id>&x;</id></feed>"
    )
    # a minute between polls (two after a failure): "not due again at once" below holds
    # however slow the machine
    config = config_with_feed(tmp_path, f"{feed_server.base}/feed.atom", interval=60)
    settings = settings_for(database_url, TYPHOON_CONFIG_DIR=str(config))
    with server.run(settings) as app:
        r = app.client.post("/api/v1/feeds/poll", headers=app.auth("operator"))
        assert r.status_code == 200
        [polled] = r.json()["polled"]
        assert polled["ok"] is False and "DTD" in polled["errors"][0]
        feeds = app.client.get("/api/v1/feeds", headers=app.auth("viewer")).json()
        assert feeds[0]["status"] == "failing" and feeds[0]["failures"] == 1
        # Backing off: not due again at once.
        assert (
            app.client.post("/api/v1/feeds/poll", headers=app.auth("operator")).json()["polled"]
            == []
        )


def test_feeds_file_errors_name_file_and_line(tmp_path):
    from emergency.cap import load_cap_mappings
    from emergency.catalogue import load_catalogue
    from emergency.feeds.config import load_feeds

    mappings = load_cap_mappings(ROOT / "config" / "cap_mappings.yaml", catalogue=load_catalogue())
    path = tmp_path / "feeds.yaml"
    path.write_text(FEEDS.format(url="ftp://x", kind="atom"))
    with pytest.raises(ConfigFileError) as info:
        load_feeds(path, mappings=mappings)
    assert f"{path}:13: feeds[0].url: 'ftp://x' is not an http:// or https:// address" in str(
        info.value
    )
    path.write_text(FEEDS.format(url="http://x", kind="atom").replace("smg-*", "hko-*"))
    with pytest.raises(ConfigFileError) as info:
        load_feeds(path, mappings=mappings)
    assert f"{path}:15: feeds[0].mappings[0]: no mapping" in str(info.value)
    assert load_feeds(ROOT / "config" / "feeds.yaml", mappings=mappings).enabled() == []


def test_feed_job_is_registered():
    from emergency.feeds.scheduled import tick_seconds
    from emergency.scheduled import PERIODIC_JOBS
    from emergency.settings import Settings

    assert "feeds-poll" in {job.name for job in PERIODIC_JOBS}
    assert tick_seconds(Settings()) == 15.0  # no enabled feed by default
