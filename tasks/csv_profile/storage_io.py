"""I/O tasks of CSV profiling: stream the upload, read/write the summary and the metadata item.

Every task takes names and keys (never clients); S3 and DynamoDB go through the shared layer.
Reads are retried on their own; writes are idempotent (same key, same bytes/item) and uncached.
A file that is not readable CSV is *not* an exception here: `profile_upload` returns an error
profile, so only infrastructure failures (S3/DynamoDB unreachable after retries) fail a run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from prefect import get_run_logger

from tasks.common import dynamo, s3
from tasks.common.errors import ConflictError
from tasks.common.runs import io_task, run_parameter
from tasks.csv_profile.profile_core import FileProfile, ProfileOptions, profile_or_error
from tasks.csv_profile.summary_core import iso_utc, summary_json

# What a run needs to know of the stored item of a file (its version, rules and times).
RECORD_FIELDS = ("source", "upload_timestamp", "processed_timestamp", "status", "profile_options")
# DynamoDB's item limit is 400 KB (`dynamo.MAX_ITEM_BYTES`); `dynamo.item_size` is an upper
# estimate, and the margin covers the rest.
ITEM_BUDGET = 380_000


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


def _profile_run_name() -> str:
    upload = run_parameter("upload")
    return f"profile {upload.key}" if upload is not None else "profile"


@io_task("head-upload", run_name="head-upload {key}", timeout=120)
def head_upload(bucket: str, key: str) -> Upload | None:
    """The current version of `s3://bucket/key`, or None if it no longer exists."""
    info = s3.head(bucket, key)
    if info is None:
        return None
    return Upload(
        bucket=bucket,
        key=key,
        etag=info.etag,
        size_bytes=info.size,
        last_modified=iso_utc(info.last_modified),
    )


@io_task("profile-upload", run_name=_profile_run_name, timeout=3600)
def profile_upload(upload: Upload, options: ProfileOptions) -> FileProfile | None:
    """Stream one object version through the profiler; None if that version was replaced.

    The GET is pinned with `IfMatch=<etag>`, so a retry or a late event never mixes versions.
    """
    logger = get_run_logger()
    try:
        chunks = s3.open_stream(upload.bucket, upload.key, if_match=upload.etag)
    except ConflictError:
        chunks = None
    if chunks is None:
        logger.info("s3://%s/%s changed or vanished; skipping", upload.bucket, upload.key)
        return None
    profile = profile_or_error(chunks, options)
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


@io_task("read-metadata-item", run_name="read-metadata-item {file_name}", timeout=60)
def existing_record(table: str, file_name: str) -> dict[str, Any] | None:
    """The stored item's `source`, timestamps, status and options (None if there is none)."""
    item = dynamo.get_item(
        table,
        {"file_name": file_name},
        projection=(
            "source",
            "upload_timestamp",
            "processed_timestamp",
            "status",
            "profile_options",
        ),
    )
    if item is None:
        return None
    record: dict[str, Any] = json.loads(json.dumps(item, default=_undecimal))
    return record


def _undecimal(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


@io_task("put-summary", run_name="put-summary {key}", timeout=120)
def write_summary(bucket: str, key: str, summary: dict[str, Any]) -> str:
    """Store the summary JSON (deterministic bytes, columns in file order); its s3:// URI."""
    s3.put_bytes(bucket, key, summary_json(summary), content_type=s3.JSON)
    return f"s3://{bucket}/{key}"


# What the item leaves to the S3 summary when it would not fit, in this order: the maps and
# lists that grow with the number of columns (a seed field last).
ITEM_DETAIL: tuple[tuple[str, ...], ...] = (
    ("columns",),
    ("statistics",),
    ("quality_issues", "invalid_values"),
    ("quality_issues", "missing_values"),
    ("quality_issues", "empty_columns"),
    ("quality_issues", "header"),
    ("quality_issues", "ragged_rows"),
    ("schema",),
)


def _pointer(summary: dict[str, Any], path: tuple[str, ...]) -> str:
    """Where the omitted part is: `s3://bucket/processed/x_summary.json#/statistics`."""
    key = summary.get("summary_key")
    bucket = (summary.get("source") or {}).get("bucket")
    where = f"s3://{bucket}/{key}" if key and bucket else str(key or "(summary not stored)")
    return f"{where}#/{'/'.join(path)}"


def item_doc(summary: dict[str, Any], budget: int = ITEM_BUDGET) -> dict[str, Any]:
    """The metadata item of a summary, as plain values with numbers as Decimal.

    The item is parsed back from the summary's own JSON bytes (floats → Decimal), so item and
    summary hold the same numbers. If it would exceed `budget` bytes as DynamoDB counts them
    (thousands of columns), the parts in `ITEM_DETAIL` are replaced, one at a time and only as
    many as needed, by a string pointing into the S3 summary (`<s3 uri>#/<path>`, a JSON
    pointer); `item_truncated` is then true and `item_omitted` lists them. What is left is a
    few fixed fields: every summary gets an item.
    """
    doc: dict[str, Any] = json.loads(summary_json(summary), parse_float=Decimal)
    omitted: list[str] = []

    def size() -> int:
        markers = {"item_truncated": True, "item_omitted": omitted} if omitted else {}
        return dynamo.item_size(doc) + dynamo.item_size(markers)

    for path in ITEM_DETAIL:
        if size() <= budget:
            break
        parent = doc
        for name in path[:-1]:
            parent = parent.get(name) or {}
        if parent.get(path[-1]):
            parent[path[-1]] = _pointer(summary, path)
            omitted.append("/".join(path))
    if size() > budget:  # pragma: no cover - only names, keys and counts are left
        raise ValueError(f"metadata item of {summary.get('file_name')!r} does not fit")
    if omitted:
        doc["item_truncated"] = True
        doc["item_omitted"] = omitted
    return doc


def to_item(summary: dict[str, Any], budget: int = ITEM_BUDGET) -> dict[str, Any]:
    """The DynamoDB attribute values of a summary's metadata item (see `item_doc`)."""
    return dynamo.serialize(item_doc(summary, budget))


@io_task("put-metadata-item", run_name="put-metadata-item {summary[file_name]}", timeout=60)
def write_metadata_item(table: str, summary: dict[str, Any]) -> bool:
    """Put the metadata item unless a newer upload of the same file is already recorded.

    Returns False when the write was refused because a later `upload_timestamp` is stored.
    """
    try:
        dynamo.put_item(
            table,
            item_doc(summary),
            condition="attribute_not_exists(file_name) OR upload_timestamp <= :ts",
            values={":ts": summary["upload_timestamp"]},
        )
    except ConflictError:
        get_run_logger().warning("%s: a newer upload is recorded", summary["file_name"])
        return False
    return True


@io_task("list-uploads", run_name="list-uploads {prefix}", timeout=300)
def list_uploads(bucket: str, prefix: str) -> list[tuple[str, str]]:
    """(key, etag) of every `*.csv` object under `prefix` (any case of `.csv`), in key order."""
    found = [
        (obj.key, obj.etag)
        for obj in s3.list_objects(bucket, prefix)
        if obj.key.lower().endswith(".csv")
    ]
    return sorted(found)
