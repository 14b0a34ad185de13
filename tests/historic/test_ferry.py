"""Ferry export → monthly files: the UTC-midnight service date, deterministic trip ids."""

from __future__ import annotations

from datetime import date

import pyarrow as pa

from deployments import historic_sample as sample
from tasks.historic import ferry_core
from tests.historic.helpers import run_month

HEADER = (
    "service_date,route_id,trip_id,direction_id,stop_id,stop_sequence,vehicle_id,"
    "vehicle_label,event_type,event_time,scheduled_headway,scheduled_tt,vehicle_consist\n"
)
DAY = date(2024, 2, 7)


def crossing(trip: str | None = "F1-1", **changes: object) -> list[object]:
    row = sample.ferry_row(
        DAY, "F1", trip, "To Boston", "Hingham", "Long Wharf N",
        ("2024/02/07 12:00:00+00", "2024/02/07 12:35:00+00"),
        ("2024/02/07 07:02:00", "2024/02/07 07:39:00"), "F1-A",
    )  # fmt: skip
    for name, value in changes.items():
        row[sample.FERRY_HEADER.index(name)] = value
    return row


def test_a_utc_midnight_service_date_keeps_its_calendar_date() -> None:
    # the original converted 2024-02-07 00:00 UTC to Eastern: 2024-02-06 19:00, a day early
    _, files = run_month("ferry", sample.ferry_csv([crossing()]), "2024-02")
    assert files == {
        "Events/monthly-ferry-data/Boat-F1|1|Boat-Hingham/Year=2024/Month=2/events.csv.gz": HEADER
        + "2024-02-07,Boat-F1,F1-1,1,Boat-Hingham,,F1-A,,DEP,2024-02-07 07:02:00,,2100,\n",
        "Events/monthly-ferry-data/Boat-F1|1|Boat-Long/Year=2024/Month=2/events.csv.gz": HEADER
        + "2024-02-07,Boat-F1,F1-1,1,Boat-Long,,F1-A,,ARR,2024-02-07 07:39:00,,2100,\n",
    }


def test_service_dates_at_midnight_or_as_instants() -> None:
    rows = pa.table(
        {
            "service_date": [
                "2024/02/01 00:00:00+00",  # midnight UTC: the written date
                "2024-02-01 05:00:00+00",  # 05:00 UTC = 00:00 EST: that instant's date
                "2024-02-01 03:00:00+00",  # 22:00 EST the day before
                "2024-02-01",
            ]
        }
    )
    day, ok = ferry_core.service_days(rows)
    assert ok.all()
    assert (day - 19754).tolist() == [0, 0, -1, 0]  # 19754 = 2024-02-01


def test_a_missing_trip_id_gets_the_same_id_on_every_run() -> None:
    csv = sample.ferry_csv([crossing(None)])
    first = run_month("ferry", csv, "2024-02")[1]
    again = run_month("ferry", csv, "2024-02")[1]
    assert first == again
    (body,) = (b for k, b in first.items() if "Boat-Long/" in k)
    # gen- + the first 16 hex digits of the SHA-1 of the scheduled identity, fields joined
    # by U+001F: hashlib.sha1("2024/02/07 00:00:00+00␟F1␟To Boston␟Hingham␟Long Wharf N␟
    # 2024/02/07 12:00:00+00␟2024/02/07 12:35:00+00␟F1-A")
    assert body.splitlines()[1].split(",")[2] == "gen-05f9b4521da111c2"
    # the id is the crossing's scheduled identity: actual times do not change it ...
    late_row = crossing(None, actual_arrival="2024/02/07 07:45:00")
    late = run_month("ferry", sample.ferry_csv([late_row]), "2024-02")[1]
    assert "gen-05f9b4521da111c2" in next(b for k, b in late.items() if "Boat-Long/" in k)
    # ... another vessel slot is another crossing
    other_row = crossing(None, vessel_time_slot="F1-B")
    other = run_month("ferry", sample.ferry_csv([other_row]), "2024-02")[1]
    assert "gen-05f9b4521da111c2" not in "".join(other.values())


def test_a_crossing_past_midnight_has_a_positive_scheduled_time() -> None:
    row = crossing(
        mbta_sched_departure="2024/02/08 04:50:00+00",  # 23:50 EST on the 7th
        mbta_sched_arrival="2024/02/07 05:25:00+00",  # 00:25 EST, written on the same date
    )
    result, _ = run_month("ferry", sample.ferry_csv([row]), "2024-02")
    assert result.transformed.events["scheduled_tt"].to_pylist() == [2100, 2100]


def test_each_event_stands_on_its_own_and_what_is_missing_is_counted() -> None:
    rows = [
        crossing("a", actual_arrival=None),
        crossing("b", departure_terminal=None),
        crossing("c", travel_direction="Around Boston"),
        crossing("d", arrival_terminal="Spectacle Island"),
    ]
    result, files = run_month("ferry", sample.ferry_csv(rows), "2024-02")
    summary = result.summary()
    assert summary["rows_rejected"] == {"unknown_direction": 1}
    assert summary["events_missing"] == {
        "arrival_without_actual_time": 1,
        "departure_without_terminal": 1,
    }
    assert summary["events"] == 4
    assert summary["notes"] == {"unmapped_terminal Spectacle Island": 1}
    assert any("Spectacle%20Island" in k for k in files)


def test_a_routes_filter_uses_gtfs_route_ids() -> None:
    rows = [crossing("a"), crossing("b", route_id="F4", departure_terminal="Navy Yard")]
    result, files = run_month("ferry", sample.ferry_csv(rows), "2024-02", routes=("Boat-F4",))
    assert sorted(files) == [
        "Events/monthly-ferry-data/Boat-F4|1|Boat-Charlestown/Year=2024/Month=2/events.csv.gz",
        "Events/monthly-ferry-data/Boat-F4|1|Boat-Long/Year=2024/Month=2/events.csv.gz",
    ]
    assert result.summary()["rows_excluded_by_route"] == 1
