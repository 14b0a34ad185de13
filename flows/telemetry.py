"""Fleet telemetry: one uploaded GPS file, the sweep of missed files, the consumer, the DLQ.

- `telemetry-file` (S3 upload under `incoming/*.csv` → Lambda; or the sweep): stream the file
  in chunks → validate, enrich, dedup → high/low queues + Parquet archive + rejects object →
  dedup state → reconciliation → processed marker (per key + ETag).
- `telemetry-sweep` (scheduled): every `incoming/*.csv` whose current version has no marker.
- `telemetry-consume` (scheduled every minute): drain the high queue before the low one into
  DynamoDB.
- `telemetry-dlq` (operator): list, redrive or delete dead-lettered messages.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from prefect import flow, get_run_logger
from prefect.runtime import flow_run
from pydantic import Field

from tasks.common.artifacts import publish_summary
from tasks.common.memory import peak_rss_mb
from tasks.common.runs import label_flow_run, run_subflow
from tasks.common.settings import get_settings
from tasks.telemetry import plan_core
from tasks.telemetry.consumer_io import DrainStats, drain_round, operate_dlq, queue_depths
from tasks.telemetry.ingest_io import IngestResult, ingest_file
from tasks.telemetry.plan_core import (
    ConsumeSummary,
    DlqSummary,
    FilePlan,
    FileSummary,
    SweepSummary,
    check_reconciles,
    plan_file,
)
from tasks.telemetry.storage_io import (
    head_file,
    list_unprocessed,
    mark_processed,
    read_file_state,
    start_file,
)

TAGS = ["telemetry"]


@flow(name="telemetry-file", flow_run_name="telemetry-file {key}")
def telemetry_file(
    key: str,
    bucket: str | None = None,
    etag: str | None = None,
    force: bool = False,
) -> FileSummary:
    """Process one uploaded telemetry CSV: queues, archive, rejects; then its processed marker.

    Args:
        key: Object key under `incoming/`, ending in `.csv`.
        bucket: Raw bucket; default the `telemetry_raw_bucket` setting.
        etag: The ETag from the triggering event; if the object has changed since, this run
            does nothing (the newer version has its own event).
        force: Process the version again even if it has a processed marker (idempotent: the
            same items, archive objects and rejects object are written again).
    """
    label_flow_run(tags=[*TAGS, "file"])
    s = get_settings()
    bucket = bucket or s.telemetry_raw_bucket
    if not plan_core.is_telemetry_key(key):
        raise ValueError(f"{key!r} is not a telemetry file (expected incoming/...csv)")
    now_ms = int(time.time() * 1000)
    source = head_file(bucket, key)
    if source is None:
        return FileSummary(key=key, status="missing")
    if etag and etag.strip('"') != source.etag:
        return FileSummary(key=key, etag=source.etag, status="superseded")
    fid = plan_core.file_id(key, source.etag)
    processed, started = read_file_state(bucket, key, fid)
    if processed is not None and not force:
        get_run_logger().info("%s (ETag %s) is already processed", key, source.etag)
        return FileSummary(
            key=key,
            etag=source.etag,
            file_id=fid,
            status="already_processed",
            marker_uri=f"s3://{bucket}/{plan_core.marker_key(fid)}",
        )
    plan = plan_file(bucket, key, source.etag, source.size, started, s.telemetry_chunk_bytes)
    start_file(plan, str(flow_run.id) if flow_run.id else None)
    result = ingest_file(plan, now_ms)
    line = check_reconciles(key, result.totals)
    summary = file_summary(plan, result, line)
    summary["marker_uri"] = mark_processed(plan, dict(summary))
    publish_file(summary, result)
    return summary


def file_summary(plan: FilePlan, result: IngestResult, line: str) -> FileSummary:
    """The summary (also the processed marker's content) of a processed file."""
    totals = result.totals
    notes = []
    if result.missing_columns:
        notes.append(
            f"header lacks required column(s) {result.missing_columns}: every row "
            "is rejected as missing_field"
        )
    if result.ignored_columns:
        notes.append(f"ignored column(s): {result.ignored_columns}")
    for name, n in totals.invalid_optional.items():
        notes.append(f"{n:,} unusable {name} value(s) left out of the stored events")
    if result.metadata_problems:
        notes.append(
            f"{len(result.metadata_problems)} invalid vehicle metadata record(s), e.g. "
            + "; ".join(result.metadata_problems[:3])
        )
    if result.cache.cache_errors:
        notes.append("the vehicle cache failed during the run; metadata was read from the document")
    seconds = max(result.seconds, 1e-9)
    metrics = {
        "rows_per_second": round(totals.rows / seconds, 1),
        "seconds": round(result.seconds, 3),
        "chunks": totals.chunks,
        "peak_rss_mb": round(result.peak_rss_mb, 1),
        "messages_high": totals.messages["high"],
        "messages_low": totals.messages["low"],
        "send_requests": totals.send_requests,
        "send_entries_resent": totals.send_retried,
        "message_bytes": totals.message_bytes,
        "dynamodb_writes": 0,  # the consumer writes (telemetry-consume)
        "cache_lookups": result.cache.lookups,
        "cache_hit_rate": round(result.cache.hit_rate, 4),
        "metadata_loads": result.cache.source_loads,
        "bloom_maybe_seen": result.maybe_seen,
        "confirmed_duplicates_other_files": result.confirmed_duplicates,
    }
    return FileSummary(
        key=plan.key,
        etag=plan.etag,
        status="processed",
        file_id=plan.file_id,
        rows_in=totals.rows,
        stored=totals.stored,
        rejected=totals.rejected_total,
        duplicates=totals.duplicates,
        rejected_by_code=totals.rejected_by_code(),
        reconciliation=line,
        chunks=totals.chunks,
        messages=dict(totals.messages),
        rejects_uri=result.rejects_uri,
        archive_objects=totals.archive_objects,
        metrics=metrics,
        notes=notes,
    )


def publish_file(summary: FileSummary, result: IngestResult) -> None:
    rows: list[dict[str, Any]] = [
        {"metric": "reconciliation", "value": summary["reconciliation"]},
        *({"metric": k, "value": v} for k, v in summary["metrics"].items()),
        {"metric": "cache", "value": result.cache_kind},
        *({"metric": f"rejected {k}", "value": v} for k, v in summary["rejected_by_code"].items()),
        {"metric": "rejects object", "value": summary["rejects_uri"] or "-"},
        {"metric": "archive objects", "value": summary["archive_objects"]},
    ]
    publish_summary(
        f"telemetry-file-{summary['file_id']}",
        f"telemetry file {summary['key']}",
        rows,
        summary["notes"],
    )
    logger = get_run_logger()
    for note in summary["notes"]:
        logger.warning(note)
    logger.info("%s: %s", summary["key"], summary["reconciliation"])


@flow(name="telemetry-sweep", flow_run_name="telemetry-sweep {prefix}")
def telemetry_sweep(
    prefix: str = "incoming/",
    max_files: Annotated[int, Field(ge=1)] = 500,
    force: bool = False,
    bucket: str | None = None,
) -> SweepSummary:
    """Process every telemetry file whose current version has no processed marker.

    The safety net for missed or failed S3 events (and, with `force`, the reprocessing tool).

    Args:
        prefix: Key prefix to sweep (under `incoming/`).
        max_files: Most files one run processes; the rest wait for the next run.
        force: Process files even if their version is already processed.
        bucket: Raw bucket; default the `telemetry_raw_bucket` setting.
    """
    label_flow_run(tags=[*TAGS, "sweep"])
    bucket = bucket or get_settings().telemetry_raw_bucket
    todo, total = list_unprocessed(bucket, prefix, force)
    by_status: dict[str, int] = {}
    failed: list[str] = []
    for source in todo[:max_files]:
        outcome = run_subflow(
            telemetry_file, key=source.key, bucket=bucket, etag=source.etag, force=force
        )
        status = "failed" if isinstance(outcome, Exception) else outcome["status"]
        by_status[status] = by_status.get(status, 0) + 1
        if status == "failed":
            failed.append(source.key)
    summary = SweepSummary(
        bucket=bucket,
        prefix=prefix,
        files=total,
        processed=by_status.get("processed", 0),
        already_processed=total - len(todo) + by_status.get("already_processed", 0),
        failed=len(failed),
        remaining=max(0, len(todo) - max_files),
        by_status=by_status,
    )
    publish_summary(
        "telemetry-sweep",
        f"sweep of s3://{bucket}/{prefix}",
        [{"field": k, "value": v} for k, v in summary.items()],
        [f"failed: {k}" for k in failed],
    )
    if failed:
        raise RuntimeError(f"{len(failed)} file(s) failed: {failed[:5]}")
    return summary


@flow(name="telemetry-consume", flow_run_name="telemetry-consume (up to {max_messages} messages)")
def telemetry_consume(
    max_messages: Annotated[int, Field(ge=1)] = 10_000,
    max_seconds: Annotated[float, Field(gt=0)] = 240.0,
    receives_per_round: Annotated[int, Field(ge=1, le=1000)] = 50,
) -> ConsumeSummary:
    """Drain the high queue before the low one into DynamoDB.

    Args:
        max_messages: Stop after receiving about this many messages.
        max_seconds: Stop starting new rounds after this many seconds.
        receives_per_round: Receives (≤10 messages each) per task run.
    """
    label_flow_run(tags=[*TAGS, "consume"])
    s = get_settings()
    started = time.monotonic()
    total = DrainStats()
    rounds = 0
    while sum(total.received.values()) < max_messages and time.monotonic() - started < max_seconds:
        rounds += 1
        stats = drain_round(rounds, receives_per_round, s.telemetry_receive_wait_seconds)
        total.merge(stats)
        if stats.empty:
            break
    depths = queue_depths()
    summary = ConsumeSummary(
        received=total.received,
        deleted=total.deleted,
        failed=total.failed,
        items_written=total.items_written,
        write_requests=total.write_requests,
        unprocessed_resent=total.unprocessed_resent,
        rounds=rounds,
        queue_depth=depths,
        peak_rss_mb=round(peak_rss_mb(), 1),
    )
    notes = [f"not stored (will be retried, DLQ after 3 receives): {e}" for e in total.errors[:20]]
    publish_summary(
        "telemetry-consume",
        "telemetry consumer",
        [{"field": k, "value": v} for k, v in summary.items()],
        notes,
    )
    for note in notes:
        get_run_logger().warning(note)
    return summary


@flow(name="telemetry-dlq", flow_run_name="telemetry-dlq {action}")
def telemetry_dlq(
    action: Literal["list", "redrive", "delete"] = "list",
    batches: list[str] | None = None,
    max_messages: Annotated[int, Field(ge=1, le=10_000)] = 100,
) -> DlqSummary:
    """Inspect the telemetry dead-letter queue; redrive or delete messages.

    Args:
        action: `list` (every message with its batch, source file and recorded error),
            `redrive` (back to the queue of its priority) or `delete`.
        batches: Batch ids (or message ids) to redrive/delete; redrive without it takes all.
        max_messages: Most messages read from the DLQ.
    """
    label_flow_run(tags=[*TAGS, "dlq"])
    if action == "delete" and not batches:
        raise ValueError("delete needs the batch ids of the messages to delete")
    rows = operate_dlq(action, batches, max_messages)
    publish_summary(
        f"telemetry-dlq-{action}",
        f"telemetry DLQ: {action}",
        [
            {
                k: r.get(k)
                for k in ("batch", "source_key", "events", "receive_count", "error", "outcome")
            }
            for r in rows
        ]
        or [{"batch": "-", "outcome": "the DLQ is empty"}],
    )
    redriven = sum(1 for r in rows if r["outcome"] == "redriven")
    return DlqSummary(action=action, messages=rows, redriven=redriven)
