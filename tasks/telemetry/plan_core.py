"""What a telemetry run works on (pure): file identity, storage keys, totals, reconciliation.

A file version is identified by its key and ETag (`file_id`). Its state lives in the raw bucket:
- `state/started/<file id>.json`: written before the first chunk is sent; records the chunk size,
  so every rerun of that version cuts the same chunks and overwrites the same archive objects;
- `state/processed/<file id>.json`: the processed marker, written only after every message,
  archive object, rejects object, key set and Bloom filter of the file is stored, and only if the
  file reconciles. The Lambda route and the sweep both skip a version that has it;
- `state/dedup/bloom/date=<day>.bin` and `state/dedup/keys/date=<day>/<file id>.parquet`: the
  cross-file dedup state (see `dedup_core`);
- `state/dlq/<batch>.json`: why the consumer could not store a message (read by the DLQ command).
Rejected rows go to `rejects/<path under incoming/>/<etag>.csv` (`line,reason,row`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypedDict

from tasks.common import keys_core
from tasks.telemetry.contract_core import (
    INCOMING_PREFIX,
    REJECT_CODES,
    REJECTS_PREFIX,
    STATE_PREFIX,
)

STARTED = f"{STATE_PREFIX}/started"
PROCESSED = f"{STATE_PREFIX}/processed"
BLOOM = f"{STATE_PREFIX}/dedup/bloom"
KEYSETS = f"{STATE_PREFIX}/dedup/keys"
DLQ_RECORDS = f"{STATE_PREFIX}/dlq"


class ReconciliationError(ValueError):
    """A file's counts do not add up: rows_in != stored + rejected + duplicates (permanent)."""


def file_id(key: str, etag: str) -> str:
    """A short stable id of one version of an object (24 hex digits)."""
    digest = hashlib.blake2b(f"{key}\n{etag.strip(chr(34))}".encode(), digest_size=12)
    return digest.hexdigest()


def is_telemetry_key(key: str) -> bool:
    """Any key under `incoming/` ending in `.csv` (any case) is a telemetry file."""
    return key.startswith(INCOMING_PREFIX) and key.lower().endswith(".csv")


@dataclass(frozen=True)
class FilePlan:
    """One file version to process and where its outputs and state go."""

    bucket: str
    key: str
    etag: str
    size: int
    file_id: str
    chunk_bytes: int
    rerun: bool  # a started record existed (an earlier run did not finish)

    @property
    def started_key(self) -> str:
        return f"{STARTED}/{self.file_id}.json"

    @property
    def marker_key(self) -> str:
        return marker_key(self.file_id)

    @property
    def rejects_key(self) -> str:
        relative = self.key.removeprefix(INCOMING_PREFIX)
        parts = [keys_core.segment(p) for p in relative.split("/") if p]
        return keys_core.join(REJECTS_PREFIX, *parts, keys_core.segment(self.etag) + ".csv")

    @property
    def expected_rows(self) -> int:
        """A generous row estimate from the size (sizes the file's local Bloom filter)."""
        return max(self.size // 40, 1_000)


def marker_key(fid: str) -> str:
    return f"{PROCESSED}/{fid}.json"


def bloom_key(day: str) -> str:
    return keys_core.join(BLOOM, keys_core.partition("date", day) + ".bin")


def keyset_prefix(day: str) -> str:
    return keys_core.join(KEYSETS, keys_core.partition("date", day)) + "/"


def keyset_key(day: str, fid: str) -> str:
    return keys_core.join(KEYSETS, keys_core.partition("date", day), f"{fid}.parquet")


def dlq_record_key(batch: str) -> str:
    return keys_core.join(DLQ_RECORDS, keys_core.segment(batch) + ".json")


def plan_file(
    bucket: str,
    key: str,
    etag: str,
    size: int,
    started: Mapping[str, Any] | None,
    chunk_bytes: int,
) -> FilePlan:
    """The plan of one version; a rerun keeps the chunk size its first run recorded."""
    recorded = int(started["chunk_bytes"]) if started and "chunk_bytes" in started else None
    return FilePlan(
        bucket=bucket,
        key=key,
        etag=etag.strip('"'),
        size=size,
        file_id=file_id(key, etag),
        chunk_bytes=recorded or chunk_bytes,
        rerun=started is not None,
    )


@dataclass
class FileTotals:
    """Counts of one file, summed over its chunks."""

    rows: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    chunks: int = 0
    messages: dict[str, int] = field(default_factory=lambda: {"high": 0, "low": 0})
    events_sent: dict[str, int] = field(default_factory=lambda: {"high": 0, "low": 0})
    send_requests: int = 0
    send_retried: int = 0
    message_bytes: int = 0
    archive_objects: int = 0
    invalid_optional: dict[str, int] = field(default_factory=dict)

    def add_counts(
        self,
        rows: int,
        stored: int,
        duplicates: int,
        rejected: Mapping[str, int],
        invalid_optional: Mapping[str, int],
    ) -> None:
        self.rows += rows
        self.stored += stored
        self.duplicates += duplicates
        self.chunks += 1
        for code, n in rejected.items():
            self.rejected[code] = self.rejected.get(code, 0) + n
        for name, n in invalid_optional.items():
            self.invalid_optional[name] = self.invalid_optional.get(name, 0) + n

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    def rejected_by_code(self) -> dict[str, int]:
        """Every reject code with its count (0 included), in contract order."""
        return {code: self.rejected.get(code, 0) for code in REJECT_CODES}


def reconciliation(totals: FileTotals) -> str:
    """The reconciliation line of a file."""
    ok = totals.rows == totals.stored + totals.rejected_total + totals.duplicates
    return (
        f"rows_in {totals.rows:,} {'=' if ok else '!='} stored {totals.stored:,} + rejected "
        f"{totals.rejected_total:,} + duplicates {totals.duplicates:,}"
    )


def check_reconciles(key: str, totals: FileTotals) -> str:
    """The reconciliation line; `ReconciliationError` when the numbers do not add up."""
    line = reconciliation(totals)
    if totals.rows != totals.stored + totals.rejected_total + totals.duplicates:
        raise ReconciliationError(f"{key}: {line}")
    sent = sum(totals.events_sent.values())
    if sent != totals.stored:
        raise ReconciliationError(f"{key}: {totals.stored:,} events stored but {sent:,} sent")
    return line


class FileSummary(TypedDict, total=False):
    """What the telemetry-file flow returns (and its artifact shows)."""

    key: str
    etag: str
    status: str  # processed | already_processed | superseded | missing
    file_id: str
    rows_in: int
    stored: int
    rejected: int
    duplicates: int
    rejected_by_code: dict[str, int]
    reconciliation: str
    chunks: int
    messages: dict[str, int]
    rejects_uri: str | None
    archive_objects: int
    marker_uri: str
    metrics: dict[str, float]
    notes: list[str]


class SweepSummary(TypedDict):
    """What the telemetry-sweep flow returns."""

    bucket: str
    prefix: str
    files: int
    processed: int
    already_processed: int
    failed: int
    remaining: int
    by_status: dict[str, int]


class ConsumeSummary(TypedDict):
    """What the telemetry-consume flow returns."""

    received: dict[str, int]
    deleted: int
    failed: int
    items_written: int
    write_requests: int
    unprocessed_resent: int
    rounds: int
    queue_depth: dict[str, int]
    peak_rss_mb: float


class DlqSummary(TypedDict):
    """What the telemetry-dlq flow returns."""

    action: str
    messages: list[dict[str, Any]]
    redriven: int
