"""LAMP rows → events: filtering, DEP attribution, trip matching and schedule benchmarks."""

from __future__ import annotations

import io
from datetime import date, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tasks.lamp import events_core
from tasks.transit import service_core
from tests.lamp.factories import (
    DAY,
    at,
    events_for,
    lamp_parquet,
    lamp_row,
    seconds,
    stop_times,
)

# An Orange Line trip scheduled 70036 (Oak Grove) → 70034 → 70032.
ORANGE = stop_times(
    [
        (
            "S-1",
            "Orange",
            0,
            [
                ("70036", seconds("07:00:00")),
                ("70034", seconds("07:02:00")),
                ("70032", seconds("07:05:00")),
            ],
        )
    ]
)


def next_row(**values: Any) -> dict[str, Any]:
    """The trip's row at 70032 (seq 30): it left the stop before at 07:03:00, arrived 07:05:20."""
    return lamp_row(
        **{
            "stop_id": "70032",
            "stop_sequence": 30,
            "move_timestamp": at("07:03:00"),
            "stop_timestamp": at("07:05:20"),
            **values,
        }
    )


def rows_of(events: events_core.Events, *columns: str) -> list[tuple[Any, ...]]:
    """Events as tuples of `columns`, in time order."""
    table = events.table.sort_by([("epoch", "ascending"), ("event_type", "ascending")])
    return [tuple(r[c] for c in columns) for r in table.to_pylist()]


# --- reading ---------------------------------------------------------------------------------


def test_a_file_that_is_not_parquet_is_rejected_with_its_size() -> None:
    with pytest.raises(
        events_core.LampDataError, match=r"^not a readable Parquet file \(9 bytes\)"
    ):
        events_core.read_lamp_parquet(b"not a pq!")


def test_missing_required_columns_are_named() -> None:
    data = lamp_parquet([lamp_row()], drop=("move_timestamp", "trip_id"))
    with pytest.raises(events_core.LampDataError) as info:
        events_core.read_lamp_parquet(data)
    assert str(info.value) == "LAMP parquet lacks required column(s): move_timestamp, trip_id"


def test_ill_typed_column_is_named_with_its_type() -> None:
    table = pa.table({name: pa.array([1]) for name in events_core.REQUIRED_COLUMNS})
    table = table.set_column(
        table.schema.get_field_index("stop_timestamp"), "stop_timestamp", pa.array(["noon"])
    )
    sink = io.BytesIO()
    pq.write_table(table, sink)
    with pytest.raises(events_core.LampDataError) as info:
        events_core.read_lamp_parquet(sink.getvalue())
    assert str(info.value) == "LAMP column 'stop_timestamp' has type string, expected int64"


def test_optional_columns_may_be_absent_and_unknown_ones_are_ignored() -> None:
    data = lamp_parquet(
        [lamp_row(stop_id="70034", stop_sequence=20, stop_timestamp=1707307330)],
        drop=("vehicle_consist", "branch_route_id", "scheduled_headway_branch"),
    )
    table = events_core.read_lamp_parquet(data)
    assert table.column_names == list(events_core.LAMP_COLUMNS)
    assert table["vehicle_consist"].null_count == 1
    # epoch seconds stay exact integers (never through float64)
    assert table["stop_timestamp"].type == pa.int64()
    assert table["stop_timestamp"].to_pylist() == [1707307330]


# --- rows ------------------------------------------------------------------------------------


def test_dropped_rows_are_counted_under_their_first_reason() -> None:
    rows = [
        lamp_row(stop_id="70034", stop_sequence=20),
        lamp_row(route_id="CR-Worcester", stop_id="WML-0081-02", stop_sequence=10),
        lamp_row(route_id="CR-Fitchburg", trip_id="NONREV-1", stop_id="x", stop_sequence=10),
        lamp_row(trip_id="NONREV-1580530328", stop_id="70025", stop_sequence=120),
        lamp_row(trip_id="ADDED-1581777645", stop_id="70025", stop_sequence=120),
        lamp_row(service_date=20240206, stop_id="70025", stop_sequence=10),
        lamp_row(trip_id=None, stop_id="70025", stop_sequence=10),
        lamp_row(stop_id=None, stop_sequence=10),
        lamp_row(stop_id="70025", stop_sequence=None),
    ]
    table = events_core.read_lamp_parquet(lamp_parquet(rows))
    # a cut-over after the day: non-revenue trips are dropped as on days before 2023-11-30
    prepared = events_core.prepare_rows(table, DAY, non_revenue_cutover=date(2024, 3, 1))
    assert prepared.source_rows == 9
    assert prepared.dropped == {
        "route_not_subway": 2,
        "non_revenue_trip": 1,
        "other_service_date": 1,
        "missing_trip_id": 1,
        "missing_stop_id": 1,
        "missing_stop_sequence": 1,
    }
    # ADDED- trips are real trips
    assert prepared.table["trip_id"].to_pylist() == ["T1", "ADDED-1581777645"]


