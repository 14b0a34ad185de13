"""Which archive members are events files, judged by their header; their canonical columns."""

from __future__ import annotations

import pytest

from deployments import historic_sample as sample
from tasks.historic import archive_core


def header(columns: tuple[str, ...], bom: bool = False) -> bytes:
    return sample.csv_bytes(columns, [], bom=bom)


def test_a_2024_rapid_file_maps_sync_stop_sequence_to_stop_sequence() -> None:
    check = archive_core.check_file("rapid", "2024-02.csv", header(sample.RAPID_HEADER_2024))
    assert check.events
    assert check.renames["sync_stop_sequence"] == "stop_sequence"
    assert check.missing == ()


def test_the_2016_aggregates_are_reported_as_not_events() -> None:
    check = archive_core.check_file("rapid", "HRTravelTimesQ1_16.csv", sample.aggregates_csv())
    assert not check.events
    assert check.reason == (
        "not an events file: travel-time/headway aggregates, not ARR/DEP events (columns: "
        "service_date, from_stop_id, to_stop_id, route_id, direction_id, start_time_sec, "
        "end_time_sec, travel_time_sec, ...)"
    )


def test_a_rapid_file_without_any_stop_sequence_is_not_events() -> None:
    columns = tuple(c for c in sample.RAPID_HEADER if c != "stop_sequence")
    check = archive_core.check_file("rapid", "x.csv", header(columns))
    assert (check.events, check.reason) == (
        False,
        "not an events file: no stop_sequence or sync_stop_sequence column",
    )


def test_old_bus_spellings_with_a_bom_map_to_the_new_ones() -> None:
    check = archive_core.check_file("bus", "q3.csv", header(sample.BUS_OLD_HEADER, bom=True))
    assert check.events
    assert check.had_bom
    assert check.columns[0] == "ServiceDate"  # the BOM is not part of the name
    assert check.renames == {
        "ServiceDate": "service_date",
        "Route": "route_id",
        "Direction": "direction_id",
        "HalfTripId": "half_trip_id",
        "Stop": "stop_id",
        "TimepointOrder": "time_point_order",
        "PointType": "point_type",
        "Actual": "actual",
    }
    new = archive_core.check_file("bus", "2024-03.csv", header(sample.BUS_NEW_HEADER))
    assert new.events
    assert not new.had_bom
    assert set(new.renames.values()) == set(archive_core.BUS_COLUMNS)


def test_a_ferry_export_lacking_columns_names_them() -> None:
    columns = tuple(c for c in sample.FERRY_HEADER if c not in ("actual_arrival", "trip_id"))
    check = archive_core.check_file("ferry", "ferry.csv", header(columns))
    assert not check.events
    assert check.reason.startswith("not an events file: lacks actual_arrival, trip_id (columns: ")


def test_binary_data_is_not_csv_text() -> None:
    check = archive_core.check_file("rapid", "x.csv", b"PK\x03\x04\x00\xff\xfe")
    assert (check.events, check.reason) == (
        False,
        "not UTF-8 CSV text (binary or unexpected encoding)",
    )


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("MBTA_2024/", "folder"),
        ("MBTA_2024/README.txt", "not a CSV file"),
        ("__MACOSX/MBTA_2024/._2024-02.csv", "macOS metadata, not data"),
        ("../../etc/x.csv", "unsafe member path (..)"),
        ("/abs/x.csv", "unsafe member path (absolute or drive)"),
        ("C:/x.csv", "unsafe member path (absolute or drive)"),
        ("MBTA_2024/2024-02.CSV", None),
    ],
)
def test_members_that_are_not_opened(name: str, reason: str | None) -> None:
    assert archive_core.skip_reason_for_name(name) == reason
