"""The benchmark's synthetic day: seedable, LAMP-shaped, and processed like a real one.

The comparison with the row-wise alternative is honest only if both start from equivalent
inputs and produce the same bytes: the generated GTFS zip must give back the compact schedule,
and ours and `bench/lamp_rowwise.py` must write identical stop files from it.
"""

from __future__ import annotations

import pytest

from bench import lamp as bench_lamp
from tasks.transit import gtfs_core


def test_synthetic_day_is_deterministic_and_exercises_every_filter() -> None:
    parquet, schedule = bench_lamp.generate_day(rows=3_000, seed=11)
    again, same_schedule = bench_lamp.generate_day(rows=3_000, seed=11)
    assert parquet == again
    assert schedule.equals(same_schedule)
    report = bench_lamp.process_once(parquet, gtfs_core.to_parquet(schedule))
    assert report["rows"] >= 3_000
    assert report["stops"] > 200
    # commuter rail and non-revenue rows are there to be dropped; every event lands in a file
    assert report["events"] > report["rows"]
    assert set(report["timings"]) == {"schedule", "read", "prepare", "events", "render"}


def test_different_seeds_give_different_days() -> None:
    first, _ = bench_lamp.generate_day(rows=1_000, seed=1)
    second, _ = bench_lamp.generate_day(rows=1_000, seed=2)
    assert first != second


def test_gtfs_zip_gives_back_the_compact_schedule() -> None:
    _, schedule = bench_lamp.generate_day(rows=3_000, seed=11)
    zip_bytes = bench_lamp.gtfs_zip(schedule)
    assert zip_bytes == bench_lamp.gtfs_zip(schedule)
    compact = gtfs_core.compact_feed(zip_bytes, bench_lamp._FEED)
    assert compact.replace_schema_metadata(None).equals(schedule.replace_schema_metadata(None))
    day = bench_lamp.DAY
    assert gtfs_core.active_services(compact, day) == {"WKD"}
    assert gtfs_core.active_services(schedule, day) == {"WKD"}


def test_ours_and_the_rowwise_implementation_write_identical_stop_files() -> None:
    parquet, schedule = bench_lamp.generate_day(rows=3_000, seed=11)
    zip_bytes = bench_lamp.gtfs_zip(schedule)
    ours = bench_lamp.process_from_zip(parquet, zip_bytes, keep_files=True)
    rowwise = bench_lamp.rowwise_once(parquet, zip_bytes)
    assert ours["stops"] == rowwise["stops"] > 200
    assert ours["events"] == rowwise["events"]
    assert bench_lamp.differing_stops(ours["files"], rowwise["files"]) == []
    assert set(ours["timings"]) == {"gtfs", "schedule", "read", "prepare", "events", "render"}


def test_differing_stops_names_missing_and_changed_files() -> None:
    ours = {"1": b"a", "2": b"b", "3": b"c"}
    assert bench_lamp.differing_stops(ours, dict(ours)) == []
    assert bench_lamp.differing_stops(ours, {"1": b"a", "2": b"x", "4": b"d"}) == ["2", "3", "4"]


def test_the_originals_algorithm_runs_on_the_same_inputs() -> None:
    parquet, schedule = bench_lamp.generate_day(rows=1_500, seed=11)
    report = bench_lamp.original_once(parquet, bench_lamp.gtfs_zip(schedule))
    ours = bench_lamp.process_once(parquet, gtfs_core.to_parquet(schedule))
    # the original also writes the commuter-rail rows' stop (it did not filter them) and keeps
    # Alewife-01 and -02 apart (its alias map lacked them: ours writes both as 70061), and it
    # drops departures without an earlier arrival: close to ours, never the same
    assert report["stops"] == ours["stops"] + 2
    assert 0.9 * ours["events"] < report["events"] < 1.1 * ours["events"]
    assert report["csv_bytes"] > 0


def test_scales_must_include_the_sizes_the_targets_compare() -> None:
    assert bench_lamp._scales("20,1,10") == [1, 10, 20]
    with pytest.raises(SystemExit, match="--scales must include 1 and 10"):
        bench_lamp._scales("1,20")
