"""The HTTP session retries what is worth retrying, honours Retry-After, then gives up clearly."""

from __future__ import annotations

import socket
import threading
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


def test_a_redirect_to_another_host_never_carries_the_secret(httpserver: HTTPServer) -> None:
    other = HTTPServer(host="127.0.0.1", port=0)  # a second host: localhost vs 127.0.0.1
    other.expect_request("/landing").respond_with_data("there")
    other.start()
    try:
        httpserver.expect_request("/start").respond_with_data(
            "", status=302, headers={"Location": other.url_for("/landing")}
        )
        httpserver.expect_request("/same-host").respond_with_data(
            "", status=302, headers={"Location": "/here"}
        )
        httpserver.expect_request("/here").respond_with_data("here")
        sess = http.session(secret_headers={"X-App-Token": "tok-secret"})
        start = httpserver.url_for("/start").replace("127.0.0.1", "localhost")
        assert http.get(sess, start).text == "there"
        ((landing, _),) = other.log
        assert "X-App-Token" not in landing.headers
        assert http.get(sess, httpserver.url_for("/same-host")).text == "here"
        here = [r for r, _ in httpserver.log if r.path == "/here"]
        assert here[0].headers["X-App-Token"] == "tok-secret"  # same host keeps it
    finally:
        other.stop()


def test_a_secret_is_never_sent_over_plain_http_to_a_remote_host() -> None:
    sess = http.session(secret_headers={"X-App-Token": "tok-secret"})
    with pytest.raises(http.InsecureSecretError, match=r"http://data\.example\.org: use https"):
        sess.get("http://data.example.org/resource/x.json")
    assert http.is_loopback("127.0.0.1")
    assert http.is_loopback("::1")
    assert http.is_loopback("localhost")
    assert not http.is_loopback("10.0.0.1")


def test_a_trickling_source_fails_within_the_download_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A server that sends one byte every 0.2 s never trips the read timeout."""
    monkeypatch.setenv("PIPELINES_HTTP_DOWNLOAD_DEADLINE", "1.5")
    monkeypatch.setenv("PIPELINES_HTTP_READ_TIMEOUT", "5")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    stop = threading.Event()

    def trickle() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
            while not stop.is_set():
                try:
                    conn.sendall(b"x")
                except OSError:
                    return
                time.sleep(0.2)

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.getsockname()[1]}/slow.parquet"
    started = time.monotonic()
    try:
        with pytest.raises(
            http.DownloadDeadlineError, match=r"past the 1\.5-second download deadline"
        ):
            http.get(http.session(), url)
    finally:
        stop.set()
        server.close()
    assert time.monotonic() - started < 4


def test_a_response_larger_than_the_limit_is_refused(
    httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIPELINES_HTTP_MAX_DOWNLOAD_BYTES", "1000")
    httpserver.expect_request("/big").respond_with_data(b"x" * 5000)
    with pytest.raises(
        http.DownloadTooLargeError, match="5,000 bytes announced, more than the 1,000"
    ):
        http.get(http.session(), httpserver.url_for("/big"))