@pytest.mark.parametrize(
    ("day", "kept", "policy"),
    [
        (date(2023, 11, 29), [], "dropped (service date before 2023-11-30)"),
        (
            date(2023, 11, 30),
            ["NONREV-7", "NONREV-7"],
            "kept (service date on or after 2023-11-30)",
        ),
    ],
    ids=["the-day-before-the-cutover", "the-cutover-day"],
)
def test_non_revenue_trips_are_dropped_only_before_the_cutover_date(
    day: date, kept: list[str], policy: str
) -> None:
    stamp = int(day.strftime("%Y%m%d"))
    rows = [
        lamp_row(
            service_date=stamp,
            trip_id="NONREV-7",
            stop_id="70036",
            stop_sequence=1,
            stop_timestamp=at("07:00:00", day),
        ),
        lamp_row(
            service_date=stamp,
            trip_id="NONREV-7",
            stop_id="70034",
            stop_sequence=20,
            move_timestamp=at("07:01:00", day),
            stop_timestamp=at("07:02:10", day),
        ),
    ]
    prepared = events_core.prepare_rows(events_core.read_lamp_parquet(lamp_parquet(rows)), day)
    assert prepared.table["trip_id"].to_pylist() == kept
    assert prepared.dropped == ({} if kept else {"non_revenue_trip": 2})
    assert prepared.non_revenue.doc() == {
        "policy": policy,
        "trips": 1,
        "rows": 2,
        # dropped: the timestamps the rows carried; kept: counted once the events are built
        "events": 0 if kept else 3,
    }


def test_a_non_revenue_trip_after_the_cutover_gives_its_arrivals_and_departures() -> None:
    rows = [
        lamp_row(
            trip_id="NONREV-7",
            stop_id="Oak Grove-01",
            stop_sequence=1,
            stop_timestamp=at("07:00:00"),
            scheduled_headway_trunk=540,
        ),
        lamp_row(
            trip_id="NONREV-7",
            stop_id="70034",
            stop_sequence=20,
            move_timestamp=at("07:01:00"),
            stop_timestamp=at("07:02:10"),
            dwell_time_seconds=31,
        ),
    ]
    events = events_for(rows, ORANGE)
    assert rows_of(
        events, "trip_id", "event_type", "stop_id", "stop_sequence", "scheduled_headway", "epoch"
    ) == [
        ("NONREV-7", "ARR", "70036", 1, 540, at("07:00:00")),
        ("NONREV-7", "DEP", "70036", 1, 540, at("07:01:00")),
        ("NONREV-7", "ARR", "70034", 20, None, at("07:02:10")),
    ]
    assert events.non_revenue_events == 3


def test_terminal_platform_aliases_become_numeric_stop_ids() -> None:
    names = ["Alewife-01", "Alewife-02", "Union Square-01", "Union Square-02", "Braintree-02"]
    rows = [lamp_row(stop_id=name, stop_sequence=10 * i) for i, name in enumerate(names, 1)]
    prepared = events_core.prepare_rows(events_core.read_lamp_parquet(lamp_parquet(rows)), DAY)
    assert prepared.table["stop_id"].to_pylist() == ["70061", "70061", "70503", "70504", "70105"]


def test_headway_columns_are_renamed_and_direction_is_0_or_1() -> None:
    rows = [lamp_row(stop_id="70034", stop_sequence=20, direction_id=True)]
    prepared = events_core.prepare_rows(events_core.read_lamp_parquet(lamp_parquet(rows)), DAY)
    assert "headway_seconds" in prepared.table.column_names
    assert "scheduled_headway" in prepared.table.column_names
    assert prepared.table["direction_id"].to_pylist() == [1]


