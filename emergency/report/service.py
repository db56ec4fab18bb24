"""`typhoon report`: the period from the command line, the data, the file."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlmodel import select

from emergency.catalogue import LANGUAGES, load_catalogue
from emergency.clock import LOCAL_TZ
from emergency.evacuation.models import Shelter
from emergency.report import data, present, render
from emergency.report.render import ReportError
from geo.zones import load_zones

if TYPE_CHECKING:
    from emergency.db import Database
    from emergency.settings import Settings


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
    db: Database,
    *,
    settings: Settings,
    start: datetime | None,
    end: datetime | None,
    fmt: str | None,
    out: Path | None,
    exercise: bool,
    lang: str = "en",
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
    language = next((known for known in LANGUAGES if known == lang), None)
    if language is None:
        raise ReportError(f"--lang: {lang!r} is not one of {', '.join(LANGUAGES)}")
    catalogue = load_catalogue(settings.config_dir / "signals.yaml")
    zones_dir = settings.config_dir / "zones"
    zones = load_zones(zones_dir) if zones_dir.is_dir() else None
    with db.session() as session:
        report = data.build(session, catalogue=catalogue, start=start, end=end, exercise=exercise)
        shelters = {s.id: dict(s.name) for s in session.exec(select(Shelter))}
    view = present.present(
        report, lang=language, catalogue=catalogue, zones=zones, shelters=shelters
    )
    return render.write(report, fmt=fmt, out=out, view=view)
