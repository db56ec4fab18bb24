"""The report's charts as small SVG drawings (no plotting library: they are simple, and the
same SVG goes into the HTML, the PDF and, as files, next to the Markdown)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from xml.sax.saxutils import escape

WIDTH = 900
FONT = "font-family='Noto Sans, Noto Sans CJK SC, DejaVu Sans, sans-serif' font-size='12'"
# Colours by a level's rank within its signal (1 = lowest), from calm to severe.
RANK_COLOURS = ["#9ecae1", "#fdd835", "#fb8c00", "#e53935", "#8e24aa", "#212121"]
LINE_COLOURS = ["#1565c0", "#2e7d32", "#c62828", "#6a1b9a", "#ef6c00", "#00838f", "#4e342e"]


def _svg(height: int, body: list[str], title: str) -> str:
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {WIDTH} {height}' "
        f"width='{WIDTH}' height='{height}' role='img' aria-label='{escape(title)}' {FONT}>"
        f"<rect width='{WIDTH}' height='{height}' fill='white'/>" + "".join(body) + "</svg>"
    )


def _empty(title: str) -> str:
    return _svg(
        40,
        [f"<text x='10' y='25' fill='#666'>{escape(title)}: nothing in the period</text>"],
        title,
    )


def signals(periods: list[dict[str, Any]]) -> str:
    """One row per signal; a bar per level while it was in force, coloured by its rank."""
    title = "Signals in force"
    if not periods:
        return _empty(title)
    rows = sorted({p["signal"] for p in periods})
    t0 = min(datetime.fromisoformat(p["from"]) for p in periods)
    # to the end of the last period (a signal still in force runs to the end of the report)
    t1 = max(datetime.fromisoformat(p["from"]) + timedelta(seconds=p["seconds"]) for p in periods)
    span = max((t1 - t0).total_seconds(), 1.0)
    left, right, row_h = 190, 20, 30
    plot = WIDTH - left - right
    body = [f"<text x='10' y='18' font-weight='bold'>{title}</text>"]
    for p in sorted(periods, key=lambda p: p["from"]):
        start = datetime.fromisoformat(p["from"])
        stop_s = (start - t0).total_seconds() + p["seconds"]
        y = 30 + rows.index(p["signal"]) * row_h
        x = left + (start - t0).total_seconds() / span * plot
        w = max(stop_s / span * plot + left - x, 2)
        colour = p.get("color") or RANK_COLOURS[min(max(p["rank"], 1), len(RANK_COLOURS)) - 1]
        body.append(
            f"<rect x='{x:.1f}' y='{y}' width='{w:.1f}' height='{row_h - 8}' "
            f"fill='{colour}' stroke='#555' stroke-width='0.5'><title>"
            f"{escape(p['name'])}</title></rect>"
        )
        if w > 24:
            body.append(
                f"<text x='{x + 3:.1f}' y='{y + 15}' fill='{_text_on(colour)}'>"
                f"{escape(p['level'])}</text>"
            )
    for i, name in enumerate(rows):
        body.append(f"<text x='10' y='{30 + i * row_h + 15}'>{escape(name)}</text>")
    axis_y = 30 + len(rows) * row_h + 4
    body.append(_time_axis(t0, t1, left, plot, axis_y))
    return _svg(axis_y + 30, body, title)


def _text_on(colour: str) -> str:
    """Black or white, whichever reads on the bar."""
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return "#111111" if 0.299 * r + 0.587 * g + 0.114 * b > 150 else "#ffffff"


def _time_axis(t0: datetime, t1: datetime, left: int, plot: int, y: int) -> str:
    from emergency.clock import local_iso

    parts = [f"<line x1='{left}' y1='{y}' x2='{left + plot}' y2='{y}' stroke='#333'/>"]
    for i in range(5):
        at = t0 + (t1 - t0) * (i / 4)
        x = left + plot * i / 4
        label = (local_iso(at) or "")[5:19].replace("T", " ")
        anchor = "start" if i == 0 else ("end" if i == 4 else "middle")
        parts.append(
            f"<line x1='{x:.1f}' y1='{y}' x2='{x:.1f}' y2='{y + 5}' stroke='#333'/>"
            f"<text x='{x:.1f}' y='{y + 18}' text-anchor='{anchor}' fill='#333'>"
            f"{escape(label)}</text>"
        )
    return "".join(parts)


def delivery(broadcasts: list[dict[str, Any]]) -> str:
    """Messages sent against seconds after each broadcast started (cumulative)."""
    title = "Messages sent after each broadcast started"
    series = [b for b in broadcasts if b["sent_times"]][: len(LINE_COLOURS)]
    if not series:
        return _empty(title)
    left, right, top, height = 60, 220, 30, 220
    plot = WIDTH - left - right
    x_max = max(max(b["sent_times"]) for b in series) or 1.0
    y_max = max(len(b["sent_times"]) for b in series)
    body = [
        f"<text x='10' y='18' font-weight='bold'>{title}</text>",
        f"<line x1='{left}' y1='{top + height}' x2='{left + plot}' y2='{top + height}' "
        "stroke='#333'/>",
        f"<line x1='{left}' y1='{top}' x2='{left}' y2='{top + height}' stroke='#333'/>",
        f"<text x='{left - 5}' y='{top + 10}' text-anchor='end'>{y_max}</text>",
        f"<text x='{left - 5}' y='{top + height}' text-anchor='end'>0</text>",
        f"<text x='{left + plot}' y='{top + height + 16}' text-anchor='end'>{x_max:.1f} s</text>",
        f"<text x='{left}' y='{top + height + 16}'>0 s</text>",
    ]
    for i, b in enumerate(series):
        colour = LINE_COLOURS[i]
        points = [f"{left},{top + height}"]
        for n, t in enumerate(b["sent_times"], start=1):
            points.append(f"{left + t / x_max * plot:.1f},{top + height - n / y_max * height:.1f}")
        body.append(
            f"<polyline fill='none' stroke='{colour}' stroke-width='2' "
            f"points='{' '.join(points)}'/>"
        )
        label = f"#{b['id']} {b['title'] or b['origin']}"[:30]
        body.append(
            f"<rect x='{left + plot + 15}' y='{top + i * 20}' width='12' height='12' "
            f"fill='{colour}'/><text x='{left + plot + 32}' y='{top + i * 20 + 11}'>"
            f"{escape(label)}</text>"
        )
    return _svg(top + height + 30, body, title)


def field(figures: dict[str, int]) -> str:
    """The field figures side by side, each bar labelled with its number."""
    title = "Field operations"
    items = [
        ("inspection groups", figures["inspection_groups"]),
        ("person-trips", figures["person_trips"]),
        ("vehicle-trips", figures["vehicle_trips"]),
        ("hazards found", figures["hazards_found"]),
        ("hazards rectified", figures["hazards_rectified"]),
        ("people evacuated", figures["people_evacuated"]),
        ("crews", figures["crews"]),
        ("crew members", figures["crew_people"]),
        ("vulnerable residents reached", figures["vulnerable_reached"]),
    ]
    top = max(v for _, v in items) or 1
    left, row_h = 220, 24
    plot = WIDTH - left - 80
    body = [f"<text x='10' y='18' font-weight='bold'>{title}</text>"]
    for i, (name, value) in enumerate(items):
        y = 30 + i * row_h
        w = max(value / top * plot, 1)
        body.append(
            f"<text x='10' y='{y + 14}'>{escape(name)}</text>"
            f"<rect x='{left}' y='{y}' width='{w:.1f}' height='{row_h - 6}' "
            f"fill='#1565c0'/><text x='{left + w + 6:.1f}' y='{y + 14}'>{value}</text>"
        )
    return _svg(30 + len(items) * row_h + 10, body, title)
