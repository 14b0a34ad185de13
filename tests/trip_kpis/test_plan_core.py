"""Dates of a run (inclusive ranges, yesterday in the KPI zone), rebuild dates, state keys."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from tasks.trip_kpis import plan_core


@pytest.mark.parametrize(
    ("scheduled", "zone", "days_ago", "expected"),
    [
        (datetime(2024, 3, 10, 3, 0, tzinfo=UTC), "UTC", 1, date(2024, 3, 9)),
        (datetime(2024, 3, 10, 0, 0, tzinfo=UTC), "UTC", 1, date(2024, 3, 9)),
        (datetime(2024, 3, 10, 3, 30, tzinfo=UTC), "UTC", 2, date(2024, 3, 8)),
        (datetime(2024, 3, 10, 3, 0), "UTC", 1, date(2024, 3, 9)),  # naive = UTC
        # 03:00 UTC is still the evening before in New York (EST, UTC-5)
        (datetime(2024, 3, 10, 3, 0, tzinfo=UTC), "America/New_York", 1, date(2024, 3, 8)),
        (datetime(2024, 7, 10, 4, 0, tzinfo=UTC), "America/New_York", 1, date(2024, 7, 9)),  # EDT
        (datetime(2024, 3, 10, 3, 0, tzinfo=UTC), "UTC", 0, date(2024, 3, 10)),
    ],
)
def test_the_default_date_is_days_ago_in_the_kpi_time_zone(
    scheduled: datetime, zone: str, days_ago: int, expected: date
) -> None:
    assert plan_core.default_day(scheduled, zone, days_ago) == expected


def test_ranges_include_both_ends() -> None:
    assert plan_core.days_between(date(2024, 2, 28), date(2024, 3, 1)) == [
        date(2024, 2, 28),
        date(2024, 2, 29),
        date(2024, 3, 1),
    ]
    assert plan_core.days_between(date(2024, 3, 1), date(2024, 3, 1)) == [date(2024, 3, 1)]


def test_bad_ranges_are_refused_before_anything_runs() -> None:
    with pytest.raises(ValueError, match="end 2024-02-28 is before start 2024-03-01"):
        plan_core.days_between(date(2024, 3, 1), date(2024, 2, 28))
    with pytest.raises(ValueError, match="is 3,661 days; at most 3,660 per run"):
        plan_core.days_between(date(2000, 1, 1), date(2010, 1, 8))


def test_a_rebuild_writes_the_dates_with_trips_and_every_date_of_a_given_range() -> None:
    found = ["2024-02-27", "2024-03-01", "2024-03-04"]
    assert plan_core.rebuild_dates(found, None, None) == found
    assert plan_core.rebuild_dates(found, date(2024, 3, 1), None) == ["2024-03-01", "2024-03-04"]
    assert plan_core.rebuild_dates(found, None, date(2024, 3, 1)) == ["2024-02-27", "2024-03-01"]
    assert plan_core.rebuild_dates(found, date(2024, 3, 1), date(2024, 3, 3)) == [
        "2024-03-01",
        "2024-03-02",
        "2024-03-03",
    ]


def test_rebuild_writes_are_grouped_by_month() -> None:
    dates = ["2024-03-01", "2024-02-28", "2024-02-29", "2025-02-01"]
    assert plan_core.month_chunks(dates) == [
        ["2024-02-28", "2024-02-29"],
        ["2024-03-01"],
        ["2025-02-01"],
    ]


def test_migration_checkpoints_are_per_table_and_segment_count() -> None:
    assert (
        plan_core.migration_state_key("completed-trips-dev", 3, 8)
        == "pipeline_state/trip-kpis/migration/completed-trips-dev/segment-0003-of-0008.json"
    )
    assert plan_core.migration_state_key("a/../b", 0, 1).startswith(
        "pipeline_state/trip-kpis/migration/a%2F..%2Fb/"
    )


def test_a_checkpoint_records_where_to_continue_and_whether_it_is_done() -> None:
    counts = plan_core.add_counts(plan_core.no_counts(), {**plan_core.no_counts(), "scanned": 5})
    at = datetime(2024, 3, 7, tzinfo=UTC)
    assert plan_core.migration_state({"trip_id": "t9"}, counts, at) == {
        "version": 1,
        "done": False,
        "last_evaluated_key": {"trip_id": "t9"},
        "counts": {
            "scanned": 5,
            "legacy": 0,
            "migrated": 0,
            "changed": 0,
            "unassigned": 0,
            "pages": 0,
        },
        "updated_at": "2024-03-07T00:00:00+00:00",
    }
    assert plan_core.migration_state(None, counts, at)["done"] is True
