"""Compact schedules of other modes (bus, ferry) beside LAMP's subway ones (unchanged)."""

from __future__ import annotations

import json
from datetime import date

import pytest

from tasks.transit import gtfs_core, gtfs_io
from tests.lamp.factories import gtfs_zip
from tests.transit.test_gtfs_core import FEED, feed_files

ROUTES = (
    "route_id,agency_id,route_short_name,route_type\n"
    "Red,1,,1\n"
    "1,1,1,3\n"
    "CR-Worcester,1,,2\n"
    "Green-E,1,,0\n"
    "Boat-F1,1,,4\n"
)


def test_the_bus_selection_keeps_the_trips_of_bus_routes() -> None:
    table = gtfs_core.compact_feed(
        gtfs_zip(feed_files(**{"routes.txt": ROUTES})), FEED, gtfs_core.BUS
    )
    assert table["trip_id"].to_pylist() == ["BUS1"]
    assert gtfs_core.selection_name(table) == "bus"
    day = gtfs_core.schedule_for_date(table, date(2024, 2, 7))
    assert day.to_pylist() == [
        {
            "trip_id": "BUS1",
            "route_id": "1",
            "direction_id": 1,
            "stop_id": "1",
            "stop_sequence": 1,
            "arrival_s": 25200,
        }
    ]
    with pytest.raises(gtfs_core.ScheduleError, match=r"no bus service on 2024-02-10$"):
        gtfs_core.schedule_for_date(table, date(2024, 2, 10))


def test_a_route_type_selection_needs_routes_txt() -> None:
    with pytest.raises(gtfs_core.GtfsFeedError, match=r"^GTFS zip lacks routes.txt$"):
        gtfs_core.compact_feed(gtfs_zip(feed_files()), FEED, gtfs_core.FERRY)


def test_subway_compact_schedules_keep_their_metadata_and_cache_key() -> None:
    table = gtfs_core.compact_feed(gtfs_zip(feed_files(**{"routes.txt": ROUTES})), FEED)
    about = json.loads(table.schema.metadata[b"lamp.feed"])
    assert about == {
        "compact": "v1",
        "end": "2024-02-29",
        "start": "2024-02-01",
        "url": "https://cdn.example/winter-b.zip",
        "version": "winter-b",
    }
    assert gtfs_core.selection_name(table) == "subway"
    assert gtfs_io.compact_key(FEED) == "lamp/gtfs-compact/v1/20240201/winter-b.parquet"
    assert gtfs_io.compact_key(FEED, gtfs_core.FERRY) == (
        "lamp/gtfs-compact/v1/20240201/winter-b.ferry.parquet"
    )
