"""Benchmark: `typhoon subscribers import` of a million-row CSV in bounded memory.

Ours is :func:`alerts.subscribers.importer.import_csv` (rows streamed, checked, de-duplicated
and upserted 5,000 at a time, zones assigned per batch with numpy), on a generated file
with a realistic mix: Macau and mainland numbers written every which way, 2% bad rows, 1%
repeats. The peer is the obvious script — read the file, then per row ``phonenumbers``,
an ORM look-up by phone, add or update, the zone by ``poly.contains(Point)`` — timed on a
sample and extrapolated (it is linear in the rows, and it holds the whole file in memory).

    python -m benchmarks.bench_import [--n 1000000] [--pg [URL]]

``run(n)`` returns the rows for the project's benchmark report; ``main()`` prints time,
rows/s and the peak memory growth.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import gc
import os
import random
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ZONES_DIR = ROOT / "config" / "zones"
ISLAND_BOX = (113.47, 22.07, 113.57, 22.16)
GOAL_RATE = 10_000.0  # rows/s: a million in under two minutes
GOAL_MEMORY = 100e6  # bytes of peak growth, whatever the file's size


@contextlib.contextmanager
def bench_database(pg: str | None) -> Iterator[str]:
    """A fresh migrated database: SQLite in a temporary folder, or one on PostgreSQL."""
    from emergency import migrate

    if pg is None:
        folder = Path(tempfile.mkdtemp(prefix="typhoon-bench-"))
        url = f"sqlite:///{folder}/bench.db"
        migrate.upgrade(url)
        try:
            yield url
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"typhoon_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(
        pg.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(pg).set(database=name).render_as_string(hide_password=False)
    try:
        migrate.upgrade(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class PeakRss:
    """This process's resident memory, sampled every few ms; `.growth` = peak − start."""

    def __init__(self) -> None:
        import psutil

        self.process = psutil.Process()
        self.base = self.peak = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth(self) -> int:
        return self.peak - self.base


def write_csv(path: Path, n: int, *, seed: int = 2024) -> None:
    """n data rows: Macau/mainland numbers in several spellings, 2% bad, 1% repeats."""
    rng = random.Random(seed)
    languages = ["zh-Hans", "zh-CN", "zh-Hant", "zh-MO", "pt", "en"]
    min_lon, min_lat, max_lon, max_lat = ISLAND_BOX
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["phone", "language", "lat", "lon", "name", "tags"])
        for i in range(n):
            roll = rng.random()
            j = rng.randrange(i) if roll < 0.01 and i else i  # 1%: repeat an earlier phone
            if j % 3 == 0 and j < 3 * 10**6:  # Macau: 62/63/65 + 6 digits
                local = f"6{(2, 3, 5)[(j // 3) % 3]}{(j // 9) % 10**6:06d}"
                phone = rng.choice(["{}", "+853 {}", "00853{}"]).format(local)
            else:
                phone = rng.choice(["139{:08d}", "+86 139 {:08d}", "139-{:08d}"]).format(j)
            if 0.01 <= roll < 0.03:
                phone = rng.choice(["28211234", "12345", "6400000" + str(j % 10)])
            lat = rng.uniform(min_lat, max_lat)
            lon = rng.uniform(min_lon, max_lon)
            writer.writerow(
                [
                    phone,
                    languages[j % len(languages)],
                    f"{lat:.6f}",
                    f"{lon:.6f}",
                    "",
                    "exercise" if j % 50 == 0 else "",
                ]
            )


def ours(url: str, path: Path) -> dict[str, Any]:
    from alerts.subscribers.importer import import_csv
    from emergency.db import Database
    from geo.zones import load_zones

    zones = load_zones(ZONES_DIR)
    db = Database(url)
    gc.collect()
    try:
        with PeakRss() as rss, path.open(encoding="utf-8", newline="") as stream:
            started = time.perf_counter()
            summary = import_csv(stream, transaction=db.unit_of_work, zones=zones)
            seconds = time.perf_counter() - started
    finally:
        db.dispose()
    return {"seconds": seconds, "growth": rss.growth, "summary": summary}


