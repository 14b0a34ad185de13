"""Tests of the LAMP pipeline."""
