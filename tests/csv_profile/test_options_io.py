"""The profiler's rules come from the settings, and their defaults agree."""

from __future__ import annotations

import pytest

from tasks.csv_profile.options_io import options_from_settings
from tasks.csv_profile.profile_core import ProfileOptions


def test_settings_hold_the_profiler_defaults() -> None:
    assert options_from_settings() == ProfileOptions(
        type_threshold=0.95,
        null_tokens=("", "NA", "N/A", "null", "NULL", "None", "nan", "NaN", "-"),
        block_bytes=2 << 20,
    )


def test_environment_and_arguments_override_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIPELINES_CSV_TYPE_THRESHOLD", "0.9")
    monkeypatch.setenv("PIPELINES_CSV_NULL_TOKENS", '["", "?"]')
    monkeypatch.setenv("PIPELINES_CSV_BLOCK_BYTES", "1048576")
    options = options_from_settings()
    assert (options.type_threshold, options.null_tokens, options.block_bytes) == (
        0.9,
        ("", "?"),
        1 << 20,
    )
    assert options_from_settings(0.99, ["n/a"]).null_tokens == ("n/a",)
    assert options_from_settings(0.99, ["n/a"]).type_threshold == 0.99
