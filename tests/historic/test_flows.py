"""The historic flows under a real Prefect server: S3 in moto, ArcGIS from a local server."""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from botocore.exceptions import ClientError

from deployments import historic_sample as sample
from deployments.pipelines import historic, lamp
from deployments.sample_server import serve
from tasks.common import aws
from tasks.common.settings import get_settings
from tests.conftest import SAMPLE_DATA

pytestmark = pytest.mark.usefixtures("prefect_harness")
FEB = {"start": date(2024, 2, 1), "end": date(2024, 2, 29)}
BUS = {"start": date(2024, 3, 1), "end": date(2024, 6, 30)}


@dataclass
class Sources:
    """The ArcGIS look-alike (demo items, changeable per test) and the requests it saw."""

    items: dict[str, sample.SampleItem]
    requests: list[str]

    def asked(self, fragment: str) -> int:
        return sum(1 for r in self.requests if fragment in r)


@pytest.fixture
def sources(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sources]:
    items = sample.demo_items(SAMPLE_DATA)
    routes = lamp.sample_routes(SAMPLE_DATA) + sample.arcgis_routes(
        items,
        sample.demo_feeds(SAMPLE_DATA),
        {f"{sample.SAMPLE_FEED}.zip": sample.sample_gtfs_zip},
    )
    with serve(routes=routes) as server:
        for name, value in historic.sample_env(server.base_url).items():
            monkeypatch.setenv(name, value)
        yield Sources(items, server.requests)


@pytest.fixture
def buckets(aws: None) -> None:
    s3 = aws_s3()
    s3.create_bucket(Bucket=get_settings().lamp_bucket)
    s3.create_bucket(Bucket=get_settings().gtfs_bucket)


def aws_s3() -> Any:
    return aws.s3()


def objects(prefix: str = "Events/") -> dict[str, bytes]:
    bucket = get_settings().lamp_bucket
    pages = aws_s3().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
    return {k: aws_s3().get_object(Bucket=bucket, Key=k)["Body"].read() for k in keys}


def backfill(**params: Any) -> Any:
    from flows.historic import historic_backfill

    return historic_backfill(**params, return_state=True)


def test_rapid_backfill_writes_the_month_and_a_rerun_uploads_nothing(
    sources: Sources, buckets: None
) -> None:
    first = backfill(source="rapid", years=[2024], **FEB)
    assert first.is_completed(), first.message
    report = first.result()
    assert (report["runs"], report["objects_written"], report["events"]) == ({"done": 1}, 110, 444)
    stored = objects("Events/monthly-data/")
    assert len(stored) == 110
    key = "Events/monthly-data/70094/Year=2024/Month=2/events.csv.gz"
    lines = gzip.decompress(stored[key]).decode().splitlines()
    assert lines[0] == (
        "service_date,route_id,trip_id,direction_id,stop_id,stop_sequence,vehicle_id,"
        "vehicle_label,event_type,event_time,scheduled_headway,scheduled_tt"
    )
    assert lines[1] == (
        "2024-02-07,Red,60746249-20:45-HarvardParkSuspend,1,70094,1,G-10012,1712,DEP,"
        "2024-02-07 05:17:49,,0"
    )
    head = aws_s3().head_object(Bucket=get_settings().lamp_bucket, Key=key)
    assert head["ContentType"] == "application/gzip"
    marker = json.loads(objects("Events/_state/")["Events/_state/historic/rapid/2024-02.json"])
    assert marker == {
        "version": 1,
        "source": "rapid",
        "month": "2024-02",
        "item_id": sample.RAPID_IDS[2024],
        "item_modified": sample.SAMPLE_MODIFIED,
        "routes": None,
        "status": "written",
        "source_rows": 444,
        "events": 444,
        "files": 110,
        "rows_rejected": {},
        "enrichment_warnings": {},
    }
    assert sources.asked("/data") == 1

    # unchanged item: the month is done, the archive is not even downloaded
    again = backfill(source="rapid", years=[2024], **FEB)
    assert again.is_completed(), again.message
    assert (again.result()["months_done"], again.result()["runs"]) == (1, {})
    assert sources.asked("/data") == 1

    # forced: processed again, every object's bytes unchanged, nothing uploaded
    forced = backfill(source="rapid", years=[2024], force=True, **FEB)
    assert forced.is_completed(), forced.message
    assert (forced.result()["objects_written"], forced.result()["objects_unchanged"]) == (0, 110)
    assert objects("Events/monthly-data/") == stored


