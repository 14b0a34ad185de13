"""S3 I/O of the telemetry file flow: the source object, markers, archive, rejects, dedup state.

Every write is idempotent: object names come from the file version (key + ETag) and its chunk
index, so a rerun overwrites what an interrupted run wrote. The processed marker is written
last (see `plan_core`). The day Bloom filters are read-modify-written with conditional puts
(`If-Match`): two files of the same day finishing at once cannot lose each other's keys.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from prefect import get_run_logger

from tasks.common import s3, state
from tasks.common.errors import ConflictError
from tasks.common.runs import io_task
from tasks.common.settings import Settings, get_settings
from tasks.telemetry import plan_core
from tasks.telemetry.archive_core import archive_key, day_label
from tasks.telemetry.contract_core import INCOMING_PREFIX
from tasks.telemetry.dedup_core import (
    SLICE_KEYS,
    DayBloom,
    FileKeys,
    KeySet,
    key_hashes,
    keyset_bytes,
    unpack,
)
from tasks.telemetry.plan_core import FilePlan
from tasks.telemetry.process_core import Reject
from tasks.telemetry.vehicles_core import VehicleTable

BLOOM_ATTEMPTS = 8


@dataclass(frozen=True)
class SourceObject:
    """The current version of an uploaded file."""

    bucket: str
    key: str
    etag: str
    size: int


@io_task("head-file", run_name="head-file {key}", timeout=60)
def head_file(bucket: str, key: str) -> SourceObject | None:
    """The current version of `s3://bucket/key`, None if it is gone."""
    info = s3.head(bucket, key)
    return None if info is None else SourceObject(bucket, key, info.etag, info.size)


@io_task("read-file-state", run_name="read-file-state {key}", timeout=60)
def read_file_state(bucket: str, key: str, fid: str) -> tuple[dict[str, Any] | None, ...]:
    """(processed marker, started record) of one file version, None where absent."""
    processed = state.read(bucket, plan_core.marker_key(fid)).doc
    started = state.read(bucket, f"{plan_core.STARTED}/{fid}.json").doc
    return processed, started


@io_task("start-file", run_name="start-file {plan.key}", timeout=60)
def start_file(plan: FilePlan, flow_run_id: str | None) -> None:
    """Record the chunk size of this version before anything is sent (reruns reuse it)."""

    def change(doc: dict[str, Any] | None) -> dict[str, Any]:
        runs = int((doc or {}).get("runs", 0)) + 1
        first = (doc or {}).get("first_started_at") or _now_iso()
        return {
            "key": plan.key,
            "etag": plan.etag,
            "file_id": plan.file_id,
            "chunk_bytes": plan.chunk_bytes,
            "first_started_at": first,
            "runs": runs,
            "last_flow_run_id": flow_run_id,
        }

    state.update(plan.bucket, plan.started_key, change)


@io_task("mark-processed", run_name="mark-processed {plan.key}", timeout=60)
def mark_processed(plan: FilePlan, doc: dict[str, Any]) -> str:
    """Write the processed marker (last: everything of the file is stored)."""
    s3.write_json(plan.bucket, plan.marker_key, doc)
    return f"s3://{plan.bucket}/{plan.marker_key}"


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def put_archive(plan: FilePlan, chunk: int, parts: list[tuple[str, bytes]]) -> int:
    """Store a chunk's archive objects (one per event date); returns how many."""
    bucket = get_settings().telemetry_archive_bucket
    items = [(archive_key(day, plan.file_id, chunk), body) for day, body in parts]
    if items:
        s3.put_many(bucket, items, content_type=s3.PARQUET)
    return len(items)


class RejectsWriter:
    """The rejects object of a file as CSV (`line,reason,row`), streamed in ~8 MiB parts."""

    def __init__(self) -> None:
        self.count = 0
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\n")
        self._writer.writerow(("line", "reason", "row"))
        self._parts: list[bytes] = []

    def add(self, rejects: Sequence[Reject]) -> None:
        self._writer.writerows(rejects)
        self.count += len(rejects)
        if self._buffer.tell() >= 1 << 20:
            self._parts.append(self._buffer.getvalue().encode())
            self._buffer.seek(0)
            self._buffer.truncate()

    def chunks(self) -> Iterator[bytes]:
        yield from self._parts
        yield self._buffer.getvalue().encode()


@io_task("put-rejects", run_name="put-rejects {plan.key}", timeout=900)
def put_rejects(plan: FilePlan, chunks: list[bytes]) -> str:
    """Store the rejects object; returns its s3:// URI."""
    s3.put_stream(plan.bucket, plan.rejects_key, chunks, content_type=s3.CSV)
    return f"s3://{plan.bucket}/{plan.rejects_key}"


