"""Archives → per-month spill files: zipfile or 7-Zip (Deflate64), non-events files skipped."""

from __future__ import annotations

import shutil
import stat
import zipfile
from pathlib import Path

import pytest

from deployments import historic_sample as sample
from tasks.common.errors import is_permanent
from tasks.common.settings import Settings
from tasks.historic import archive_core, archive_io

JAN: list[list[object]] = [
    ["2024-01-31", "Red", "T1", "0", "70061", "1", "R-1", "1716", "DEP", "86500"]
]
FEB: list[list[object]] = [
    ["2024-02-01", "Red", "T2", "0", "70061", "1", "R-2", "1717", "DEP", "18000"],
    ["2024-02-01", "Red", "T2", "0", "70063", "2", "R-2", "1717", "ARR", "18120"],
]


def write(tmp_path: Path, data: bytes, name: str = "rapid-2024.zip") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def rapid_archive(deflate64: bool) -> bytes:
    return sample.zip_archive(
        {
            "MBTA_2024/README.txt": b"not data\r\n",
            "MBTA_2024/2024-01.csv": sample.csv_bytes(sample.RAPID_HEADER_2024, JAN + FEB[:1]),
            # a month can span files: its rows are gathered from both
            "MBTA_2024/2024-02.csv": sample.csv_bytes(sample.RAPID_HEADER_2024, FEB[1:] * 300),
        },
        deflate64=deflate64,
    )


def test_a_deflate64_archive_built_by_7zip_is_read_through_7zip(tmp_path: Path) -> None:
    archive = write(tmp_path, rapid_archive(deflate64=True))
    with zipfile.ZipFile(archive) as zf:
        methods = {i.filename: i.compress_type for i in zf.infolist()}
        with pytest.raises(NotImplementedError):  # what Python alone would do
            zf.read("MBTA_2024/2024-02.csv")
    assert methods["MBTA_2024/2024-02.csv"] == 9  # Deflate64
    work = tmp_path / "work"
    work.mkdir()
    result = archive_io.split_archive("rapid", archive, work, None)
    # in archive order (7-Zip sorts the names)
    assert result.files == [
        {"name": "MBTA_2024/2024-01.csv", "status": "events", "rows": 2, "reason": ""},
        {"name": "MBTA_2024/2024-02.csv", "status": "events", "rows": 300, "reason": ""},
        {
            "name": "MBTA_2024/README.txt",
            "status": "skipped",
            "rows": 0,
            "reason": "not a CSV file",
        },
    ]
    assert sorted(result.months) == ["2024-01", "2024-02"]
    jan = archive_io.read_spill(result.months["2024-01"])
    assert jan.column_names == list(archive_core.RAPID_COLUMNS)
    assert [list(r.values()) for r in jan.to_pylist()] == JAN
    feb = result.months["2024-02"]
    assert (feb.rows, feb.days) == (301, (19754,))  # 2024-02-01
    assert archive_io.read_spill(feb).slice(0, 2).to_pylist()[1]["event_type"] == "ARR"
    assert not list((work / "extract").glob("**/*.csv"))  # extracted members are deleted


def test_the_same_rows_come_out_of_a_deflate_and_a_deflate64_archive(tmp_path: Path) -> None:
    months = []
    for deflate64 in (False, True):
        work = tmp_path / str(deflate64)
        work.mkdir()
        archive = write(work, rapid_archive(deflate64))
        split = archive_io.split_archive("rapid", archive, work, None)
        months.append({m: archive_io.read_spill(s) for m, s in split.months.items()})
    assert months[0].keys() == months[1].keys()
    for month in months[0]:
        assert months[0][month].equals(months[1][month])


def test_without_the_unzip_tool_a_deflate64_member_fails_clearly(tmp_path: Path) -> None:
    archive = write(tmp_path, rapid_archive(deflate64=True))
    settings = Settings(historic_unzip_command="no-such-7z-here")
    with pytest.raises(archive_io.UnzipToolMissingError) as caught:
        archive_io.split_archive("rapid", archive, tmp_path, None, settings=settings)
    assert str(caught.value) == (
        "MBTA_2024/2024-01.csv in rapid-2024.zip uses a compression method Python's zipfile "
        "cannot read (Deflate64) and the unzip tool 'no-such-7z-here' is not installed: "
        "install 7-Zip (Debian/Ubuntu: apt-get install p7zip-full; `make venv` does it) or point "
        "PIPELINES_HISTORIC_UNZIP_COMMAND at it"
    )
    assert is_permanent(caught.value)


