"""The LAMP flows under a real Prefect server: S3 via moto, sources via a local HTTP server."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tasks.common import aws
from tasks.common.settings import get_settings
from tasks.transit.service_core import service_date_at
from tests.conftest import SAMPLE_DATA

DAY = date(2024, 2, 7)
LAMP = "/lamp"
TOKEN = "2024-02-08T09:00:00Z"
PARQUET = (SAMPLE_DATA / "lamp" / "2024-02-07-subway-on-time-performance-v1.parquet").read_bytes()
GTFS_ZIP = (SAMPLE_DATA / "lamp" / "gtfs-20240207-subset.zip").read_bytes()
GOLDEN = Path(__file__).parent / "golden"

pytestmark = pytest.mark.usefixtures("prefect_harness")


@dataclass
class Sources:
    """The LAMP + GTFS endpoints, with per-test overrides: path → (status, body)."""

    server: HTTPServer
    days: dict[date, str] = field(default_factory=lambda: {DAY: TOKEN})
    replies: dict[str, tuple[int, bytes]] = field(default_factory=dict)

    def requests_to(self, suffix: str) -> int:
        return sum(1 for request, _ in self.server.log if request.path.endswith(suffix))

    def url(self, path: str) -> str:
        return self.server.url_for(path)


def parquet_path(day: date) -> str:
    return f"{LAMP}/{day.isoformat()}-subway-on-time-performance-v1.parquet"


@pytest.fixture
def sources(httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> Sources:
    src = Sources(httpserver)

    def handle(request: Request) -> Response:
        if request.path in src.replies:
            status, body = src.replies[request.path]
            return Response(body, status=status)
        if request.path == f"{LAMP}/index.csv":
            lines = ["size_bytes,last_modified,service_date,file_url"]
            for day, token in sorted(src.days.items()):
                lines.append(f"1,{token},{day.isoformat()},{src.url(parquet_path(day))}")
            return Response("\n".join(lines) + "\n", content_type="text/csv")
        if request.path == parquet_path(DAY):
            return Response(PARQUET, content_type="application/octet-stream")
        if request.path == "/gtfs/archived_feeds.txt":
            text = (
                "feed_start_date,feed_end_date,feed_version,archive_url\n"
                f"20240207,20240207,subset-20240207,{src.url('/gtfs/subset.zip')}\n"
            )
            return Response(text, content_type="text/plain")
        if request.path == "/gtfs/subset.zip":
            return Response(GTFS_ZIP, content_type="application/zip")
        return Response("not found", status=404)

    httpserver.expect_request("").respond_with_handler(handle)  # every path
    monkeypatch.setenv("PIPELINES_LAMP_BASE_URL", src.url(LAMP))
    monkeypatch.setenv("PIPELINES_GTFS_ARCHIVE_INDEX_URL", src.url("/gtfs/archived_feeds.txt"))
    return src


@pytest.fixture
def buckets(aws: None) -> Any:
    s3 = aws_client()
    settings = get_settings()
    s3.create_bucket(Bucket=settings.lamp_bucket)
    s3.create_bucket(Bucket=settings.gtfs_bucket)
    return s3


def aws_client() -> Any:
    return aws.s3()


def keys(bucket: str, prefix: str = "") -> list[str]:
    pages = aws_client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


def body(bucket: str, key: str) -> bytes:
    return bytes(aws_client().get_object(Bucket=bucket, Key=key)["Body"].read())


def ingest(**params: Any) -> Any:
    from flows.lamp import lamp_ingest_day

    return lamp_ingest_day(**params, return_state=True)


def backfill(**params: Any) -> Any:
    from flows.lamp import lamp_backfill

    return lamp_backfill(**params, return_state=True)


def test_a_day_is_written_stop_by_stop_and_a_rerun_writes_nothing(
    sources: Sources, buckets: Any
) -> None:
    settings = get_settings()
    first = ingest(service_date=DAY)
    assert first.is_completed(), first.message
    report = first.result()
    assert report["status"] == "ingested"
    assert (report["stops"], report["stops_written"], report["stops_unchanged"]) == (261, 261, 0)
    assert (report["source_rows"], report["events_written"]) == (10_000, 16_576)
    assert report["gtfs_feed"] == "subset-20240207 (20240207..20240207)"
    assert report["gtfs_cache"] == "built"
    assert set(report["seconds"]) >= {
        "fetch_index",
        "fetch_parquet",
        "gtfs",
        "process",
        "upload",
        "state",
    }

    written = keys(settings.lamp_bucket, "Events-lamp/daily-data/")
    assert len(written) == 261
    key = "Events-lamp/daily-data/70084/Year=2024/Month=2/Day=7/events.csv"
    assert body(settings.lamp_bucket, key) == (GOLDEN / "70084.csv").read_bytes()
    head = aws_client().head_object(Bucket=settings.lamp_bucket, Key=key)
    assert head["ContentType"] == "text/csv; charset=utf-8"
    state = json.loads(body(settings.lamp_bucket, "Events-lamp/_state/daily/2024-02-07.json"))
    assert state == {
        "version": 1,
        "service_date": "2024-02-07",
        "source_last_modified": TOKEN,
        "gtfs_feed": "subset-20240207",
        "source_rows": 10_000,
        "events_written": 16_576,
        "stops": 261,
    }
    assert keys(settings.gtfs_bucket) == ["lamp/gtfs-compact/v1/20240207/subset-20240207.parquet"]

    second = ingest(service_date=DAY)
    assert second.is_completed(), second.message
    again = second.result()
    assert (again["stops_written"], again["stops_unchanged"]) == (0, 261)
    assert again["gtfs_cache"] == "hit"
    assert sources.requests_to("/gtfs/subset.zip") == 1  # the zip is never fetched again
    assert body(settings.lamp_bucket, key) == (GOLDEN / "70084.csv").read_bytes()


def test_todays_file_not_published_yet_is_a_completed_no_op(sources: Sources, buckets: Any) -> None:
    today = service_date_at(datetime.now(UTC))
    state = ingest(service_date=today)
    assert state.is_completed(), state.message
    report = state.result()
    assert report["status"] == "not_published"
    assert report["message"] == "today's LAMP file is not published yet (404): nothing to do"
    assert keys(get_settings().lamp_bucket) == []


def test_a_404_for_a_past_day_fails_with_url_and_status(sources: Sources, buckets: Any) -> None:
    state = ingest(service_date=date(2024, 2, 6))
    assert state.is_failed()
    url = sources.url(parquet_path(date(2024, 2, 6)))
    assert f"GET {url} failed: HTTP 404" in str(state.message)
    assert keys(get_settings().lamp_bucket) == []


def test_a_server_error_fails_after_retries_with_url_and_status(
    sources: Sources, buckets: Any, fast_http: None
) -> None:
    sources.replies[parquet_path(DAY)] = (500, b"boom")
    state = ingest(service_date=DAY)
    assert state.is_failed()
    url = sources.url(parquet_path(DAY))
    assert f"GET {url} failed: HTTP 500" in str(state.message)
    assert "after 4 attempt(s)" in str(state.message)
    # the session's 4 attempts, then the task's one retry (a 5xx is transient)
    assert sources.requests_to(parquet_path(DAY)) == 8
    assert keys(get_settings().lamp_bucket) == []


def test_a_gtfs_zip_without_stop_times_fails_once_naming_the_file(
    sources: Sources, buckets: Any
) -> None:
    import io
    import zipfile

    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("trips.txt", "route_id,service_id,trip_id,direction_id\n")
    sources.replies["/gtfs/subset.zip"] = (200, archive.getvalue())
    state = ingest(service_date=DAY)
    assert state.is_failed()
    assert "GTFS zip lacks stop_times.txt" in str(state.message)
    assert sources.requests_to("/gtfs/subset.zip") == 1  # permanent: downloaded once
    assert keys(get_settings().lamp_bucket) == []


def test_a_corrupt_parquet_fails_clearly_and_writes_nothing(sources: Sources, buckets: Any) -> None:
    sources.replies[parquet_path(DAY)] = (200, b"PAR1 this is not parquet")
    state = ingest(service_date=DAY)
    assert state.is_failed()
    assert "not a readable Parquet file (24 bytes)" in str(state.message)
    assert keys(get_settings().lamp_bucket) == []


def test_backfill_dry_run_shows_the_plan_and_fetches_no_parquet(
    sources: Sources, buckets: Any
) -> None:
    state = backfill(start=date(2024, 2, 5), end=date(2024, 2, 8), dry_run=True)
    assert state.is_completed(), state.message
    plan = state.result()
    assert (plan["days"], plan["ingest"], plan["unchanged"], plan["not_in_index"]) == (4, 1, 0, 3)
    assert plan["ranges"] == [
        {"start": "2024-02-05", "end": "2024-02-06", "action": "not_in_index", "days": 2},
        {"start": "2024-02-07", "end": "2024-02-07", "action": "ingest", "days": 1},
        {"start": "2024-02-08", "end": "2024-02-08", "action": "not_in_index", "days": 1},
    ]
    assert plan["gtfs_feeds_to_build"] == ["subset-20240207 (20240207..20240207)"]
    assert plan["expected_requests"]["lamp_parquet_downloads"] == 1
    assert sources.requests_to(".parquet") == 0
    assert keys(get_settings().lamp_bucket) == []


def test_backfill_runs_each_changed_day_once_and_skips_unchanged_ones(
    sources: Sources, buckets: Any, fast_http: None
) -> None:
    sources.days[date(2024, 2, 6)] = "2024-02-07T09:00:00Z"  # listed, but its file is a 500
    sources.replies[parquet_path(date(2024, 2, 6))] = (500, b"boom")
    first = backfill(start=date(2024, 2, 6), end=date(2024, 2, 7), max_concurrency=2)
    assert first.is_failed()
    assert "LAMP backfill: 1 day(s) failed: 2024-02-06" in str(first.message)
    # the good day was ingested anyway, and its state stored
    assert len(keys(get_settings().lamp_bucket, "Events-lamp/daily-data/")) == 261

    del sources.days[date(2024, 2, 6)]
    second = backfill(start=date(2024, 2, 6), end=date(2024, 2, 7))
    assert second.is_completed(), second.message
    assert second.result() == {
        "days": 2,
        "skipped_unchanged": 1,
        "not_in_index": 1,
        "runs": {},
        "failed_days": [],
    }
    forced = backfill(start=date(2024, 2, 7), end=date(2024, 2, 7), force=True)
    assert forced.is_completed(), forced.message
    assert forced.result()["runs"] == {"ingested": 1}
    assert sources.requests_to(parquet_path(DAY)) == 2


def test_backfill_fans_out_one_idempotent_deployment_run_per_day(
    sources: Sources, buckets: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.states import Completed

    import flows.lamp

    calls: list[dict[str, Any]] = []

    def run_deployment_elsewhere(name: str, **kwargs: Any) -> Any:
        """What run_deployment(timeout=0) returns: a flow run that a worker runs elsewhere
        (here: one already Completed, as the backfill watches it end)."""
        calls.append({"name": name, **kwargs})
        with get_client(sync_client=True) as client:
            return client.create_flow_run(
                flows.lamp.lamp_ingest_day, parameters=kwargs["parameters"], state=Completed()
            )

    monkeypatch.setattr(flows.lamp, "run_deployment", run_deployment_elsewhere)
    state = backfill(
        start=date(2024, 2, 7),
        end=date(2024, 2, 8),
        day_deployment="lamp-ingest-day/lamp-backfill-day",
    )
    assert state.is_completed(), state.message
    assert state.result()["runs"] == {"completed": 1}
    (call,) = calls
    assert call["name"] == "lamp-ingest-day/lamp-backfill-day"
    assert call["parameters"] == {
        "service_date": "2024-02-07",
        "skip_unchanged": True,
        "last_modified": TOKEN,
    }
    assert call["timeout"] == 0
    assert call["idempotency_key"].endswith(f":2024-02-07:{TOKEN}")
    assert sources.requests_to(".parquet") == 0  # the day runs fetch their own files
