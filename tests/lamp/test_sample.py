"""The real 2024-02-07 sample (10,000 LAMP rows, real GTFS subset) end to end, without AWS.

Golden files under `golden/` were produced by the independent row-by-row reading of the spec
in `bench/lamp_rowwise.py` and checked line by line against the raw rows (see docs/lamp.md,
"Tests"). 2024-02-07 is after the non-revenue cut-over (2023-11-30), so its `NONREV-` trips are
in the output; `golden/before_cutover/` holds the same stops as a day before the cut-over
gives them (the cut-over setting moved past the sample's date): without those trips.
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from bench import lamp_rowwise
from tasks.common.time_core import EASTERN
from tasks.lamp import day_core
from tasks.lamp.events_core import NON_REVENUE_CUTOVER, OUTPUT_COLUMNS
from tasks.transit.service_core import SUBWAY_ROUTES
from tests.conftest import SAMPLE_DATA

DAY = date(2024, 2, 7)
PARQUET = SAMPLE_DATA / "lamp" / "2024-02-07-subway-on-time-performance-v1.parquet"
GTFS_ZIP = SAMPLE_DATA / "lamp" / "gtfs-20240207-subset.zip"
GOLDEN = Path(__file__).parent / "golden"
GOLDEN_STOPS = ("70036", "70084", "70105", "70155", "70201")
EVENT_TIME = re.compile(r"^2024-02-0[78] \d\d:\d\d:\d\d-05:00$")
# a cut-over after the sample's date: the sample is then processed as a day before it
LATE_CUTOVER = date(2024, 3, 1)
# The events of `NONREV-` trips in the original's output for this sample (TransitMatters'
# algorithm, `bench/lamp_original.py`: 17,074 events in all, 217 ARR and 157 DEP of NONREV-).
ORIGINAL_NONREV = Path(__file__).parent / "golden" / "original_nonrev_events.csv"


@cache
def result(cutover: date = NON_REVENUE_CUTOVER) -> day_core.DayResult:
    return day_core.process_local(PARQUET.read_bytes(), GTFS_ZIP.read_bytes(), DAY, cutover)


@cache
def files(cutover: date = NON_REVENUE_CUTOVER) -> dict[str, bytes]:
    return {f.stop_id: f.body for f in result(cutover).files}


@cache
def parsed() -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for body in files().values():
        reader = csv.DictReader(io.StringIO(body.decode("utf-8")))
        assert reader.fieldnames == list(OUTPUT_COLUMNS)
        rows.extend(reader)
    return rows


@pytest.mark.parametrize("stop_id", GOLDEN_STOPS)
def test_golden_stop_files_match_byte_for_byte(stop_id: str) -> None:
    assert files()[stop_id].decode() == (GOLDEN / f"{stop_id}.csv").read_text()


@pytest.mark.parametrize("stop_id", GOLDEN_STOPS)
def test_golden_stop_files_of_a_day_before_the_cutover_have_no_non_revenue_trips(
    stop_id: str,
) -> None:
    assert (
        files(LATE_CUTOVER)[stop_id].decode()
        == (GOLDEN / "before_cutover" / f"{stop_id}.csv").read_text()
    )


def test_the_golden_files_differ_by_the_non_revenue_trips_only() -> None:
    for stop_id in GOLDEN_STOPS:
        after = (GOLDEN / f"{stop_id}.csv").read_text().splitlines()
        before = (GOLDEN / "before_cutover" / f"{stop_id}.csv").read_text().splitlines()
        added = [line for line in after if line not in before]
        assert [line for line in after if line not in added] == before
        assert all(line.split(",")[2].startswith("NONREV-") for line in added)
        assert len(added) == {"70036": 13, "70105": 4}.get(stop_id, 0)


@pytest.mark.parametrize("cutover", [NON_REVENUE_CUTOVER, LATE_CUTOVER], ids=["kept", "dropped"])
def test_every_stop_file_matches_the_rowwise_reading_of_the_spec(cutover: date) -> None:
    expected = lamp_rowwise.render(
        lamp_rowwise.events(PARQUET.read_bytes(), GTFS_ZIP.read_bytes(), DAY, cutover), DAY
    )
    assert sorted(files(cutover)) == sorted(expected)
    assert [s for s in expected if files(cutover)[s] != expected[s]] == []


def test_rows_and_events_reconcile_with_reasons() -> None:
    counts = result().counts()
    assert counts == {
        "service_date": "2024-02-07",
        "source_rows": 10_000,
        "rows_kept": 8_775,
        "rows_dropped": {"route_not_subway": 1_225},
        "event_candidates": 17_176,
        "events_written": 17_002,
        "events_dropped": {
            "departure_trip_unmatched": 42,
            "departure_from_first_scheduled_stop": 132,
        },
        "stops": 261,
        "stops_rejected": [],
        "non_revenue": {
            "policy": "kept (service date on or after 2023-11-30)",
            "trips": 86,
            "rows": 244,
            "events": 426,
        },
        "warnings": [],
    }
    dropped = sum(counts["events_dropped"].values())
    assert counts["event_candidates"] == counts["events_written"] + dropped


def test_before_the_cutover_the_non_revenue_rows_are_dropped_and_counted() -> None:
    counts = result(LATE_CUTOVER).counts()
    assert counts["rows_dropped"] == {"route_not_subway": 1_225, "non_revenue_trip": 244}
    assert (counts["event_candidates"], counts["events_written"]) == (16_723, 16_576)
    assert counts["events_dropped"] == {
        "departure_trip_unmatched": 19,
        "departure_from_first_scheduled_stop": 128,
    }
    # the 244 rows carried 453 arrival/departure timestamps, none of them written
    assert counts["non_revenue"] == {
        "policy": "dropped (service date before 2024-03-01)",
        "trips": 86,
        "rows": 244,
        "events": 453,
    }


def test_only_subway_events_each_with_a_stop_and_an_eastern_time() -> None:
    rows = parsed()
    assert len(rows) == 17_002
    assert {r["route_id"] for r in rows} <= set(SUBWAY_ROUTES)
    assert not [r for r in rows if r["trip_id"].startswith("CR-")]
    nonrev = [r for r in rows if r["trip_id"].startswith("NONREV-")]
    assert (len(nonrev), sum(r["event_type"] == "ARR" for r in nonrev)) == (426, 217)
    assert all(r["stop_id"] for r in rows)
    assert all(EVENT_TIME.match(r["event_time"]) for r in rows)
    assert {r["service_date"] for r in rows} == {"2024-02-07"}
    assert {r["event_type"] for r in rows} == {"ARR", "DEP"}
    # integers without ".0"
    numeric = [c for c in OUTPUT_COLUMNS if c.endswith(("seconds", "_tt", "headway", "branch"))]
    assert not [r for r in rows for c in numeric if "." in r[c]]


def test_every_non_revenue_event_of_the_original_is_in_ours() -> None:
    """The original (TransitMatters) keeps NONREV- trips from 2023-11-30 on: every arrival and
    departure of theirs must be in ours (ours has more: departures from a stop without an
    arrival, and origin departures)."""
    theirs = list(csv.DictReader(io.StringIO(ORIGINAL_NONREV.read_text())))
    assert len(theirs) == 374
    assert sum(e["event_type"] == "ARR" for e in theirs) == 217
    ours = {(r["trip_id"], r["stop_id"], r["event_type"], r["event_time"]) for r in parsed()}
    missing = [
        e
        for e in theirs
        if (e["trip_id"], e["stop_id"], e["event_type"], e["event_time"]) not in ours
    ]
    assert missing == []


def test_every_departure_belongs_to_the_stop_before_the_row_that_carried_it() -> None:
    raw = pq.read_table(PARQUET).to_pylist()
    trips: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for row in raw:
        trips[(row["trip_id"], row["vehicle_id"], row["route_id"])].append(row)
    checked = 0
    for event in parsed():
        if event["event_type"] != "DEP" or not event["stop_sequence"]:
            continue  # origin departures (no LAMP row for their stop) are checked in unit tests
        trip = trips[(event["trip_id"], event["vehicle_id"], event["route_id"])]
        epoch = int(datetime.fromisoformat(event["event_time"]).timestamp())
        (carrier,) = [r for r in trip if r["move_timestamp"] == epoch]
        seq = int(event["stop_sequence"])
        earlier = [
            r["stop_sequence"] for r in trip if r["stop_sequence"] < carrier["stop_sequence"]
        ]
        assert seq == max(earlier), event
        checked += 1
    assert checked == 6_380  # every DEP whose stop has a LAMP row


def test_processing_twice_gives_the_same_bytes() -> None:
    again = day_core.process_local(PARQUET.read_bytes(), GTFS_ZIP.read_bytes(), DAY)
    assert {f.key: f.body for f in again.files} == {f.key: f.body for f in result().files}


def test_keys_follow_the_bucket_layout() -> None:
    keys = {f.key for f in result().files}
    assert "Events-lamp/daily-data/70084/Year=2024/Month=2/Day=7/events.csv" in keys
    assert all(
        re.fullmatch(r"Events-lamp/daily-data/\d+/Year=2024/Month=2/Day=7/events.csv", k)
        for k in keys
    )


def test_sample_event_times_are_eastern() -> None:
    first = files()["70084"].decode().splitlines()[1].split(",")
    assert first[9] == "2024-02-07 05:49:58-05:00"
    assert datetime.fromisoformat(first[9]).astimezone(EASTERN).hour == 5
