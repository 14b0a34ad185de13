"""A tiny pipeline declared the way every real one is (used by test_registry.py)."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from prefect import flow

from deployments.demo import DemoRow
from deployments.local_stack import LocalStack
from deployments.registry import Deployment, FlowSpec, Pipeline, S3Route, Schedule
from deployments.sample_server import Reply, Route


@flow(name="dummy-echo", flow_run_name="dummy-echo {key}")
def echo(key: str = "x", bucket: str | None = None, etag: str | None = None) -> dict[str, Any]:
    """Echo the object it was called for.

    Args:
        key: object key.
        bucket: bucket name.
        etag: object version.
    """
    return {"key": key, "bucket": bucket, "etag": etag}


@flow(name="dummy-sleep", flow_run_name="dummy-sleep {key}")
def sleepy(key: str = "0", bucket: str | None = None, etag: str | None = None) -> str:
    """Sleep as many seconds as the key's last segment says.

    Args:
        key: object key, e.g. `dummy/3` sleeps 3 s.
        bucket: bucket name.
        etag: object version.
    """
    time.sleep(float(key.rsplit("/", 1)[-1]))
    return "awake"


def demo(stack: LocalStack) -> list[DemoRow]:
    return [DemoRow("dummy", "dummy-echo x", "Completed")]


def sample_routes(_data_dir: Path) -> list[Route]:
    return [Route(re.compile(r"/dummy"), lambda _m, _q, _b: Reply(200, b"hello", "text/plain"))]


def sample_env(base_url: str) -> Mapping[str, str]:
    return {"PIPELINES_DUMMY_URL": base_url + "/dummy"}


PIPELINE = Pipeline(
    name="dummy",
    title="Dummy",
    summary="nothing → nothing",
    flows=(
        FlowSpec("dummy-echo", "tests/deployments/dummy_pipeline.py:echo", "echo a key"),
        FlowSpec("dummy-sleep", "tests/deployments/dummy_pipeline.py:sleepy", "sleep a while"),
    ),
    deployments=(
        Deployment(
            "dummy-hourly",
            "dummy-echo",
            "Echo every hour.",
            parameters={"key": "hourly"},
            schedules=(Schedule("0 * * * *", "UTC"),),
            tags=("dummy",),
        ),
    ),
    routes=(S3Route(flow="dummy-echo", bucket_setting="csv_bucket", prefix="dummy/", suffix=".x"),),
    role="DummyRole",
    settings_prefixes=("dummy_",),
    demo=demo,
    sample_routes=sample_routes,
    sample_env=sample_env,
)
