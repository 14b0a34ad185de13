"""Benchmarks: each pipeline against a named alternative on the same input (see README)."""
