"""Issue 14, items 2 and 3, over real HTTP.

2. A CAP document with 20,000 attributes on its root (190 kB, under the size limit) used to keep
   a core busy for minutes in schema validation: it is now refused (4xx) by the structural
   limits, while /healthz keeps answering; a feed serving it fails the same way (how fast:
   benchmarks/bench_hostile.py).
3. A spoofed CAP took a signal over: from an untrusted sender with our own SIGNAL eventCode
   and a <sent> in 2099 it raised SMG No. 1, and the genuine No. 8 NE after it was refused as
   "outdated". Now only senders trusted for a source (config/feeds.yaml) change its signals,
   a <sent> more than 5 minutes ahead is refused (422) and never becomes the latest, and
   each refusal is audited and shown to the operator as a prompt.
"""

from __future__ import annotations

import re
import shutil
import threading
from pathlib import Path

import httpx
from sqlalchemy import text

from tests.emergency.cap.samples import fresh, post_cap
from tests.emergency.cap.test_ingest import active, stored_counts
from tests.emergency.feeds.feedserver import FeedServer
from tests.support import server

ROOT = Path(__file__).resolve().parents[2]
ATTRIBUTE_BOMB = (
    '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2" '
    + " ".join(f'a{i}="x"' for i in range(20_000))
    + "/>"
).encode()


def spoofed(at_2099: bool = False) -> bytes:
    """The attack of issue 14.3: another sender, our own SIGNAL eventCode for SMG No. 1."""
    data = fresh("smg_tc3.xml").decode()
    data = data.replace("<sender>smg.gov.mo</sender>", "<sender>attacker@evil.example</sender>")
    data = data.replace(
        "<eventCode><valueName>SMG_TC</valueName><value>3</value></eventCode>",
        "<eventCode><valueName>SIGNAL</valueName><value>SMG:tropical_cyclone:1</value></eventCode>",
    )
    return in_2099(data.encode()) if at_2099 else data.encode()


def in_2099(data: bytes) -> bytes:
    return re.sub(rb"<sent>\d{4}", b"<sent>2099", data, count=1)


def prompts(app) -> list[dict]:
    r = app.client.get("/api/v1/rules/prompts", headers=app.auth("viewer"))
    assert r.status_code == 200
    return r.json()


def audited(app, action: str) -> list[str]:
    with app.db.session() as session:
        rows = session.execute(
            text("SELECT summary FROM audit_entry WHERE action = :a ORDER BY seq"), {"a": action}
        ).all()
    return [str(r[0]) for r in rows]


# --- 14.2 -------------------------------------------------------------------------------


def test_attribute_bomb_is_refused_and_healthz_keeps_answering(app_server):
    """Refused by the structural limits (not by the schema, which took minutes), nothing
    stored, /healthz answering throughout. How fast: `benchmarks/bench_hostile.py`."""
    app_server.token("operator")  # the user (and its audit entries) before counting
    before = stored_counts(app_server)
    answer: dict = {}

    def attack():
        answer["response"] = post_cap(app_server, ATTRIBUTE_BOMB)

    thread = threading.Thread(target=attack)
    thread.start()
    with httpx.Client(base_url=app_server.client.base_url, timeout=5) as probe:
        while thread.is_alive():
            assert probe.get("/healthz").status_code == 200
    thread.join()
    r = answer["response"]
    assert 400 <= r.status_code < 500, r.text
    assert r.json()["error"]["code"] == "cap_too_complex"
    assert "20000 attributes" in r.json()["error"]["message"]
    assert stored_counts(app_server) == before


def test_a_feed_serving_the_attribute_bomb_fails_fast(tmp_path, database_url, settings_for):
    feed = FeedServer().start()
    try:
        feed.raw = ATTRIBUTE_BOMB.replace(b"<alert", b"<rss", 1).replace(
            b'xmlns="urn:oasis:names:tc:emergency:cap:1.2" ', b""
        )
        config = tmp_path / "config"
        shutil.copytree(ROOT / "config", config)
        (config / "feeds.yaml").write_text(
            "version: 1\nfeeds:\n"
            f"  - {{id: bomb, name: bomb, url: '{feed.base}/feed.atom', kind: auto}}\n"
        )
        settings = settings_for(database_url, TYPHOON_CONFIG_DIR=str(config))
        with server.run(settings, embedded_scheduler=False) as app:
            r = app.client.post("/api/v1/feeds/poll", headers=app.auth("operator"))
            [polled] = r.json()["polled"]
            assert polled["ok"] is False and "20000 attributes" in polled["errors"][0]
    finally:
        feed.stop()


# --- 14.3 -------------------------------------------------------------------------------


def test_an_untrusted_sender_changes_no_signal_whatever_the_event_code(app_server):
    r = post_cap(app_server, spoofed())
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["outcome"] == "untrusted"
    [signal] = body["signals"]
    assert signal["applied"] is False and signal["reason"] == "untrusted_sender"
    assert active(app_server) == {}
    assert any(
        "untrusted_sender" in s and "attacker@evil.example" in s
        for s in audited(app_server, "cap.refused")
    )
    [prompt] = [p for p in prompts(app_server) if p["kind"] == "cap_refused"]
    assert "attacker@evil.example" in prompt["texts"]["en"]
    assert "SMG:tropical_cyclone:1" in prompt["texts"]["en"]
    # The genuine SMG then raises No. 8 NE as usual.
    genuine = post_cap(app_server, fresh("smg_tc8ne.xml"))
    assert genuine.status_code == 201 and genuine.json()["outcome"] == "applied"
    assert active(app_server) == {("SMG", "tropical_cyclone"): "8NE"}


def test_a_sent_in_the_future_is_refused_and_never_becomes_the_latest(app_server):
    app_server.token("operator")
    future = in_2099(fresh("smg_tc3.xml"))  # the genuine sender, sent in 2099
    before = stored_counts(app_server)
    r = post_cap(app_server, future)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "cap_sent_in_future"
    assert "2099" in r.json()["error"]["message"]
    assert active(app_server) == {}
    after = stored_counts(app_server)
    assert after["cap_received"] == before["cap_received"]
    assert after["signal_change"] == before["signal_change"]
    assert any("sent_in_future" in s for s in audited(app_server, "cap.refused"))
    assert any(
        p["kind"] == "cap_refused" and "2099" in p["texts"]["en"] for p in prompts(app_server)
    )
    # The untrusted 2099 attack of the issue is refused as well, and what comes after applies.
    assert post_cap(app_server, spoofed(at_2099=True)).status_code == 422
    genuine = post_cap(app_server, fresh("smg_tc8ne.xml"))
    assert genuine.status_code == 201, genuine.text
    [signal] = genuine.json()["signals"]
    assert signal["applied"] is True and signal["reason"] is None
    assert active(app_server) == {("SMG", "tropical_cyclone"): "8NE"}
