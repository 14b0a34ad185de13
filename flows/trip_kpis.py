"""Trip KPIs: exact daily fare KPIs, DynamoDB trips table → `kpis/date=YYYY-MM-DD/kpi.json`.

- `trip_kpis_day` (daily): one pickup date by a `Query` of the by-date index — it reads that
  day's trips only, however long the history — then one KPI file (unchanged files are kept).
- `trip_kpis_backfill`: a date range, one `trip_kpis_day` run per date (local subflows, a
  bounded number at once, or one run of a deployment per date).
- `trip_kpis_rebuild`: every date from a parallel `Scan` of the whole table (segments as
  concurrent tasks), including legacy items without `pickup_date`; reports unassigned items.
- `trip_kpis_migrate`: gives legacy items their `pickup_date` (conditional updates), resumable
  per scan segment, so that daily runs see them.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from typing import Annotated, Any

from prefect import flow, get_run_logger, unmapped
from prefect.client.schemas.objects import FlowRun
from prefect.deployments import run_deployment
from prefect.futures import PrefectFuture, as_completed
from prefect.runtime import flow_run
from prefect.task_runners import ThreadPoolTaskRunner
from pydantic import Field

from tasks.common.artifacts import Progress, publish_summary
from tasks.common.runs import compute_task, label_flow_run, run_subflow
from tasks.common.settings import get_settings
from tasks.trip_kpis import kpi_core, plan_core
from tasks.trip_kpis.kpis_io import write_kpis
from tasks.trip_kpis.plan_core import (
    BackfillSummary,
    DaySummary,
    MigrationSummary,
    RebuildSummary,
)
from tasks.trip_kpis.trips_io import (
    Read,
    SegmentMigration,
    migrate_segment,
    query_trips,
    scan_trips,
)

MAX_LOCAL_DAYS = 8  # daily runs a local backfill keeps in flight at most
MAX_SEGMENTS = 16  # scan segments read at once in one process (more segments queue)
DAY_DEPLOYMENT = "trip-kpis-day/trip-kpis-backfill-day"  # what a backfill fans out to
PIPELINE = "trip_kpis"


def utc_now() -> datetime:
    """Now, in UTC (a KPI file's `generated_at`, a checkpoint's `updated_at`)."""
    return datetime.now(UTC)


def _day_run_name() -> str:
    day = flow_run.parameters.get("day")
    return f"trip-kpis {day}" if day else "trip-kpis scheduled"


@flow(
    name="trip-kpis-day",
    description="KPIs of one pickup date from a Query of the by-date index → one KPI file.",
    flow_run_name=_day_run_name,
)
def trip_kpis_day(
    day: date | None = None,
    days_ago: Annotated[int, Field(ge=0, le=366)] = 1,
    page_size: Annotated[int, Field(ge=1)] | None = None,
) -> DaySummary:
    """KPIs of one pickup date: a `Query` of that date on `pickup_date-index`, one KPI file.

    Args:
        day: Pickup date (YYYY-MM-DD, a calendar date in the KPI time zone). Empty: `days_ago`
            days before the run's scheduled date in the KPI time zone.
        days_ago: Without `day`: 1 = yesterday (the daily schedule); 2 = the day before, which
            the second daily schedule recomputes to pick up trips that completed late.
        page_size: Items per DynamoDB page (default: DynamoDB's 1 MB pages).
    """
    settings = get_settings()
    zone = settings.kpi_timezone
    scheduled = flow_run.scheduled_start_time or utc_now()
    the_day = (day or plan_core.default_day(scheduled, zone, days_ago)).isoformat()
    label_flow_run(f"trip-kpis {the_day}", [PIPELINE, "daily"])
    read = query_trips(settings.trips_table, the_day, zone, page_size)
    doc = kpi_core.kpi_document(read.tally.day(the_day), zone, utc_now())
    outcome = write_kpis(settings.kpi_bucket, [doc])[the_day]
    summary = DaySummary(
        date=the_day,
        timezone=zone,
        file=outcome,
        uri=f"s3://{settings.kpi_bucket}/{kpi_core.kpi_key(the_day)}",
        trips_read=doc["trips_read"],
        trip_count=doc["trip_count"],
        skipped=dict(doc["skipped"]),
        total_fare=None if doc["total_fare"] is None else str(doc["total_fare"]),
        items_read=read.stats.items,
        read_capacity_units=read.stats.capacity_units,
        pages=read.stats.pages,
    )
    get_run_logger().info(
        "%s: %d of %d trips counted, total fare %s; file %s",
        the_day,
        summary["trip_count"],
        summary["trips_read"],
        summary["total_fare"],
        outcome,
    )
    publish_summary(
        f"trip-kpis-{the_day}",
        f"Trip KPIs {the_day} ({zone}): {summary['trip_count']} trips counted, file {outcome}",
        [{"field": k, "value": v} for k, v in summary.items()],
    )
    return summary


def _backfill_run_name() -> str:
    params = flow_run.parameters
    start, end = params.get("start"), params.get("end")
    return f"trip-kpis-backfill {start or end or 'yesterday'}..{end or 'yesterday'}"


@flow(
    name="trip-kpis-backfill",
    description="KPIs of every date of a range, one trip-kpis-day run per date.",
    flow_run_name=_backfill_run_name,
    task_runner=ThreadPoolTaskRunner(max_workers=MAX_LOCAL_DAYS),  # type: ignore[arg-type]
)
def trip_kpis_backfill(
    start: date | None = None,
    end: date | None = None,
    max_concurrency: Annotated[int, Field(ge=1, le=MAX_LOCAL_DAYS)] = 4,
    day_deployment: str | None = None,
) -> BackfillSummary:
    """KPIs of every pickup date from `start` to `end`, both included, one daily run per date.

    Args:
        start: First pickup date (YYYY-MM-DD), included. Empty: `end`.
        end: Last pickup date (YYYY-MM-DD), included. Empty: yesterday in the KPI time zone
            (as of the run's scheduled time).
        max_concurrency: Dates computed at once in this process (at most 8), when the daily
            runs are local subflows (`day_deployment` empty).
        day_deployment: `flow-name/deployment-name` of a deployment that computes one date
            (e.g. on ECS): this run then submits one run of it per date, throttled by that
            deployment's concurrency limit, and does not wait for them.
    """
    scheduled = flow_run.scheduled_start_time or utc_now()
    last = end or plan_core.default_day(scheduled, get_settings().kpi_timezone)
    first = start or last
    days = plan_core.days_between(first, last)
    label_flow_run(f"trip-kpis-backfill {first}..{last}", [PIPELINE, "backfill"])
    progress = Progress(len(days), f"Trip KPIs backfill {first} → {last}: {len(days)} date(s)")
    if day_deployment:
        outcomes = _submit_deployments(days, day_deployment, progress)
    else:
        outcomes = _run_days_locally(days, max_concurrency, progress)
    return _backfill_report(first, last, outcomes)


@compute_task("compute-day", run_name="compute-day {day}")
def compute_day(day: date) -> str:
    """One date of a local backfill, as a subflow run; returns its outcome."""
    summary = run_subflow(trip_kpis_day, day=day)
    if isinstance(summary, Exception):
        return f"failed: {type(summary).__name__}: {summary}"
    return str(summary["file"])


def _run_days_locally(days: list[date], concurrency: int, progress: Progress) -> dict[date, str]:
    """Daily runs as subflows, at most `concurrency` in flight; progress as each finishes."""
    limit = max(1, min(concurrency, MAX_LOCAL_DAYS))
    outcomes: dict[date, str] = {}
    pending = list(reversed(days))
    running: dict[PrefectFuture[str], date] = {}
    while pending or running:
        while pending and len(running) < limit:
            day = pending.pop()
            running[compute_day.submit(day)] = day
        done = next(as_completed(list(running)))
        outcomes[running.pop(done)] = done.result()
        progress.advance()
    return outcomes


def _submit_deployments(days: list[date], deployment: str, progress: Progress) -> dict[date, str]:
    """One run of `deployment` per date, not awaited (timeout=0), idempotent per backfill run."""
    outcomes: dict[date, str] = {}
    for day in days:
        run: FlowRun = run_deployment(  # type: ignore[assignment]  # sync call returns a FlowRun
            deployment,
            parameters={"day": day.isoformat()},
            timeout=0,
            idempotency_key=f"trip-kpis-backfill:{flow_run.id}:{day}",
            tags=[PIPELINE, "backfill"],
        )
        outcomes[day] = f"submitted: {run.name}"
        progress.advance()
    return outcomes


def _backfill_report(start: date, end: date, outcomes: dict[date, str]) -> BackfillSummary:
    tally = Counter(o.split(":", 1)[0] for o in outcomes.values())
    failed = sorted(d.isoformat() for d, o in outcomes.items() if o.startswith("failed"))
    summary = BackfillSummary(
        start=start.isoformat(),
        end=end.isoformat(),
        days=len(outcomes),
        runs=dict(sorted(tally.items())),
        failed_days=failed,
    )
    publish_summary(
        "trip-kpis-backfill",
        f"Trip KPIs backfill {start} → {end}: {len(outcomes)} date(s), {len(failed)} failed",
        [{"date": d.isoformat(), "outcome": o} for d, o in sorted(outcomes.items())],
    )
    if failed:
        raise RuntimeError(f"trip KPIs backfill: {len(failed)} date(s) failed: {failed[:20]}")
    return summary


def _rebuild_run_name() -> str:
    params = flow_run.parameters
    start, end = params.get("start"), params.get("end")
    window = f" {start or '…'}..{end or '…'}" if start or end else ""
    return f"trip-kpis-rebuild{window} ({params.get('segments', 8)} segments)"


@flow(
    name="trip-kpis-rebuild",
    description="KPIs of every date from a parallel Scan of the whole table (legacy items too).",
    flow_run_name=_rebuild_run_name,
    task_runner=ThreadPoolTaskRunner(max_workers=MAX_SEGMENTS),  # type: ignore[arg-type]
)
def trip_kpis_rebuild(
    segments: Annotated[int, Field(ge=1, le=256)] = 8,
    start: date | None = None,
    end: date | None = None,
    page_size: Annotated[int, Field(ge=1)] | None = None,
) -> RebuildSummary:
    """Rebuild the KPI files from one parallel `Scan` of the whole table.

    Reads every item once (legacy items without `pickup_date` are dated by their
    `pickup_datetime`), then writes each date's file, keeping unchanged ones.

    Args:
        segments: Parallel scan segments (`TotalSegments`); at most 16 are read at once in
            this process, each with its own DynamoDB client.
        start: Write only dates from this one (YYYY-MM-DD), included. Empty: no lower bound.
        end: Write only dates up to this one (YYYY-MM-DD), included. Empty: no upper bound.
            With both ends, dates of the range without trips get a zero-count file.
        page_size: Items per DynamoDB page (default: DynamoDB's 1 MB pages).
    """
    settings = get_settings()
    zone = settings.kpi_timezone
    if start and end:
        plan_core.days_between(start, end)  # validates the range before reading anything
    label_flow_run(tags=[PIPELINE, "rebuild"])
    read = _scan(settings.trips_table, segments, zone, page_size)
    dates = plan_core.rebuild_dates(list(read.tally.days), start, end)
    now = utc_now()
    docs = {d: kpi_core.kpi_document(read.tally.day(d), zone, now) for d in dates}
    chunks = [[docs[d] for d in chunk] for chunk in plan_core.month_chunks(dates)]
    outcomes: dict[str, str] = {}
    for future in write_kpis.map(unmapped(settings.kpi_bucket), chunks):
        outcomes.update(future.result())
    return _rebuild_report(read, segments, dates, outcomes, start, end)


def _scan(table: str, segments: int, zone: str, page_size: int | None) -> Read:
    """Every segment as a concurrent task, merged as each one finishes."""
    progress = Progress(segments, f"Trip KPIs rebuild: {segments} scan segment(s)")
    futures = scan_trips.map(
        unmapped(table), range(segments), unmapped(segments), unmapped(zone), unmapped(page_size)
    )
    read = Read()
    for future in as_completed(list(futures)):
        read.merge(future.result())
        progress.advance()
    return read


def _rebuild_report(
    read: Read,
    segments: int,
    dates: list[str],
    outcomes: dict[str, str],
    start: date | None,
    end: date | None,
) -> RebuildSummary:
    tally = read.tally
    kept = [tally.days[d] for d in dates]
    skipped = {r: sum(t.skipped[r] for t in kept) for r in kpi_core.REASONS}
    written_dates = set(dates)
    outside = sum(t.trips for d, t in tally.days.items() if d not in written_dates)
    summary = RebuildSummary(
        segments=segments,
        range=f"{start or 'first'}..{end or 'last'}",
        items_read=read.stats.items,
        read_capacity_units=read.stats.capacity_units,
        pages=read.stats.pages,
        dates=len(dates),
        written=sum(1 for o in outcomes.values() if o == "written"),
        unchanged=sum(1 for o in outcomes.values() if o == "unchanged"),
        trips_counted=sum(t.counted for t in kept),
        trips_skipped=sum(skipped.values()),
        outside_range=outside,
        unassigned=sum(tally.unassigned.values()),
        unassigned_by_reason=dict(sorted(tally.unassigned.items())),
        unassigned_examples=list(tally.unassigned_examples),
        skipped=skipped,
    )
    notes = []
    if summary["unassigned"]:
        notes.append(
            f"{summary['unassigned']:,} item(s) have neither a pickup_date nor a parseable "
            f"pickup_datetime and count in no date (e.g. trip_id {tally.unassigned_examples})."
        )
    logger = get_run_logger()
    for note in notes:
        logger.warning(note)
    logger.info(
        "rebuild: %d items read = %d counted + %d skipped + %d outside the range + %d "
        "unassigned; %d file(s) written, %d unchanged",
        summary["items_read"],
        summary["trips_counted"],
        summary["trips_skipped"],
        summary["outside_range"],
        summary["unassigned"],
        summary["written"],
        summary["unchanged"],
    )
    publish_summary(
        "trip-kpis-rebuild",
        f"Trip KPIs rebuild ({segments} segments): {len(dates)} date(s)",
        [{"field": k, "value": v} for k, v in summary.items()],
        notes,
    )
    return summary


def _migrate_run_name() -> str:
    params = flow_run.parameters
    mode = " (dry run)" if params.get("dry_run") else ""
    return f"trip-kpis-migrate {params.get('segments', 4)} segments{mode}"


@flow(
    name="trip-kpis-migrate",
    description="Give legacy trips their pickup_date (conditional updates, resumable).",
    flow_run_name=_migrate_run_name,
    task_runner=ThreadPoolTaskRunner(max_workers=MAX_SEGMENTS),  # type: ignore[arg-type]
)
def trip_kpis_migrate(
    segments: Annotated[int, Field(ge=1, le=256)] = 4,
    restart: bool = False,
    dry_run: bool = False,
    page_size: Annotated[int, Field(ge=1)] | None = None,
) -> MigrationSummary:
    """Add `pickup_date` to every legacy item (one without it), so the index — and the daily
    runs — see it.

    Each segment resumes after the last page its checkpoint records; a segment already done is
    skipped. Each update applies only if the item still has no `pickup_date` and the same
    `pickup_datetime`, so running it twice, or alongside producers, changes nothing twice.

    Args:
        segments: Parallel scan segments; a checkpoint belongs to one segment count, so
            resume with the same number.
        restart: Ignore the checkpoints and scan the whole table again.
        dry_run: Count the legacy items (and those that cannot be dated); change nothing.
        page_size: Items per DynamoDB page (default: DynamoDB's 1 MB pages).
    """
    settings = get_settings()
    label_flow_run(tags=[PIPELINE, "migration"])
    progress = Progress(segments, f"Trip KPIs migration: {segments} segment(s)")
    futures = migrate_segment.map(
        unmapped(settings.trips_table),
        unmapped(settings.kpi_bucket),
        range(segments),
        unmapped(segments),
        unmapped(settings.kpi_timezone),
        unmapped(restart),
        unmapped(dry_run),
        unmapped(page_size),
    )
    results: list[SegmentMigration] = []
    for future in as_completed(list(futures)):
        results.append(future.result())
        progress.advance()
    return _migration_report(results, segments, dry_run)


def _migration_report(
    results: list[SegmentMigration], segments: int, dry_run: bool
) -> MigrationSummary:
    this_run, total = plan_core.no_counts(), plan_core.no_counts()
    for result in results:
        this_run = plan_core.add_counts(this_run, result.this_run)
        total = plan_core.add_counts(total, result.total)
    summary = MigrationSummary(
        segments=segments,
        dry_run=dry_run,
        segments_done_before=sum(1 for r in results if r.done_before),
        this_run=this_run,
        total=total,
        complete=all(r.complete for r in results),
    )
    notes = []
    if total["unassigned"]:
        notes.append(
            f"{total['unassigned']:,} legacy item(s) have no parseable pickup_datetime and "
            "cannot be dated; the rebuild reports them as unassigned."
        )
    if this_run["changed"]:
        notes.append(
            f"{this_run['changed']:,} item(s) changed between the scan and the update (a "
            "producer wrote them meanwhile) and were left as they are."
        )
    get_run_logger().info(
        "migration%s: %d scanned, %d legacy, %d migrated this run (%d in total)",
        " (dry run)" if dry_run else "",
        this_run["scanned"],
        this_run["legacy"],
        this_run["migrated"],
        total["migrated"],
    )
    rows: list[dict[str, Any]] = [
        {"counts": "this run", **this_run},
        {"counts": "total (all runs)", **total},
    ]
    publish_summary(
        "trip-kpis-migration",
        f"Trip KPIs migration ({segments} segments){' — dry run' if dry_run else ''}",
        rows,
        notes,
    )
    return summary
