"""Rapid transit events (ArcGIS, 2016 on) → the event table (pure, vectorised).

Each row already is an ARR or DEP event: `event_time_sec` is seconds after the service date's
midnight (it passes 86,400 after midnight), so `event_time = service_date + event_time_sec` as
Eastern wall-clock time, as the original computed it. Ids and labels are kept as written;
`event_type` too (ARR/DEP, and whatever else MBTA publishes).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from tasks.historic import parse_core
from tasks.historic.events_core import Transformed, event_table, first_failures, ints_or_null

REJECT_REASONS = (
    "bad_service_date",
    "missing_stop_id",
    "missing_event_type",
    "bad_event_time_sec",
    "bad_direction_id",
    "bad_stop_sequence",
)


def service_days(rows: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """(days since 1970-01-01, valid) of each row's service date."""
    stamps = parse_core.parse_stamps(rows["service_date"])
    return stamps.day, stamps.valid


def transform(rows: pa.Table) -> Transformed:
    """A month of rapid transit rows (canonical text columns) → events."""
    n = rows.num_rows
    day, day_ok = service_days(rows)
    seconds = parse_core.parse_ints(rows["event_time_sec"])
    direction = parse_core.parse_ints(rows["direction_id"])
    sequence = parse_core.parse_ints(rows["stop_sequence"])
    keep, rejected = first_failures(
        [
            ("bad_service_date", ~day_ok),
            ("missing_stop_id", ~parse_core.present(rows["stop_id"])),
            ("missing_event_type", ~parse_core.present(rows["event_type"])),
            ("bad_event_time_sec", ~seconds.valid),
            ("bad_direction_id", direction.bad),
            ("bad_stop_sequence", sequence.bad),
        ],
        n,
    )
    index = np.flatnonzero(keep)
    take = pa.array(index, pa.int64())

    def text(name: str) -> Any:
        return parse_core.blank_to_null(rows[name]).take(take)

    events = event_table(
        {
            "day": day[index],
            "route_id": text("route_id"),
            "trip_id": text("trip_id"),
            "direction_id": ints_or_null(direction.values[index], direction.valid[index]),
            "stop_id": text("stop_id"),
            "stop_sequence": ints_or_null(sequence.values[index], sequence.valid[index]),
            "vehicle_id": text("vehicle_id"),
            "vehicle_label": text("vehicle_label"),
            "event_type": text("event_type"),
            "t": seconds.values[index],
            "_row": index,
        }
    )
    return Transformed(events, n, rejected)
