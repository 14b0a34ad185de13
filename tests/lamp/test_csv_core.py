"""Per-stop CSV rendering: exact bytes, Eastern times with offsets, order, safe keys."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from tasks.common.keys_core import ensure_under
from tasks.lamp import events_core
from tasks.lamp.csv_core import (
    EVENTS_PREFIX,
    HEADER,
    EventTimes,
    checked_stop_key,
    format_event_times,
    render_stop_files,
    stop_key,
    utc_offsets,
)

DAY = date(2024, 2, 7)


def event(**values: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(events_core.ROW_VALUES)
    row.update(
        route_id="Red",
        trip_id="T1",
        direction_id=1,
        stop_id="70084",
        stop_sequence=110,
        vehicle_id="R-547AA8EB",
        vehicle_label="1877",
        event_type="ARR",
        epoch=1707302998,
        _trip=0,
        _row=0,
    )
    row.update(values)
    return row


def table_of(rows: list[dict[str, Any]]) -> pa.Table:
    types = {
        "direction_id": pa.int8(),
        "stop_sequence": pa.int64(),
        "travel_time_seconds": pa.int64(),
        "dwell_time_seconds": pa.int64(),
        "headway_seconds": pa.int64(),
        "headway_branch_seconds": pa.int64(),
        "scheduled_headway": pa.int64(),
        "scheduled_headway_branch": pa.int64(),
        "scheduled_tt": pa.int64(),
        "epoch": pa.int64(),
        "_trip": pa.int64(),
        "_row": pa.int64(),
    }
    names = [*events_core.ROW_VALUES, "event_type", "epoch", "_trip", "_row", "scheduled_tt"]
    return pa.table(
        {n: pa.array([r.get(n) for r in rows], types.get(n, pa.string())) for n in names}
    )


def test_key_has_unpadded_month_and_day() -> None:
    assert (
        stop_key("70084", DAY) == "Events-lamp/daily-data/70084/Year=2024/Month=2/Day=7/events.csv"
    )
    assert stop_key("Alewife-01", date(2024, 11, 23)) == (
        "Events-lamp/daily-data/Alewife-01/Year=2024/Month=11/Day=23/events.csv"
    )


@pytest.mark.parametrize(
    ("stop_id", "segment"),
    [("../../etc", "..%2F..%2Fetc"), ("..", "%2E%2E"), ("a/b", "a%2Fb"), ("/", "%2F")],
)
def test_stop_id_cannot_leave_the_daily_data_prefix(stop_id: str, segment: str) -> None:
    key = stop_key(stop_id, DAY)
    assert key == f"Events-lamp/daily-data/{segment}/Year=2024/Month=2/Day=7/events.csv"
    assert ensure_under(EVENTS_PREFIX, key) == key


@pytest.mark.parametrize(
    ("instant", "text"),
    [
        ("2024-02-07T10:49:58+00:00", "2024-02-07 05:49:58-05:00"),
        ("2024-07-04T16:00:00+00:00", "2024-07-04 12:00:00-04:00"),
        ("2024-02-08T04:59:59+00:00", "2024-02-07 23:59:59-05:00"),
        ("2024-02-08T05:00:00+00:00", "2024-02-08 00:00:00-05:00"),
        # 01:30 happens twice on 2024-11-03: first in EDT, then in EST
        ("2024-11-03T05:30:00+00:00", "2024-11-03 01:30:00-04:00"),
        ("2024-11-03T06:30:00+00:00", "2024-11-03 01:30:00-05:00"),
        # 02:00 EST → 03:00 EDT on 2024-03-10
        ("2024-03-10T06:59:59+00:00", "2024-03-10 01:59:59-05:00"),
        ("2024-03-10T07:00:00+00:00", "2024-03-10 03:00:00-04:00"),
    ],
)
def test_event_time_is_eastern_with_the_offset_of_that_instant(instant: str, text: str) -> None:
    epoch = int(datetime.fromisoformat(instant).timestamp())
    assert format_event_times(np.array([epoch])).to_pylist() == [text]


def instants(*texts: str) -> np.ndarray:
    return np.array([int(datetime.fromisoformat(t).timestamp()) for t in texts])


def test_a_day_across_the_clock_change_gets_both_offsets() -> None:
    epochs = instants(
        "2024-11-03T04:00:00+00:00",
        "2024-11-03T05:59:59+00:00",  # the last second of EDT
        "2024-11-03T06:00:00+00:00",
        "2024-11-04T06:00:00+00:00",
    )
    assert format_event_times(epochs).to_pylist() == [
        "2024-11-03 00:00:00-04:00",
        "2024-11-03 01:59:59-04:00",
        "2024-11-03 01:00:00-05:00",
        "2024-11-04 01:00:00-05:00",
    ]


def test_instants_months_apart_each_get_their_own_offset() -> None:
    epochs = instants("2024-07-04T16:00:00+00:00", "2024-02-07T10:49:58+00:00")
    assert utc_offsets(epochs).tolist() == [-14_400, -18_000]
    assert format_event_times(epochs).to_pylist() == [
        "2024-07-04 12:00:00-04:00",
        "2024-02-07 05:49:58-05:00",
    ]


def test_csv_bytes_are_exactly_the_contract() -> None:
    rows = [
        event(
            trip_id="ADDED-1581777645",
            travel_time_seconds=99,
            dwell_time_seconds=17,
            headway_seconds=426,
            headway_branch_seconds=1461,
            scheduled_tt=1020,
            vehicle_consist="1877|1876",
        ),
        event(
            trip_id='odd,"trip"',
            event_type="DEP",
            epoch=1707303300,
            stop_sequence=None,
            vehicle_label="a,b",
            scheduled_tt=0,
            scheduled_headway=600,
            scheduled_headway_branch=1200,
            _row=1,
        ),
    ]
    (only,) = render_stop_files(table_of(rows), DAY)
    assert only.key == "Events-lamp/daily-data/70084/Year=2024/Month=2/Day=7/events.csv"
    assert only.events == 2
    assert only.body == (
        b"service_date,route_id,trip_id,direction_id,stop_id,stop_sequence,vehicle_id,"
        b"vehicle_label,event_type,event_time,travel_time_seconds,dwell_time_seconds,"
        b"headway_seconds,headway_branch_seconds,scheduled_tt,scheduled_headway,"
        b"scheduled_headway_branch,vehicle_consist\n"
        b"2024-02-07,Red,ADDED-1581777645,1,70084,110,R-547AA8EB,1877,ARR,"
        b"2024-02-07 05:49:58-05:00,99,17,426,1461,1020,,,1877|1876\n"
        b'2024-02-07,Red,"odd,""trip""",1,70084,,R-547AA8EB,"a,b",DEP,'
        b"2024-02-07 05:55:00-05:00,,,,,0,600,1200,\n"
    )
    parsed = list(csv.reader(io.StringIO(only.body.decode())))
    assert parsed[2][2] == 'odd,"trip"'
    assert parsed[2][7] == "a,b"


