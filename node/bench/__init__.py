"""Benchmarks (python -m node.bench.<name>)."""
