"""Fixtures: the data bucket and the file-metadata table in in-process moto."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import SAMPLE_DATA

SAMPLES = SAMPLE_DATA / "csv_profile"


@dataclass(frozen=True)
class CsvStore:
    """The data bucket and metadata table of the settings, with helpers."""

    bucket: str
    table: str

    def upload(self, name: str, body: bytes) -> str:
        """Put `uploads/<name>`; returns its ETag."""
        from tasks.common import aws

        response = aws.s3().put_object(Bucket=self.bucket, Key=f"uploads/{name}", Body=body)
        return response["ETag"].strip('"')

    def summary_bytes(self, name: str) -> bytes | None:
        from tasks.common import s3

        stem = name.removesuffix(".csv")
        return s3.get_bytes(self.bucket, f"processed/{stem}_summary.json")

    def item(self, file_name: str) -> dict[str, Any] | None:
        from tasks.common import aws

        response = aws.dynamodb().get_item(
            TableName=self.table, Key={"file_name": {"S": file_name}}, ConsistentRead=True
        )
        return response.get("Item")

    def keys(self, prefix: str) -> list[str]:
        from tasks.common import aws

        listed = aws.s3().list_objects_v2(Bucket=self.bucket, Prefix=prefix)
        return [obj["Key"] for obj in listed.get("Contents", [])]


@pytest.fixture
def csv_store(aws: None) -> CsvStore:
    """Bucket + table (partition key `file_name`) named by the settings, in moto."""
    from tasks.common import aws as factory
    from tasks.common.settings import get_settings

    settings = get_settings()
    factory.s3().create_bucket(Bucket=settings.csv_bucket)
    factory.dynamodb().create_table(
        TableName=settings.csv_metadata_table,
        KeySchema=[{"AttributeName": "file_name", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "file_name", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return CsvStore(settings.csv_bucket, settings.csv_metadata_table)


@pytest.fixture
def quick_flows() -> Iterator[None]:
    """Flow runs without the heartbeat thread (~1 s less per run; keep it on in production)."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield
