"""Hostile CAP over real HTTP, beyond the samples of tests/emergency/cap (XXE with a SYSTEM
entity, billion laughs): an external DTD, external parameter entities, XInclude, the same in
UTF-16 — each a 4xx, nothing stored, no signal changed, and nothing fetched (the URLs point at
a loopback server that counts what it is asked)."""

from __future__ import annotations

import http.server
import threading

import pytest

from tests.emergency.cap.samples import fresh, post_cap
from tests.emergency.cap.test_ingest import active, stored_counts


@pytest.fixture
def bait():
    """A loopback HTTP server that records every request: a DTD fetch would show here."""
    asked: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            asked.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'<!ENTITY leak "leaked">')

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", asked
    httpd.shutdown()
    httpd.server_close()


def with_prolog(prolog: str, *, body_entity: str | None = None) -> str:
    text = fresh("smg_tc8ne.xml").decode()
    head, sep, rest = text.partition("?>")
    text = head + sep + "\n" + prolog + rest
    if body_entity:
        text = text.replace("<sender>smg.gov.mo</sender>", f"<sender>{body_entity}</sender>", 1)
    return text


HOSTILE = {
    "external DTD": lambda url: with_prolog(
        f'<!DOCTYPE alert SYSTEM "{url}/cap.dtd">', body_entity="&leak;"
    ),
    "public DTD": lambda url: with_prolog(
        f'<!DOCTYPE alert PUBLIC "-//EVIL//DTD CAP//EN" "{url}/public.dtd">'
    ),
    "external parameter entity": lambda url: with_prolog(
        f'<!DOCTYPE alert [<!ENTITY % ext SYSTEM "{url}/param.dtd"> %ext;]>', body_entity="&leak;"
    ),
    "SYSTEM entity over http": lambda url: with_prolog(
        f'<!DOCTYPE alert [<!ENTITY leak SYSTEM "{url}/entity">]>', body_entity="&leak;"
    ),
    "quadratic blowup": lambda url: with_prolog(
        f'<!DOCTYPE alert [<!ENTITY a "{"x" * 50_000}">]>', body_entity="&a;" * 4
    ),
    "XInclude": lambda url: (
        fresh("smg_tc8ne.xml")
        .decode()
        .replace(
            "<sender>smg.gov.mo</sender>",
            f'<sender><xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="{url}/x"'
            ' parse="text"/></sender>',
            1,
        )
    ),
}


@pytest.mark.one_db  # refused while parsing, before any SQL
def test_hostile_cap_is_4xx_stores_nothing_fetches_nothing(app_server, bait):
    url, asked = bait
    app_server.token("operator"), app_server.token("viewer")
    before = stored_counts(app_server)
    wrong = {}
    for label, make in HOSTILE.items():
        for encoding in ("utf-8", "utf-16"):
            text = make(url)
            if encoding == "utf-16":
                text = text.replace('encoding="UTF-8"', 'encoding="UTF-16"')
            r = post_cap(app_server, text.encode(encoding))
            if not (400 <= r.status_code < 500 and r.json()["error"]["code"].startswith("cap_")):
                wrong[f"{label} ({encoding})"] = (r.status_code, r.text[:200])
    assert not wrong, wrong
    assert stored_counts(app_server) == before
    assert active(app_server) == {}
    assert asked == []


@pytest.mark.one_db  # refused before the body is read
def test_a_stranger_is_refused_before_the_body_is_read(app_server):
    """No token: 401 whatever the body (too big, wrong type), so an anonymous caller cannot
    make the server read and parse up to the CAP size limit."""
    for headers, body in (
        ({"Content-Type": "text/plain"}, b"hello"),
        ({"Content-Type": "application/cap+xml"}, b"<" * 300_000),
    ):
        r = app_server.client.post("/api/v1/cap", content=body, headers=headers)
        assert r.status_code == 401, r.text
        assert r.json()["error"]["code"]
