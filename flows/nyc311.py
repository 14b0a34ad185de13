"""NYC 311 collector: Socrata → raw JSON + month-partitioned Parquet in S3, keyset checkpoint in S3.

Each run: read the checkpoint → plan (initial / incremental / backfill) → page by keyset through
the overlap window and then up to `max_records` new rows → write the raw JSON → merge each touched
month partition (no duplicate unique_key) → write the checkpoint → publish the summary.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from prefect import flow, get_run_logger
from prefect.runtime import flow_run
from pydantic import Field

from tasks.common.artifacts import Progress, publish_summary
from tasks.common.runs import label_flow_run
from tasks.common.settings import Settings, get_settings
from tasks.nyc311 import plan_core, records_core
from tasks.nyc311.plan_core import SEED_STATUSES, Nyc311Summary, Outcome, Plan, RunCounts
from tasks.nyc311.socrata_io import fetch_page
from tasks.nyc311.soql_core import Batch, Record, collect
from tasks.nyc311.storage_io import (
    PartitionWrite,
    merge_partition,
    put_json,
    read_checkpoint,
    write_checkpoint,
)

ARTIFACT_KEY = "nyc311-collector"


def _run_name() -> str:
    start = flow_run.parameters.get("start")
    return f"nyc311 backfill from {start}" if start else "nyc311 collect"


@flow(
    name="nyc311-collector",
    description="NYC 311 service requests from Socrata into S3 without losses or duplicates.",
    flow_run_name=_run_name,
)
def nyc311_collect(
    max_records: Annotated[int, Field(ge=1)] = 10_000,
    force_initial_load: bool = False,
    initial_lookback_days: Annotated[int, Field(ge=1)] = 365,
    page_size: Annotated[int, Field(ge=1, le=50_000)] = 2_000,
    start: date | datetime | None = None,
    end: date | datetime | None = None,
    initial_statuses: tuple[str, ...] = SEED_STATUSES,
) -> Nyc311Summary:
    """Collect new 311 service requests (keyset-paged), store raw JSON and month Parquet files.

    Args:
        max_records: Most new records fetched by one run; a run that reaches it leaves a backlog
            that the next run continues exactly after.
        force_initial_load: Start over with an initial load (or restart a backfill window).
        initial_lookback_days: Days back (from midnight) that an initial load covers.
        page_size: Records per request (Socrata allows up to 50,000).
        start: Backfill: the first day (a date) or instant (a date-time) whose records to
            collect, inclusive, with its own checkpoint; empty for the daily collection.
        end: The last day or instant to collect, inclusive; empty = up to the run's scheduled
            time. Dates are New York days; a date-time with a zone (the UI sends UTC, `...Z`)
            is converted to New York time; one without a zone is New York time. The report
            shows the window in New York time and in UTC.
        initial_statuses: Statuses an initial load keeps (the seed's Open / In Progress);
            incremental runs and backfills take every status.
    """
    settings = get_settings()
    as_of = plan_core.window_end(end) if end else scheduled_time()
    begin = plan_core.window_start(start) if start else None
    state_key = plan_core.state_key(begin, as_of)
    checkpoint = read_checkpoint(settings.nyc311_processed_bucket, state_key)
    plan = plan_core.plan_run(
        checkpoint.doc,
        as_of=as_of,
        start=begin,
        force_initial_load=force_initial_load,
        initial_lookback_days=initial_lookback_days,
        initial_statuses=initial_statuses,
        overlap=timedelta(hours=settings.nyc311_overlap_hours),
    )
    label_flow_run(f"nyc311 {plan.mode} from {plan.start_label()}", ["nyc311", plan.mode])
    get_run_logger().info("mode %s, window %s", plan.mode, plan.date_range())
    batch = fetch_batch(plan, settings, max_records, page_size)
    counts, raw_uri, writes = store_batch(batch, plan, settings, as_of.date())
    cursor = plan_core.next_cursor(plan, batch.last, batch.backlog)
    doc = plan_core.checkpoint_doc(
        plan, cursor, batch.backlog, counts, updated_at=utc_now(), flow_run_id=flow_run.id
    )
    write_checkpoint(checkpoint, doc)
    outcome = Outcome(
        plan=plan,
        counts=counts,
        backlog=batch.backlog,
        cursor=cursor,
        first_created_date=batch.first_created_date,
        last_created_date=batch.last.created_date if batch.last else None,
        raw_uri=raw_uri,
        checkpoint_uri=checkpoint.uri,
        partitions=[f"s3://{settings.nyc311_processed_bucket}/{w.key}" for w in writes],
    )
    return report(outcome, max_records, overlap_truncated=batch.overlap_truncated)


def scheduled_time() -> datetime:
    """The run's scheduled start in NYC time (Prefect gives it in UTC), to the second."""
    return plan_core.local_time(flow_run.scheduled_start_time).replace(microsecond=0)


def utc_now() -> datetime:
    """Now, in UTC (the checkpoint's `updated_at`)."""
    return datetime.now(UTC)


def fetch_batch(plan: Plan, settings: Settings, max_records: int, page_size: int) -> Batch:
    """Keyset-page the overlap window and then the new records, one task per request."""
    base_url, dataset = settings.socrata_base_url, settings.socrata_dataset_id
    progress = Progress(1, f"NYC 311 {plan.mode} run: position in the window {plan.date_range()}")

    pages = {"fetched": 0, "rows": 0}

    def fetch(where: str, limit: int) -> list[Record]:
        pages["fetched"] += 1
        records = fetch_page(base_url, dataset, where, limit, pages["fetched"], pages["rows"])
        pages["rows"] += len(records)
        return records

    batch = collect(
        fetch,
        plan.clauses(),
        start=plan.cursor,
        overlap_clauses=plan.overlap_clauses(),
        max_records=max_records,
        page_size=page_size,
        on_page=lambda page: progress.reach(
            plan.fraction_done(page.cursor.created_date if page.cursor else None)
        ),
    )
    if not batch.backlog:  # the whole window is read (a backlog stops short of its end)
        progress.reach(1.0)
    return batch


def store_batch(
    batch: Batch, plan: Plan, settings: Settings, day: date
) -> tuple[RunCounts, str | None, list[PartitionWrite]]:
    """Raw JSON first, then rejects, then every touched month partition (merged)."""
    parsed = records_core.parse_records(batch.records)
    raw_uri = None
    writes: list[PartitionWrite] = []
    if batch.records:
        body = records_core.json_body(batch.records)
        raw_key = records_core.dated_key(records_core.RAW_PREFIX, day, plan.mode, body)
        put_json(settings.nyc311_raw_bucket, raw_key, body)
        raw_uri = f"s3://{settings.nyc311_raw_bucket}/{raw_key}"
    if parsed.rejects:
        body = records_core.rejects_body(parsed.rejects)
        key = records_core.dated_key(records_core.REJECTS_PREFIX, day, plan.mode, body)
        put_json(settings.nyc311_processed_bucket, key, body)
    for year, month, rows in records_core.split_months(parsed.table):
        key = records_core.partition_key(year, month)
        writes.append(merge_partition(settings.nyc311_processed_bucket, key, rows))
    counts = RunCounts(
        records=batch.new_rows,
        overlap_rows=batch.overlap_rows,
        fetched=len(batch.records),
        inserted=sum(w.inserted for w in writes),
        replaced=sum(w.replaced for w in writes),
        duplicates_in_batch=parsed.duplicates,
        rejected=len(parsed.rejects),
        invalid_values=parsed.invalid_values,
        requests=batch.requests,
    )
    return counts, raw_uri, writes


def report(outcome: Outcome, max_records: int, *, overlap_truncated: bool) -> Nyc311Summary:
    """Log and publish the run summary (a table artifact plus a notes artifact for warnings)."""
    summary, notes = plan_core.summarise(outcome, max_records)
    if overlap_truncated:
        notes.append(
            f"The overlap re-read reached max_records ({max_records:,}); late records before "
            "it may remain: lower nyc311_overlap_hours or raise max_records."
        )
    logger = get_run_logger()
    for note in notes:
        logger.warning(note)
    logger.info("%s: %s records, mode %s", summary["message"], summary["records"], summary["mode"])
    publish_summary(
        ARTIFACT_KEY,
        f"NYC 311 collector ({summary['mode']})",
        [{"field": name, "value": value} for name, value in summary.items()],
        notes,
    )
    return summary
