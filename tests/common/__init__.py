"""Tests of the shared layer (tasks/common)."""
