"""GTFS: feed selection, the compact cache extract, and the schedule of one day."""

from __future__ import annotations

from datetime import date

import numpy as np
import pyarrow as pa
import pytest

from tasks.lamp import events_core
from tasks.transit import gtfs_core
from tasks.transit.gtfs_core import FeedRef, GtfsFeedError
from tests.lamp.factories import gtfs_zip

FEEDS = """feed_start_date,feed_end_date,feed_version,archive_url,archive_note
20240301,20240331,spring,https://cdn.example/spring.zip,
20240201,20240229,winter-b,https://cdn.example/winter-b.zip,
20240101,20240229,winter-a,https://cdn.example/winter-a.zip,
"""
FEED = FeedRef(date(2024, 2, 1), date(2024, 2, 29), "winter-b", "https://cdn.example/winter-b.zip")


def feed_files(**overrides: str) -> dict[str, str]:
    files = {
        "trips.txt": (
            "route_id,service_id,trip_id,trip_headsign,direction_id\n"
            "Red,WKD,R1,Ashmont,0\n"
            "Red,SAT,R2,Ashmont,0\n"
            "1,WKD,BUS1,Dudley,1\n"
            "CR-Worcester,WKD,CR1,Worcester,0\n"
            "Green-E,EXTRA,G1,Medford,1\n"
        ),
        "stop_times.txt": (
            "trip_id,arrival_time,departure_time,stop_id,stop_sequence,timepoint\n"
            "R1,23:50:00,23:50:00,Alewife-02,1,1\n"
            "R1,,24:10:30,70083,2,0\n"
            "R1,24:15:00,24:15:00,70085,3,1\n"
            "R2,6:00:00,6:00:00,70061,1,1\n"
            "BUS1,07:00:00,07:00:00,1,1,1\n"
            "CR1,07:00:00,07:00:00,WML-0081-02,1,1\n"
            "G1,08:00:00,08:00:00,70503,1,1\n"
        ),
        "calendar.txt": (
            "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,end_date\n"
            "WKD,1,1,1,1,1,0,0,20240201,20240229\n"
            "SAT,0,0,0,0,0,1,0,20240201,20240229\n"
        ),
        "calendar_dates.txt": (
            "service_id,date,exception_type\n"
            "WKD,20240219,2\n"  # Presidents' Day: no weekday service
            "SAT,20240219,1\n"  # ... Saturday service instead
            "EXTRA,20240207,1\n"
        ),
    }
    files.update(overrides)
    return files


def test_first_feed_in_file_order_covering_the_date_wins() -> None:
    assert gtfs_core.select_feed(FEEDS, date(2024, 2, 7)) == FEED
    assert gtfs_core.select_feed(FEEDS, date(2024, 1, 31)).version == "winter-a"


def test_no_covering_feed_is_an_error_naming_the_date() -> None:
    with pytest.raises(
        GtfsFeedError, match=r"^no GTFS feed in archived_feeds.txt covers 2023-12-31$"
    ):
        gtfs_core.select_feed(FEEDS, date(2023, 12, 31))


def test_malformed_feed_dates_are_reported_with_their_line() -> None:
    bad = FEEDS.replace("20240201,20240229,winter-b", "2024-02-01,20240229,winter-b")
    with pytest.raises(GtfsFeedError, match=r"line 3: expected YYYYMMDD, got '2024-02-01'"):
        gtfs_core.select_feed(bad, date(2024, 2, 7))


def test_gtfs_times_may_pass_midnight_and_have_one_digit_hours() -> None:
    values = pa.array(["25:01:02", "5:30:00", " 07:00:01 ", "", None])
    parsed = gtfs_core.parse_gtfs_times(values)
    assert parsed[:3].tolist() == [90062.0, 19800.0, 25201.0]
    assert np.isnan(parsed[3:]).all()


@pytest.mark.parametrize("bad", ["07:00", "7:xx:00", "25:01:02:03"])
def test_a_malformed_gtfs_time_names_the_file_column_value_and_row(bad: str) -> None:
    values = pa.array(["05:00:00", "", bad])
    where = "GTFS stop_times.txt arrival_time"
    with pytest.raises(GtfsFeedError, match=rf"^{where}: '{bad}' at data row 3 is not a time"):
        gtfs_core.parse_gtfs_times(values, where)


