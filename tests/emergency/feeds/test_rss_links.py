"""The poller reads an RSS 2.0 index (as SMG publishes its CAP feed), follows each item's link,
and fetches a link again when its content changed: conditionally when the server gives an
ETag, by the document's SHA-256 when it gives none, and even while the index itself answers
304 (an agency may rewrite one URL per warning type)."""

from __future__ import annotations

import pytest

from tests.emergency.cap.samples import fresh, minutes_ago
from tests.emergency.feeds.feedserver import FeedServer
from tests.emergency.feeds.test_poller import config_with_feed, tc_level
from tests.support import server


@pytest.fixture
def feed_server():
    srv = FeedServer().start()
    yield srv
    srv.stop()


def poll(app) -> dict:
    r = app.client.post("/api/v1/feeds/poll", headers=app.auth("operator"))
    assert r.status_code == 200, r.text
    [polled] = r.json()["polled"]
    assert polled["ok"], polled
    return polled


def due_now(app) -> None:
    """Make the feed due again at once (the poll endpoint only polls due feeds)."""
    from sqlalchemy import text

    with app.db.unit_of_work() as session:
        session.execute(text("UPDATE feed_state SET next_poll_at = NULL"))


@pytest.mark.parametrize("etags", [True, False], ids=["etag", "hash"])
def test_rss_index_links_are_followed_and_refetched_when_they_change(
    tmp_path, database_url, settings_for, feed_server, etags
):
    feed_server.document_etags = etags
    feed_server.publish_rss({"tc": fresh("smg_tc3.xml", at=minutes_ago(30))})
    config = config_with_feed(tmp_path, f"{feed_server.base}/feed.atom", kind="rss")
    settings = settings_for(database_url, TYPHOON_CONFIG_DIR=str(config))
    with server.run(settings, embedded_scheduler=False) as app:
        assert poll(app)["new_alerts"] == 1
        assert tc_level(app) == "3"

        # Nothing changed: the index answers 304, the link is asked again and is the same.
        due_now(app)
        assert poll(app)["new_alerts"] == 0
        assert feed_server.statuses()[-1] == 304
        link_statuses = feed_server.statuses("/alerts/tc.xml")
        assert link_statuses[-1] == (304 if etags else 200)

        # SMG rewrites the same URL with No. 8 NE: the index is unchanged (304), the link's
        # content is new, and it is ingested.
        feed_server.rewrite("tc", fresh("smg_tc8ne.xml", at=minutes_ago(1)))
        due_now(app)
        assert poll(app)["new_alerts"] == 1
        assert feed_server.statuses()[-1] == 304
        assert tc_level(app) == "8NE"
        received = app.client.get("/api/v1/cap/received", headers=app.auth("viewer")).json()
        assert {r["source_url"] for r in received} == {f"{feed_server.base}/alerts/tc.xml"}
