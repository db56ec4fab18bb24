"""`typhoon report`: the period from the command line, the data, the file."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from emergency.catalogue import load_catalogue
from emergency.clock import LOCAL_TZ
from emergency.report import data, render
from emergency.report.render import ReportError


def parse_time(value: str | None, option: str) -> datetime | None:
    """ISO-8601 date or date-time; without a zone it is Macau time."""
    if value is None:
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise ReportError(
            f"{option}: {value!r} is not a date or time (e.g. 2024-09-05 or 2024-09-05T22:00)"
        ) from None
    return at if at.tzinfo else at.replace(tzinfo=LOCAL_TZ)


def write(
    db,
    *,
    settings,
    start: datetime | None,
    end: datetime | None,
    fmt: str | None,
    out: Path | None,
    exercise: bool,
) -> str | None:
    """Write the report to `out`, or return its text (stdout). Without --format, the format
    is the file's suffix (report.html), else Markdown."""
    if fmt is None:
        suffix = out.suffix.lstrip(".").lower() if out else ""
        fmt = {"markdown": "md", "htm": "html"}.get(suffix, suffix)
        fmt = fmt if fmt in render.FORMATS else "md"
    if fmt not in render.FORMATS:
        raise ReportError(f"--format: {fmt!r} is not one of {', '.join(render.FORMATS)}")
    if start and end and start >= end:
        raise ReportError("--from must be earlier than --to")
    catalogue = load_catalogue(settings.config_dir / "signals.yaml")
    with db.session() as session:
        report = data.build(session, catalogue=catalogue, start=start, end=end, exercise=exercise)
    return render.write(report, fmt=fmt, out=out)
