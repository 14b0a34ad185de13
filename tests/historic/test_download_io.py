"""ArcGIS downloads: item metadata, archives streamed under a size and time limit, ferry export."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect.logging import disable_run_logger
from pytest_httpserver import HTTPServer
from werkzeug import Response

from deployments import historic_sample as sample
from deployments.sample_server import serve
from tasks.common import http
from tasks.common.errors import is_permanent
from tasks.common.settings import Settings
from tasks.historic import download_io, sources_core

ITEM = sources_core.item_for("rapid", 2024)


def test_an_archive_is_streamed_to_a_file(httpserver: HTTPServer, tmp_path: Path) -> None:
    body = bytes(range(256)) * 5000
    httpserver.expect_request("/data").respond_with_data(body)
    done = download_io.stream_to_file(httpserver.url_for("/data"), tmp_path / "a.zip", Settings())
    assert (done.size, (tmp_path / "a.zip").read_bytes() == body) == (len(body), True)


def test_an_announced_size_over_the_limit_fails_before_reading(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    httpserver.expect_request("/data").respond_with_data(b"x" * 100)
    url = httpserver.url_for("/data")
    with pytest.raises(http.DownloadTooLargeError) as caught:
        download_io.stream_to_file(url, tmp_path / "a", Settings(historic_download_max_bytes=10))
    assert str(caught.value) == (
        f"GET {url}: 100 bytes announced, more than the 10-byte download limit"
    )
    assert is_permanent(caught.value)


def _chunks(count: int, size: int, pause: float) -> Iterator[bytes]:
    for _ in range(count):
        time.sleep(pause)
        yield b"x" * size


def test_an_unannounced_size_is_checked_while_streaming(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    httpserver.expect_request("/data").respond_with_handler(
        lambda _r: Response(_chunks(5, 40, 0))  # chunked: no Content-Length
    )
    settings = Settings(historic_download_max_bytes=100)
    with pytest.raises(http.DownloadTooLargeError, match="more than the 100-byte download limit"):
        download_io.stream_to_file(httpserver.url_for("/data"), tmp_path / "a", settings)


def test_a_trickling_server_hits_the_deadline(httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_request("/data").respond_with_handler(
        lambda _r: Response(_chunks(20, 10, 0.1))
    )
    settings = Settings(historic_download_deadline_seconds=0.35)
    started = time.monotonic()
    with pytest.raises(http.DownloadDeadlineError, match=r"past the 0\.35-second download"):
        download_io.stream_to_file(httpserver.url_for("/data"), tmp_path / "a", settings)
    assert time.monotonic() - started < 1.5
    assert not is_permanent(http.DownloadDeadlineError("x"))  # retried by the task


def test_item_metadata_and_arcgis_errors() -> None:
    info = sources_core.parse_item(ITEM, {"modified": 1_717_000_000_000, "size": 5, "name": "a"})
    assert (info.modified_iso, info.size, info.name) == ("2024-05-29T16:26:40Z", 5, "a")
    with pytest.raises(sources_core.ItemError) as refused:
        sources_core.parse_item(
            ITEM, {"error": {"code": 403, "message": "You do not have permissions"}}
        )
    assert str(refused.value) == (
        "ArcGIS item 0711756aa5e1400891e79b984a94b495 (rapid 2024): error 403: "
        "You do not have permissions"
    )
    assert is_permanent(refused.value)
    with pytest.raises(sources_core.ItemServerError) as busy:
        sources_core.parse_item(ITEM, {"error": {"code": 500, "message": "busy"}})
    assert not is_permanent(busy.value)
    with pytest.raises(sources_core.ItemError, match="expected an integer `modified`, got '2024'"):
        sources_core.parse_item(ITEM, {"modified": "2024"})


def test_the_item_task_reads_the_metadata_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    item = sample.SampleItem(ITEM.item_id, "MBTA_Rapid_Transit_2024.zip", lambda: b"PK" * 10)
    with serve(routes=sample.arcgis_routes({item.item_id: item}, lambda _b: "", {})) as src:
        monkeypatch.setenv("PIPELINES_HISTORIC_ARCGIS_BASE_URL", src.base_url + sample.ITEMS_PATH)
        with disable_run_logger():
            info = download_io.fetch_item_info.fn(ITEM)
            with pytest.raises(sources_core.ItemError, match="error 400: Item does not exist"):
                download_io.fetch_item_info.fn(sources_core.item_for("rapid", 2019))
    assert (info.modified, info.size, info.name) == (
        sample.SAMPLE_MODIFIED,
        20,
        "MBTA_Rapid_Transit_2024.zip",
    )


def test_the_ferry_export_refresh_waits_while_it_is_busy(monkeypatch: pytest.MonkeyPatch) -> None:
    item = sample.SampleItem(sample.FERRY_ID, "ferry.csv", lambda: b"")
    states = ["Pending", "Processing", "Completed"]
    routes = sample.arcgis_routes({item.item_id: item}, lambda _b: "", {}, export_states=states)
    with serve(routes=routes) as src:
        monkeypatch.setenv("PIPELINES_HISTORIC_ARCGIS_HUB_URL", src.base_url + sample.HUB_PATH)
        monkeypatch.setenv("PIPELINES_HISTORIC_FERRY_EXPORT_POLL_SECONDS", "0.01")
        with disable_run_logger():
            assert download_io.refresh_ferry_export.fn() == "Completed"
        asked = [r for r in src.requests if "/api/download/v1/" in r]
    assert len(asked) == 3
    assert "updateCache=true" in asked[0]
    assert "updateCache" not in asked[1]


def test_a_refresh_still_running_at_the_limit_is_reported_not_fatal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    item = sample.SampleItem(sample.FERRY_ID, "ferry.csv", lambda: b"")
    routes = sample.arcgis_routes({item.item_id: item}, lambda _b: "", {}, ["Pending"])
    with serve(routes=routes) as src:
        monkeypatch.setenv("PIPELINES_HISTORIC_ARCGIS_HUB_URL", src.base_url + sample.HUB_PATH)
        monkeypatch.setenv("PIPELINES_HISTORIC_FERRY_EXPORT_WAIT_SECONDS", "0.05")
        monkeypatch.setenv("PIPELINES_HISTORIC_FERRY_EXPORT_POLL_SECONDS", "0.02")
        with disable_run_logger():
            assert download_io.refresh_ferry_export.fn() == "Pending"


def test_a_request_to_a_missing_item_body_is_a_permanent_http_error(tmp_path: Path) -> None:
    with serve(routes=sample.arcgis_routes({}, lambda _b: "", {})) as src:
        url = sources_core.item_data_url(src.base_url + sample.ITEMS_PATH, ITEM.item_id)
        with pytest.raises(Exception, match="HTTP 404") as caught:
            download_io.stream_to_file(url, tmp_path / "a", Settings())
    assert is_permanent(caught.value)