def test_a_failed_month_is_retried_alone(
    sources: Sources, buckets: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    puts: list[str] = []

    def refuse_june(params: dict[str, Any], **_: Any) -> None:
        puts.append(params["Key"])
        if "/Month=6/" in params["Key"] and refuse["on"]:
            error: Any = {
                "Error": {"Code": "AccessDenied", "Message": "no"},
                "ResponseMetadata": {"HTTPStatusCode": 403},
            }
            raise ClientError(error, "PutObject")

    refuse = {"on": True}
    aws_s3().meta.events.register("provide-client-params.s3.PutObject", refuse_june)
    try:
        first = backfill(source="bus", **BUS)
        assert first.is_failed()
        assert "historic bus backfill: 1 item(s) failed: bus 2024" in str(first.message)
        assert "1 month(s) failed: 2024-06: " in str(first.message)
        markers = sorted(objects("Events/_state/"))
        assert markers == [f"Events/_state/historic/bus/2024-0{m}.json" for m in (3, 4, 5)]
        march = {k: v for k, v in objects("Events/monthly-bus-data/").items() if "/Month=3/" in k}
        assert len(march) == 10

        refuse["on"] = False
        puts.clear()
        second = backfill(source="bus", **BUS)
        assert second.is_completed(), second.message
        report = second.result()
        assert (report["months_to_process"], report["months_done"]) == (1, 3)
        # only June's files and June's marker were written: the other months were not redone
        assert {k.split("/")[-2] for k in puts if k.startswith("Events/monthly")} == {"Month=6"}
        assert [k for k in puts if "_state" in k] == ["Events/_state/historic/bus/2024-06.json"]
        assert {
            k: v for k, v in objects("Events/monthly-bus-data/").items() if "/Month=3/" in k
        } == march
    finally:
        aws_s3().meta.events.unregister("provide-client-params.s3.PutObject", refuse_june)


def test_a_changed_item_is_processed_again(sources: Sources, buckets: None) -> None:
    assert backfill(source="bus", **BUS).is_completed()
    sources.items[sample.BUS_IDS[2024]].modified += 1000
    again = backfill(source="bus", **BUS)
    assert again.is_completed(), again.message
    report = again.result()
    assert (report["months_to_process"], report["objects_written"]) == (4, 0)
    assert report["objects_unchanged"] == 18
    assert sources.asked("/data") == 2
    doc = json.loads(objects()["Events/_state/historic/bus/2024-03.json"])
    assert doc["item_modified"] == sample.SAMPLE_MODIFIED + 1000


def test_a_dry_run_shows_the_plan_and_downloads_nothing(sources: Sources, buckets: None) -> None:
    state = backfill(
        source="bus", years=[2024], start=date(2024, 5, 15), end=date(2024, 6, 1), dry_run=True
    )
    assert state.is_completed(), state.message
    plan = state.result()
    assert plan["items"] == [
        {
            "item": "bus 2024",
            "item_id": sample.BUS_IDS[2024],
            "item_modified": "2024-05-29T16:26:40Z",
            "size_bytes": len(sources.items[sample.BUS_IDS[2024]].body()),
            "months_to_process": ["2024-05", "2024-06"],
            "months_done": [],
            "reasons": {"2024-05": "not written yet", "2024-06": "not written yet"},
        }
    ]
    assert plan["expected_downloads"] == {
        "archives": 1,
        "bytes": len(sources.items[sample.BUS_IDS[2024]].body()),
        "item_metadata_requests": 1,
        "gtfs_archive_index": 1,
    }
    assert sources.asked("/data") == 0
    assert objects() == {}


def test_the_ferry_export_is_processed_month_by_month(sources: Sources, buckets: None) -> None:
    state = backfill(source="ferry")  # every month of the export
    assert state.is_completed(), state.message
    keys = sorted(objects("Events/monthly-ferry-data/"))
    assert (
        keys[0]
        == "Events/monthly-ferry-data/Boat-F1|0|Boat-Hingham/Year=2024/Month=5/events.csv.gz"
    )
    assert len(keys) == 8
    assert sources.asked("/api/download/v1/items/") == 1  # the export refresh
    again = backfill(source="ferry")
    assert again.is_completed(), again.message
    assert (again.result()["objects_written"], again.result()["events"]) == (0, 0)


def test_a_year_of_aggregates_is_reported_and_its_months_marked(
    sources: Sources, buckets: None
) -> None:
    from flows.historic import historic_year

    state = historic_year(
        source="rapid", year=2016, months=["2016-01", "2016-02"], return_state=True
    )
    assert state.is_completed(), state.message
    report = state.result()
    assert report["files"] == [
        {
            "name": "HRTravelTimesQ1_16.csv",
            "status": "skipped",
            "rows": 0,
            "reason": "not an events file: travel-time/headway aggregates, not ARR/DEP events "
            "(columns: service_date, from_stop_id, to_stop_id, route_id, direction_id, "
            "start_time_sec, end_time_sec, travel_time_sec, ...)",
        }
    ]
    assert [(m["month"], m["status"]) for m in report["months"]] == [
        ("2016-01", "no_data"),
        ("2016-02", "no_data"),
    ]
    assert sorted(objects()) == [
        "Events/_state/historic/rapid/2016-01.json",
        "Events/_state/historic/rapid/2016-02.json",
    ]


def test_without_gtfs_the_columns_are_empty_and_the_events_counted(
    sources: Sources, buckets: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.historic import historic_year

    index = os.environ["PIPELINES_HISTORIC_GTFS_ARCHIVE_INDEX_URL"]
    monkeypatch.setenv("PIPELINES_HISTORIC_GTFS_ARCHIVE_INDEX_URL", index + ".gone")  # a 404
    state = historic_year(source="ferry", months=["2024-05"], return_state=True)
    assert state.is_completed(), state.message
    (month,) = state.result()["months"]
    assert month["enrichment_warnings"] == {"gtfs_index_unavailable": 4}
    body = objects()[
        "Events/monthly-ferry-data/Boat-F1|1|Boat-Long/Year=2024/Month=5/events.csv.gz"
    ]
    assert gzip.decompress(body).decode().splitlines() == [
        "service_date,route_id,trip_id,direction_id,stop_id,stop_sequence,vehicle_id,"
        "vehicle_label,event_type,event_time,scheduled_headway,scheduled_tt,vehicle_consist",
        "2024-05-06,Boat-F1,F1-0506-1,1,Boat-Long,,F1-A,,ARR,2024-05-06 07:39:00,,2100,",
    ]


def test_a_gtfs_source_that_is_down_fails_the_run_before_any_month_is_marked(
    sources: Sources, buckets: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.historic import historic_year

    monkeypatch.setenv("PIPELINES_HISTORIC_GTFS_ARCHIVE_INDEX_URL", "http://127.0.0.1:9/feeds.txt")
    monkeypatch.setenv("PIPELINES_HTTP_RETRIES", "0")
    state = historic_year(source="ferry", months=["2024-05"], return_state=True)
    assert state.is_failed()
    assert "GET http://127.0.0.1:9/feeds.txt failed: ConnectionError" in str(state.message)
    assert objects() == {}  # retried by the next run, with GTFS


def test_routes_do_not_apply_to_rapid_transit() -> None:
    from flows.historic import _routes
    from tasks.historic.plan_core import PlanError

    assert _routes("bus", [" 28", "1", "1"]) == ("1", "28")
    with pytest.raises(
        PlanError, match=r"^routes do not apply to rapid transit: its files are per stop"
    ):
        _routes("rapid", ["Red"])


def test_on_ecs_the_backfill_submits_one_idempotent_run_per_item(
    sources: Sources, buckets: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.states import Completed

    import flows.historic

    calls: list[dict[str, Any]] = []

    def run_deployment_elsewhere(name: str, **kwargs: Any) -> Any:
        """What run_deployment(timeout=0) returns: a flow run a worker runs elsewhere (here
        already Completed, as the backfill watches it end)."""
        calls.append({"name": name, **kwargs})
        with get_client(sync_client=True) as client:
            return client.create_flow_run(
                flows.historic.historic_year, parameters=kwargs["parameters"], state=Completed()
            )

    monkeypatch.setattr(flows.historic, "run_deployment", run_deployment_elsewhere)
    state = backfill(
        source="bus",
        years=[2024],
        routes=["01", "28"],
        year_deployment="historic-year/historic-year",
        **BUS,
    )
    assert state.is_completed(), state.message
    assert state.result()["runs"] == {"completed": 1}
    (call,) = calls
    assert call["name"] == "historic-year/historic-year"
    assert call["parameters"] == {
        "source": "bus",
        "year": 2024,
        "months": ["2024-03", "2024-04", "2024-05", "2024-06"],
        "last_month": None,
        "routes": ["01", "28"],
        "force": False,
        "month_concurrency": 2,
    }
    assert call["timeout"] == 0
    assert call["idempotency_key"].endswith(f":bus 2024:{sample.SAMPLE_MODIFIED}")
    assert sources.asked("/data") == 0  # the year run downloads its own archive
