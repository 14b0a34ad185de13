"""Fixtures of the NYC 311 tests: a stateful Socrata fake behind pytest-httpserver, the buckets."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from deployments.socrata_sample import SocrataDataset
from tasks.common import aws
from tasks.common.settings import get_settings

RAW = "311-raw-data"
PROCESSED = "311-processed-data"


@dataclass
class FakeSocrata:
    """A Socrata endpoint over an in-memory dataset; tests script failures and mid-run changes."""

    dataset: SocrataDataset
    requests: list[dict[str, Any]] = field(default_factory=list)
    # answers to give before consulting the dataset, one per request (e.g. a 429)
    script: list[Response] = field(default_factory=list)
    # called after each dataset answer with the number of dataset answers so far
    after_answer: Callable[[int], None] | None = None
    answered: int = 0

    def handle(self, request: Request) -> Response:
        self.requests.append({"args": dict(request.args), "headers": dict(request.headers)})
        if self.script:
            return self.script.pop(0)
        answer = self.dataset.answer(request.args.to_dict(flat=False))
        self.answered += 1
        if self.after_answer is not None:
            self.after_answer(self.answered)
        return Response(answer.body, status=answer.status, content_type="application/json")

    def pages(self) -> list[dict[str, Any]]:
        """Query parameters of every request."""
        return [r["args"] for r in self.requests]


@pytest.fixture
def socrata(httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> FakeSocrata:
    """An empty fake dataset served at `/resource/erm2-nwe9.json`; settings point at it."""
    fake = FakeSocrata(SocrataDataset())
    httpserver.expect_request(re.compile(r"/resource/erm2-nwe9\.json")).respond_with_handler(
        fake.handle
    )
    monkeypatch.setenv("PIPELINES_SOCRATA_BASE_URL", httpserver.url_for("/").rstrip("/"))
    return fake


@pytest.fixture
def buckets(aws: None) -> None:
    """The raw and processed buckets in in-process moto."""
    client = aws_s3()
    client.create_bucket(Bucket=RAW)
    client.create_bucket(Bucket=PROCESSED)


@pytest.fixture
def no_heartbeat() -> Iterator[None]:
    """Flow runs without the heartbeat thread (saves ~1 s per run in tests)."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield


def aws_s3() -> Any:
    """The project's S3 client."""
    return aws.s3(get_settings())


def keys_under(bucket: str, prefix: str) -> list[str]:
    """Every key under `prefix`, sorted."""
    pages = aws_s3().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))


def read_body(bucket: str, key: str) -> bytes:
    """An object's bytes."""
    return bytes(aws_s3().get_object(Bucket=bucket, Key=key)["Body"].read())


def processed_table() -> pa.Table:
    """Every processed partition file, concatenated (what Athena would read)."""
    keys = [k for k in keys_under(PROCESSED, "processed/year=") if k.endswith(".parquet")]
    tables = [pq.read_table(pa.BufferReader(read_body(PROCESSED, k))) for k in keys]
    if not tables:
        return pa.table({"unique_key": pa.array([], pa.string())})
    return pa.concat_tables(tables)


def processed_keys() -> list[str]:
    """unique_key of every processed row (duplicates included, if any)."""
    return [str(k) for k in processed_table()["unique_key"].to_pylist()]
