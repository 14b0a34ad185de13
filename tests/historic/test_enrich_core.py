"""GTFS benchmarks: headway of the last scheduled arrival, travel time of the matched trip."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from tasks.historic import enrich_core
from tests.historic.helpers import schedule

DAY = 19760  # 2024-02-07


def events(rows: list[tuple[str, int | None, str, str, int]], day: int = DAY) -> pa.Table:
    """(route_id, direction_id, stop_id, trip_id, t) rows."""
    route, direction, stop, trip, t = (list(c) for c in zip(*rows, strict=True))
    return pa.table(
        {
            "day": pa.array([day] * len(rows), pa.int32()),
            "route_id": route,
            "direction_id": pa.array(direction, pa.int64()),
            "stop_id": stop,
            "trip_id": trip,
            "t": pa.array(t, pa.int64()),
            "_row": pa.array(range(len(rows)), pa.int64()),
        }
    )


def values(array: np.ndarray) -> list[int | None]:
    return [None if np.isnan(v) else int(v) for v in array]


GTFS = schedule(
    [
        ("a", "1", 0, "X", 1, 1000),
        ("a", "1", 0, "Y", 2, 1300),
        ("b", "1", 0, "X", 1, 1600),
        ("b", "1", 0, "Y", 2, 1900),
        ("b", "1", 0, "Z", 3, 2000),
        # a loop: c visits X twice; its first visit counts
        ("c", "1", 0, "X", 1, 2200),
        ("c", "1", 0, "W", 2, 2300),
        ("c", "1", 0, "X", 3, 2400),
    ]
)


def test_headway_is_that_of_the_last_scheduled_arrival_at_or_before() -> None:
    ev = events([("1", 0, "X", "o1", 900), ("1", 0, "X", "o2", 1600), ("1", 0, "X", "o3", 1700)])
    result = enrich_core.benchmarks(ev, {DAY: GTFS})
    assert values(result.scheduled_headway) == [None, 600, 600]


def test_a_trip_takes_the_nearest_scheduled_trip_and_the_earlier_on_a_tie() -> None:
    ev = events(
        [
            ("1", 0, "X", "o1", 1300),  # 300 from a and from b: a (the earlier)
            ("1", 0, "Y", "o1", 1350),
            ("1", 0, "Z", "o1", 1500),  # a does not serve Z
            ("1", 0, "X", "o2", 1590),  # b
            ("1", 0, "Z", "o2", 2010),
            ("1", 0, "X", "o3", 2410),  # nearest is c's second visit; c at X is its first
        ]
    )
    result = enrich_core.benchmarks(ev, {DAY: GTFS})
    assert values(result.scheduled_tt) == [0, 300, None, 0, 400, 0]
    assert result.warnings == {}


def test_events_lacking_a_key_keep_empty_benchmarks_and_are_not_dropped() -> None:
    ev = events([("1", None, "X", "o1", 1700), ("1", 0, "X", "o2", 1700)])
    result = enrich_core.benchmarks(ev, {DAY: GTFS})
    assert values(result.scheduled_headway) == [None, 600]
    assert values(result.scheduled_tt) == [None, 0]


def test_days_without_a_schedule_and_unscheduled_routes_are_counted() -> None:
    ev = pa.concat_tables(
        [
            events([("1", 0, "X", "o1", 1700), ("Shuttle", 0, "X", "o9", 1700)]),
            events([("1", 0, "X", "o1", 1700)], day=DAY + 1),
        ]
    )
    result = enrich_core.benchmarks(ev, {DAY: GTFS, DAY + 1: "no_scheduled_service"})
    assert result.warnings == {"no_scheduled_service": 1, "route_not_in_gtfs": 1}
    assert values(result.scheduled_headway) == [600, None, None]


def test_ferry_keeps_its_own_travel_time() -> None:
    ev = events([("1", 0, "X", "o1", 1700)])
    result = enrich_core.benchmarks(ev, {DAY: GTFS}, with_tt=False)
    assert values(result.scheduled_headway) == [600]
    assert values(result.scheduled_tt) == [None]
