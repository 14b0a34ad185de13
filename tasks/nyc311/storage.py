"""S3 I/O of the collector: the checkpoint, raw and rejects files, and month-partition merges.

A month partition is one file, `processed/year=YYYY/month=MM/data.parquet`, rewritten by a
read-merge-write: the stored rows and the new ones are unioned and deduplicated by `unique_key`
(the new version wins). The put is conditional on the ETag that was read (`If-Match`, or
`If-None-Match: *` for a new file), so two runs writing the same month at once cannot lose each
other's rows: the loser gets 412 and the task retries from a fresh read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from botocore.exceptions import ClientError
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from tasks.common import aws, s3
from tasks.nyc311 import transform


class PartitionConflict(RuntimeError):
    """Another writer changed the partition between our read and our write (retry)."""


@dataclass(frozen=True)
class PartitionWrite:
    """What a merge did to one month partition."""

    key: str
    rows: int
    inserted: int
    replaced: int
    written: bool


@task(name="read-checkpoint", retries=3, retry_delay_seconds=[2, 10, 30], timeout_seconds=120)
def read_checkpoint(bucket: str, key: str) -> dict[str, Any] | None:
    """The stored checkpoint document, None if there is none (first run)."""
    doc = s3.read_json(bucket, key)
    if doc is not None and not isinstance(doc, dict):
        raise ValueError(f"s3://{bucket}/{key} is not a JSON object")
    get_run_logger().info("checkpoint s3://%s/%s: %s", bucket, key, "found" if doc else "none")
    return doc


@task(
    name="put-json",
    retries=3,
    retry_delay_seconds=[2, 10, 30],
    timeout_seconds=300,
    cache_policy=NO_CACHE,
)
def put_json(bucket: str, key: str, body: bytes) -> bool:
    """Store a JSON file (raw records, rejects); False when the same bytes were already there."""
    written = s3.put_bytes(bucket, key, body, content_type=s3.JSON, skip_unchanged=True)
    get_run_logger().info("s3://%s/%s: %d bytes, %s", bucket, key, len(body),
                          "written" if written else "unchanged")  # fmt: skip
    return written


def _read_with_etag(bucket: str, key: str) -> tuple[bytes | None, str | None]:
    try:
        response = aws.s3().get_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if s3.is_missing(exc):
            return None, None
        raise
    return response["Body"].read(), response["ETag"]


def _is_conflict(exc: ClientError) -> bool:
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return error.get("Code") in {"PreconditionFailed", "ConditionalRequestConflict"} or status in {
        409,
        412,
    }


@task(
    name="merge-month",
    task_run_name="merge-{key}",
    retries=4,
    retry_delay_seconds=[1, 5, 15, 30],
    timeout_seconds=900,
    cache_policy=NO_CACHE,
)
def merge_partition(bucket: str, key: str, rows: pa.Table) -> PartitionWrite:
    """Merge `rows` into the month file at `key`: no unique_key twice, the new version wins."""
    stored, etag = _read_with_etag(bucket, key)
    merged = transform.merge(transform.from_parquet(stored) if stored else None, rows)
    body = merged.parquet()
    written = body != stored
    if written:
        try:
            s3.put_bytes(
                bucket,
                key,
                body,
                content_type=s3.PARQUET,
                if_match=etag,
                if_none_match=None if etag else "*",
            )
        except ClientError as exc:
            if _is_conflict(exc) or (etag is not None and s3.is_missing(exc)):
                raise PartitionConflict(f"s3://{bucket}/{key} changed while merging") from exc
            raise
    get_run_logger().info(
        "s3://%s/%s: %d rows (%d new, %d replaced)%s",
        bucket,
        key,
        len(merged),
        merged.inserted,
        merged.replaced,
        "" if written else ", unchanged",
    )
    return PartitionWrite(key, len(merged), merged.inserted, merged.replaced, written)


@task(
    name="write-checkpoint",
    retries=3,
    retry_delay_seconds=[2, 10, 30],
    timeout_seconds=120,
    cache_policy=NO_CACHE,
)
def write_checkpoint(bucket: str, key: str, doc: dict[str, Any]) -> None:
    """Store the checkpoint (only after the data it covers is written)."""
    s3.write_json(bucket, key, doc)
    get_run_logger().info("checkpoint s3://%s/%s -> %s", bucket, key, doc.get("cursor"))
