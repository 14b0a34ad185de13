"""MBTA service facts shared by LAMP and the historic backfills (pure).

- Service date: the Eastern calendar day, except that 00:00-02:59 belongs to the previous day.
- Subway and light rail routes: what the dashboard shows. LAMP files made before 2024-04-30
  also hold commuter rail (`CR-*`) rows, which do not belong in the output.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from tasks.common.time_core import EASTERN

SUBWAY_ROUTES: tuple[str, ...] = (
    "Red",
    "Orange",
    "Blue",
    "Green-B",
    "Green-C",
    "Green-D",
    "Green-E",
    "Mattapan",
)
# A service day starts at 03:00 Eastern: trips after midnight belong to the day before.
SERVICE_DAY_START_HOUR = 3


def service_date_at(instant: datetime) -> date:
    """The service date an instant belongs to (Eastern; 00:00-02:59 → the previous day)."""
    if instant.tzinfo is None:
        raise ValueError("instant must be timezone-aware")
    # a plain datetime: Prefect hands out pendulum DateTimes, whose arithmetic differs
    local = datetime.fromtimestamp(instant.timestamp(), EASTERN)
    return (local - timedelta(hours=SERVICE_DAY_START_HOUR)).date()


def service_day_start(service_date: date) -> int:
    """Epoch seconds of "noon minus 12 h" of a service date: GTFS times count from there.

    GTFS defines times relative to noon minus 12 hours, so on daylight-saving days they stay
    continuous (the spring-forward day starts at 23:00 of the previous calendar day, UTC-wise).
    """
    noon = datetime.combine(service_date, time(12), tzinfo=EASTERN)
    return int(noon.timestamp()) - 12 * 3600
