"""Time the pipelines share (pure): the one time zone, and vectorised calendar arithmetic.

MBTA's service days are Eastern time and NYC 311's floating timestamps are New York wall-clock
time: both are `America/New_York`, named once here.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

EASTERN = ZoneInfo("America/New_York")
UTC = ZoneInfo("UTC")


def days_from_civil(
    y: np.ndarray[Any, Any], m: np.ndarray[Any, Any], d: np.ndarray[Any, Any]
) -> np.ndarray[Any, np.dtype[np.int64]]:
    """Days since 1970-01-01 of proleptic Gregorian dates (H. Hinnant's algorithm)."""
    y = y - (m <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    mp = (m + 9) % 12
    doy = (153 * mp + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return np.asarray(era * 146097 + doe - 719468, dtype=np.int64)