def test_a_corrupt_member_is_7zips_exit_code_and_message(tmp_path: Path) -> None:
    data = bytearray(rapid_archive(deflate64=True))
    start = data.index(b"MBTA_2024/2024-02.csv") + len("MBTA_2024/2024-02.csv")
    data[start + 10 : start + 40] = bytes(30)  # inside the compressed bytes of the member
    archive = write(tmp_path, bytes(data))
    with pytest.raises(archive_io.UnzipError, match=r"^7z failed on MBTA_2024/2024-02.csv in "
                       r"rapid-2024.zip \(exit code 2\): "):  # fmt: skip
        archive_io.split_archive("rapid", archive, tmp_path, None)


def test_a_tool_that_hangs_is_stopped_after_the_timeout(tmp_path: Path) -> None:
    script = tmp_path / "slow-7z"
    script.write_text("#!/bin/sh\nsleep 30\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    archive = write(tmp_path, rapid_archive(deflate64=True))
    settings = Settings(historic_unzip_command=str(script), historic_unzip_timeout_seconds=0.5)
    with pytest.raises(archive_io.UnzipTimeoutError, match="within 0 s"):
        archive_io.split_archive("rapid", archive, tmp_path, None, settings=settings)


def test_the_2016_aggregates_are_skipped_by_name_with_the_reason(tmp_path: Path) -> None:
    archive = write(
        tmp_path, sample.zip_archive({"HRTravelTimesQ1_16.csv": sample.aggregates_csv()})
    )
    result = archive_io.split_archive("rapid", archive, tmp_path, None)
    assert result.months == {}
    assert [(f["name"], f["status"]) for f in result.files] == [
        ("HRTravelTimesQ1_16.csv", "skipped")
    ]
    assert "travel-time/headway aggregates, not ARR/DEP events" in result.files[0]["reason"]


def test_rows_outside_the_months_or_without_a_date_are_counted(tmp_path: Path) -> None:
    bad = [["2024-02-30", *FEB[0][1:]], ["", *FEB[0][1:]]]
    members = {"a.csv": sample.csv_bytes(sample.RAPID_HEADER, JAN + FEB + bad)}
    archive = write(tmp_path, sample.zip_archive(members))
    result = archive_io.split_archive("rapid", archive, tmp_path, {"2024-02"})
    assert sorted(result.months) == ["2024-02"]
    assert result.months["2024-02"].rows == 2
    assert (result.rows_unassigned, result.rows_outside_months) == ({"bad_service_date": 2}, 1)


def test_the_2020_bus_quarter_with_a_bom_is_read_like_the_others(tmp_path: Path) -> None:
    row: list[object] = [
        "2020-08-03", "01", "Inbound", "1", "110", "hhgat", "1", "Startpoint", "Schedule",
        "1900-01-01 05:05:00", "1900-01-01 05:04:34", "26", "",
    ]  # fmt: skip
    october = ["2020-10-05", *row[1:]]
    archive = write(tmp_path, sample.bus_archive_2020({3: [row], 4: [october]}))
    result = archive_io.split_archive("bus", archive, tmp_path, None)
    assert [(f["name"], f["rows"], f["reason"]) for f in result.files] == [
        ("Bus Arrival Departure Times Jul-Sep 2020.csv", 1, "UTF-8 BOM removed"),
        ("Bus Arrival Departure Times Oct-Dec 2020.csv", 1, ""),
    ]
    august = archive_io.read_spill(result.months["2020-08"]).to_pylist()
    assert august == [
        {
            "service_date": "2020-08-03",
            "route_id": "01",
            "direction_id": "Inbound",
            "half_trip_id": "1",
            "stop_id": "110",
            "time_point_order": "1",
            "point_type": "Startpoint",
            "actual": "1900-01-01 05:04:34",
        }
    ]


def test_a_broken_events_file_is_named(tmp_path: Path) -> None:
    body = sample.csv_bytes(sample.RAPID_HEADER, FEB) + b"2024-02-01,Red,T3\r\n"
    archive = write(tmp_path, sample.zip_archive({"MBTA_2024/bad.csv": body}))
    with pytest.raises(archive_io.ArchiveError, match=r"^rapid-2024.zip: MBTA_2024/bad.csv: .*"):
        archive_io.split_archive("rapid", archive, tmp_path, None)


def test_not_a_zip_is_an_archive_error(tmp_path: Path) -> None:
    archive = write(tmp_path, b"<html>maintenance</html>")
    with pytest.raises(archive_io.ArchiveError, match=r"^rapid-2024\.zip is not a ZIP archive"):
        archive_io.split_archive("rapid", archive, tmp_path, None)


def test_7zip_is_installed_by_the_project_setup() -> None:
    assert shutil.which("7z"), "make venv installs p7zip-full"
