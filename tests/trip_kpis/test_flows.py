"""The flows under a real Prefect server, against the template's trips table in moto.

Each scenario runs the real flows and then reads the KPI files back from S3, byte for byte
(`generated_at` is the only part a test cannot know in advance: it is read from the file).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import flows.trip_kpis
from flows.trip_kpis import trip_kpis_backfill, trip_kpis_day, trip_kpis_migrate, trip_kpis_rebuild
from tasks.common import aws, dynamo, s3
from tasks.trip_kpis import kpi_core, plan_core
from tasks.trip_kpis.sample_core import trip
from tests.trip_kpis.conftest import Store
from tests.trip_kpis.expected import (
    D1,
    D2,
    EMPTY,
    KPI_D1,
    KPI_D2_ALL_TRIPS,
    KPI_D2_INDEX_BEFORE_MIGRATION,
    KPI_EMPTY,
    with_generated_at,
)

pytestmark = pytest.mark.usefixtures("prefect_harness", "no_heartbeat")
STAMP = re.compile(rb'"generated_at": "(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z)"')


def completed(state: Any) -> dict[str, Any]:
    assert state.is_completed(), state.message
    return dict(state.result())


def day_run(day: str, **params: Any) -> dict[str, Any]:
    return completed(trip_kpis_day(day=date.fromisoformat(day), **params, return_state=True))


def stored(store: Store, day: str) -> tuple[bytes, str]:
    """A KPI file and its `generated_at`."""
    body = store.kpi(day)
    assert body is not None, f"no KPI file for {day}"
    match = STAMP.search(body)
    assert match is not None, body
    return body, match[1].decode()


def assert_file(store: Store, day: str, expected: bytes) -> str:
    body, generated_at = stored(store, day)
    assert body == with_generated_at(expected, generated_at)
    return generated_at


def test_the_daily_run_writes_the_hand_computed_file_encrypted(anchor: Store) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    summary = day_run(D1, page_size=5)
    generated_at = assert_file(anchor, D1, KPI_D1)
    assert before <= datetime.fromisoformat(generated_at) <= datetime.now(UTC)
    head = aws.s3().head_object(Bucket=anchor.bucket, Key="kpis/date=2024-03-01/kpi.json")
    assert head["ServerSideEncryption"] == "AES256"
    assert head["ContentType"] == "application/json"
    assert anchor.keys() == ["kpis/date=2024-03-01/kpi.json"]
    assert {k: summary[k] for k in ("file", "trips_read", "trip_count", "items_read", "pages")} == {
        "file": "written",
        "trips_read": 12,
        "trip_count": 4,
        "items_read": 12,  # that date's trips only: the index, not a scan
        "pages": 3,  # pages of 5: every page followed
    }
    counted_plus_skipped = summary["trip_count"] + sum(summary["skipped"].values())
    assert counted_plus_skipped == summary["trips_read"] == 12
    assert summary["total_fare"] == "10.70"


def test_a_rerun_keeps_the_same_bytes_until_the_data_changes(anchor: Store) -> None:
    day_run(D1)
    first, first_stamp = stored(anchor, D1)
    etag = s3.head(anchor.bucket, kpi_core.kpi_key(D1))
    assert day_run(D1)["file"] == "unchanged"
    assert stored(anchor, D1)[0] == first
    assert s3.head(anchor.bucket, kpi_core.kpi_key(D1)) == etag  # not even rewritten
    anchor.load([trip("a13", "2024-03-01T13:00:00Z", Decimal("0.1"), Decimal(1), D1)])
    summary = day_run(D1)
    assert (summary["file"], summary["trip_count"], summary["total_fare"]) == (
        "written",
        5,
        "10.80",
    )
    assert stored(anchor, D1)[1] >= first_stamp


def test_a_date_without_trips_gets_a_zero_count_file(anchor: Store) -> None:
    summary = day_run(EMPTY)
    assert_file(anchor, EMPTY, KPI_EMPTY)
    assert (summary["trips_read"], summary["trip_count"], summary["total_fare"]) == (0, 0, None)


def test_without_a_date_the_run_computes_yesterday_in_the_kpi_time_zone(anchor: Store) -> None:
    expected = {(datetime.now(UTC) - timedelta(days=1)).date().isoformat()}
    summary = completed(trip_kpis_day(return_state=True))
    expected.add((datetime.now(UTC) - timedelta(days=1)).date().isoformat())  # midnight race
    assert summary["date"] in expected
    assert summary["timezone"] == "UTC"


def test_legacy_trips_count_after_the_rebuild_and_the_migration_and_then_daily_runs_agree(
    anchor: Store,
) -> None:
    day_run(D1)
    assert day_run(D2)["trips_read"] == 2  # the index does not hold legacy trips yet
    assert_file(anchor, D2, KPI_D2_INDEX_BEFORE_MIGRATION)

    rebuild = completed(trip_kpis_rebuild(segments=3, page_size=4, return_state=True))
    assert_file(anchor, D2, KPI_D2_ALL_TRIPS)
    assert_file(anchor, D1, KPI_D1)
    assert {k: rebuild[k] for k in ("items_read", "dates", "written", "unchanged")} == {
        "items_read": 18,  # the whole table, once, over 3 segments
        "dates": 2,
        "written": 1,  # 2024-03-02 gained its legacy trips
        "unchanged": 1,
    }
    assert (rebuild["unassigned"], rebuild["unassigned_examples"]) == (2, ["b05", "b06"])
    accounted = (
        rebuild["trips_counted"]
        + rebuild["trips_skipped"]
        + rebuild["outside_range"]
        + rebuild["unassigned"]
    )
    assert accounted == rebuild["items_read"]

    migration = completed(trip_kpis_migrate(segments=2, return_state=True))
    assert migration["this_run"] == {
        "scanned": 18,
        "legacy": 4,
        "migrated": 2,
        "changed": 0,
        "unassigned": 2,
        "pages": 2,
    }
    assert migration["complete"] is True
    # b04 is 23:30 in New York on the 1st: 04:30 UTC on the 2nd
    assert dynamo.get_item(anchor.table, {"trip_id": "b04"}) == trip(
        "b04", "2024-03-01T23:30:00-05:00", Decimal("0.05"), Decimal("0.05"), D2
    )
    daily = day_run(D2)  # the index now holds the legacy trips: same bytes as the rebuild
    assert (daily["file"], daily["trips_read"]) == ("unchanged", 4)

    again = completed(trip_kpis_migrate(segments=2, return_state=True))
    assert (again["segments_done_before"], again["this_run"]["scanned"]) == (2, 0)
    assert again["total"]["migrated"] == 2


def test_a_rebuild_of_a_range_writes_zero_count_files_and_leaves_other_dates(
    anchor: Store,
) -> None:
    summary = completed(
        trip_kpis_rebuild(
            segments=2, start=date(2024, 3, 2), end=date(2024, 3, 6), return_state=True
        )
    )
    assert anchor.keys() == [f"kpis/date=2024-03-0{d}/kpi.json" for d in range(2, 7)]
    assert_file(anchor, D2, KPI_D2_ALL_TRIPS)
    assert_file(anchor, EMPTY, KPI_EMPTY)
    assert (summary["dates"], summary["written"], summary["outside_range"]) == (5, 5, 12)


def test_the_backfill_runs_one_daily_run_per_date_of_the_inclusive_range(anchor: Store) -> None:
    summary = completed(
        trip_kpis_backfill(
            start=date(2024, 3, 1), end=date(2024, 3, 6), max_concurrency=3, return_state=True
        )
    )
    assert summary["runs"] == {"written": 6}
    assert summary["failed_days"] == []
    assert anchor.keys() == [f"kpis/date=2024-03-0{d}/kpi.json" for d in range(1, 7)]
    assert_file(anchor, D1, KPI_D1)
    assert_file(anchor, D2, KPI_D2_INDEX_BEFORE_MIGRATION)
    assert_file(anchor, EMPTY, KPI_EMPTY)


def test_the_backfill_can_fan_out_one_idempotent_deployment_run_per_date(
    anchor: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict[str, Any]] = []

    @dataclass
    class FakeRun:
        name: str

    def fake_run_deployment(name: str, **kwargs: Any) -> FakeRun:
        calls.append({"name": name, **kwargs})
        return FakeRun(f"run-{len(calls)}")

    monkeypatch.setattr(flows.trip_kpis, "run_deployment", fake_run_deployment)
    summary = completed(
        trip_kpis_backfill(
            start=date(2024, 3, 1),
            end=date(2024, 3, 2),
            day_deployment=flows.trip_kpis.DAY_DEPLOYMENT,
            return_state=True,
        )
    )
    assert summary["runs"] == {"submitted": 2}
    assert [c["parameters"] for c in calls] == [{"day": "2024-03-01"}, {"day": "2024-03-02"}]
    assert {c["name"] for c in calls} == {"trip-kpis-day/trip-kpis-backfill-day"}
    assert all(c["timeout"] == 0 for c in calls)
    assert calls[0]["idempotency_key"].endswith(":2024-03-01")
    assert anchor.keys() == []  # the deployment runs write the files, not this run


class FailingUpdates:
    """Fault injection on the real (moto) call: the `fail_at`-th UpdateItem raises, as if the
    run's container were stopped there."""

    def __init__(self, fail_at: int) -> None:
        self.fail_at = fail_at
        self.calls = 0

    def __call__(self, **_: Any) -> None:
        self.calls += 1
        if self.calls == self.fail_at:
            raise ValueError("the container was stopped")


