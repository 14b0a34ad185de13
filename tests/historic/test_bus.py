"""Bus exports → monthly files: both column spellings, the BOM file, the 2024-06 UTC switch."""

from __future__ import annotations

from datetime import date

from deployments import historic_sample as sample
from tests.historic.helpers import run_month, schedule

HEADER = (
    "service_date,route_id,trip_id,direction_id,stop_id,stop_sequence,vehicle_id,"
    "vehicle_label,event_type,event_time,scheduled_headway,scheduled_tt\n"
)


STOPS = ("110", "67", "72")


def rows(day: str, route: str = "01", *, times: tuple[str, str, str]) -> list[list[object]]:
    """One half trip over three time points (Startpoint, Midpoint, Endpoint), Inbound."""
    kinds = ("Startpoint", "Midpoint", "Endpoint")
    return [
        [day, route, "Inbound", "46374001", stop, f"tp{i}", i + 1, kind, "Schedule",
         "1900-01-01 05:00:00", actual, None, None]
        for i, (stop, kind, actual) in enumerate(zip(STOPS, kinds, times, strict=True))
    ]  # fmt: skip


TIMES = ("1900-01-01 05:04:34", "1900-01-01 05:09:07", "1900-01-02 00:12:01")
EXPECTED_2020 = {
    "Events/monthly-bus-data/1-1-110/Year=2020/Month=8/events.csv.gz": HEADER
    + "2020-08-03,1,46374001,1,110,1,,,DEP,2020-08-03 05:04:34,,\n",
    "Events/monthly-bus-data/1-1-67/Year=2020/Month=8/events.csv.gz": HEADER
    + "2020-08-03,1,46374001,1,67,2,,,ARR,2020-08-03 05:09:07,,\n"
    + "2020-08-03,1,46374001,1,67,2,,,DEP,2020-08-03 05:09:07,,\n",
    # `1900-01-02`: the day after the service date (a trip past midnight)
    "Events/monthly-bus-data/1-1-72/Year=2020/Month=8/events.csv.gz": HEADER
    + "2020-08-03,1,46374001,1,72,3,,,ARR,2020-08-04 00:12:01,,\n",
}


def test_the_2020_bom_file_with_old_spellings_gives_exact_rows() -> None:
    archive = sample.bus_archive_2020({3: rows("2020-08-03", times=TIMES)})  # Jul-Sep: the BOM
    result, files = run_month("bus", archive, "2020-08")
    assert files == EXPECTED_2020
    summary = result.summary()
    assert (summary["source_rows"], summary["rows_kept"], summary["events"]) == (3, 3, 4)
    assert summary["enrichment_warnings"] == {"no_gtfs_feed": 4}


def test_new_spellings_in_the_yearly_folder_give_the_same_rows() -> None:
    archive = sample.bus_archive(2021, {8: rows("2020-08-03", times=TIMES)})
    assert run_month("bus", archive, "2020-08")[1] == EXPECTED_2020


def test_from_2024_06_times_are_utc_and_become_eastern() -> None:
    utc = ("1900-01-01 09:04:34", "1900-01-02 01:30:00", "1900-01-02 04:12:01")
    archive = sample.bus_archive(
        2024,
        {5: rows("2024-05-31", times=TIMES), 6: rows("2024-06-03", times=utc)},
    )
    _, june = run_month("bus", archive, "2024-06")
    assert june == {
        "Events/monthly-bus-data/1-1-110/Year=2024/Month=6/events.csv.gz": HEADER
        + "2024-06-03,1,46374001,1,110,1,,,DEP,2024-06-03 05:04:34,,\n",
        # 01:30 UTC the next day is 21:30 EDT on the service date
        "Events/monthly-bus-data/1-1-67/Year=2024/Month=6/events.csv.gz": HEADER
        + "2024-06-03,1,46374001,1,67,2,,,ARR,2024-06-03 21:30:00,,\n"
        + "2024-06-03,1,46374001,1,67,2,,,DEP,2024-06-03 21:30:00,,\n",
        "Events/monthly-bus-data/1-1-72/Year=2024/Month=6/events.csv.gz": HEADER
        + "2024-06-03,1,46374001,1,72,3,,,ARR,2024-06-04 00:12:01,,\n",
    }
    # the last service date before the switch keeps its local times
    _, may = run_month("bus", archive, "2024-05")
    assert may["Events/monthly-bus-data/1-1-72/Year=2024/Month=5/events.csv.gz"] == (
        HEADER + "2024-05-31,1,46374001,1,72,3,,,ARR,2024-06-01 00:12:01,,\n"
    )


