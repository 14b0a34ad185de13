"""Profile options for tests: the settings' defaults (tests run with no PIPELINES_ variables)."""

from __future__ import annotations

import dataclasses
from typing import Any

from tasks.csv_profile.options_io import options_from_settings
from tasks.csv_profile.profile_core import ProfileOptions


def options(**changes: Any) -> ProfileOptions:
    """The default options with `changes` applied."""
    return dataclasses.replace(options_from_settings(), **changes)