def test_an_interrupted_migration_resumes_after_its_last_completed_page(
    sample: Store,
) -> None:
    legacy = [i for i in s3_free_scan(sample.table) if "pickup_date" not in i]
    datable = [i for i in legacy if kpi_core.date_of(i, ZoneInfo("UTC"))[0]]
    assert (len(legacy), len(datable)) == (35, 31)
    fault = FailingUpdates(fail_at=12)
    events = aws.dynamodb().meta.events
    events.register("before-call.dynamodb.UpdateItem", fault)
    first = trip_kpis_migrate(segments=1, page_size=100, return_state=True)
    events.unregister("before-call.dynamodb.UpdateItem", fault)
    assert first.is_failed()
    checkpoint = s3.read_json(sample.bucket, plan_core.migration_state_key(sample.table, 0, 1))
    assert checkpoint is not None
    assert checkpoint["done"] is False
    done_pages = checkpoint["counts"]["pages"]
    assert 0 < done_pages < 7

    resumed = completed(trip_kpis_migrate(segments=1, page_size=100, return_state=True))
    assert resumed["this_run"]["scanned"] == 618 - 100 * done_pages  # finished pages not reread
    assert resumed["total"]["scanned"] == 618  # every item read once over the two runs
    assert resumed["complete"] is True
    after = {i["trip_id"]: i for i in s3_free_scan(sample.table)}
    assert all(after[i["trip_id"]].get("pickup_date") for i in datable)
    assert sum("pickup_date" not in i for i in after.values()) == 4  # the undatable ones