# --- departures ----------------------------------------------------------------------------


def test_departure_is_attributed_to_previous_stop_even_without_arrival() -> None:
    rows = [
        # the vehicle is seen at 70034 (seq 20) but no arrival time was recorded there
        lamp_row(stop_id="70034", stop_sequence=20, dwell_time_seconds=40),
        next_row(),
    ]
    events = events_for(rows, ORANGE)
    assert rows_of(
        events, "event_type", "stop_id", "stop_sequence", "dwell_time_seconds", "epoch"
    ) == [
        ("DEP", "70034", 20, 40, at("07:03:00")),
        ("ARR", "70032", 30, None, at("07:05:20")),
    ]


def test_departure_carries_the_values_of_the_stop_it_leaves() -> None:
    rows = [
        lamp_row(
            stop_id="70034",
            stop_sequence=20,
            stop_timestamp=at("07:02:10"),
            travel_time_seconds=70,
            dwell_time_seconds=50,
            headway_trunk_seconds=400,
            headway_branch_seconds=800,
            scheduled_headway_branch=900,
            vehicle_consist="1400|1401",
        ),
        next_row(
            travel_time_seconds=140,
            dwell_time_seconds=30,
            headway_trunk_seconds=410,
            headway_branch_seconds=810,
            scheduled_headway_branch=910,
            vehicle_consist="1400|1401|1402",
        ),
    ]
    columns = (
        "event_type",
        "stop_id",
        "stop_sequence",
        "travel_time_seconds",
        "dwell_time_seconds",
        "headway_seconds",
        "headway_branch_seconds",
        "scheduled_headway_branch",
        "vehicle_consist",
    )
    assert rows_of(events_for(rows, ORANGE), *columns) == [
        ("ARR", "70034", 20, 70, 50, 400, 800, 900, "1400|1401"),
        ("DEP", "70034", 20, 70, 50, 400, 800, 900, "1400|1401"),
        ("ARR", "70032", 30, 140, 30, 410, 810, 910, "1400|1401|1402"),
    ]


def test_departure_goes_to_the_nearest_smaller_sequence_when_stops_are_missing() -> None:
    rows = [
        lamp_row(stop_id="70036", stop_sequence=10, stop_timestamp=at("06:59:00")),
        # seq 20 (70034) is missing from the file
        lamp_row(stop_id="70032", stop_sequence=30, move_timestamp=at("07:03:00")),
    ]
    deps = [
        r
        for r in rows_of(events_for(rows, ORANGE), "event_type", "stop_id", "stop_sequence")
        if r[0] == "DEP"
    ]
    assert deps == [("DEP", "70036", 10)]


def test_trips_are_told_apart_by_vehicle_and_direction() -> None:
    rows = [
        lamp_row(stop_id="70034", stop_sequence=20, stop_timestamp=at("07:02:10")),
        # same trip_id on another vehicle: its departure has no earlier row of its own
        lamp_row(vehicle_id="V2", stop_id="70032", stop_sequence=30, move_timestamp=at("07:03:00")),
    ]
    events = events_for(rows, ORANGE)
    deps = [r for r in rows_of(events, "event_type", "stop_id", "vehicle_id") if r[0] == "DEP"]
    # V2's only event is the pending departure: its trip cannot be matched on its own events
    assert deps == []
    assert events.dropped == {"departure_trip_unmatched": 1}


def test_origin_departure_goes_to_the_stop_before_on_the_matched_scheduled_trip() -> None:
    rows = [
        lamp_row(
            stop_id="70034",
            stop_sequence=20,
            move_timestamp=at("07:01:30"),
            stop_timestamp=at("07:02:10"),
            travel_time_seconds=70,
            vehicle_consist="1400|1401",
        ),
        next_row(),
    ]
    events = events_for(rows, ORANGE)
    assert rows_of(
        events,
        "event_type",
        "stop_id",
        "stop_sequence",
        "travel_time_seconds",
        "vehicle_consist",
        "scheduled_tt",
        "epoch",
    ) == [
        # LAMP has no row for Oak Grove: the schedule names it; its sequence and measurements
        # are unknown, the vehicle is the trip's
        ("DEP", "70036", None, None, "1400|1401", 0, at("07:01:30")),
        ("ARR", "70034", 20, 70, "1400|1401", 120, at("07:02:10")),
        ("DEP", "70034", 20, 70, "1400|1401", 120, at("07:03:00")),
        ("ARR", "70032", 30, None, None, 300, at("07:05:20")),
    ]
    assert events.dropped == {}
    assert events.candidates == 4


