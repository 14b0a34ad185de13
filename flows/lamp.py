"""Transit performance (LAMP): ingest a service date, and backfill a date range one day per run.

`lamp_ingest_day` is deployed three times (see `deployments/pipelines/lamp.py`): "today" every 30
minutes 06:00-02:30 Eastern, "yesterday" daily at 15:00 UTC, and without schedule as the unit of
work a backfill fans out to on ECS.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, TypeVar
from uuid import UUID

from prefect import flow
from prefect.client.schemas.objects import FlowRun
from prefect.deployments import run_deployment
from prefect.futures import PrefectFuture, as_completed
from prefect.logging import get_run_logger
from prefect.runtime import flow_run
from prefect.task_runners import ThreadPoolTaskRunner

from tasks.common.artifacts import Progress, publish_markdown, publish_summary
from tasks.common.runs import await_flow_runs, compute_task, label_flow_run, run_subflow
from tasks.common.settings import get_settings
from tasks.lamp import plan_core
from tasks.lamp.csv_core import EVENTS_PREFIX
from tasks.lamp.day_io import process_lamp_day
from tasks.lamp.plan_core import BackfillPlanSummary, BackfillSummary, DaySummary
from tasks.lamp.sources_io import fetch_daily_file, fetch_index
from tasks.lamp.storage_io import read_states, upload_stop_files, write_state
from tasks.transit import gtfs_core
from tasks.transit.gtfs_io import feeds_not_cached, fetch_archived_feeds, load_compact_schedule
from tasks.transit.service_core import service_date_at

T = TypeVar("T")
# Day runs a local backfill keeps in flight at most (`max_concurrency` is capped by it).
MAX_LOCAL_DAYS = 8
EMPTY_TAG = "empty"  # on a day run that found no events for a past day (not marked done)


def _day_run_name() -> str:
    params = flow_run.parameters
    return f"lamp {params.get('service_date') or params.get('which', 'today')}"


class _Stages:
    """Wall-clock seconds per stage of a run, for the report."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(time.perf_counter() - started, 3)

    def run(self, name: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        with self(name):
            return fn(*args, **kwargs)


@flow(name="lamp-ingest-day", flow_run_name=_day_run_name)
def lamp_ingest_day(
    service_date: date | None = None,
    which: Literal["today", "yesterday"] = "today",
    skip_unchanged: bool = False,
    last_modified: str | None = None,
    allow_empty: bool = False,
) -> DaySummary:
    """Ingest one service date of MBTA LAMP subway events into per-stop event CSVs in S3.

    Args:
        service_date: Service date to ingest (YYYY-MM-DD). Empty: derived from the run's
            scheduled time in Eastern time (00:00-02:59 belongs to the previous day).
        which: Without `service_date`: "today" (the current service date) or "yesterday".
        skip_unchanged: Do nothing when the stored ingest state already has the index's
            `last_modified` for this day (the backfill sets it; scheduled runs rewrite only
            changed stop files anyway).
        last_modified: The index.csv `last_modified` of this day, when the caller has already
            read the index (the backfill); empty = read index.csv.
        allow_empty: Accept a file without events for a past day (write its state, so the
            backfill counts the day as done). Default: such a day is reported with a warning,
            nothing is written, and a later run tries it again.
    """
    now = datetime.now(UTC)
    day = plan_core.resolve_service_date(service_date, which, flow_run.scheduled_start_time)
    mode = "backfill" if skip_unchanged else (which if service_date is None else "day")
    label_flow_run(f"lamp {day}", ["lamp", mode])
    stage = _Stages()
    if last_modified is None:
        entry = stage.run("fetch_index", fetch_index).get(day)
        last_modified = entry.last_modified if entry else None
    if skip_unchanged and _unchanged(day, last_modified, stage):
        return _finish(day, "unchanged", stage, last_modified=last_modified)
    # a 404 is "not published yet" only for the current service date (or a future one)
    current = day >= service_date_at(now)
    parquet = stage.run("fetch_parquet", fetch_daily_file, day, current)
    if parquet is None:
        return _finish(day, "not_published", stage, last_modified=last_modified)
    with stage("gtfs"):
        feed = gtfs_core.select_feed(fetch_archived_feeds(), day)
        compact, built = load_compact_schedule(feed)
    result = stage.run("process", process_lamp_day, parquet, compact, day)
    del parquet, compact
    details: dict[str, Any] = {
        "last_modified": last_modified,
        "gtfs_feed": feed.label,
        "gtfs_cache": "built" if built else "hit",
        **result.counts(),
        "processing_seconds": result.timings,
    }
    if result.events_written == 0 and not current and not allow_empty:
        return _finish(day, "empty", stage, **details)
    written = stage.run("upload", upload_stop_files, day, result)
    state = plan_core.make_state(day, last_modified, feed.version, result.counts())
    state_uri = stage.run("state", write_state, day, state)
    return _finish(
        day,
        "ingested",
        stage,
        **details,
        stops_written=written.written,
        stops_unchanged=written.unchanged,
        state=state_uri,
    )


def _unchanged(day: date, last_modified: str | None, stage: _Stages) -> bool:
    state = stage.run("read_state", read_states, [day]).get(day) or {}
    return bool(last_modified) and state.get("source_last_modified") == last_modified


def _finish(day: date, status: plan_core.DayStatus, stage: _Stages, **details: Any) -> DaySummary:
    """The run's summary: returned, logged and published as an artifact."""
    settings = get_settings()
    summary = plan_core.day_summary(
        day,
        status,
        source_url=plan_core.daily_file_url(settings.lamp_base_url, day),
        output=f"s3://{settings.lamp_bucket}/{EVENTS_PREFIX}/",
        seconds=stage.seconds,
        **details,
    )
    if status == "empty":  # a backfill watching this run elsewhere (ECS) reads the tag
        label_flow_run(tags=[EMPTY_TAG])
    log = get_run_logger().warning if status == "empty" else get_run_logger().info
    log("LAMP %s: %s", day, summary["message"])
    publish_summary(
        f"lamp-day-{day.isoformat()}",
        f"LAMP {day.isoformat()}: {summary['message']}",
        plan_core.summary_rows(summary),
    )
    return summary


def _backfill_run_name() -> str:
    params = flow_run.parameters
    end = params.get("end") or "yesterday"
    mode = " (dry run)" if params.get("dry_run") else ""
    return f"lamp-backfill {params.get('start', plan_core.BACKFILL_START)}..{end}{mode}"


@flow(
    name="lamp-backfill",
    flow_run_name=_backfill_run_name,
    task_runner=ThreadPoolTaskRunner(max_workers=MAX_LOCAL_DAYS),  # type: ignore[arg-type]
)
def lamp_backfill(
    start: date = plan_core.BACKFILL_START,
    end: date | None = None,
    force: bool = False,
    dry_run: bool = False,
    max_concurrency: int = 4,
    day_deployment: str | None = None,
    allow_empty: bool = False,
) -> BackfillSummary | BackfillPlanSummary:
    """Ingest every service date from `start` to `end`, one run per day, skipping unchanged days.

    Args:
        start: First service date (the original backfill began at 2019-09-15).
        end: Last service date, inclusive. Empty: yesterday's service date.
        force: Re-ingest days whose source is unchanged since their last successful ingest.
        dry_run: Only show the plan (days to ingest / unchanged / not published, expected
            requests); no parquet file is fetched and nothing is written.
        max_concurrency: Days ingested at once in this process (at most 8), when the day runs
            are local subflows (`day_deployment` empty).
        day_deployment: `flow-name/deployment-name` of the deployment that ingests one day
            (e.g. ECS tasks): this run then submits one flow run of it per day, throttled by
            that deployment's concurrency limit, and watches them to the end (progress counts
            finished days). Empty: day runs are subflows here.
        allow_empty: Accept days whose file has no events (see `lamp-ingest-day`).
    """
    last = end or service_date_at(datetime.now(UTC)) - timedelta(days=1)
    label_flow_run(tags=["lamp", "backfill"])
    days = plan_core.days_between(start, last)
    states = read_states(days)
    plans = plan_core.plan_backfill(days, fetch_index(), states, force)
    todo = [p for p in plans if p.action == "ingest"]
    if dry_run:
        return _dry_run(plans, todo, len(states))
    progress = Progress(len(todo), f"LAMP backfill {start} → {last}: {len(todo)} day(s) to ingest")
    if day_deployment:
        outcomes = _submit_deployments(todo, force, day_deployment, progress, allow_empty)
    else:
        outcomes = _run_days_locally(todo, force, max_concurrency, progress, allow_empty)
    return _backfill_report(plans, outcomes)


def _dry_run(
    plans: list[plan_core.DayPlan], todo: list[plan_core.DayPlan], states_found: int
) -> BackfillPlanSummary:
    text = fetch_archived_feeds() if todo else ""
    feeds = sorted({gtfs_core.select_feed(text, p.service_date) for p in todo}, key=str)
    missing = feeds_not_cached(feeds) if feeds else []
    summary = plan_core.summarize_plan(plans, [f.label for f in missing], states_found)
    publish_markdown(
        "lamp-backfill-plan",
        f"LAMP backfill plan: {summary['ingest']} of {summary['days']} day(s) to ingest",
        plan_core.plan_markdown(summary),
    )
    return summary


@compute_task("ingest-day", run_name="ingest-day {plan.service_date}")
def ingest_day(plan: plan_core.DayPlan, force: bool, allow_empty: bool = False) -> str:
    """One day of a local backfill, as a subflow run; returns its outcome."""
    report = run_subflow(
        lamp_ingest_day,
        service_date=plan.service_date,
        skip_unchanged=not force,
        last_modified=plan.last_modified,
        allow_empty=allow_empty,
    )
    if isinstance(report, Exception):
        return f"failed: {type(report).__name__}: {report}"
    return str(report["status"])


def _run_days_locally(
    todo: list[plan_core.DayPlan],
    force: bool,
    concurrency: int,
    progress: Progress,
    allow_empty: bool = False,
) -> dict[date, str]:
    """Day runs as subflows, at most `concurrency` in flight; progress as each one finishes."""
    limit = max(1, min(concurrency, MAX_LOCAL_DAYS))
    outcomes: dict[date, str] = {}
    pending = list(reversed(todo))
    running: dict[PrefectFuture[str], date] = {}
    while pending or running:
        while pending and len(running) < limit:
            plan = pending.pop()
            running[ingest_day.submit(plan, force, allow_empty)] = plan.service_date
        done = next(as_completed(list(running)))
        outcomes[running.pop(done)] = done.result()
        progress.advance()
    return outcomes


def _submit_deployments(
    todo: list[plan_core.DayPlan],
    force: bool,
    deployment: str,
    progress: Progress,
    allow_empty: bool = False,
) -> dict[date, str]:
    """One flow run of `deployment` per day (idempotent per backfill run), then watched until
    each ends; the progress artifact counts finished day runs."""
    days: dict[UUID, date] = {}
    for plan in todo:
        parameters: dict[str, Any] = {
            "service_date": plan.service_date.isoformat(),
            "skip_unchanged": not force,
            "last_modified": plan.last_modified,
        }
        if allow_empty:
            parameters["allow_empty"] = True
        run: FlowRun = run_deployment(  # type: ignore[assignment]  # sync call returns a FlowRun
            deployment,
            parameters=parameters,
            timeout=0,
            idempotency_key=f"lamp-backfill:{flow_run.id}:{plan.service_date}:{plan.last_modified}",
            tags=["lamp", "backfill"],
        )
        days[run.id] = plan.service_date
    get_run_logger().info("submitted %d day run(s) of %s", len(days), deployment)
    outcomes: dict[date, str] = {}

    def finished(run: FlowRun) -> None:
        state = run.state
        if state is None or not state.is_completed():
            outcome = f"failed: {state.name}: {state.message}" if state else "failed"
        else:  # a day run that found no events says so with a tag (see `_finish`)
            outcome = "empty" if EMPTY_TAG in run.tags else "completed"
        outcomes[days[run.id]] = outcome
        progress.advance()

    await_flow_runs(list(days), finished)
    return outcomes


def _backfill_report(plans: list[plan_core.DayPlan], outcomes: dict[date, str]) -> BackfillSummary:
    tally = Counter(o.split(":", 1)[0] for o in outcomes.values())
    failed = sorted(d.isoformat() for d, o in outcomes.items() if o.startswith("failed"))
    report = BackfillSummary(
        days=len(plans),
        skipped_unchanged=sum(1 for p in plans if p.action == "unchanged"),
        not_in_index=sum(1 for p in plans if p.action == "not_in_index"),
        runs=dict(sorted(tally.items())),
        failed_days=failed,
        empty_days=sorted(d.isoformat() for d, o in outcomes.items() if o == "empty"),
    )
    publish_summary(
        "lamp-backfill",
        f"LAMP backfill: {len(outcomes)} day run(s), {len(failed)} failed",
        [{"service_date": d.isoformat(), "outcome": o} for d, o in sorted(outcomes.items())],
    )
    if failed:
        raise RuntimeError(f"LAMP backfill: {len(failed)} day(s) failed: {', '.join(failed[:20])}")
    return report
