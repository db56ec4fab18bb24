"""Benchmarks of the project: `make bench` (= `python -m benchmarks`) runs every
`bench_*.py` module's `run()` and prints one table (also written to `latest.md`)."""