def test_a_written_offset_wins_over_the_date_rule() -> None:
    archive = sample.bus_archive(
        2024, {3: rows("2024-03-05", times=("1900-01-01T10:04:34Z", *TIMES[1:]))}
    )
    files = run_month("bus", archive, "2024-03")[1]
    assert files["Events/monthly-bus-data/1-1-110/Year=2024/Month=3/events.csv.gz"] == (
        HEADER + "2024-03-05,1,46374001,1,110,1,,,DEP,2024-03-05 05:04:34,,\n"
    )


def test_rows_that_cannot_be_events_are_counted_by_reason() -> None:
    good = rows("2024-03-05", times=TIMES)
    bad = [
        [*good[0][:10], "", None, None],  # no actual time: not an event
        [*good[0][:2], "Northbound", *good[0][3:]],
        [*good[0][:7], "Waypoint", *good[0][8:]],
        [*good[0][:4], "", *good[0][5:]],
        [*good[0][:10], "1900-01-01 25:00:00", None, None],
        [*good[0][:6], "first", *good[0][7:]],
    ]
    result, files = run_month("bus", sample.bus_archive(2024, {3: good + bad}), "2024-03")
    summary = result.summary()
    assert summary["rows_rejected"] == {
        "no_actual_time": 1,
        "unknown_direction": 1,
        "missing_stop_id": 1,
        "unknown_point_type": 1,
        "bad_actual_time": 1,
        "bad_time_point_order": 1,
    }
    assert (summary["source_rows"], summary["rows_kept"], summary["events"]) == (9, 3, 4)
    assert len(files) == 3


def test_a_routes_filter_keeps_those_routes_and_counts_the_others() -> None:
    archive = sample.bus_archive(
        2024, {3: rows("2024-03-05", "01", times=TIMES) + rows("2024-03-05", "028", times=TIMES)}
    )
    result, files = run_month("bus", archive, "2024-03", routes=("28",))
    assert sorted(files) == [
        "Events/monthly-bus-data/28-1-110/Year=2024/Month=3/events.csv.gz",
        "Events/monthly-bus-data/28-1-67/Year=2024/Month=3/events.csv.gz",
        "Events/monthly-bus-data/28-1-72/Year=2024/Month=3/events.csv.gz",
    ]
    assert result.summary()["rows_excluded_by_route"] == 3


def test_gtfs_benchmarks_are_recomputed_for_buses() -> None:
    gtfs = schedule(
        [
            ("s1", "1", 1, "110", 1, 4 * 3600 + 30 * 60),
            ("s1", "1", 1, "67", 2, 4 * 3600 + 36 * 60),
            ("s2", "1", 1, "110", 1, 5 * 3600),
            ("s2", "1", 1, "67", 2, 5 * 3600 + 6 * 60),
            ("s2", "1", 1, "72", 3, 5 * 3600 + 12 * 60),
        ]
    )
    archive = sample.bus_archive(2024, {3: rows("2024-03-05", times=TIMES)})
    days = {date(2024, 3, 5): gtfs}
    result, files = run_month("bus", archive, "2024-03", lambda d: days.get(d, "no_gtfs_feed"))
    assert files["Events/monthly-bus-data/1-1-67/Year=2024/Month=3/events.csv.gz"] == (
        HEADER
        + "2024-03-05,1,46374001,1,67,2,,,ARR,2024-03-05 05:09:07,1800,360\n"
        + "2024-03-05,1,46374001,1,67,2,,,DEP,2024-03-05 05:09:07,1800,360\n"
    )
    assert result.enrichment_warnings == {}
