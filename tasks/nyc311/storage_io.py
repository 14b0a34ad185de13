"""S3 I/O of the collector: the checkpoint, raw and rejects files, and month-partition merges.

A month partition is one file, `processed/year=YYYY/month=MM/data.parquet`, rewritten by a
read-merge-write: the stored rows and the new ones are unioned and deduplicated by `unique_key`
(the new version wins). The put is conditional on the ETag that was read (`If-Match`, or
`If-None-Match: *` for a new file), so two runs writing the same month at once cannot lose each
other's rows: the loser gets `ConflictError` and the task retries from a fresh read. The
checkpoint is a state object (`tasks.common.state`): read with its version at the start of a run
and moved, conditionally on that version, after the data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from prefect import get_run_logger

from tasks.common import s3, state
from tasks.common.runs import io_task
from tasks.nyc311 import records_core


@dataclass(frozen=True)
class PartitionWrite:
    """What a merge did to one month partition."""

    key: str
    rows: int
    inserted: int
    replaced: int
    written: bool


@io_task("read-checkpoint", run_name="read-checkpoint {key}")
def read_checkpoint(bucket: str, key: str) -> state.Versioned:
    """The stored checkpoint and its version (`doc` None on the first run)."""
    found = state.read(bucket, key)
    get_run_logger().info("checkpoint %s: %s", found.uri, "found" if found.doc else "none")
    return found


@io_task("put-json", run_name="put-json {key}")
def put_json(bucket: str, key: str, body: bytes) -> bool:
    """Store a JSON file (raw records, rejects); False when the same bytes were already there."""
    written = s3.put_bytes(bucket, key, body, content_type=s3.JSON, skip_unchanged=True)
    get_run_logger().info("s3://%s/%s: %d bytes, %s", bucket, key, len(body),
                          "written" if written else "unchanged")  # fmt: skip
    return written


@io_task("merge-month", run_name="merge-month {key}", retries=4, timeout=900)
def merge_partition(bucket: str, key: str, rows: pa.Table) -> PartitionWrite:
    """Merge `rows` into the month file at `key`: no unique_key twice, the new version wins."""
    found = s3.get_with_etag(bucket, key)
    stored, etag = found if found is not None else (None, None)
    merged = records_core.merge(records_core.from_parquet(stored) if stored else None, rows)
    body = merged.parquet()
    written = body != stored
    if written:
        s3.put_bytes(
            bucket,
            key,
            body,
            content_type=s3.PARQUET,
            if_match=etag,
            if_none_match=etag is None,
        )
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


@io_task("write-checkpoint", run_name="write-checkpoint {checkpoint.key}")
def write_checkpoint(checkpoint: state.Versioned, doc: dict[str, Any]) -> None:
    """Move the checkpoint read at the start of the run (only after the data it covers is
    written); `StaleStateError` if another run moved it meanwhile."""
    state.write(checkpoint, doc)
    get_run_logger().info("checkpoint %s -> %s", checkpoint.uri, doc.get("cursor"))
