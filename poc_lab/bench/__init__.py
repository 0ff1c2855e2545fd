"""Benchmarks (python -m poc_lab.bench.<name>)."""