def test_each_stop_gets_its_own_file_sorted_by_time_with_arrivals_first_on_ties() -> None:
    rows = [
        event(stop_id="70085", trip_id="B", epoch=200, _row=0),
        event(stop_id="70084", trip_id="C", epoch=300, _row=1),
        event(stop_id="70084", trip_id="B", event_type="DEP", epoch=100, _row=2),
        event(stop_id="70084", trip_id="A", event_type="ARR", epoch=100, _row=3),
        event(stop_id="70084", trip_id="A", event_type="DEP", epoch=100, _row=4),
    ]
    files = render_stop_files(table_of(rows), DAY)
    assert [(f.stop_id, f.events) for f in files] == [("70084", 4), ("70085", 1)]
    lines = files[0].body.decode().splitlines()[1:]
    assert [(line.split(",")[2], line.split(",")[8]) for line in lines] == [
        ("A", "ARR"),
        ("A", "DEP"),
        ("B", "DEP"),
        ("C", "ARR"),
    ]


def test_header_is_the_column_order_of_the_contract() -> None:
    assert HEADER.decode().rstrip("\n").split(",") == list(events_core.OUTPUT_COLUMNS)


def test_no_events_no_files() -> None:
    assert render_stop_files(table_of([]), DAY) == []


def test_a_stop_whose_key_is_too_long_for_s3_is_named_with_the_reason() -> None:
    key, problem = checked_stop_key("7" * 3_000, DAY)
    assert key is None
    assert problem == "S3 key of 3,058 bytes (UTF-8) exceeds the 1,024-byte limit"
    # 58 bytes of prefix and date path: a 966-character id still fits, 967 do not
    assert checked_stop_key("x" * 966, DAY)[0] == stop_key("x" * 966, DAY)
    assert checked_stop_key("x" * 967, DAY)[1] == (
        "S3 key of 1,025 bytes (UTF-8) exceeds the 1,024-byte limit"
    )
    assert checked_stop_key("", DAY) == (
        None,
        "no valid S3 key for this stop id: empty key segment (a data value is missing)",
    )
    assert checked_stop_key("70084", DAY) == (stop_key("70084", DAY), None)


def test_the_writer_path_and_the_quoting_path_give_the_same_bytes() -> None:
    rows = [
        event(trip_id="T1", epoch=1707302998, travel_time_seconds=99, scheduled_tt=1020, _row=0),
        event(
            trip_id="T2",
            event_type="DEP",
            epoch=1707303300,
            stop_sequence=None,
            _row=1,
            vehicle_label=None,
            scheduled_headway=600,
            vehicle_consist="1|2",
        ),
        event(stop_id="70085", trip_id="T3", epoch=1707303000, dwell_time_seconds=0, _row=2),
    ]
    plain = render_stop_files(table_of(rows), DAY)  # nothing needs quotes: Arrow's writer
    # one value with a comma at another stop sends the whole batch through the quoting path
    quoted = render_stop_files(table_of([*rows, event(stop_id="70086", trip_id="a,b")]), DAY)
    assert [(f.stop_id, f.body) for f in plain] == [(f.stop_id, f.body) for f in quoted[:2]]
    assert quoted[2].body.endswith(
        b',Red,"a,b",1,70086,110,R-547AA8EB,1877,ARR,2024-02-07 05:49:58-05:00,,,,,,,,\n'
    )
    assert plain[0].body == HEADER + (
        b"2024-02-07,Red,T1,1,70084,110,R-547AA8EB,1877,ARR,2024-02-07 05:49:58-05:00,"
        b"99,,,,1020,,,\n"
        b"2024-02-07,Red,T2,1,70084,,R-547AA8EB,,DEP,2024-02-07 05:55:00-05:00,"
        b",,,,,600,,1|2\n"
    )


def test_event_time_labels_of_a_day_equal_the_per_event_text() -> None:
    # the fall-back day: 01:00-01:59 twice, first with -04:00, then -05:00
    epochs = instants(
        "2024-11-03T04:00:00+00:00",
        "2024-11-03T05:59:59+00:00",
        "2024-11-03T06:00:00+00:00",
        "2024-11-04T06:00:00+00:00",
    )
    times = EventTimes.covering(epochs)
    assert times is not None
    assert times.covers(epochs)
    column = times.column(epochs).cast(pa.string())
    assert column.to_pylist() == format_event_times(epochs).to_pylist()
    assert not times.covers(epochs + 86_400 * 2)
    assert EventTimes.covering(np.array([0, 5 * 86_400])) is None  # too wide: per event
