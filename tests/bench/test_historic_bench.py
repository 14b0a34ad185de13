"""The historic benchmark's synthetic year: seedable, and processed alike by ours and the
original's way (the comparison is honest only if both write the same events and benchmarks)."""

from __future__ import annotations

import gzip
from pathlib import Path

from bench import historic as bench_historic
from bench import historic_original


def test_the_synthetic_year_is_deterministic(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = bench_historic.write_year(tmp_path / "a", 8_000, seed=3, months=2)
    again = bench_historic.write_year(tmp_path / "b", 8_000, seed=3, months=2)
    assert first[0].read_bytes() == again[0].read_bytes()
    assert first[1].read_bytes() == again[1].read_bytes()
    assert first[2] == again[2] > 1_000


def test_ours_and_the_original_way_write_the_same_events_and_benchmarks(tmp_path: Path) -> None:
    # four route patterns (both Red branches, both directions) in January
    archive, schedule, events = bench_historic.write_year(tmp_path, 60_000, 5, months=1, patterns=4)
    ours = bench_historic.run_ours(archive, schedule, keep_files=True)
    original = historic_original.run_year(archive, schedule, keep_files=True)
    assert ours["events"] == original["events"] == events
    assert ours["files"] == original["files"] > 40
    assert events > 4_000
    assert ours["warnings"] == {}
    assert bench_historic.differing_files(ours["contents"], original["contents"]) == []
    # the original's files carry its helper columns; ours have the fixed 12
    key = next(iter(original["contents"]))
    assert b"scheduled_trip_id" in gzip.decompress(original["contents"][key])


def test_differing_files_names_missing_and_changed_files(tmp_path: Path) -> None:
    archive, schedule, _ = bench_historic.write_year(tmp_path, 4_000, 5, months=1, patterns=2)
    ours = bench_historic.run_ours(archive, schedule, keep_files=True)["contents"]
    first, second = sorted(ours)[:2]
    changed = dict(ours)
    changed[first] = ours[second]
    del changed[second]
    assert bench_historic.differing_files(ours, changed) == [first, second]