def test_compact_feed_keeps_subway_stop_times_and_their_calendar() -> None:
    table = gtfs_core.compact_feed(gtfs_zip(feed_files()), FEED)
    assert table.column_names == [
        "trip_id",
        "route_id",
        "direction_id",
        "service_id",
        "stop_id",
        "stop_sequence",
        "arrival_s",
    ]
    assert table.to_pylist() == [
        {
            "trip_id": "G1",
            "route_id": "Green-E",
            "direction_id": 1,
            "service_id": "EXTRA",
            "stop_id": "70503",
            "stop_sequence": 1,
            "arrival_s": 28800,
        },
        {
            "trip_id": "R1",
            "route_id": "Red",
            "direction_id": 0,
            "service_id": "WKD",
            "stop_id": "Alewife-02",
            "stop_sequence": 1,
            "arrival_s": 85800,
        },
        # an empty arrival_time falls back to departure_time
        {
            "trip_id": "R1",
            "route_id": "Red",
            "direction_id": 0,
            "service_id": "WKD",
            "stop_id": "70083",
            "stop_sequence": 2,
            "arrival_s": 87030,
        },
        {
            "trip_id": "R1",
            "route_id": "Red",
            "direction_id": 0,
            "service_id": "WKD",
            "stop_id": "70085",
            "stop_sequence": 3,
            "arrival_s": 87300,
        },
        {
            "trip_id": "R2",
            "route_id": "Red",
            "direction_id": 0,
            "service_id": "SAT",
            "stop_id": "70061",
            "stop_sequence": 1,
            "arrival_s": 21600,
        },
    ]


def test_compact_schedule_round_trips_through_parquet_with_its_calendar() -> None:
    data = gtfs_core.to_parquet(gtfs_core.compact_feed(gtfs_zip(feed_files()), FEED))
    assert gtfs_core.to_parquet(gtfs_core.read_compact(data)) == data
    table = gtfs_core.read_compact(data)
    assert gtfs_core.active_services(table, date(2024, 2, 7)) == {"WKD", "EXTRA"}
    assert gtfs_core.active_services(table, date(2024, 2, 10)) == {"SAT"}
    # a holiday: the weekday service is removed and Saturday's added
    assert gtfs_core.active_services(table, date(2024, 2, 19)) == {"SAT"}


def test_schedule_of_a_day_holds_only_its_running_trips() -> None:
    table = gtfs_core.compact_feed(gtfs_zip(feed_files()), FEED)
    day = gtfs_core.schedule_for_date(table, date(2024, 2, 10))
    assert day.column_names == [
        "trip_id",
        "route_id",
        "direction_id",
        "stop_id",
        "stop_sequence",
        "arrival_s",
    ]
    assert day["trip_id"].to_pylist() == ["R2"]


def test_a_day_without_subway_service_is_an_error() -> None:
    table = gtfs_core.compact_feed(gtfs_zip(feed_files()), FEED)
    with pytest.raises(gtfs_core.ScheduleError, match=r"no subway service on 2024-02-11$"):
        gtfs_core.schedule_for_date(table, date(2024, 2, 11))


def test_schedule_feeds_the_event_matching() -> None:
    table = gtfs_core.compact_feed(gtfs_zip(feed_files()), FEED)
    schedule = events_core.prepare_schedule(gtfs_core.schedule_for_date(table, date(2024, 2, 7)))
    rows = [r for r in schedule.table.to_pylist() if r["trip_id"] == "R1"]
    assert [
        (r["stop_id"], r["scheduled_tt"], r["prev_stop_id"], r["branch_route_id"]) for r in rows
    ] == [
        ("70061", 0, None, "Red-A"),  # the Alewife alias resolved in the schedule too
        ("70083", 1230, "70061", "Red-A"),
        ("70085", 1500, "70083", "Red-A"),
    ]


def test_not_a_zip_is_an_error_naming_the_archive() -> None:
    with pytest.raises(
        GtfsFeedError, match=r"^GTFS archive https://cdn.example/winter-b.zip is not a zip file"
    ):
        gtfs_core.compact_feed(b"<html>moved</html>", FEED)


def test_missing_file_or_column_is_named() -> None:
    files = feed_files()
    del files["stop_times.txt"]
    with pytest.raises(GtfsFeedError, match=r"^GTFS zip lacks stop_times.txt$"):
        gtfs_core.compact_feed(gtfs_zip(files), FEED)
    broken = feed_files(**{"trips.txt": "route_id,trip_id\nRed,R1\n"})
    with pytest.raises(GtfsFeedError, match=r"^GTFS trips.txt: .*service_id"):
        gtfs_core.compact_feed(gtfs_zip(broken), FEED)