def test_a_dry_run_migration_counts_and_changes_nothing(anchor: Store) -> None:
    summary = completed(trip_kpis_migrate(segments=2, dry_run=True, return_state=True))
    assert summary["this_run"]["legacy"] == 4
    assert (summary["this_run"]["migrated"], summary["complete"]) == (0, False)
    assert sum("pickup_date" not in i for i in s3_free_scan(anchor.table)) == 4
    assert anchor.keys("pipeline_state/") == []


def s3_free_scan(table: str) -> list[dict[str, Any]]:
    """Every item of the table (a plain scan through the shared layer)."""
    return [item for page in dynamo.scan_pages(table, 0, 1) for item in page.items]


def test_kpi_files_are_json_that_analysts_can_read(anchor: Store) -> None:
    day_run(D1)
    doc = json.loads(stored(anchor, D1)[0], parse_float=str)
    assert doc["total_fare"] == "10.70"  # a JSON number, written exactly
    assert list(doc) == [
        "date",
        "timezone",
        "trip_count",
        "total_fare",
        "average_fare",
        "max_fare",
        "min_fare",
        "total_estimated_fare",
        "estimated_minus_actual",
        "mape_percent",
        "mape_trip_count",
        "trips_read",
        "skipped",
        "generated_at",
    ]
