"""The profiler's rules from the settings, with per-run overrides (no Prefect, no AWS)."""

from __future__ import annotations

from collections.abc import Sequence

from tasks.common.settings import get_settings
from tasks.csv_profile.profile_core import ProfileOptions


def options_from_settings(
    type_threshold: float | None = None, null_tokens: Sequence[str] | None = None
) -> ProfileOptions:
    """`ProfileOptions` from the `csv_*` settings; arguments that are not None win."""
    s = get_settings()
    return ProfileOptions(
        type_threshold=s.csv_type_threshold if type_threshold is None else type_threshold,
        null_tokens=tuple(s.csv_null_tokens if null_tokens is None else null_tokens),
        block_bytes=s.csv_block_bytes,
    )
