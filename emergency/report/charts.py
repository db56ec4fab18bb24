"""The report's charts as small SVG drawings (no plotting library: they are simple, and the
same SVG goes into the HTML, the PDF and, as files, next to the Markdown)."""

from __future__ import annotations

from collections.abc import Callable
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


def _english(key: str) -> str:
    from emergency.report.present import text

    return text("en", key)


def _empty(title: str, label: Callable[[str], str] = _english) -> str:
    return _svg(
        40,
        [f"<text x='10' y='25' fill='#666'>{escape(title)}: {escape(label('nothing'))}</text>"],
        title,
    )


def signals(periods: list[dict[str, Any]], label: Callable[[str], str] = _english) -> str:
    """One row per signal; a bar per level while it was in force, coloured by its rank
    (names in the report's language when the periods carry them)."""
    title = label("c_signals")
    if not periods:
        return _empty(title, label)
    rows = sorted({p["signal"] for p in periods})
    row_name = {p["signal"]: p.get("signal_name", p["signal"]) for p in periods}
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
            f"{escape(p.get('level_name', p['name']))}</title></rect>"
        )
        if w > 24:
            body.append(
                f"<text x='{x + 3:.1f}' y='{y + 15}' fill='{_text_on(colour)}'>"
                f"{escape(p.get('level_name', p['level']))[: max(int(w // 7), 1)]}</text>"
            )
    for i, name in enumerate(rows):
        body.append(f"<text x='10' y='{30 + i * row_h + 15}'>{escape(row_name[name][:24])}</text>")
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


def delivery(broadcasts: list[dict[str, Any]], label: Callable[[str], str] = _english) -> str:
    """Messages sent against seconds after each broadcast started (cumulative)."""
    title = label("c_delivery")
    series = [b for b in broadcasts if b["sent_times"]][: len(LINE_COLOURS)]
    if not series:
        return _empty(title, label)
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
        legend = f"#{b['id']} {b['title'] or b['origin']}"[:30]
        body.append(
            f"<rect x='{left + plot + 15}' y='{top + i * 20}' width='12' height='12' "
            f"fill='{colour}'/><text x='{left + plot + 32}' y='{top + i * 20 + 11}'>"
            f"{escape(legend)}</text>"
        )
    return _svg(top + height + 30, body, title)


def field(figures: dict[str, int], label: Callable[[str], str] = _english) -> str:
    """The field figures as four small charts side by side, each on its own scale (crews
    counted in tens never flattened beside people counted in thousands)."""
    title = label("c_field")
    panels = [
        (
            "c_patrols",
            [
                ("inspection_groups", figures["inspection_groups"]),
                ("person_trips", figures["person_trips"]),
                ("vehicle_trips", figures["vehicle_trips"]),
            ],
        ),
        (
            "c_hazards",
            [
                ("hazards_found", figures["hazards_found"]),
                ("hazards_rectified", figures["hazards_rectified"]),
            ],
        ),
        (
            "c_people",
            [
                ("people_evacuated", figures["people_evacuated"]),
                ("crew_members", figures["crew_people"]),
                ("vulnerable_reached", figures["vulnerable_reached"]),
            ],
        ),
        ("c_crews", [("crews", figures["crews"])]),
    ]
    width = (WIDTH - 20) / len(panels)
    top, plot_h = 44, 150
    body = [f"<text x='10' y='18' font-weight='bold'>{escape(title)}</text>"]
    for i, (name, items) in enumerate(panels):
        x0 = 10 + i * width
        peak = max(v for _, v in items) or 1
        bar_w = (width - 30) / len(items)
        body.append(f"<text x='{x0:.1f}' y='36' font-weight='bold'>{escape(label(name))}</text>")
        body.append(
            f"<line x1='{x0:.1f}' y1='{top + plot_h}' x2='{x0 + width - 20:.1f}' "
            f"y2='{top + plot_h}' stroke='#333'/>"
        )
        for j, (key, value) in enumerate(items):
            h = max(value / peak * (plot_h - 14), 1)
            bx = x0 + j * bar_w + 4
            body.append(
                f"<rect x='{bx:.1f}' y='{top + plot_h - h:.1f}' width='{bar_w - 8:.1f}' "
                f"height='{h:.1f}' fill='{LINE_COLOURS[i]}'/>"
                f"<text x='{bx + (bar_w - 8) / 2:.1f}' y='{top + plot_h - h - 3:.1f}' "
                f"text-anchor='middle'>{value}</text>"
                f"<text x='{bx + (bar_w - 8) / 2:.1f}' y='{top + plot_h + 15}' "
                f"text-anchor='middle' font-size='10'>{escape(label(key))[:18]}</text>"
            )
    return _svg(top + plot_h + 26, body, title)
