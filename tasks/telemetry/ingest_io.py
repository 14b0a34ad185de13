"""The file flow's main task: stream one object chunk by chunk through the processor.

`ingest_file` opens the object pinned to its ETag (a replaced object fails the read instead of
mixing versions) and, for each chunk of whole lines: processes it (`process_core`), sends its
messages to the queues, stores its archive objects and buffers its rejects (each chunk is a
log line and a step of the progress artifact). At the end it stores the rejects object and the
file's dedup state (`put-rejects`, `store-dedup-state`). Memory is bounded by the chunk size
(two chunks in flight, plus the file's exact keys: ~10 bytes per stored event).

A chunk whose counts do not reconcile stops the file before its messages are sent.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from prefect import get_run_logger

from tasks.common import s3
from tasks.common.artifacts import Progress
from tasks.common.errors import ConflictError, PermanentError
from tasks.common.memory import peak_rss_mb
from tasks.common.runs import io_task
from tasks.common.settings import get_settings
from tasks.telemetry import metadata_io, queue_io, storage_io
from tasks.telemetry.csv_core import frame
from tasks.telemetry.plan_core import FilePlan, FileTotals, ReconciliationError, reconciliation
from tasks.telemetry.process_core import CrossFileIndex, FileProcessor
from tasks.telemetry.vehicles_core import ResolveStats, VehicleTable


class SupersededError(PermanentError):
    """The object was replaced while it was being read (its new version has its own event)."""


@dataclass
class IngestResult:
    """What ingesting one file did."""

    totals: FileTotals
    cache: ResolveStats
    cache_kind: str
    seconds: float
    peak_rss_mb: float
    rejects_uri: str | None
    ignored_columns: list[str] = field(default_factory=list)
    missing_columns: list[str] = field(default_factory=list)
    metadata_problems: list[str] = field(default_factory=list)
    maybe_seen: int = 0
    confirmed_duplicates: int = 0
    dedup_days: dict[str, int] = field(default_factory=dict)


@io_task("ingest-file", run_name="ingest-file {plan.key}", retries=1, timeout=3600)
def ingest_file(plan: FilePlan, now_ms: int) -> IngestResult:
    """Process every chunk of the file; send, archive, reject; store the dedup state."""
    s = get_settings()
    logger = get_run_logger()
    started = time.perf_counter()
    urls = {
        "high": queue_io.queue_url(s.telemetry_high_queue),
        "low": queue_io.queue_url(s.telemetry_low_queue),
    }
    try:
        chunks = s3.open_stream(plan.bucket, plan.key, if_match=plan.etag)
    except ConflictError as exc:
        raise SupersededError(f"s3://{plan.bucket}/{plan.key} changed: {exc}") from exc
    if chunks is None:
        raise SupersededError(f"s3://{plan.bucket}/{plan.key} disappeared")
    table = VehicleTable()
    resolver = metadata_io.resolver(table, s)
    cross = CrossFileIndex(
        lambda day: storage_io.load_bloom(plan.bucket, day),
        lambda day: storage_io.load_keysets(plan.bucket, day, exclude=plan.file_id),
    )
    header, blocks = frame(chunks, plan.chunk_bytes)
    totals = FileTotals()
    rejects = storage_io.RejectsWriter()
    result = IngestResult(totals, resolver.stats, resolver.cache_name, 0.0, 0.0, None)
    processor = None
    if header is not None:
        result.ignored_columns = list(header.ignored)
        processor = FileProcessor(
            header,
            source_key=plan.key,
            file_id=plan.file_id,
            now_ms=now_ms,
            vehicles=table,
            resolve=resolver,
            cross=cross,
            expected_rows=plan.expected_rows,
            message_bytes=s.telemetry_message_bytes,
            retention_days=s.telemetry_retention_days,
        )
        result.missing_columns = list(processor.missing_columns)
        progress = Progress(max(1, -(-plan.size // plan.chunk_bytes)), f"chunks of {plan.key}")
        for chunk in processor.results(blocks):
            if not chunk.reconciles:
                raise ReconciliationError(
                    f"{plan.key} chunk {chunk.index} (from line {chunk.first_line}): "
                    f"{chunk.rows} rows != {chunk.stored} stored + "
                    f"{sum(chunk.rejected.values())} rejected + {chunk.duplicates} duplicates"
                )
            # plain calls, not nested tasks: a nested task run keeps its parameters (here the
            # chunk's messages and Parquet bytes) until the enclosing task ends, so memory
            # would grow with the file; this task is retried as a whole instead (idempotent)
            sent = queue_io.send_messages(chunk.messages, urls)
            storage_io.put_archive(plan, chunk.index, chunk.archive)
            rejects.add(chunk.rejects)
            totals.add_counts(
                chunk.rows, chunk.stored, chunk.duplicates, chunk.rejected, chunk.invalid_optional
            )
            for message in chunk.messages:
                totals.messages[message.priority] += 1
                totals.events_sent[message.priority] += message.events
            totals.send_requests += sent.requests
            totals.send_retried += sent.resent
            totals.message_bytes += sent.bytes
            totals.archive_objects += len(chunk.archive)
            progress.advance()
            logger.info(
                "%s chunk %d: %s",
                plan.key,
                chunk.index,
                _chunk_line(chunk.rows, chunk.stored, chunk.rejected, chunk.duplicates),
            )
    if rejects.count:
        result.rejects_uri = storage_io.put_rejects(plan, list(rejects.chunks()))
    if processor is not None and len(processor.keys):
        result.dedup_days = storage_io.store_dedup_state(plan, processor.keys, table)
    result.metadata_problems = list(resolver.source.problems)
    result.maybe_seen, result.confirmed_duplicates = cross.maybe_seen, cross.confirmed
    result.seconds = time.perf_counter() - started
    result.peak_rss_mb = peak_rss_mb()
    logger.info("%s: %s", plan.key, reconciliation(totals))
    return result


def _chunk_line(rows: int, stored: int, rejected: dict[str, Any], duplicates: int) -> str:
    return (
        f"{rows:,} rows: {stored:,} stored, {sum(rejected.values()):,} rejected, "
        f"{duplicates:,} duplicates"
    )
