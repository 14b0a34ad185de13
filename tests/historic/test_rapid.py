"""Rapid transit exports → monthly per-stop files."""

from __future__ import annotations

from datetime import date

from deployments import historic_sample as sample
from tests.historic.helpers import run_month, schedule

HEADER = (
    "service_date,route_id,trip_id,direction_id,stop_id,stop_sequence,vehicle_id,"
    "vehicle_label,event_type,event_time,scheduled_headway,scheduled_tt\n"
)
DAY = date(2024, 2, 7)
ROWS = [
    ["2024-02-07", "Red", "T1", "0", "70061", "1", "R-1", "1716", "DEP", "21600"],
    ["2024-02-07", "Red", "T1", "0", "70063", "2", "R-1", "1716", "ARR", "21750"],
    # a trip after midnight: event_time_sec past 86,400 is the next calendar day
    ["2024-02-07", "Red", "T9", "0", "70063", "2", "R-9", "1799", "ARR", "90000"],
]


def archive(rows: list[list[str]], header: tuple[str, ...] = sample.RAPID_HEADER_2024) -> bytes:
    return sample.zip_archive({"2024/2024-02.csv": sample.csv_bytes(header, rows)})


def test_a_2024_file_with_sync_stop_sequence_gives_exact_rows_and_benchmarks() -> None:
    gtfs = schedule(
        [
            ("s0", "Red", 0, "70063", 2, 21000),
            ("s1", "Red", 0, "70061", 1, 21500),
            ("s1", "Red", 0, "70063", 2, 21620),
        ]
    )
    result, files = run_month("rapid", archive(ROWS), "2024-02", lambda d: gtfs)
    assert files == {
        "Events/monthly-data/70061/Year=2024/Month=2/events.csv.gz": HEADER
        + "2024-02-07,Red,T1,0,70061,1,R-1,1716,DEP,2024-02-07 06:00:00,,0\n",
        "Events/monthly-data/70063/Year=2024/Month=2/events.csv.gz": HEADER
        + "2024-02-07,Red,T1,0,70063,2,R-1,1716,ARR,2024-02-07 06:02:30,620,120\n"
        # T9's first event is at 70063: nearest scheduled time there is s1's 21620, and s1
        # reaches 70063 120 s after its first stop
        + "2024-02-07,Red,T9,0,70063,2,R-9,1799,ARR,2024-02-08 01:00:00,620,120\n",
    }
    assert result.summary()["enrichment_warnings"] == {}


def test_older_files_with_stop_sequence_read_the_same() -> None:
    new = run_month("rapid", archive(ROWS), "2024-02")[1]
    old = run_month("rapid", archive(ROWS, sample.RAPID_HEADER), "2024-02")[1]
    assert new == old


def test_rows_that_cannot_be_events_are_rejected_with_a_reason() -> None:
    bad = [
        ["2024-02-07", "Red", "T2", "0", "", "1", "R-2", "1", "DEP", "21600"],
        ["2024-02-07", "Red", "T2", "0", "70061", "1", "R-2", "1", "", "21600"],
        ["2024-02-07", "Red", "T2", "0", "70061", "1", "R-2", "1", "DEP", "6am"],
        ["2024-02-07", "Red", "T2", "north", "70061", "1", "R-2", "1", "DEP", "21600"],
        ["2024-02-07", "Red", "T2", "0", "70061", "first", "R-2", "1", "DEP", "21600"],
    ]
    result, files = run_month("rapid", archive(ROWS + bad), "2024-02")
    summary = result.summary()
    assert summary["rows_rejected"] == {
        "missing_stop_id": 1,
        "missing_event_type": 1,
        "bad_event_time_sec": 1,
        "bad_direction_id": 1,
        "bad_stop_sequence": 1,
    }
    assert (summary["source_rows"], summary["rows_kept"], summary["events"]) == (8, 3, 3)
    assert sum(body.count("\n") - 1 for body in files.values()) == 3


def test_without_gtfs_the_schema_is_the_same_and_the_days_are_counted() -> None:
    result, files = run_month("rapid", archive(ROWS), "2024-02")
    assert files["Events/monthly-data/70061/Year=2024/Month=2/events.csv.gz"] == (
        HEADER + "2024-02-07,Red,T1,0,70061,1,R-1,1716,DEP,2024-02-07 06:00:00,,\n"
    )
    assert result.enrichment_warnings == {"no_gtfs_feed": 3}
