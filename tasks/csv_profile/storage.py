"""I/O tasks of CSV profiling: stream the upload, read/write the summary and the metadata item.

Every task takes names and keys (never clients) and gets its client from `tasks.common.aws`.
Reads are retried on their own; writes are idempotent (same key, same bytes/item) and uncached.
A file that is not readable CSV is *not* an exception here: `profile_upload` returns an error
profile, so only infrastructure failures (S3/DynamoDB unreachable after retries) fail a run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from tasks.common import aws, s3
from tasks.csv_profile.profile_core import FileProfile, ProfileOptions, profile_or_error
from tasks.csv_profile.transform_summary import iso_utc

READ_CHUNK = 1 << 20
# DynamoDB's item limit is 400 KB; keep a margin for attribute-name overhead.
ITEM_BUDGET = 380_000
_DELAYS = [2.0, 10.0]


@dataclass(frozen=True)
class Upload:
    """One version of an uploaded object."""

    bucket: str
    key: str
    etag: str
    size_bytes: int
    last_modified: str  # iso_utc

    def source(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "key": self.key,
            "etag": self.etag,
            "size_bytes": self.size_bytes,
        }


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code"))


@task(retries=2, retry_delay_seconds=_DELAYS, cache_policy=NO_CACHE, timeout_seconds=120)
def head_upload(bucket: str, key: str) -> Upload | None:
    """The current version of `s3://bucket/key`, or None if it no longer exists."""
    try:
        head = aws.s3().head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if s3.is_missing(exc):
            return None
        raise
    return Upload(
        bucket=bucket,
        key=key,
        etag=head["ETag"].strip('"'),
        size_bytes=int(head["ContentLength"]),
        last_modified=iso_utc(head["LastModified"]),
    )


def _body_chunks(body: Any, size: int = READ_CHUNK) -> Iterator[bytes]:
    try:
        yield from body.iter_chunks(chunk_size=size)
    finally:
        body.close()


@task(retries=2, retry_delay_seconds=_DELAYS, cache_policy=NO_CACHE, timeout_seconds=3600)
def profile_upload(upload: Upload, options: ProfileOptions) -> FileProfile | None:
    """Stream one object version through the profiler; None if that version was replaced.

    The GET is pinned with `IfMatch=<etag>`, so a retry or a late event never mixes versions.
    """
    logger = get_run_logger()
    try:
        response = aws.s3().get_object(Bucket=upload.bucket, Key=upload.key, IfMatch=upload.etag)
    except ClientError as exc:
        if _code(exc) in {"PreconditionFailed", "412"} or s3.is_missing(exc):
            logger.info("s3://%s/%s changed or vanished; skipping", upload.bucket, upload.key)
            return None
        raise
    profile = profile_or_error(_body_chunks(response["Body"]), options)
    if profile.error:
        logger.warning("s3://%s/%s: %s", upload.bucket, upload.key, profile.error)
    else:
        logger.info(
            "s3://%s/%s: %d rows x %d columns, %d ragged rows",
            upload.bucket,
            upload.key,
            profile.row_count,
            len(profile.columns),
            profile.ragged.count,
        )
    return profile


@task(retries=2, retry_delay_seconds=_DELAYS, cache_policy=NO_CACHE, timeout_seconds=60)
def existing_record(table: str, file_name: str) -> dict[str, Any] | None:
    """The stored item's `source`, timestamps, status and options (None if there is none)."""
    response = aws.dynamodb().get_item(
        TableName=table,
        Key={"file_name": {"S": file_name}},
        ConsistentRead=True,
        ProjectionExpression="#s, upload_timestamp, processed_timestamp, #st, profile_options",
        ExpressionAttributeNames={"#s": "source", "#st": "status"},
    )
    item = response.get("Item")
    if not item:
        return None
    plain = {k: TypeDeserializer().deserialize(v) for k, v in item.items()}
    record: dict[str, Any] = json.loads(json.dumps(plain, default=_undecimal))
    return record


def _undecimal(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


@task(retries=2, retry_delay_seconds=_DELAYS, cache_policy=NO_CACHE, timeout_seconds=120)
def write_summary(bucket: str, key: str, summary: dict[str, Any]) -> str:
    """Store the summary JSON (deterministic bytes); returns its s3:// URI."""
    s3.write_json(bucket, key, summary)
    return f"s3://{bucket}/{key}"


def to_item(summary: dict[str, Any], budget: int = ITEM_BUDGET) -> dict[str, Any]:
    """The DynamoDB item (low-level attribute values) of a summary: numbers as Decimal.

    The item is parsed back from the summary's own JSON bytes (floats → Decimal), so item and
    summary hold the same numbers. If it would exceed `budget` bytes (thousands of columns),
    `columns` and then invalid-value examples are left to the S3 summary and
    `item_truncated` is set; the seed fields are always kept.
    """
    doc = json.loads(s3.dump_json(summary), parse_float=Decimal)
    if len(s3.dump_json(summary)) > budget:
        doc["columns"] = {}
        doc["item_truncated"] = True
        if len(json.dumps(doc, default=str)) > budget:
            for issue in doc["quality_issues"]["invalid_values"].values():
                issue["examples"] = []
        if len(json.dumps(doc, default=str)) > budget:
            raise ValueError(f"metadata item too large even without detail ({len(doc)} fields)")
    serializer = TypeSerializer()
    return {name: serializer.serialize(value) for name, value in doc.items()}


@task(retries=2, retry_delay_seconds=_DELAYS, cache_policy=NO_CACHE, timeout_seconds=60)
def write_metadata_item(table: str, summary: dict[str, Any]) -> bool:
    """Put the metadata item unless a newer upload of the same file is already recorded.

    Returns False when the write was refused because a later `upload_timestamp` is stored.
    """
    try:
        aws.dynamodb().put_item(
            TableName=table,
            Item=to_item(summary),
            ConditionExpression="attribute_not_exists(file_name) OR upload_timestamp <= :ts",
            ExpressionAttributeValues={":ts": {"S": summary["upload_timestamp"]}},
        )
    except ClientError as exc:
        if _code(exc) == "ConditionalCheckFailedException":
            get_run_logger().warning("%s: a newer upload is recorded", summary["file_name"])
            return False
        raise
    return True


@task(retries=2, retry_delay_seconds=_DELAYS, cache_policy=NO_CACHE, timeout_seconds=300)
def list_uploads(bucket: str, prefix: str) -> list[tuple[str, str]]:
    """(key, etag) of every `*.csv` object under `prefix`, in key order."""
    found: list[tuple[str, str]] = []
    paginator = aws.s3().get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        found.extend(
            (obj["Key"], obj["ETag"].strip('"'))
            for obj in page.get("Contents", [])
            if obj["Key"].lower().endswith(".csv")
        )
    return sorted(found)
