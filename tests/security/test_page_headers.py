"""Pages say what they may load and that no other site may frame them: /field and a liaison
contact's acknowledgement page carry a Content-Security-Policy with frame-ancestors 'none';
/docs serves Swagger UI from this server, never from a CDN."""

from __future__ import annotations

import re


def test_field_form_has_a_csp_and_cannot_be_framed(app):
    r = app.client.get("/field")
    assert r.status_code == 200
    csp = r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp
    assert "script-src 'self';" in csp  # no inline or remote script
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "no-referrer"


def test_liaison_acknowledgement_page_has_a_csp_and_cannot_be_framed(app):
    notice = app.client.post(
        "/api/v1/liaison/notices",
        headers=app.auth("liaison"),
        json={"texts": {"en": "Signal 8 at 22:00"}},
    ).json()
    link = notice["recipients"][0]["ack_url"].split("/api/v1/", 1)[1]
    r = app.client.get(f"/api/v1/{link}", headers={"Accept": "text/html"})
    assert r.status_code == 200 and "Acknowledge" in r.text
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "form-action 'self'" in csp
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "no-referrer"  # the token is in the URL


def test_docs_serve_swagger_ui_from_this_server(app):
    r = app.client.get("/docs")
    assert r.status_code == 200, r.text
    sources = re.findall(r'(?:src|href)="([^"]+)"', r.text)
    assert sources and all(s.startswith("/") for s in sources), sources
    assert "/vendor/swagger-ui/swagger-ui-bundle.js" in sources
    assert "cdn" not in r.text.lower()
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        assert app.client.get(f"/vendor/swagger-ui/{asset}").status_code == 200
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert app.client.get("/redoc").status_code == 404  # its page loads from a CDN: gone
