"""The AWS client factory: endpoint, region and retry settings; one shared client per setting."""

from __future__ import annotations

import threading

import pytest

from tasks.common import aws


@pytest.mark.usefixtures("aws")
def test_client_is_shared_across_threads_until_settings_change(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = aws.client("s3")
    assert aws.client("s3") is first
    other: list[object] = []
    thread = threading.Thread(target=lambda: other.append(aws.client("s3")))
    thread.start()
    thread.join()
    assert other[0] is first
    monkeypatch.setenv("PIPELINES_AWS_REGION", "eu-west-1")
    moved = aws.client("s3")
    assert moved is not first
    assert moved.meta.region_name == "eu-west-1"


def test_client_factory_honours_endpoint_and_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("PIPELINES_AWS_RETRY_MODE", "adaptive")
    monkeypatch.setenv("PIPELINES_AWS_MAX_ATTEMPTS", "7")
    client = aws.client("sqs")
    assert client.meta.endpoint_url == "http://127.0.0.1:9"
    assert client.meta.config.retries == {"mode": "adaptive", "total_max_attempts": 7}
