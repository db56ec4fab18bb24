"""Render the report's data (emergency.report.data) as Markdown, HTML or PDF.

Markdown and HTML come from the Jinja2 templates next to this file; the charts are SVG,
inline in the HTML and written as files beside a Markdown report. The PDF is the HTML printed
by headless Chromium (the one the browser tests use), so the three say the same thing.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from emergency.report import charts

FORMATS = ("md", "html", "pdf")
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


class ReportError(RuntimeError):
    pass


def duration(seconds: float | None) -> str:
    """12.3 s, 4 min 05 s, 3 h 20 min, 2 d 04 h."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, sec = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {sec:02d} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours:02d} h"


def _environment(autoescape: bool) -> Environment:
    env = Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=select_autoescape(["html"]) if autoescape else False,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["duration"] = duration
    env.filters["local"] = lambda v: (v or "—")[:19].replace("T", " ")
    return env


def chart_svgs(report: dict[str, Any]) -> dict[str, str]:
    return {
        "signals": charts.signals(report["signals"]["periods"]),
        "delivery": charts.delivery(report["broadcasts"]),
        "field": charts.field(report["figures"]),
    }


def markdown(report: dict[str, Any], *, chart_files: dict[str, str] | None = None) -> str:
    return (
        _environment(False).get_template("report.md.j2").render(r=report, charts=chart_files or {})
    )


def html(report: dict[str, Any]) -> str:
    return (
        _environment(True)
        .get_template("report.html.j2")
        .render(r=report, charts=chart_svgs(report))
    )


def chromium() -> str | None:
    return next((p for p in map(shutil.which, CHROMIUM_NAMES) if p), None)


def pdf(report: dict[str, Any], out: Path) -> None:
    browser = chromium()
    if browser is None:
        raise ReportError(
            "a PDF is printed with Chromium, which is not installed here "
            "(apt-get install chromium); or use --format html"
        )
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "report.html"
        page.write_text(html(report), encoding="utf-8")
        target = out.resolve()
        result = subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-pdf-header-footer",
                f"--user-data-dir={tmp}/profile",
                f"--print-to-pdf={target}",
                page.as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    if result.returncode != 0 or not target.exists() or target.stat().st_size == 0:
        raise ReportError(f"Chromium could not print the PDF: {result.stderr.strip()[-500:]}")


def write(report: dict[str, Any], *, fmt: str, out: Path | None) -> str | None:
    """Write the report to `out` (or return the text, for stdout). Markdown's charts go to
    files `<out stem>-<chart>.svg` beside it."""
    if fmt not in FORMATS:
        raise ReportError(f"--format: {fmt!r} is not one of {', '.join(FORMATS)}")
    if fmt == "pdf":
        if out is None:
            raise ReportError("--format pdf needs --out FILE.pdf")
        pdf(report, out)
        return None
    if fmt == "html":
        text = html(report)
    else:
        files = {}
        if out is not None:
            for name, svg in chart_svgs(report).items():
                path = out.with_name(f"{out.stem}-{name}.svg")
                path.write_text(svg, encoding="utf-8")
                files[name] = path.name
        text = markdown(report, chart_files=files)
    if out is None:
        return text
    out.write_text(text, encoding="utf-8")
    return None
