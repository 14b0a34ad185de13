"""Monthly files: keys per source, the CSV format, deterministic gzip."""

from __future__ import annotations

import gzip

import numpy as np
import pyarrow as pa
import pytest

from tasks.common.keys_core import UnsafeKeyError
from tasks.historic import output_core
from tasks.historic.events_core import event_table

DAY = 19760  # 2024-02-07


def table(**columns: list[object]) -> pa.Table:
    n = len(next(iter(columns.values())))
    base: dict[str, object] = {
        "day": [DAY] * n,
        "route_id": ["Red"] * n,
        "trip_id": ["T1"] * n,
        "direction_id": [0] * n,
        "stop_id": ["70061"] * n,
        "event_type": ["ARR"] * n,
        "t": list(range(21600, 21600 + n)),
        "_row": list(range(n)),
    }
    base.update(columns)
    events = event_table(base)
    return events.append_column("scheduled_headway", pa.array([None] * n, pa.int64()))


def test_keys_per_source_with_unpadded_month_and_escaped_ids() -> None:
    assert output_core.object_key("rapid", "70061", 2024, 2) == (
        "Events/monthly-data/70061/Year=2024/Month=2/events.csv.gz"
    )
    assert output_core.object_key("bus", "1-0-110", 2020, 11) == (
        "Events/monthly-bus-data/1-0-110/Year=2020/Month=11/events.csv.gz"
    )
    assert output_core.object_key("ferry", "Boat-F1|0|Boat-Long", 2024, 5) == (
        "Events/monthly-ferry-data/Boat-F1|0|Boat-Long/Year=2024/Month=5/events.csv.gz"
    )
    # a data value cannot leave its prefix
    assert output_core.object_key("rapid", "../../secrets", 2024, 2) == (
        "Events/monthly-data/..%2F..%2Fsecrets/Year=2024/Month=2/events.csv.gz"
    )
    with pytest.raises(UnsafeKeyError):
        output_core.object_key("rapid", "", 2024, 2)


def test_format_quotes_only_when_needed_and_leaves_nulls_empty() -> None:
    events = table(
        trip_id=['A,"1"', "B"],
        vehicle_label=[None, "1716"],
        stop_sequence=[None, 3],
        event_type=["DEP", "ARR"],
    )
    (only,) = output_core.render_month("rapid", 2024, 2, events)
    assert gzip.decompress(only.body).decode() == (
        "service_date,route_id,trip_id,direction_id,stop_id,stop_sequence,vehicle_id,"
        "vehicle_label,event_type,event_time,scheduled_headway,scheduled_tt\n"
        '2024-02-07,Red,"A,""1""",0,70061,,,,DEP,2024-02-07 06:00:00,,\n'
        "2024-02-07,Red,B,0,70061,3,,1716,ARR,2024-02-07 06:00:01,,\n"
    )
    assert only.events == 2


def test_rows_are_ordered_by_time_then_arr_before_dep() -> None:
    events = table(
        trip_id=["T2", "T1", "T1"],
        event_type=["DEP", "DEP", "ARR"],
        t=[21700, 21600, 21600],
    )
    (only,) = output_core.render_month("rapid", 2024, 2, events)
    lines = gzip.decompress(only.body).decode().splitlines()[1:]
    assert [line.split(",")[8] + line.split(",")[2] for line in lines] == [
        "ARRT1",
        "DEPT1",
        "DEPT2",
    ]


def test_gzip_has_no_time_and_no_name_so_reruns_are_byte_identical() -> None:
    events = table(stop_id=["70061", "70063"])
    first = output_core.render_month("rapid", 2024, 2, events)
    again = output_core.render_month("rapid", 2024, 2, events)
    assert [f.body for f in first] == [f.body for f in again]
    for f in first:
        assert f.body[:4] == b"\x1f\x8b\x08\x00"  # gzip, deflate, no flags: no file name
        assert f.body[4:8] == b"\x00\x00\x00\x00"  # mtime 0


def test_bus_and_ferry_group_by_route_direction_and_stop() -> None:
    events = table(route_id=["1", "1", "Boat-F1"], stop_id=["110", "110", "Boat-Long"])
    bus = output_core.render_month("bus", 2024, 3, events)
    assert [f.group for f in bus] == ["1-0-110", "Boat-F1-0-Boat-Long"]
    ferry = output_core.render_month("ferry", 2024, 3, events)
    assert [f.group for f in ferry] == ["1|0|110", "Boat-F1|0|Boat-Long"]
    header = gzip.decompress(ferry[0].body).decode().splitlines()[0]
    assert header.endswith(",scheduled_headway,scheduled_tt,vehicle_consist")


def test_both_ways_of_writing_lines_give_the_same_bytes() -> None:
    # Arrow's CSV writer (no value needs quotes) and the joined lines (some do) agree
    columns = {name: ["a", None, "7"] for name in output_core.BASE_COLUMNS}
    text = pa.table({name: pa.array(v, pa.string()) for name, v in columns.items()})
    header = (",".join(output_core.BASE_COLUMNS) + "\n").encode()
    fast = header + output_core._csv(text)
    (joined,) = output_core._joined_bodies(text, [], np.array([0]), np.array([3]))
    assert joined == fast
    assert fast.endswith(b"\n" + b",".join([b""] * 12) + b"\n" + b",".join([b"7"] * 12) + b"\n")
