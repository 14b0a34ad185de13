"""Shared fixtures: Prefect test harness, moto (in-process and threaded server), local sources.

The environment is isolated before anything imports Prefect or boto3: a temporary PREFECT_HOME,
no Prefect API/profile of the developer, dummy AWS credentials and no AWS endpoint override.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DATA = ROOT / "deployments" / "sample_data"

_ISOLATED_ENV = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_LOGGING_TO_API_BATCH_INTERVAL": "0.3",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}
_DROP_ENV = (
    "PREFECT_API_URL",
    "PREFECT_API_KEY",
    "PREFECT_PROFILE",
    "AWS_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
)


def pytest_configure(config: pytest.Config) -> None:
    """Isolate Prefect, AWS and the pipelines' settings before any test module is imported."""
    home = tempfile.mkdtemp(prefix="pipelines-tests-prefect-")
    os.environ["PREFECT_HOME"] = home
    os.environ.update(_ISOLATED_ENV)
    for name in _DROP_ENV:
        os.environ.pop(name, None)
    for name in [n for n in os.environ if n.startswith("PIPELINES_")]:
        os.environ.pop(name)
    # task retries without waiting (read when the flow modules are imported, i.e. after this)
    os.environ["PIPELINES_TASK_RETRY_DELAY_SCALE"] = "0"


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """A real Prefect server (SQLite) for the whole session: ~10-20 s once."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """In-process moto for one test (boto3 calls in any thread are intercepted)."""
    from moto import mock_aws

    from tasks.common import aws as aws_factory

    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    aws_factory.clear_cache()
    with mock_aws():
        yield
    aws_factory.clear_cache()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's threaded server on 127.0.0.1 for the session (for subprocesses and workers)."""
    from deployments.local_stack import moto_server

    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def aws_server(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The threaded moto server, wiped, with AWS_ENDPOINT_URL pointing at it for this test."""
    from deployments.local_stack import reset_moto
    from tasks.common import aws as aws_factory

    reset_moto(moto_endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    aws_factory.clear_cache()
    yield moto_endpoint
    aws_factory.clear_cache()
    reset_moto(moto_endpoint)  # moto's state is per process: leave nothing for the next test


@pytest.fixture
def stack(aws_server: str) -> list[dict[str, str]]:
    """Every resource of the CloudFormation template, created in the threaded moto server."""
    from deployments.local_stack import deploy_template

    return deploy_template(aws_server)


@pytest.fixture(scope="session")
def sample_sources() -> Iterator[str]:
    """The bundled sample-source server (LAMP, GTFS, ...); yields its base URL."""
    from deployments.sample_server import serve

    with serve() as sources:
        yield sources.base_url


@pytest.fixture
def fast_http(monkeypatch: pytest.MonkeyPatch) -> None:
    """HTTP retries without sleeping, for tests of retry counts (not of backoff timing)."""
    monkeypatch.setenv("PIPELINES_HTTP_BACKOFF_FACTOR", "0")
    monkeypatch.setenv("PIPELINES_HTTP_BACKOFF_JITTER", "0")
    monkeypatch.setenv("PIPELINES_HTTP_RETRIES", "3")
