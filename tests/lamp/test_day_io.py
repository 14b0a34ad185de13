"""`pipelines lamp-file`: the same processing on local files, CSVs under a directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deployments.cli import main
from tests.conftest import SAMPLE_DATA

PARQUET = SAMPLE_DATA / "lamp" / "2024-02-07-subway-on-time-performance-v1.parquet"
GTFS_ZIP = SAMPLE_DATA / "lamp" / "gtfs-20240207-subset.zip"
GOLDEN = Path(__file__).parent / "golden"


def test_local_files_give_the_bucket_layout_under_the_output_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["lamp-file", str(PARQUET), "--gtfs-zip", str(GTFS_ZIP)]
    code = main([*argv, "--service-date", "2024-02-07", "--out", str(tmp_path)])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["source_rows"], report["events_written"], report["stops"]) == (
        10_000,
        17_002,
        261,
    )
    assert report["non_revenue"]["policy"] == "kept (service date on or after 2023-11-30)"
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.csv"))
    assert len(written) == 261
    assert all(
        p.startswith("Events-lamp/daily-data/")
        and p.endswith("/Year=2024/Month=2/Day=7/events.csv")
        for p in written
    )
    for stop in ("70155", "70036"):
        csv = tmp_path / f"Events-lamp/daily-data/{stop}/Year=2024/Month=2/Day=7/events.csv"
        assert csv.read_bytes() == (GOLDEN / f"{stop}.csv").read_bytes()


def test_the_non_revenue_cutover_setting_reaches_the_local_mode(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIPELINES_LAMP_NON_REVENUE_CUTOVER", "2024-03-01")
    argv = ["lamp-file", str(PARQUET), "--gtfs-zip", str(GTFS_ZIP)]
    assert main([*argv, "--service-date", "2024-02-07", "--out", str(tmp_path)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["rows_dropped"]["non_revenue_trip"] == 244
    csv = tmp_path / "Events-lamp/daily-data/70036/Year=2024/Month=2/Day=7/events.csv"
    assert csv.read_bytes() == (GOLDEN / "before_cutover" / "70036.csv").read_bytes()


def test_bad_arguments_are_reported_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = ["lamp-file", str(tmp_path / "nope.parquet"), "--gtfs-zip", str(GTFS_ZIP)]
    assert main([*missing, "--service-date", "2024-02-07", "--out", str(tmp_path)]) == 2
    assert "no such file" in capsys.readouterr().err
    bad_date = ["lamp-file", str(PARQUET), "--gtfs-zip", str(GTFS_ZIP), "--out", str(tmp_path)]
    assert main([*bad_date, "--service-date", "07/02/2024"]) == 2
    assert "--service-date must be YYYY-MM-DD, got '07/02/2024'" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
