"""Service dates, the LAMP index, ingest state and backfill plans."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tasks.common.time_core import EASTERN
from tasks.lamp import plan_core
from tasks.lamp.plan_core import DayPlan, IndexEntry
from tasks.transit.service_core import service_date_at

ROOT = Path(__file__).resolve().parents[2]

INDEX = """size_bytes,last_modified,service_date,file_url
5242880,2024-02-08T09:00:00Z,2024-02-07,https://performancedata.mbta.com/lamp/x/2024-02-07-subway-on-time-performance-v1.parquet
5000000,2024-02-09T09:00:00Z,2024-02-08,https://performancedata.mbta.com/lamp/x/2024-02-08-subway-on-time-performance-v1.parquet
"""


@pytest.mark.parametrize(
    ("local", "service_date"),
    [
        ("2024-02-08 02:59:59", date(2024, 2, 7)),
        ("2024-02-08 03:00:00", date(2024, 2, 8)),
        ("2024-02-08 23:59:00", date(2024, 2, 8)),
        ("2024-02-08 00:00:00", date(2024, 2, 7)),
    ],
)
def test_service_date_rolls_over_at_3am_eastern(local: str, service_date: date) -> None:
    instant = datetime.fromisoformat(local).replace(tzinfo=EASTERN)
    assert service_date_at(instant) == service_date
    assert service_date_at(instant.astimezone(UTC)) == service_date


def test_service_date_needs_an_aware_instant() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        service_date_at(datetime(2024, 2, 8, 12))


def test_today_and_yesterday_come_from_the_scheduled_time_unless_a_date_is_given() -> None:
    # the 15:00 UTC "yesterday" run: 10:00 EST on 2024-02-08
    instant = datetime(2024, 2, 8, 15, tzinfo=UTC)
    assert plan_core.resolve_service_date(None, "yesterday", instant) == date(2024, 2, 7)
    assert plan_core.resolve_service_date(None, "today", instant) == date(2024, 2, 8)
    # the 02:30 Eastern "today" run still ingests the day that started the evening before
    late = datetime(2024, 2, 9, 2, 30, tzinfo=EASTERN)
    assert plan_core.resolve_service_date(None, "today", late) == date(2024, 2, 8)
    assert plan_core.resolve_service_date(date(2020, 1, 1), "yesterday", instant) == date(
        2020, 1, 1
    )


def test_urls_follow_the_lamp_layout() -> None:
    base = "https://performancedata.mbta.com/lamp/subway-on-time-performance-v1/"
    assert plan_core.daily_file_url(base, date(2024, 2, 7)) == (
        "https://performancedata.mbta.com/lamp/subway-on-time-performance-v1/"
        "2024-02-07-subway-on-time-performance-v1.parquet"
    )
    assert plan_core.index_url(base).endswith("/subway-on-time-performance-v1/index.csv")


def test_index_is_parsed_by_service_date() -> None:
    index = plan_core.parse_index(INDEX)
    assert sorted(index) == [date(2024, 2, 7), date(2024, 2, 8)]
    assert index[date(2024, 2, 7)].last_modified == "2024-02-08T09:00:00Z"
    assert index[date(2024, 2, 7)].size_bytes == 5242880


def test_a_bad_index_line_is_reported() -> None:
    with pytest.raises(plan_core.LampIndexError, match="line 3: service_date '2024/02/08'"):
        plan_core.parse_index(INDEX.replace(",2024-02-08,", ",2024/02/08,"))
    with pytest.raises(plan_core.LampIndexError, match="lacks columns"):
        plan_core.parse_index("a,b\n1,2\n")


def test_state_key_and_state_are_deterministic() -> None:
    assert plan_core.state_key(date(2024, 2, 7)) == "Events-lamp/_state/daily/2024-02-07.json"
    counts = {"source_rows": 10, "events_written": 5, "stops": 2, "rows_dropped": {}}
    assert plan_core.make_state(date(2024, 2, 7), "T", "v1", counts) == {
        "version": 1,
        "service_date": "2024-02-07",
        "source_last_modified": "T",
        "gtfs_feed": "v1",
        "source_rows": 10,
        "events_written": 5,
        "stops": 2,
        "stops_rejected": [],
        "non_revenue": {},
        "warnings": [],
    }


def entry(day: date, token: str) -> IndexEntry:
    return IndexEntry(day, token, None, "")


def test_backfill_skips_unchanged_days_unless_forced() -> None:
    d1, d2, d3, d4 = (date(2024, 2, 5) + timedelta(days=i) for i in range(4))
    index = {d1: entry(d1, "A"), d2: entry(d2, "B2"), d4: entry(d4, "")}
    states = {d1: {"source_last_modified": "A"}, d2: {"source_last_modified": "B1"}}
    assert plan_core.plan_backfill([d1, d2, d3, d4], index, states, force=False) == [
        DayPlan(d1, "unchanged", "A"),
        DayPlan(d2, "ingest", "B2"),  # MBTA regenerated it
        DayPlan(d3, "not_in_index", None),
        DayPlan(d4, "ingest", ""),  # no token: cannot prove it unchanged
    ]
    forced = plan_core.plan_backfill([d1, d2], index, states, force=True)
    assert [p.action for p in forced] == ["ingest", "ingest"]


def test_plan_is_summarised_as_ranges_and_expected_requests() -> None:
    days = plan_core.days_between(date(2024, 2, 1), date(2024, 2, 6))
    actions = ["ingest", "ingest", "unchanged", "ingest", "not_in_index", "not_in_index"]
    plans = [DayPlan(d, a, None) for d, a in zip(days, actions, strict=True)]  # type: ignore[arg-type]
    assert plan_core.plan_ranges(plans) == [
        {"start": "2024-02-01", "end": "2024-02-02", "action": "ingest", "days": 2},
        {"start": "2024-02-03", "end": "2024-02-03", "action": "unchanged", "days": 1},
        {"start": "2024-02-04", "end": "2024-02-04", "action": "ingest", "days": 1},
        {"start": "2024-02-05", "end": "2024-02-06", "action": "not_in_index", "days": 2},
    ]
    summary = plan_core.summarize_plan(plans, feeds_to_build=["feed"], states_found=1)
    assert (summary["days"], summary["ingest"], summary["unchanged"], summary["not_in_index"]) == (
        6,
        3,
        1,
        2,
    )
    assert summary["expected_requests"]["lamp_parquet_downloads"] == 3
    assert summary["expected_requests"]["gtfs_zip_downloads"] == 1
    assert summary["expected_requests"]["s3_state_reads"] == 2  # one LIST, one GET


def test_days_between_is_inclusive() -> None:
    assert plan_core.days_between(date(2024, 2, 28), date(2024, 3, 1)) == [
        date(2024, 2, 28),
        date(2024, 2, 29),
        date(2024, 3, 1),
    ]
    assert plan_core.days_between(date(2024, 3, 1), date(2024, 2, 28)) == []


def lamp_deployment(name: str) -> dict[str, Any]:
    config = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    return next(d for d in config["deployments"] if d["name"] == name)


def test_today_schedule_runs_every_half_hour_from_6_to_2_30_eastern() -> None:
    import asyncio

    from prefect.server.schemas.schedules import CronSchedule

    (spec,) = lamp_deployment("lamp-today")["schedules"]
    schedule = CronSchedule(cron=spec["cron"], timezone=spec["timezone"])
    start = datetime(2024, 2, 7, 5, 0, tzinfo=EASTERN)
    runs = [r.astimezone(EASTERN) for r in asyncio.run(schedule.get_dates(n=42, start=start))]
    local = [r.strftime("%H:%M") for r in runs]
    # 06:00 ... 23:30 (36 runs), then 00:00 ... 02:30 (6 runs), then 06:00 the next morning
    assert local[0] == "06:00"
    assert local[35:] == ["23:30", "00:00", "00:30", "01:00", "01:30", "02:00", "02:30"]
    # every run of the window ingests the service date that began that morning
    assert {service_date_at(r) for r in runs} == {date(2024, 2, 7)}
    assert asyncio.run(schedule.get_dates(n=1, start=runs[-1] + timedelta(minutes=1)))[
        0
    ].astimezone(EASTERN) == datetime(2024, 2, 8, 6, 0, tzinfo=EASTERN)
