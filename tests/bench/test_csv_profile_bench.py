"""The CSV benchmark times what ships: `pipelines profile-csv`'s path, MD5 and summary included."""

from __future__ import annotations

import hashlib
from pathlib import Path

from bench import csv_profile as bench_csv
from tasks.csv_profile.synthetic_io import write_csv


def test_ours_is_the_commands_path_and_counts_what_was_injected(tmp_path: Path) -> None:
    path = tmp_path / "small.csv"
    injected = write_csv(path, 20_000, seed=3, bad_rate=0.01)
    report = bench_csv.run_ours(str(path))
    assert (
        report["rows"],
        report["amount_missing"],
        report["age_invalid"],
        report["date_invalid"],
    ) == (injected.rows, injected.amount_missing, injected.age_invalid, injected.date_invalid)
    assert report["md5"] == hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()
    assert report["summary_bytes"] > 1_000
    assert list(report["types"]) == list(bench_csv.COLUMNS)  # the file's column order
