"""Benchmarks of the lakehouse (run as scripts; see docs/benchmarks.md)."""
