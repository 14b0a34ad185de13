"""The KPI files of the anchor days, computed by hand (see `ANCHOR_TRIPS` in sample_core.py).

2024-03-01 counts a01..a04: fares 0.1 + 0.2 + 10.4 + 0 = 10.70 (in floats 10.700000000000001);
the average 10.70 / 4 = 2.675 rounds half-up to 2.68 (float rounding gives 2.67). Estimates
0.2 + 0.20 + 10 + 3.00 = 13.40, so estimates exceed fares by 2.70. MAPE over the three trips
with a fare above 0: (|0.2-0.1|/0.1 + 0/0.2 + |10-10.4|/10.4) / 3 = (1 + 0 + 0.0384615…) / 3
= 0.346153… → 34.62 %. Skipped: a05 (unparseable time) and a06 (no time, and no fare: the time
is checked first) as bad_pickup_datetime; a07 (absent) and a08 (NULL) missing_fare; a09
missing_estimated_fare; a10 (fare as text) and a11 (estimate as text) invalid_fare; a12
negative_fare. 4 + 2 + 2 + 1 + 2 + 1 = 12 trips.

2024-03-02 by the index before the migration (b01, b02): 2.00 + 3.35 = 5.35, average 2.675 →
2.68, estimates 2.50 + 3 = 5.50 (+0.15), MAPE (0.5/2 + 0.35/3.35) / 2 = (0.25 + 0.1044776…) / 2
= 0.1772388… → 17.72 %. With the legacy trips b03 (11:00-05:00 = 16:00 UTC on the 2nd) and b04
(23:30-05:00 on the 1st = 04:30 UTC on the 2nd), as the rebuild and, after the migration, the
index see it: 2.00 + 3.35 + 1.10 + 0.05 = 6.50, average 1.625 → 1.63 (half-even would say
1.62), estimates 5.50 + 1 + 0.05 = 6.55 (+0.05), MAPE (0.25 + 0.1044776… + 0.1/1.1 + 0) / 4 =
0.4453867… / 4 = 0.1113466… → 11.13 %. b05 and b06 have no date: unassigned.
"""

from __future__ import annotations

D1, D2, EMPTY = "2024-03-01", "2024-03-02", "2024-03-06"

KPI_D1 = b"""{
  "date": "2024-03-01",
  "timezone": "UTC",
  "trip_count": 4,
  "total_fare": 10.70,
  "average_fare": 2.68,
  "max_fare": 10.40,
  "min_fare": 0.00,
  "total_estimated_fare": 13.40,
  "estimated_minus_actual": 2.70,
  "mape_percent": 34.62,
  "mape_trip_count": 3,
  "trips_read": 12,
  "skipped": {
    "bad_pickup_datetime": 2,
    "missing_fare": 2,
    "missing_estimated_fare": 1,
    "invalid_fare": 2,
    "negative_fare": 1
  },
  "generated_at": "GENERATED"
}
"""

KPI_D2_INDEX_BEFORE_MIGRATION = b"""{
  "date": "2024-03-02",
  "timezone": "UTC",
  "trip_count": 2,
  "total_fare": 5.35,
  "average_fare": 2.68,
  "max_fare": 3.35,
  "min_fare": 2.00,
  "total_estimated_fare": 5.50,
  "estimated_minus_actual": 0.15,
  "mape_percent": 17.72,
  "mape_trip_count": 2,
  "trips_read": 2,
  "skipped": {
    "bad_pickup_datetime": 0,
    "missing_fare": 0,
    "missing_estimated_fare": 0,
    "invalid_fare": 0,
    "negative_fare": 0
  },
  "generated_at": "GENERATED"
}
"""

KPI_D2_ALL_TRIPS = b"""{
  "date": "2024-03-02",
  "timezone": "UTC",
  "trip_count": 4,
  "total_fare": 6.50,
  "average_fare": 1.63,
  "max_fare": 3.35,
  "min_fare": 0.05,
  "total_estimated_fare": 6.55,
  "estimated_minus_actual": 0.05,
  "mape_percent": 11.13,
  "mape_trip_count": 4,
  "trips_read": 4,
  "skipped": {
    "bad_pickup_datetime": 0,
    "missing_fare": 0,
    "missing_estimated_fare": 0,
    "invalid_fare": 0,
    "negative_fare": 0
  },
  "generated_at": "GENERATED"
}
"""

KPI_EMPTY = b"""{
  "date": "2024-03-06",
  "timezone": "UTC",
  "trip_count": 0,
  "total_fare": null,
  "average_fare": null,
  "max_fare": null,
  "min_fare": null,
  "total_estimated_fare": null,
  "estimated_minus_actual": null,
  "mape_percent": null,
  "mape_trip_count": 0,
  "trips_read": 0,
  "skipped": {
    "bad_pickup_datetime": 0,
    "missing_fare": 0,
    "missing_estimated_fare": 0,
    "invalid_fare": 0,
    "negative_fare": 0
  },
  "generated_at": "GENERATED"
}
"""


def with_generated_at(expected: bytes, generated_at: str) -> bytes:
    """An expected file with the time it was generated filled in."""
    return expected.replace(b'"GENERATED"', f'"{generated_at}"'.encode())
