"""The after-action report is not a way into the reader's browser or the printing machine:
every value in the HTML is escaped (a field phone's hazard place of `<img onerror=…>`, a
caller's `<script>`), and the PDF is printed with JavaScript off, no file and no network
access, and a restrictive CSP in the document, even for a page that has markup in it."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from emergency.report import render
from emergency.report import service as report_service
from tests.emergency.field.conftest import LIANHUA

PLACE = "<img src=x onerror=alert(1)>"
CALLER = "<script>alert(2)</script>"


def test_html_report_escapes_what_people_wrote(app):
    r = app.client.post(
        "/api/v1/field-reports",
        headers={**app.auth("field"), "Idempotency-Key": str(uuid.uuid4())},
        json={
            "kind": "hazard",
            "hazard_kind": "fallen_tree",
            "severity": "high",
            "lat": LIANHUA[0],
            "lon": LIANHUA[1],
            "place": PLACE,
        },
    )
    assert r.status_code == 201, r.text
    r = app.client.post(
        "/api/v1/liaison/calls",
        headers=app.auth("liaison"),
        json={
            "direction": "inbound",
            "caller": CALLER,
            "summary": '<iframe src="file:///etc/passwd">',
        },
    )
    assert r.status_code == 201, r.text
    page = report_service.write(
        app.db,
        settings=app.app.state.settings,
        start=None,
        end=None,
        fmt="html",
        out=None,
        exercise=False,
    )
    assert "&lt;img src=x onerror=alert(1)&gt;" in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in page and "<script>alert" not in page
    assert "<iframe" not in page
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    assert "<svg" in page  # our own charts are still drawn


@pytest.mark.skipif(render.chromium() is None, reason="Chromium not installed")
def test_pdf_is_printed_without_scripts_files_or_network(tmp_path):
    pypdf = pytest.importorskip("pypdf")
    secret = tmp_path / "secret.html"
    secret.write_text("<p>SECRET-FILE-CONTENT</p>", encoding="utf-8")
    hostile = f"""<!doctype html><html><head><meta charset="utf-8"><title>t</title></head>
<body><p>REPORT-BODY</p>
<iframe src="{secret.as_uri()}" width="600" height="200"></iframe>
<object data="{secret.as_uri()}" width="600" height="200"></object>
<script>document.body.insertAdjacentHTML("beforeend", "<p>SCRIPT-RAN</p>"); alert(1);</script>
<img src="http://127.0.0.1:9/beacon.png">
</body></html>"""
    out = tmp_path / "report.pdf"
    started = time.monotonic()
    render.print_pdf(hostile, out)
    took = time.monotonic() - started
    text = "".join(page.extract_text() for page in pypdf.PdfReader(out).pages)
    assert "REPORT-BODY" in text
    assert "SECRET-FILE-CONTENT" not in text
    assert "SCRIPT-RAN" not in text
    assert took < render.PRINT_TIMEOUT


def test_report_pdf_from_the_command_line_has_the_escaped_text(app, tmp_path):
    if render.chromium() is None:
        pytest.skip("Chromium not installed")
    pypdf = pytest.importorskip("pypdf")
    app.client.post(
        "/api/v1/hazards",
        headers=app.auth("operator"),
        json={"kind": "flooding", "severity": "high", "place": PLACE},
    )
    out: Path = tmp_path / "after-action.pdf"
    report_service.write(
        app.db,
        settings=app.app.state.settings,
        start=None,
        end=None,
        fmt="pdf",
        out=out,
        exercise=False,
    )
    text = "".join(page.extract_text() for page in pypdf.PdfReader(out).pages)
    assert "onerror=alert(1)" in text  # shown as text, not run as markup