def peer(url: str, path: Path, sample: int) -> dict[str, Any]:
    """The obvious script, on the first `sample` rows of the file."""
    import phonenumbers
    from shapely.geometry import Point
    from sqlmodel import Session, select

    from alerts.models import Subscriber
    from emergency.db import make_engine
    from geo.zones import load_zones

    communities = [(z.id, z.geometry) for z in load_zones(ZONES_DIR).of_kind("community")]
    engine = make_engine(url)
    with path.open(encoding="utf-8", newline="") as stream:
        rows = list(csv.DictReader(stream))[:sample]  # the whole file, in the obvious script
    started = time.perf_counter()
    with Session(engine) as session:
        for row in rows:
            try:
                number = phonenumbers.parse(row["phone"], "MO")
                if not phonenumbers.is_valid_number(number):
                    number = phonenumbers.parse(row["phone"], "CN")
                if not phonenumbers.is_valid_number(number):
                    continue
            except phonenumbers.NumberParseException:
                continue
            phone = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
            point = Point(float(row["lon"]), float(row["lat"]))
            zone = next((zid for zid, poly in communities if poly.contains(point)), None)
            found = session.exec(select(Subscriber).where(Subscriber.phone == phone)).first()
            if found is None:
                found = Subscriber(phone=phone, language=row["language"][:8])
            found.lat, found.lon, found.zone_id = float(row["lat"]), float(row["lon"]), zone
            session.add(found)
            session.flush()
        session.commit()
    seconds = time.perf_counter() - started
    engine.dispose()
    return {"seconds": seconds, "rows": len(rows)}


def run(n: int = 1_000_000, *, pg: str | None = None, sample: int = 5_000) -> list[dict[str, Any]]:
    folder = Path(tempfile.mkdtemp(prefix="typhoon-import-"))
    try:
        path = folder / "subscribers.csv"
        write_csv(path, n)
        size = path.stat().st_size
        with bench_database(pg) as url:
            mine = ours(url, path)
        with bench_database(pg) as url:
            theirs = peer(url, path, min(sample, n))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    summary = mine["summary"]
    rate = n / mine["seconds"]
    peer_seconds = theirs["seconds"] * n / max(theirs["rows"], 1)
    database = "postgresql" if pg else "sqlite"
    return [
        {
            "benchmark": f"import {_count(n)} CSV rows ({database})",
            "ours": round(mine["seconds"], 1),
            "peer": round(peer_seconds, 1),
            "peer_name": "read all, per-row phonenumbers + ORM upsert",
            "unit": "s",
            "goal": f"≥ {GOAL_RATE:,.0f} rows/s, < {GOAL_MEMORY / 1e6:.0f} MB growth",
            "met": rate >= GOAL_RATE and mine["growth"] < GOAL_MEMORY,
            "rows_per_second": round(rate),
            "peak_memory_growth_mb": round(mine["growth"] / 1e6, 1),
            "added": summary.added,
            "updated": summary.updated,
            "rejected": summary.rejected,
            "note": (
                f"{size / 1e6:.0f} MB file, {rate:,.0f} rows/s, peak RSS growth "
                f"{mine['growth'] / 1e6:.1f} MB; added {summary.added:,}, updated "
                f"{summary.updated:,}, rejected {summary.rejected:,}; peer timed on "
                f"{theirs['rows']:,} rows and extrapolated ×{n / max(theirs['rows'], 1):g}"
            ),
        }
    ]


def _count(n: int) -> str:
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1_000 and n % 1_000 == 0:
        return f"{n // 1_000}k"
    return f"{n:,}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="rows (default 1,000,000)")
    parser.add_argument("--sample", type=int, default=5_000, help="rows timed for the peer")
    parser.add_argument(
        "--pg",
        nargs="?",
        default=None,
        const=os.environ.get("TYPHOON_TEST_DATABASE_URL")
        or "postgresql://postgres@127.0.0.1:5432/postgres",
        help="PostgreSQL admin URL (default: SQLite)",
    )
    args = parser.parse_args()
    for row in run(args.n, pg=args.pg, sample=args.sample):
        print(
            f"{row['benchmark']}: {row['ours']} s ({row['rows_per_second']:,} rows/s), "
            f"peak memory growth {row['peak_memory_growth_mb']} MB; peer "
            f"{row['peer']} s; goal {row['goal']}: {'met' if row['met'] else 'NOT met'}"
        )
        print(f"  {row['note']}")


if __name__ == "__main__":
    main()
