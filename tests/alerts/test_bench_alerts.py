"""The import and broadcast benchmarks run and report sensible rows (small n keeps it quick)."""

from benchmarks import bench_broadcast, bench_import


def test_bench_import_rows():
    [row] = bench_import.run(3_000, sample=200)
    assert row["benchmark"] == "import 3k CSV rows (sqlite)"
    assert row["ours"] > 0 and row["peer"] > 0 and row["unit"] == "s"
    assert row["added"] + row["updated"] + row["rejected"] == 3_000
    assert 0 < row["rejected"] < 200  # the generated file's 2% bad rows
    assert row["peak_memory_growth_mb"] < 100


def test_bench_broadcast_rows():
    audience, outbox = bench_broadcast.run(3_000, sample=300)
    assert audience["benchmark"] == "audience of 3k subscribers (sqlite)"
    assert outbox["benchmark"] == "outbox write of 3k messages (sqlite)"
    assert audience["met"] and outbox["met"]
    assert "3,000 ids queued after commit" in outbox["note"]
