"""The I/O tasks on their own (in-process moto): conditional KPI writes, conditional migration."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from prefect.logging import disable_run_logger

from tasks.common import aws, dynamo, s3
from tasks.common.errors import ConflictError
from tasks.trip_kpis import kpi_core, trips_io
from tasks.trip_kpis.kpis_io import write_kpis
from tasks.trip_kpis.sample_core import ANCHOR_TRIPS, trip
from tests.trip_kpis.conftest import Store

AT = datetime(2024, 3, 7, 3, 0, tzinfo=UTC)


def doc_of(day: str, items: Any = ANCHOR_TRIPS) -> dict[str, Any]:
    tally = kpi_core.Tally()
    tally.add(items, ZoneInfo("UTC"))
    return kpi_core.kpi_document(tally.day(day), "UTC", AT)


def test_a_kpi_file_written_meanwhile_by_another_run_is_a_conflict_not_an_overwrite(
    store: Store,
) -> None:
    key = kpi_core.kpi_key("2024-03-01")
    theirs = b'{"written": "by another run"}\n'

    def race(**_: Any) -> None:  # another run writes the file between our read and our put
        aws.s3().meta.events.unregister("before-call.s3.PutObject", race)
        s3.put_bytes(store.bucket, key, theirs, content_type=s3.JSON)

    aws.s3().meta.events.register("before-call.s3.PutObject", race)
    with disable_run_logger(), pytest.raises(ConflictError, match="changed since it was read"):
        write_kpis.fn(store.bucket, [doc_of("2024-03-01")])
    assert store.kpi("2024-03-01") == theirs
    with disable_run_logger():  # the task's retry reads again and writes over the new version
        assert write_kpis.fn(store.bucket, [doc_of("2024-03-01")]) == {"2024-03-01": "written"}
    assert store.kpi("2024-03-01") == kpi_core.kpi_body(doc_of("2024-03-01"))


def test_write_kpis_reports_each_date(store: Store) -> None:
    docs = [doc_of("2024-03-01"), doc_of("2024-03-02")]
    with disable_run_logger():
        assert write_kpis.fn(store.bucket, docs[:1]) == {"2024-03-01": "written"}
        later = [{**d, "generated_at": "2024-03-08T03:00:00Z"} for d in docs]
        assert write_kpis.fn(store.bucket, later) == {
            "2024-03-01": "unchanged",
            "2024-03-02": "written",
        }
    assert store.kpi("2024-03-01") == kpi_core.kpi_body(docs[0])  # the first generated_at kept


def test_the_migration_leaves_an_item_that_changed_since_it_was_read(store: Store) -> None:
    read = [
        trip("m1", "2024-03-02T10:00:00Z", Decimal(1), Decimal(1), None),
        trip("m2", "2024-03-02T11:00:00Z", Decimal(1), Decimal(1), None),
        trip("m3", "2024-03-02T12:00:00Z", Decimal(1), Decimal(1), None),
    ]
    store.load(
        [
            read[0],
            {**read[1], "pickup_date": "2024-03-01"},  # a producer set it meanwhile
            {**read[2], "pickup_datetime": "2024-03-03T09:00:00Z"},  # the trip was corrected
        ]
    )
    counts = trips_io._migrate_page(store.table, read, ZoneInfo("UTC"), dry_run=False)
    assert (counts["legacy"], counts["migrated"], counts["changed"]) == (3, 1, 2)
    stored = {i["trip_id"]: i for p in dynamo.scan_pages(store.table, 0, 1) for i in p.items}
    assert stored["m1"]["pickup_date"] == "2024-03-02"
    assert stored["m2"]["pickup_date"] == "2024-03-01"  # not overwritten
    assert "pickup_date" not in stored["m3"]  # the next run dates it by its new time
