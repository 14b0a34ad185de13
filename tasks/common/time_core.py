"""The one time zone the pipelines share (pure).

MBTA's service days are Eastern time and NYC 311's floating timestamps are New York wall-clock
time: both are `America/New_York`, named once here.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

EASTERN = ZoneInfo("America/New_York")
UTC = ZoneInfo("UTC")
