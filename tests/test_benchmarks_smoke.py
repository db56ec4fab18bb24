"""The benchmark runner works (`make bench` = `python -m benchmarks`): one module at tiny
sizes, its rows in the one table, the table written with the machine. No timing is asserted:
speed targets live in benchmarks/, never in timed unit tests."""

from __future__ import annotations

import pytest

from benchmarks import __main__ as runner
from benchmarks import load_stack

pytestmark = pytest.mark.timeout(60)

KEYS = {"benchmark", "ours", "peer", "peer_name", "goal", "met", "unit", "note"}


def test_every_benchmark_module_has_run_and_quick_sizes():
    names = runner.modules(None)
    assert {"bench_targeting", "bench_dispatch", "bench_rate_ceiling", "bench_load_reports"} <= set(
        names
    )
    assert set(runner.QUICK) <= set(names)


def test_one_module_through_the_runner(tmp_path):
    output = tmp_path / "latest.md"
    code = runner.main(["--quick", "--only", "targeting", "-o", str(output)])
    assert code == 0
    text = output.read_text()
    assert "| benchmark | ours | peer | peer name | goal | met? | note |" in text
    assert "targeting 100k subscribers" in text
    assert "Machine:" in text


def test_targeting_rows_at_tiny_size():
    from benchmarks import bench_targeting

    rows = bench_targeting.run(2_000, sample=200, repeats=1)
    assert rows and all(set(row) >= KEYS for row in rows)
    assert all(row["agree_on_sample"] for row in rows)  # same answer as the plain loop
    table = runner.text_table(rows)
    assert table.splitlines()[0].split()[:3] == ["benchmark", "ours", "peer"]


def test_a_failed_row_renders_with_dashes():
    rows = [{"benchmark": "x", "ours": None, "peer": None, "goal": "", "met": False, "note": "n"}]
    assert "—" in runner.text_table(rows)
    assert "| x | — | — |" in runner.markdown(rows, runner.machine(), 60.0)


def test_load_helpers():
    assert load_stack.percentile([3.0, 1.0, 2.0, 4.0], 50) == 2.0
    assert load_stack.percentile([float(i) for i in range(1, 101)], 99) == 99.0
    soft, hard = load_stack.raise_nofile()
    assert soft >= 1024 or soft == hard
    actions = [{"do": "broadcast", "result": {"broadcast_id": 7}}, {"result": {"x": 1}}]
    assert load_stack.broadcast_ids(actions) == [7]
