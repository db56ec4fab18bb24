"""Render the report's data (emergency.report.data) as Markdown, HTML or PDF.

Markdown and HTML come from the Jinja2 templates next to this file; the charts are SVG,
inline in the HTML and written as files beside a Markdown report. The PDF is the HTML printed
by headless Chromium (the one the browser tests use), so the three say the same thing.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from emergency.report import charts
from emergency.report.present import text, word

FORMATS = ("md", "html", "pdf")
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


class ReportError(RuntimeError):
    pass


UNITS = {  # seconds, minutes, hours, days
    "en": (" s", " min", " h", " d"),
    "pt": (" s", " min", " h", " d"),
    "zh-Hans": ("秒", "分", "小时", "天"),
    "zh-Hant": ("秒", "分", "小時", "天"),
}


def duration(seconds: float | None, lang: str = "en") -> str:
    """12.3 s, 4 min 05 s, 3 h 20 min, 2 d 04 h (4分05秒 in Chinese)."""
    s_, m_, h_, d_ = UNITS.get(lang, UNITS["en"])
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f}{s_}"
    minutes, sec = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}{m_} {sec:02d}{s_}"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}{h_} {minutes:02d}{m_}"
    days, hours = divmod(hours, 24)
    return f"{days}{d_} {hours:02d}{h_}"


def _environment(autoescape: bool) -> Environment:
    # Every value in the HTML is escaped (field phones write hazards' places, the hotline
    # log holds what callers said); select_autoescape(["html"]) would not match
    # report.html.j2. Only our own SVG charts are marked safe in the template.
    env = Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=autoescape,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["csp"] = REPORT_CSP
    env.filters["duration"] = duration
    env.filters["local"] = lambda v: (v or "—")[:19].replace("T", " ")
    return env


def chart_svgs(report: dict[str, Any], view: dict[str, Any]) -> dict[str, str]:
    lang = view["lang"]

    def label(key: str) -> str:
        return text(lang, key)

    return {
        "signals": charts.signals(view["periods"], label=label),
        "delivery": charts.delivery(report["broadcasts"], label=label),
        "field": charts.field(report["figures"], label=label),
    }


def _render(name: str, report: dict[str, Any], view: dict[str, Any], **extra: Any) -> str:
    env = _environment(name.endswith(".html.j2"))
    lang = view["lang"]
    env.globals["t"] = lambda key, **values: text(lang, key, **values)
    env.globals["w"] = lambda value: word(lang, value)
    env.filters["duration"] = lambda seconds: duration(seconds, lang)
    return env.get_template(name).render(r=report, v=view, **extra)


def markdown(
    report: dict[str, Any], view: dict[str, Any], *, chart_files: dict[str, str] | None = None
) -> str:
    return _render("report.md.j2", report, view, charts=chart_files or {})


def html(report: dict[str, Any], view: dict[str, Any]) -> str:
    return _render("report.html.j2", report, view, charts=chart_svgs(report, view))


def chromium() -> str | None:
    return next((p for p in map(shutil.which, CHROMIUM_NAMES) if p), None)


# The PDF is printed from a file, so the page is sandboxed: a CSP first in the document (no
# script runs, inline or not, so no alert() can hang the print; no frames, objects, file or
# remote images: only what is inline; also in the HTML report), and every request Chromium
# would make sent to a proxy that is not there (no network). Chromium's own switch for
# scripts (--blink-settings=scriptEnabled=false) breaks headless printing, hence the CSP.
PRINT_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-pdf-header-footer",
    "--proxy-server=http://127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
PRINT_TIMEOUT = 60  # seconds: a report page has nothing to wait for
REPORT_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; "
    "base-uri 'none'; form-action 'none'"
)


def pdf(report: dict[str, Any], view: dict[str, Any], out: Path) -> None:
    print_pdf(html(report, view), out)


def print_pdf(page_html: str, out: Path) -> None:
    """Print an HTML page to `out` with Chromium, sandboxed (PRINT_FLAGS, and REPORT_CSP put
    at the top of the page's head whatever the page says)."""
    browser = chromium()
    if browser is None:
        raise ReportError(
            "a PDF is printed with Chromium, which is not installed here "
            "(apt-get install chromium); or use --format html"
        )
    meta = f'<meta http-equiv="Content-Security-Policy" content="{REPORT_CSP}">'
    head = re.search(r"<head[^>]*>", page_html, flags=re.IGNORECASE)
    at = head.end() if head else 0
    page_html = page_html[:at] + meta + page_html[at:]
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "report.html"
        page.write_text(page_html, encoding="utf-8")
        target = out.resolve()
        try:
            result = subprocess.run(
                [
                    browser,
                    *PRINT_FLAGS,
                    f"--user-data-dir={tmp}/profile",
                    f"--print-to-pdf={target}",
                    page.as_uri(),
                ],
                capture_output=True,
                text=True,
                timeout=PRINT_TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            raise ReportError(f"Chromium did not print the PDF within {PRINT_TIMEOUT} s") from None
    if result.returncode != 0 or not target.exists() or target.stat().st_size == 0:
        raise ReportError(f"Chromium could not print the PDF: {result.stderr.strip()[-500:]}")


def write(
    report: dict[str, Any], *, fmt: str, out: Path | None, view: dict[str, Any] | None = None
) -> str | None:
    """Write the report to `out` (or return the text, for stdout). Markdown's charts go to
    files `<out stem>-<chart>.svg` beside it."""
    if fmt not in FORMATS:
        raise ReportError(f"--format: {fmt!r} is not one of {', '.join(FORMATS)}")
    if view is None:
        from emergency.report.present import present

        view = present(report, lang="en")
    if fmt == "pdf":
        if out is None:
            raise ReportError("--format pdf needs --out FILE.pdf")
        pdf(report, view, out)
        return None
    if fmt == "html":
        written = html(report, view)
    else:
        files = {}
        if out is not None:
            for name, svg in chart_svgs(report, view).items():
                path = out.with_name(f"{out.stem}-{name}.svg")
                path.write_text(svg, encoding="utf-8")
                files[name] = path.name
        written = markdown(report, view, chart_files=files)
    if out is None:
        return written
    out.write_text(written, encoding="utf-8")
    return None
