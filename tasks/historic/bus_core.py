"""Bus arrival/departure times (ArcGIS, 2020 on) → the event table (pure, vectorised).

Per the spec: only rows with an `actual` time; route ids without leading zeros (`01` → `1`);
Outbound → 0, Inbound → 1; `half_trip_id` → trip_id, `time_point_order` → stop_sequence; a
Startpoint gives a DEP, a Midpoint an ARR and a DEP, an Endpoint an ARR; vehicle fields empty.

`scheduled`/`actual` are `1900-01-0X HH:MM:SS` placeholders: day-of-month − 1 is a day offset
from the service date (a trip after midnight has `1900-01-02`). Until May 2024 they are Eastern
wall-clock times; from the 2024-06 service date on they are UTC and are converted to Eastern
(naive, like every other time in the output). A time with a written offset (`Z`, `+00:00`) is
taken as that, whatever the date; a real date instead of the 1900 placeholder is taken as is.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as _compute

from tasks.historic import parse_core
from tasks.historic.events_core import Transformed, event_table, first_failures, ints_or_null

# pyarrow-stubs' overloads reject valid compute calls: compute functions are used untyped here.
pc: Any = _compute

UTC_FROM = date(2024, 6, 1)  # service dates from here on carry UTC times
_EPOCH = date(1970, 1, 1)
_UTC_FROM_DAY = (UTC_FROM - _EPOCH).days
_PLACEHOLDER_DAY = (date(1900, 1, 1) - _EPOCH).days
DIRECTIONS = {"outbound": 0, "inbound": 1}
# point_type → events, in output order (an ARR before the DEP at the same time point)
POINT_EVENTS = {"startpoint": ("DEP",), "midpoint": ("ARR", "DEP"), "endpoint": ("ARR",)}


def service_days(rows: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    stamps = parse_core.parse_stamps(rows["service_date"])
    return stamps.day, stamps.valid


def normalize_routes(route_id: Any) -> Any:
    """`01` → `1`; a route made only of zeros stays `0`."""
    text = parse_core.blank_to_null(route_id)
    stripped = pc.utf8_ltrim(text, characters="0")
    return pc.if_else(pc.equal(stripped, ""), pa.scalar("0"), stripped)


def _codes(values: Any, mapping: dict[str, int]) -> np.ndarray:
    lowered = pc.utf8_lower(parse_core.blank_to_null(values))
    index = pc.index_in(lowered, value_set=pa.array(list(mapping)))
    codes = np.array(list(mapping.values()), dtype=np.int64)
    found = np.asarray(pc.fill_null(index, -1).to_numpy(zero_copy_only=False), dtype=np.int64)
    return np.where(found >= 0, codes[np.clip(found, 0, None)], -1)


def local_times(actual: Any, day: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eastern naive seconds of each `actual` (see the module docstring), and validity."""
    stamps = parse_core.parse_stamps(actual)
    placeholder = stamps.day < _PLACEHOLDER_DAY + 28  # 1900-01-01 .. 1900-01-28
    written = np.where(
        placeholder,
        (day + stamps.day - _PLACEHOLDER_DAY) * parse_core.DAY + stamps.second,
        stamps.naive,
    )
    utc = stamps.has_offset | (day >= _UTC_FROM_DAY)
    instant = written - np.where(stamps.has_offset, stamps.offset, 0)
    local = written.copy()
    convert = np.flatnonzero(utc & stamps.valid)
    local[convert] = parse_core.utc_to_eastern(instant[convert])
    return local, stamps.valid & stamps.has_time


def transform(rows: pa.Table, routes: tuple[str, ...] | None = None) -> Transformed:
    """A month of bus rows (canonical text columns) → events; `routes` limits the routes."""
    n = rows.num_rows
    day, day_ok = service_days(rows)
    route = normalize_routes(rows["route_id"])
    direction = _codes(rows["direction_id"], DIRECTIONS)
    kind = parse_core.blank_to_null(rows["point_type"])
    kind_code = _codes(kind, {k: i for i, k in enumerate(POINT_EVENTS)})
    local, time_ok = local_times(rows["actual"], day)
    order = parse_core.parse_ints(rows["time_point_order"])
    has_actual = parse_core.present(rows["actual"])
    excluded = parse_core.outside(route, routes)
    keep, rejected = first_failures(
        [
            ("_excluded", excluded),
            ("no_actual_time", ~has_actual),
            ("bad_service_date", ~day_ok),
            ("missing_route_id", ~parse_core.present(rows["route_id"])),
            ("unknown_direction", direction < 0),
            ("missing_stop_id", ~parse_core.present(rows["stop_id"])),
            ("missing_half_trip_id", ~parse_core.present(rows["half_trip_id"])),
            ("unknown_point_type", kind_code < 0),
            ("bad_actual_time", ~time_ok),
            ("bad_time_point_order", order.bad),
        ],
        n,
    )
    excluded_count = rejected.pop("_excluded", 0)
    # one event per (row, event type of its point type)
    kept = np.flatnonzero(keep)
    per_kind = [POINT_EVENTS[k] for k in POINT_EVENTS]
    counts = np.array([len(e) for e in per_kind], dtype=np.int64)[kind_code[kept]]
    source = np.repeat(kept, counts)
    first_of = np.cumsum(counts) - counts
    nth = np.arange(len(source)) - np.repeat(first_of, counts)
    labels = np.array(["ARR", "DEP"], dtype=object)
    # Startpoint's only event is a DEP; otherwise the n-th event is ARR then DEP
    is_start = np.repeat(kind_code[kept] == 0, counts)
    event_type = np.where(is_start, "DEP", labels[np.clip(nth, 0, 1)])
    take = pa.array(source, pa.int64())
    events = event_table(
        {
            "day": day[source],
            "route_id": route.take(take),
            "trip_id": parse_core.blank_to_null(rows["half_trip_id"]).take(take),
            "direction_id": direction[source],
            "stop_id": parse_core.blank_to_null(rows["stop_id"]).take(take),
            "stop_sequence": ints_or_null(order.values[source], order.valid[source]),
            "event_type": pa.array(event_type.astype(object), pa.string()),
            "t": local[source] - day[source].astype(np.int64) * parse_core.DAY,
            "_row": source,
        }
    )
    return Transformed(events, n, rejected, int(excluded_count))
