"""Tests of the CSV profiling pipeline."""