def test_origin_departure_of_an_unmatched_trip_is_dropped_with_its_reason() -> None:
    rows = [
        lamp_row(
            route_id="Blue",
            stop_id="70040",
            stop_sequence=20,
            move_timestamp=at("07:01:30"),
            stop_timestamp=at("07:02:10"),
        )
    ]
    events = events_for(rows, ORANGE)
    assert rows_of(events, "event_type", "stop_id") == [("ARR", "70040")]
    assert events.dropped == {"departure_trip_unmatched": 1}
    assert events.candidates == 2


def test_departure_from_the_first_scheduled_stop_is_dropped_with_its_reason() -> None:
    rows = [
        lamp_row(
            stop_id="70036",
            stop_sequence=10,
            move_timestamp=at("06:58:00"),
            stop_timestamp=at("06:59:00"),
        )
    ]
    events = events_for(rows, ORANGE)
    assert rows_of(events, "event_type", "stop_id") == [("ARR", "70036")]
    assert events.dropped == {"departure_from_first_scheduled_stop": 1}


def test_departure_from_a_stop_off_the_scheduled_trip_is_dropped_with_its_reason() -> None:
    schedule = stop_times(
        [
            ("S-1", "Orange", 0, [("70034", seconds("07:02:00")), ("70032", seconds("07:05:00"))]),
            ("S-2", "Orange", 0, [("70036", seconds("07:00:00")), ("70030", seconds("07:08:00"))]),
        ]
    )
    rows = [
        # first observed at 70034 → matched to S-1; its departure row is at 70030 (not on S-1)
        lamp_row(stop_id="70034", stop_sequence=20, stop_timestamp=at("07:02:10")),
        lamp_row(vehicle_id="V1", stop_id="70030", stop_sequence=10, move_timestamp=at("07:01:00")),
    ]
    events = events_for(rows, schedule)
    assert events.dropped == {"departure_stop_not_on_scheduled_trip": 1}


# --- trip matching and scheduled_tt -------------------------------------------------------------


def red_schedule() -> Any:
    """Two southbound Red trips at Andrew (70083) at the same minute, one to each branch."""
    return stop_times(
        [
            (
                "ASH",
                "Red",
                0,
                [
                    ("70061", seconds("07:00:00")),
                    ("70083", seconds("07:20:00")),
                    ("70085", seconds("07:22:00")),
                ],
            ),
            (
                "BRA",
                "Red",
                0,
                [
                    ("70061", seconds("07:01:00")),
                    ("70083", seconds("07:20:00")),
                    ("70095", seconds("07:23:00")),
                ],
            ),
        ]
    )


@pytest.mark.parametrize(
    ("branch_stop", "expected"),
    [
        ("70085", [("70083", 1200), ("70085", 1320)]),  # ASH: from 07:00
        ("70095", [("70083", 1140), ("70095", 1320)]),  # BRA: from 07:01
    ],
    ids=["ashmont", "braintree"],
)
def test_red_line_trips_match_a_scheduled_trip_of_their_branch(
    branch_stop: str, expected: list[tuple[str, int]]
) -> None:
    rows = [
        lamp_row(route_id="Red", stop_id="70083", stop_sequence=100, stop_timestamp=at("07:20:05")),
        lamp_row(
            route_id="Red", stop_id=branch_stop, stop_sequence=110, stop_timestamp=at("07:22:30")
        ),
    ]
    assert rows_of(events_for(rows, red_schedule()), "stop_id", "scheduled_tt") == expected


