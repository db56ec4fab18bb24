"""What the red review of issue 14 found in the trusted senders (config/feeds.yaml): Zhuhai's
issuer-code glob `4404*` trusted any sender that merely starts with 4404, so a CAP from
`4404@evil.example` with our own SIGNAL eventCode raised Zhuhai's typhoon blue and put it in
our public feed. Zhuhai's issuer codes are digits (44040041600000): only such a code is
trusted now, and every shipped glob is checked against look-alikes."""

from __future__ import annotations

import uuid

from emergency.configfiles import load_yaml
from emergency.feeds.config import FeedsFile
from emergency.settings import DEFAULT_CONFIG_DIR
from tests.emergency.cap.samples import fresh, post_cap
from tests.emergency.cap.test_ingest import active


def zhuhai_blue_from(sender: str) -> bytes:
    """The Zhuhai sample with another sender, our own SIGNAL eventCode for typhoon blue."""
    data = fresh("cma_typhoon_orange.xml", identifier=f"T-{uuid.uuid4().hex}").decode()
    data = data.replace("<sender>44040041600000</sender>", f"<sender>{sender}</sender>")
    data = data.replace(
        "<eventCode><valueName>CMA_EVENT</valueName><value>11B01</value></eventCode>",
        "<eventCode><valueName>SIGNAL</valueName><value>ZHUHAI:typhoon:blue</value></eventCode>",
    )
    return data.encode()


def test_a_sender_that_only_starts_like_zhuhais_code_changes_no_signal(app_server):
    for sender in ("4404@evil.example", "4404", "44040041600000.evil.example"):
        r = post_cap(app_server, zhuhai_blue_from(sender))
        assert r.status_code == 201, (sender, r.text)
        [signal] = r.json()["signals"]
        assert signal["applied"] is False and signal["reason"] == "untrusted_sender", sender
    assert active(app_server) == {}
    genuine = post_cap(app_server, zhuhai_blue_from("44040041600000"))
    assert genuine.status_code == 201 and genuine.json()["outcome"] == "applied", genuine.text
    assert active(app_server) == {("ZHUHAI", "typhoon"): "blue"}


def test_shipped_globs_trust_no_look_alike():
    feeds = load_yaml(DEFAULT_CONFIG_DIR / "feeds.yaml", FeedsFile)
    trusted = {
        "SMG": ["smg.gov.mo", "warn.smg.gov.mo", "duty@smg.gov.mo", "urn:oid:2.49.0.0.446.0"],
        "ZHUHAI": ["44040041600000", "urn:oid:2.49.0.0.156.0"],
        "HENGQIN": ["sanfang.hengqin.gov.cn"],
    }
    look_alikes = [
        "attacker@evil.example",
        "4404@evil.example",
        "4404",
        "44040041600000@evil.example",
        "smg.gov.mo.evil.example",
        "evilsmg.gov.mo",
        "urn:oid:2.49.0.0.446.0.1",
        "sanfang.hengqin.gov.cn.evil.example",
    ]
    for source, senders in trusted.items():
        for sender in senders:
            assert feeds.trusts(source, sender), (source, sender)
        for sender in look_alikes:
            assert not feeds.trusts(source, sender), (source, sender)
