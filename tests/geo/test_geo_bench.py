"""The targeting benchmark runs, and its two sides agree (a small n keeps it quick)."""

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_targeting.py"


def test_bench_targeting_rows():
    spec = importlib.util.spec_from_file_location("bench_targeting", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows = module.run(50_000, sample=2_000, repeats=1)
    assert [r["benchmark"] for r in rows] == [
        "targeting 50k subscribers over all zones",
        "zone assignment 50k subscribers",
    ]
    for row in rows:
        assert row["ours"] > 0 and row["peer"] > 0
        assert row["peer_name"] == "per-point shapely loop" and row["unit"] == "s"
        assert row["goal"] == "< 1 s and ≥ 50× faster"
        assert row["agree_on_sample"] is True
        assert "extrapolated" in row["note"]
