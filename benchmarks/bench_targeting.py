"""Benchmark: targeting a million subscribers over the Hengqin zones.

Ours is :mod:`geo.targeting` (numpy bounding-box prefilter + prepared ``intersects_xy``);
the peer is the obvious per-point loop, ``poly.contains(Point(x, y))``, timed on a sample
in the same run and extrapolated linearly to ``n`` (a loop's cost is linear in the points).
Both answers are compared on the sample, so a fast wrong answer cannot pass.

    python benchmarks/bench_targeting.py [--n 1000000] [--sample 20000]

``run(n)`` returns the rows for the project's benchmark report.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import Point

from geo.targeting import target_mask
from geo.zones import load_zones

ZONES_DIR = Path(__file__).resolve().parents[1] / "config" / "zones"
ISLAND_BOX = (113.47, 22.07, 113.57, 22.16)  # GEOGRAPHY.md: Hengqin's rough extent
GOAL_SECONDS = 1.0
GOAL_SPEEDUP = 50.0


def run(
    n: int = 1_000_000, *, sample: int = 20_000, repeats: int = 5, seed: int = 2024
) -> list[dict[str, Any]]:
    """Time ours on ``n`` seeded random points and the per-point loop on ``sample`` of them."""
    zones = load_zones(ZONES_DIR)
    communities = zones.of_kind("community")
    geometries = [z.geometry for z in communities]
    rng = np.random.default_rng(seed)
    min_lon, min_lat, max_lon, max_lat = ISLAND_BOX
    lons = rng.uniform(min_lon, max_lon, n)
    lats = rng.uniform(min_lat, max_lat, n)
    sample = min(sample, n)
    label = _count(n)

    # -- targeting: who is inside the union of all communities -------------------------
    ours_s, mask = _median_time(lambda: target_mask(lons, lats, geometries=geometries), repeats)
    # a fresh, unprepared copy: what the plain approach would hold
    union = shapely.from_wkb(shapely.to_wkb(shapely.union_all(geometries)))
    t0 = time.perf_counter()
    loop_mask = [
        union.contains(Point(x, y)) for x, y in zip(lons[:sample], lats[:sample], strict=True)
    ]
    peer_s = (time.perf_counter() - t0) * n / sample
    agree = bool(np.array_equal(mask[:sample], np.array(loop_mask)))

    # -- zone assignment: each subscriber's community, for storing with the subscriber ---
    ours_assign_s, ids = _median_time(lambda: zones.zones_of(lons, lats), repeats)
    plain = [(z.id, shapely.from_wkb(shapely.to_wkb(z.geometry))) for z in communities]
    t0 = time.perf_counter()
    loop_ids = []
    for x, y in zip(lons[:sample], lats[:sample], strict=True):
        point = Point(x, y)
        loop_ids.append(next((zone_id for zone_id, poly in plain if poly.contains(point)), None))
    peer_assign_s = (time.perf_counter() - t0) * n / sample
    agree_assign = list(ids[:sample]) == loop_ids

    cores = os.cpu_count() or 1
    common = {
        "n": n,
        "unit": "s",
        "goal": f"< {GOAL_SECONDS:g} s and ≥ {GOAL_SPEEDUP:g}× faster",
        "cores": cores,
    }
    return [
        {
            "benchmark": f"targeting {label} subscribers over all zones",
            "ours": round(ours_s, 4),
            "peer": round(peer_s, 2),
            "peer_name": "per-point shapely loop",
            **common,
            "speedup": round(peer_s / ours_s, 1),
            "met": ours_s < GOAL_SECONDS and peer_s / ours_s >= GOAL_SPEEDUP,
            "agree_on_sample": agree,
            "inside": int(mask.sum()),
            "note": (
                f"ours: geo.targeting.target_mask over the {len(geometries)} community zones, "
                f"median of {repeats}; peer: union.contains(Point(x, y)) timed on {sample:,} "
                f"of the points and extrapolated ×{n / sample:g} to {n:,}"
            ),
        },
        {
            "benchmark": f"zone assignment {label} subscribers",
            "ours": round(ours_assign_s, 4),
            "peer": round(peer_assign_s, 2),
            "peer_name": "per-point shapely loop",
            **common,
            "speedup": round(peer_assign_s / ours_assign_s, 1),
            "met": ours_assign_s < GOAL_SECONDS and peer_assign_s / ours_assign_s >= GOAL_SPEEDUP,
            "agree_on_sample": agree_assign,
            "note": (
                f"ours: ZoneSet.zones_of (community id per point), median of {repeats}; peer: "
                f"first zone whose poly.contains(Point(x, y)), timed on {sample:,} points and "
                f"extrapolated ×{n / sample:g}"
            ),
        },
    ]


def _median_time(func: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(max(repeats, 1)):
        t0 = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def _count(n: int) -> str:
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1_000 and n % 1_000 == 0:
        return f"{n // 1_000}k"
    return f"{n:,}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="subscribers (default 1,000,000)")
    parser.add_argument("--sample", type=int, default=20_000, help="points timed in the loop")
    parser.add_argument("--repeats", type=int, default=5, help="runs of ours; the median is kept")
    args = parser.parse_args()
    rows = run(args.n, sample=args.sample, repeats=args.repeats)
    header = f"{'benchmark':<44} {'ours':>9} {'peer':>9} {'speedup':>8}  {'goal':<26} met  agree"
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row['benchmark']:<44} {row['ours']:>8.3f}s {row['peer']:>8.2f}s "
            f"{row['speedup']:>7.1f}×  {row['goal']:<26} {'yes' if row['met'] else 'NO ':<4} "
            f"{row['agree_on_sample']}"
        )
    print(f"\npeer: {rows[0]['peer_name']}; {rows[0]['cores']} cores")
    for row in rows:
        print(f"- {row['note']}")


if __name__ == "__main__":
    main()