def test_red_trip_seen_only_on_the_trunk_uses_lamps_branch_column() -> None:
    rows = [
        lamp_row(
            route_id="Red",
            branch_route_id="Red-B",
            stop_id="70084",
            stop_sequence=90,
            stop_timestamp=at("07:18:10"),
        ),
        lamp_row(
            route_id="Red",
            branch_route_id="Red-B",
            stop_id="70083",
            stop_sequence=100,
            move_timestamp=at("07:19:00"),
            stop_timestamp=at("07:20:05"),
        ),
    ]
    schedule = stop_times(
        [
            # a trunk-only trip: the only candidate for a trip whose branch is unknown
            ("TRUNK", "Red", 0, [("70084", seconds("07:18:00")), ("70083", seconds("07:20:00"))]),
            (
                "BRA",
                "Red",
                0,
                [
                    ("70061", seconds("06:59:00")),
                    ("70084", seconds("07:18:00")),
                    ("70083", seconds("07:20:00")),
                    ("70095", seconds("07:23:00")),
                ],
            ),
        ]
    )
    assert rows_of(events_for(rows, schedule), "event_type", "stop_id", "scheduled_tt") == [
        ("ARR", "70084", 1140),
        ("DEP", "70084", 1140),
        ("ARR", "70083", 1260),
    ]


def test_nearest_scheduled_time_wins_the_match() -> None:
    schedule = stop_times(
        [
            (
                "EARLY",
                "Orange",
                0,
                [("70036", seconds("06:50:00")), ("70034", seconds("06:55:00"))],
            ),
            ("LATE", "Orange", 0, [("70036", seconds("07:00:00")), ("70034", seconds("07:03:00"))]),
        ]
    )
    rows = [lamp_row(stop_id="70034", stop_sequence=20, stop_timestamp=at("07:00:00"))]
    assert rows_of(events_for(rows, schedule), "scheduled_tt") == [(180,)]


def unmatched_trip(*arrivals: tuple[str, str]) -> list[dict[str, Any]]:
    """An ADDED trip first seen at 70099, a stop no scheduled trip serves, then `arrivals`."""
    stops = [("70099", "07:01:00"), *arrivals]
    return [
        lamp_row(trip_id="ADDED-1", stop_id=stop, stop_sequence=10 * i, stop_timestamp=at(when))
        for i, (stop, when) in enumerate(stops, start=1)
    ]


def test_scheduled_tt_falls_back_to_the_median_of_the_window() -> None:
    schedule = stop_times(
        [
            ("A", "Orange", 0, [("70036", seconds("07:00:00")), ("70032", seconds("07:02:00"))]),
            ("B", "Orange", 0, [("70038", seconds("07:01:00")), ("70032", seconds("07:06:00"))]),
            ("C", "Orange", 0, [("70040", seconds("07:00:00")), ("70032", seconds("07:08:00"))]),
            ("D", "Orange", 0, [("70040", seconds("07:00:00")), ("70032", seconds("07:59:00"))]),
        ]
    )
    rows = unmatched_trip(("70032", "07:10:00"), ("70032", "07:45:00"))
    assert rows_of(events_for(rows, schedule), "stop_id", "scheduled_tt") == [
        ("70099", None),  # no scheduled stop time there
        ("70032", 300),  # 07:00-07:30: median of 120, 300, 480
        ("70032", 3540),  # 07:30-08:00: only D
    ]


def test_window_median_of_an_even_count_rounds_half_to_even() -> None:
    schedule = stop_times(
        [
            ("A", "Orange", 0, [("70036", seconds("07:00:00")), ("70032", seconds("07:02:01"))]),
            ("B", "Orange", 0, [("70038", seconds("07:00:00")), ("70032", seconds("07:02:04"))]),
        ]
    )
    rows = unmatched_trip(("70032", "07:10:00"))
    # median of 121 and 124 = 122.5 → 122 (half to even)
    assert rows_of(events_for(rows, schedule), "stop_id", "scheduled_tt") == [
        ("70099", None),
        ("70032", 122),
    ]


# --- scheduled headway smoothing -----------------------------------------------------------------


def test_scheduled_headway_is_the_window_mean_rounded_to_10_seconds_ties_to_even() -> None:
    def arrival(trip: str, when: str, headway: int | None) -> dict[str, Any]:
        return lamp_row(
            trip_id=trip,
            stop_id="70034",
            stop_sequence=20,
            stop_timestamp=at(when),
            scheduled_headway_trunk=headway,
        )

    rows = [
        arrival("a", "07:00:00", 600),
        arrival("b", "07:10:00", 610),  # 07:00-07:30: mean 605 → 600
        arrival("c", "07:29:59", None),  # nulls are skipped but get the window's value
        arrival("d", "07:30:00", 610),
        arrival("e", "07:40:00", 620),  # 07:30-08:00: mean 615 → 620
        arrival("f", "08:00:00", None),  # 08:00-08:30: no value at all → empty
    ]
    assert rows_of(events_for(rows, ORANGE), "trip_id", "scheduled_headway") == [
        ("a", 600),
        ("b", 600),
        ("c", 600),
        ("d", 620),
        ("e", 620),
        ("f", None),
    ]


