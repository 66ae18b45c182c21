"""Benchmark and test tooling for ccaudit: a dump generator with exact truth, and a DuckDB comparison."""
