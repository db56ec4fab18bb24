"""`make bench` = `python -m benchmarks`: every `benchmarks/bench_*.py` module's `run()`, one
table on stdout, and the same table with the machine it ran on in `benchmarks/latest.md`.

Each module's `run()` returns rows ``{"benchmark", "ours", "peer", "peer_name", "goal",
"met", "unit", "note"?}``. Options are passed to the modules whose `run()` accepts them:

    python -m benchmarks [--seconds 60] [--pg [URL]] [--quick] [--only NAME ...]

``--quick`` runs small sizes (a smoke test of the benchmarks, not a measurement).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import inspect
import os
import platform
import sys
import time
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
QUICK = {
    "bench_targeting": {"n": 100_000, "sample": 5_000, "repeats": 1},
    "bench_dispatch": {"n": 20_000, "sequential_sample": 300, "apprise_sample": 10, "rounds": 1},
    "bench_rate_ceiling": {"seconds": 10.0},
    "bench_import": {"n": 50_000},
    "bench_broadcast": {"n": 20_000},
    "bench_lanes": {"bulk": 20_000, "urgent": 100, "fifo_wait": 5.0},
    "bench_load_reports": {"subscribers": 5_000, "report_rate": 50.0, "report_seconds": 5.0},
    "bench_load_websocket": {"ws_clients": 200, "ws_events": 5},
    "bench_load_signal": {"subscribers": 5_000, "signal_repeats": 5, "signal_repeats_full": 1},
}


def machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = "?"
    try:
        import psutil

        ram = f"{psutil.virtual_memory().total / 2**30:.1f} GiB"
    except ImportError:
        pass
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count() or "?"),
        "ram": ram,
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def modules(only: list[str] | None) -> list[str]:
    names = sorted(p.stem for p in HERE.glob("bench_*.py"))
    if only:
        names = [n for n in names if any(o in n for o in only)]
    return names


def call_run(name: str, options: dict[str, Any]) -> list[dict[str, Any]]:
    module = importlib.import_module(f"benchmarks.{name}")
    parameters = inspect.signature(module.run).parameters
    takes_all = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    kwargs = {k: v for k, v in options.items() if takes_all or k in parameters}
    return list(module.run(**kwargs))


def cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1 else f"{value:,.1f}".rstrip("0").rstrip(".")
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def with_unit(row: dict[str, Any], key: str) -> str:
    value = row.get(key)
    if value is None or value == "":
        return "—"
    unit = row.get("unit", "")
    return f"{cell(value)} {unit}".strip()


COLUMNS = ("benchmark", "ours", "peer", "peer name", "goal", "met?", "note")


def table_rows(rows: list[dict[str, Any]]) -> list[list[str]]:
    return [
        [
            str(r["benchmark"]),
            with_unit(r, "ours"),
            with_unit(r, "peer"),
            str(r.get("peer_name", "")),
            str(r.get("goal", "")),
            cell(bool(r.get("met"))),
            str(r.get("note") or ""),
        ]
        for r in rows
    ]


def text_table(rows: list[dict[str, Any]]) -> str:
    body = table_rows(rows)
    widths = [max(len(c), *(len(r[i]) for r in body)) for i, c in enumerate(COLUMNS)]
    widths = [min(w, 60) for w in widths]
    widths[-1] = len(COLUMNS[-1])  # the note, last, is never cut nor padded
    line = "  ".join(c.ljust(widths[i]) for i, c in enumerate(COLUMNS))
    out = [line, "-" * max(len(line), 160)]
    for r in body:
        cells = [v.replace("**", "") for v in r]
        out.append(
            "  ".join(
                v if i == len(cells) - 1 else v[: widths[i]].ljust(widths[i])
                for i, v in enumerate(cells)
            ).rstrip()
        )
    return "\n".join(out)


def markdown(
    rows: list[dict[str, Any]], info: dict[str, str], seconds: float, *, heading: bool = True
) -> str:
    lines = ["# Benchmarks (latest run of `make bench`)", ""] if heading else []
    lines += [
        f"Machine: {info['cpu']}, {info['cores']} cores, {info['ram']} RAM; "
        f"Python {info['python']} on {info['os']}; {info['date']}"
        + (f"; load average {info['load']}" if info.get("load") else "")
        + (f"; whole run {info['took']}" if info.get("took") else "")
        + ".",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "|".join("---" for _ in COLUMNS) + "|",
    ]
    for r in table_rows(rows):
        lines.append("| " + " | ".join(v.replace("|", "\\|") for v in r) + " |")
    lines += [
        "",
        f"Run with `make bench` (`python -m benchmarks`, rate ceiling over {seconds:g} s); "
        "each `benchmarks/bench_*.py` also runs alone (`python -m benchmarks.bench_dispatch`). "
        "Import, broadcast, dispatch and the rate ceiling use SQLite unless `--pg`; the load "
        "benchmarks always use PostgreSQL; the rate ceiling and the load benchmarks use Redis.",
        "",
    ]
    return "\n".join(lines)


README_START, README_END = "<!-- bench:start -->", "<!-- bench:end -->"


def update_readme(path: Path, text: str) -> bool:
    """Put ``text`` between the README's benchmark markers; False when they are missing."""
    readme = path.read_text()
    start, end = readme.find(README_START), readme.find(README_END)
    if start < 0 or end < start:
        return False
    path.write_text(readme[: start + len(README_START)] + "\n" + text + "\n" + readme[end:])
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run every benchmark; print one table.")
    parser.add_argument("--seconds", type=float, default=60.0, help="rate-ceiling run length")
    parser.add_argument(
        "--pg",
        nargs="?",
        default=None,
        const=os.environ.get("TYPHOON_TEST_DATABASE_URL")
        or "postgresql://postgres@127.0.0.1:5432/postgres",
        help="use PostgreSQL (admin URL) instead of SQLite",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke test")
    parser.add_argument("--only", nargs="*", help="run only modules whose name contains these")
    parser.add_argument("-o", "--output", type=Path, default=HERE / "latest.md")
    parser.add_argument(
        "--readme", action="store_true", help="also put the table in README.md's bench section"
    )
    args = parser.parse_args(argv)
    run_started = time.monotonic()
    load_before = os.getloadavg()
    sys.path.insert(0, str(ROOT))

    rows: list[dict[str, Any]] = []
    failed = False
    for name in modules(args.only):
        options: dict[str, Any] = {"seconds": args.seconds, "pg": args.pg}
        if args.quick:
            options.update(QUICK.get(name, {}))
        started = time.monotonic()
        print(f"== {name} …", file=sys.stderr, flush=True)
        try:
            got = call_run(name, options)
        except Exception as exc:
            failed = True
            traceback.print_exc()
            got = [
                {
                    "benchmark": name,
                    "ours": None,
                    "peer": None,
                    "peer_name": "",
                    "goal": "",
                    "met": False,
                    "note": f"failed: {type(exc).__name__}: {exc}",
                }
            ]
        print(f"   {name} done in {time.monotonic() - started:.0f} s", file=sys.stderr)
        rows.extend(got)

    info = machine()
    load_after = os.getloadavg()
    info["load"] = f"{load_before[1]:.1f} before, {load_after[1]:.1f} after (5-min)"
    info["took"] = f"{(time.monotonic() - run_started) / 60:.1f} min"
    print()
    print(text_table(rows))
    print(
        f"\n{info['cpu']}, {info['cores']} cores, {info['ram']}, Python {info['python']}, "
        f"{info['date']}"
    )
    if not args.quick and not args.only:
        args.output.write_text(markdown(rows, info, args.seconds))
        print(f"written to {args.output.relative_to(ROOT)}")
    elif args.output != HERE / "latest.md":
        args.output.write_text(markdown(rows, info, args.seconds))
    if args.readme and not update_readme(
        ROOT / "README.md", markdown(rows, info, args.seconds, heading=False)
    ):
        print("README.md has no benchmark markers", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