def test_headway_windows_are_per_route_direction_and_stop() -> None:
    rows = [
        lamp_row(
            trip_id="a",
            stop_id="70034",
            stop_sequence=20,
            stop_timestamp=at("07:00:00"),
            scheduled_headway_trunk=300,
        ),
        lamp_row(
            trip_id="b",
            stop_id="70034",
            stop_sequence=20,
            stop_timestamp=at("07:01:00"),
            scheduled_headway_trunk=500,
            direction_id=True,
        ),
        lamp_row(
            trip_id="c",
            stop_id="70032",
            stop_sequence=30,
            stop_timestamp=at("07:02:00"),
            scheduled_headway_trunk=700,
        ),
    ]
    assert rows_of(events_for(rows, ORANGE), "trip_id", "scheduled_headway") == [
        ("a", 300),
        ("b", 500),
        ("c", 700),
    ]


# --- helpers ---------------------------------------------------------------------------------


def test_rows_sharing_a_sequence_share_their_predecessor() -> None:
    trip = np.array([0, 0, 0, 0, 1])
    seq = np.array([30, 10, 20, 20, 10])
    assert events_core.previous_rows(trip, seq).tolist() == [3, -1, 1, 1, -1]


def test_packed_lexsort_equals_numpy_lexsort() -> None:
    rng = np.random.default_rng(3)
    for _ in range(100):
        n = int(rng.integers(0, 60))
        keys = tuple(
            rng.integers(-5, int(rng.integers(1, 10 ** int(rng.integers(1, 12)))), n)
            for _ in range(int(rng.integers(1, 6)))
        )
        assert events_core.lexsort(keys).tolist() == np.lexsort(keys).tolist()


@pytest.mark.parametrize(
    ("day", "start"),
    [
        (date(2024, 2, 7), "2024-02-07T00:00:00-05:00"),
        # spring forward: noon EDT minus 12 h is 23:00 EST the evening before
        (date(2024, 3, 10), "2024-03-09T23:00:00-05:00"),
        # fall back: noon EST minus 12 h is 01:00 EDT
        (date(2024, 11, 3), "2024-11-03T01:00:00-04:00"),
    ],
)
def test_gtfs_day_starts_at_noon_minus_twelve_hours(day: date, start: str) -> None:
    assert service_core.service_day_start(day) == int(datetime.fromisoformat(start).timestamp())


def test_the_event_sort_equals_numpy_lexsort_with_ties_in_the_first_word() -> None:
    rng = np.random.default_rng(5)
    for _ in range(100):
        n = int(rng.integers(0, 300))
        # wide keys force several words; few distinct values force ties in the first one
        keys = [rng.integers(0, int(rng.integers(1, 4)), n) for _ in range(3)]
        keys += [rng.integers(0, 1 << 40, n), np.arange(n)]
        expected = np.lexsort(tuple(reversed(keys)))
        assert events_core._packed_order([lambda k=k: k for k in keys]).tolist() == (
            expected.tolist()
        )


def test_rows_are_taken_from_a_file_of_several_row_groups_in_event_order() -> None:
    rng = np.random.default_rng(1)
    for _ in range(100):
        lengths = rng.integers(0, 50, int(rng.integers(1, 5)))
        n = int(lengths.sum())
        if n == 0:
            continue
        values = [f"s{i}" if i % 7 else None for i in range(n)]
        whole = pa.array(values).dictionary_encode()
        starts = np.r_[0, np.cumsum(lengths)]
        chunked = pa.chunked_array(
            [whole.slice(int(starts[i]), int(lengths[i])) for i in range(len(lengths))]
        )
        assert chunked.type == whole.type
        src = rng.integers(0, n, int(rng.integers(1, 40)))
        mask = rng.random(len(src)) < 0.3
        taken = events_core._Gather(src, mask).take(chunked).cast(pa.string()).to_pylist()
        assert taken == [None if m else values[i] for i, m in zip(src, mask, strict=True)]
