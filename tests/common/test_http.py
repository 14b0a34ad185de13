"""The HTTP session retries what is worth retrying, honours Retry-After, then gives up clearly."""

from __future__ import annotations

import socket
import time

import pytest
from pytest_httpserver import HTTPServer

from tasks.common import http


@pytest.mark.usefixtures("fast_http")
def test_503_is_retried_then_succeeds(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request("/data").respond_with_data("busy", status=503)
    httpserver.expect_ordered_request("/data").respond_with_data("busy", status=503)
    httpserver.expect_ordered_request("/data").respond_with_data("payload")
    response = http.get(http.session(), httpserver.url_for("/data"))
    assert response.text == "payload"
    assert len(httpserver.log) == 3


def test_429_waits_for_retry_after_then_succeeds(
    httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # no exponential backoff and no jitter: any delay comes from Retry-After alone
    monkeypatch.setenv("PIPELINES_HTTP_BACKOFF_FACTOR", "0")
    monkeypatch.setenv("PIPELINES_HTTP_BACKOFF_JITTER", "0")
    httpserver.expect_ordered_request("/data").respond_with_data(
        "slow down", status=429, headers={"Retry-After": "1"}
    )
    httpserver.expect_ordered_request("/data").respond_with_data("payload")
    started = time.monotonic()
    response = http.get(http.session(), httpserver.url_for("/data"))
    assert response.text == "payload"
    assert time.monotonic() - started >= 0.9
    assert len(httpserver.log) == 2


def test_retry_after_is_capped(httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIPELINES_HTTP_BACKOFF_FACTOR", "0")
    monkeypatch.setenv("PIPELINES_HTTP_BACKOFF_JITTER", "0")
    monkeypatch.setenv("PIPELINES_HTTP_BACKOFF_MAX", "0.2")
    httpserver.expect_ordered_request("/data").respond_with_data(
        "", status=429, headers={"Retry-After": "3600"}
    )
    httpserver.expect_ordered_request("/data").respond_with_data("payload")
    started = time.monotonic()
    assert http.get(http.session(), httpserver.url_for("/data")).text == "payload"
    assert time.monotonic() - started < 5


@pytest.mark.usefixtures("fast_http")
def test_gives_up_after_budget_with_url_and_status(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/down").respond_with_data("down", status=503)
    url = httpserver.url_for("/down")
    with pytest.raises(http.HttpSourceError) as info:
        http.get(http.session(), url)
    assert info.value.status == 503
    assert info.value.url == url
    assert str(info.value) == f"GET {url} failed: HTTP 503 SERVICE UNAVAILABLE after 4 attempt(s)"
    assert len(httpserver.log) == 4  # 1 try + 3 retries (PIPELINES_HTTP_RETRIES=3)


@pytest.mark.usefixtures("fast_http")
def test_404_is_not_retried(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/missing").respond_with_data("no", status=404)
    with pytest.raises(http.HttpSourceError) as info:
        http.get(http.session(), httpserver.url_for("/missing"))
    assert info.value.status == 404
    assert len(httpserver.log) == 1


def test_expected_non_200_status_is_returned(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/missing").respond_with_data("no", status=404)
    response = http.get(http.session(), httpserver.url_for("/missing"), ok=(200, 404))
    assert response.status_code == 404


@pytest.mark.usefixtures("fast_http")
def test_connection_refused_becomes_source_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/x"
    with pytest.raises(http.HttpSourceError, match=f"GET {url} failed: ConnectionError") as info:
        http.get(http.session(), url)
    assert info.value.status is None


def test_user_agent_names_the_project(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/ua").respond_with_data("ok")
    http.get(http.session(), httpserver.url_for("/ua"))
    agent = httpserver.log[0][0].headers["User-Agent"]
    assert agent.startswith("prefect-data-pipelines/")


def test_extra_headers_and_custom_retry_statuses(httpserver: HTTPServer, fast_http: None) -> None:
    httpserver.expect_ordered_request("/q", headers={"X-App-Token": "t"}).respond_with_data(
        "", status=202
    )
    httpserver.expect_ordered_request("/q", headers={"X-App-Token": "t"}).respond_with_data("[]")
    sess = http.session(retry_statuses={202, 429}, headers={"X-App-Token": "t"})
    assert http.get(sess, httpserver.url_for("/q")).text == "[]"