# --- cross-file dedup state -------------------------------------------------------------------


def load_bloom(bucket: str, day: int, settings: Settings | None = None) -> DayBloom | None:
    """The persisted Bloom filter of a day (None: no file stored events of that day yet)."""
    body = s3.get_bytes(bucket, plan_core.bloom_key(day_label(day)), settings)
    return None if body is None else DayBloom.from_bytes(body)


def load_keysets(
    bucket: str, day: int, exclude: str, settings: Settings | None = None
) -> list[KeySet]:
    """The key sets other files stored for a day (not this file version's own)."""
    prefix = plan_core.keyset_prefix(day_label(day))
    found = []
    for obj in s3.list_objects(bucket, prefix, settings):
        if Path(obj.key).stem == exclude:
            continue
        body = s3.get_bytes(bucket, obj.key, settings)
        if body is not None:
            found.append(KeySet.from_bytes(body))
    return found


def _day_hashes(keys: Any, table: VehicleTable) -> Any:
    """The Bloom hashes of one day's packed keys, a slice at a time (bounded temporaries)."""
    out = np.empty(len(keys), np.uint64)
    for start in range(0, len(keys), SLICE_KEYS):
        codes, ms = unpack(keys[start : start + SLICE_KEYS])
        out[start : start + len(codes)] = key_hashes(table.hashes[codes], ms)
    return out


def update_bloom(bucket: str, day: int, hashes: Any, capacity: int) -> int:
    """Add keys to a day's filter with a conditional put (re-read on a lost race).

    Returns how many keys were new to the filter.
    """
    key = plan_core.bloom_key(day_label(day))
    for _ in range(BLOOM_ATTEMPTS):
        found = s3.get_with_etag(bucket, key)
        bloom = DayBloom.from_bytes(found[0]) if found else DayBloom(capacity)
        new = hashes[~bloom.contains(hashes)]
        if not len(new):
            return 0
        bloom.add(new)
        try:
            s3.put_bytes(
                bucket,
                key,
                bloom.to_bytes(),
                content_type="application/octet-stream",
                if_match=found[1] if found else None,
                if_none_match=found is None,
            )
        except ConflictError:
            continue
        return len(new)
    raise ConflictError(f"s3://{bucket}/{key}: still changing after {BLOOM_ATTEMPTS} attempts")


@io_task("store-dedup-state", run_name="store-dedup-state {plan.key}", timeout=900)
def store_dedup_state(plan: FilePlan, keys: FileKeys, table: VehicleTable) -> dict[str, int]:
    """The file's stored keys into each day's Bloom filter, then its key set per day.

    Filter first: a key in some key set is always in its day's filter, so a later file can
    never be told "new" for a key that a key set holds.
    """
    s = get_settings()
    written: dict[str, int] = {}
    for day, day_keys in keys.by_day():  # one day's keys in memory at a time
        hashes = _day_hashes(day_keys, table)
        update_bloom(plan.bucket, day, hashes, s.telemetry_bloom_capacity)
        label = day_label(day)
        body = keyset_bytes(day_keys, table.ids)  # renumbers day_keys in place
        del day_keys
        s3.put_bytes(
            plan.bucket, plan_core.keyset_key(label, plan.file_id), body, content_type=s3.PARQUET
        )
        written[label] = len(hashes)
    get_run_logger().info("dedup state of %s: keys per day %s", plan.key, written)
    return written


# --- sweep ------------------------------------------------------------------------------------


@io_task("list-unprocessed", run_name="list-unprocessed {prefix}", timeout=600)
def list_unprocessed(bucket: str, prefix: str, force: bool) -> tuple[list[SourceObject], int]:
    """Telemetry files under `prefix` whose current version has no processed marker
    (every file with `force`), in key order; and how many files there are in all."""
    if not prefix.startswith(INCOMING_PREFIX):
        raise ValueError(f"prefix must be under {INCOMING_PREFIX!r}, got {prefix!r}")
    files = [
        SourceObject(bucket, o.key, o.etag, o.size)
        for o in s3.list_objects(bucket, prefix)
        if plan_core.is_telemetry_key(o.key)
    ]
    if force:
        return files, len(files)
    done = {Path(o.key).stem for o in s3.list_objects(bucket, plan_core.PROCESSED + "/")}
    todo = [f for f in files if plan_core.file_id(f.key, f.etag) not in done]
    return todo, len(files)
