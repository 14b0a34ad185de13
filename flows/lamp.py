"""Transit performance (LAMP): ingest a service date, and backfill a date range one day per run.

`lamp_ingest_day` is deployed twice (prefect.yaml): "today" every 30 minutes 06:00-02:30
Eastern, and "yesterday" daily at 15:00 UTC; a third deployment without schedule is the unit
of work of `lamp_backfill` when it fans out to ECS.
"""

from __future__ import annotations

import contextvars
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, TypeVar

from prefect import flow
from prefect.client.schemas.objects import FlowRun
from prefect.deployments import run_deployment
from prefect.logging import get_run_logger
from prefect.runtime import flow_run

from tasks.common.artifacts import Progress, publish_markdown, publish_summary
from tasks.common.settings import get_settings
from tasks.lamp import plan_core, transform_gtfs
from tasks.lamp.outputs import read_states, upload_stop_files, write_state
from tasks.lamp.processing import process_lamp_day
from tasks.lamp.sources import (
    feeds_not_cached,
    fetch_archived_feeds,
    fetch_daily_file,
    fetch_index,
    load_compact_schedule,
)
from tasks.lamp.transform_csv import EVENTS_PREFIX

T = TypeVar("T")


def _day_run_name() -> str:
    params = flow_run.parameters
    return f"lamp-{params.get('service_date') or params.get('which', 'today')}"


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
) -> dict[str, Any]:
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
    """
    now = datetime.now(UTC)
    day = plan_core.resolve_service_date(service_date, which, flow_run.scheduled_start_time)
    stage = _Stages()
    if last_modified is None:
        entry = stage.run("fetch_index", fetch_index).get(day)
        last_modified = entry.last_modified if entry else None
    if skip_unchanged and _unchanged(day, last_modified, stage):
        return _finish(day, "unchanged", stage, last_modified=last_modified)
    # a 404 is "not published yet" only for the current service date (or a future one)
    missing_ok = day >= plan_core.service_date_at(now)
    parquet = stage.run("fetch_parquet", fetch_daily_file, day, missing_ok)
    if parquet is None:
        return _finish(day, "not_published", stage, last_modified=last_modified)
    with stage("gtfs"):
        feed = transform_gtfs.select_feed(fetch_archived_feeds(), day)
        compact, built = load_compact_schedule(feed)
    result = stage.run("process", process_lamp_day, parquet, compact, day)
    written = stage.run("upload", upload_stop_files, result.files)
    state = plan_core.make_state(day, last_modified, feed.version, result.counts())
    state_uri = stage.run("state", write_state, day, state)
    return _finish(
        day,
        "ingested",
        stage,
        last_modified=last_modified,
        gtfs_feed=feed.label,
        gtfs_cache="built" if built else "hit",
        **result.counts(),
        stops_written=written.written,
        stops_unchanged=written.unchanged,
        state=state_uri,
        processing_seconds=result.timings,
    )


def _unchanged(day: date, last_modified: str | None, stage: _Stages) -> bool:
    state = stage.run("read_state", read_states, [day]).get(day) or {}
    return bool(last_modified) and state.get("source_last_modified") == last_modified


def _finish(day: date, status: str, stage: _Stages, **details: Any) -> dict[str, Any]:
    """The run's report: returned, logged and published as an artifact."""
    settings = get_settings()
    report: dict[str, Any] = {
        "status": status,
        "service_date": day.isoformat(),
        "source_url": plan_core.daily_file_url(settings.lamp_base_url, day),
        "output": f"s3://{settings.lamp_bucket}/{EVENTS_PREFIX}/",
        **details,
        "seconds": stage.seconds,
    }
    messages = {
        "unchanged": "source file unchanged since the last ingest (same index last_modified)",
        "not_published": "today's LAMP file is not published yet (404): nothing to do",
        "ingested": "ingested",
    }
    report["message"] = messages[status]
    get_run_logger().info("LAMP %s: %s", day, report["message"])
    publish_summary(
        f"lamp-day-{day.isoformat()}",
        f"LAMP {day.isoformat()}: {report['message']}",
        _report_rows(report),
    )
    return report


def _report_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for key, value in report.items():
        if isinstance(value, dict):
            rows.extend({"item": f"{key}.{k}", "value": v} for k, v in value.items())
        else:
            rows.append({"item": key, "value": value})
    return rows


@flow(name="lamp-backfill")
def lamp_backfill(
    start: date = plan_core.BACKFILL_START,
    end: date | None = None,
    force: bool = False,
    dry_run: bool = False,
    max_concurrency: int = 4,
    fan_out: Literal["local", "deployment"] = "local",
    deployment: str = "lamp-ingest-day/lamp-backfill-day",
) -> dict[str, Any]:
    """Ingest every service date from `start` to `end`, one run per day, skipping unchanged days.

    Args:
        start: First service date (the original backfill began at 2019-09-15).
        end: Last service date, inclusive. Empty: yesterday's service date.
        force: Re-ingest days whose source is unchanged since their last successful ingest.
        dry_run: Only show the plan (days to ingest / unchanged / not published, expected
            requests); no parquet file is fetched and nothing is written.
        max_concurrency: Days processed at once in this process (`fan_out="local"`).
        fan_out: "local": day runs as subflows in this process, `max_concurrency` at a time.
            "deployment": one flow run of `deployment` per day (e.g. ECS tasks), throttled by
            that deployment's concurrency limit; this run only submits them.
        deployment: The `flow-name/deployment-name` used when `fan_out="deployment"`.
    """
    last = end or plan_core.service_date_at(datetime.now(UTC)) - timedelta(days=1)
    days = plan_core.days_between(start, last)
    index = fetch_index()
    states = read_states(days)
    plans = plan_core.plan_backfill(days, index, states, force)
    todo = [p for p in plans if p.action == "ingest"]
    if dry_run:
        return _dry_run(plans, todo, len(states))
    progress = Progress(len(todo), f"LAMP backfill {start} → {last}: {len(todo)} day(s) to ingest")
    if fan_out == "deployment":
        outcomes = _submit_deployments(todo, force, deployment, progress)
    else:
        outcomes = _run_days_locally(todo, force, max(1, max_concurrency), progress)
    return _backfill_report(plans, outcomes)


def _dry_run(
    plans: list[plan_core.DayPlan], todo: list[plan_core.DayPlan], states_found: int
) -> dict[str, Any]:
    text = fetch_archived_feeds() if todo else ""
    feeds = sorted({transform_gtfs.select_feed(text, p.service_date) for p in todo}, key=str)
    missing = feeds_not_cached(feeds) if feeds else []
    summary = plan_core.summarize_plan(plans, len(missing), states_found)
    ranges = plan_core.plan_ranges(plans)
    lines = [f"| {r['start']} | {r['end']} | {r['days']} | {r['action']} |" for r in ranges]
    requests = "\n".join(f"- {k}: {v}" for k, v in summary["expected_requests"].items())
    publish_markdown(
        "lamp-backfill-plan",
        f"LAMP backfill plan: {summary['ingest']} of {summary['days']} day(s) to ingest",
        "| from | to | days | action |\n|---|---|---|---|\n"
        + "\n".join(lines)
        + f"\n\nExpected requests:\n{requests}\n\nGTFS feeds to build: "
        + (", ".join(f.label for f in missing) or "none"),
    )
    return {
        "dry_run": True,
        **summary,
        "ranges": ranges,
        "gtfs_feeds_to_build": [f.label for f in missing],
    }


def _run_days_locally(
    todo: list[plan_core.DayPlan], force: bool, workers: int, progress: Progress
) -> dict[date, str]:
    """Day runs as subflows on a bounded thread pool; returns each day's final state/status."""

    def one(plan: plan_core.DayPlan) -> str:
        state = lamp_ingest_day(
            service_date=plan.service_date,
            skip_unchanged=not force,
            last_modified=plan.last_modified,
            return_state=True,
        )
        if not state.is_completed():
            return f"failed: {state.message}"
        return str(state.result()["status"])

    outcomes: dict[date, str] = {}
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lamp-day") as pool:
        futures = {
            pool.submit(contextvars.copy_context().run, one, plan): plan.service_date
            for plan in todo
        }
        for future in as_completed(futures):
            outcomes[futures[future]] = future.result()
            progress.advance()
    return outcomes


def _submit_deployments(
    todo: list[plan_core.DayPlan], force: bool, deployment: str, progress: Progress
) -> dict[date, str]:
    """One flow run of `deployment` per day, not awaited (timeout=0), idempotent per backfill."""
    outcomes: dict[date, str] = {}
    for plan in todo:
        run: FlowRun = run_deployment(  # type: ignore[assignment]  # sync call returns a FlowRun
            deployment,
            parameters={
                "service_date": plan.service_date.isoformat(),
                "skip_unchanged": not force,
                "last_modified": plan.last_modified,
            },
            timeout=0,
            idempotency_key=f"lamp-backfill:{flow_run.id}:{plan.service_date}:{plan.last_modified}",
            tags=["lamp-backfill"],
        )
        outcomes[plan.service_date] = f"submitted: {run.name}"
        progress.advance()
    return outcomes


def _backfill_report(plans: list[plan_core.DayPlan], outcomes: dict[date, str]) -> dict[str, Any]:
    tally = Counter(o.split(":", 1)[0] for o in outcomes.values())
    failed = sorted(d.isoformat() for d, o in outcomes.items() if o.startswith("failed"))
    report = {
        "days": len(plans),
        "skipped_unchanged": sum(1 for p in plans if p.action == "unchanged"),
        "not_in_index": sum(1 for p in plans if p.action == "not_in_index"),
        "runs": dict(sorted(tally.items())),
        "failed_days": failed,
    }
    publish_summary(
        "lamp-backfill",
        f"LAMP backfill: {len(outcomes)} day run(s), {len(failed)} failed",
        [{"service_date": d.isoformat(), "outcome": o} for d, o in sorted(outcomes.items())],
    )
    if failed:
        raise RuntimeError(f"LAMP backfill: {len(failed)} day(s) failed: {', '.join(failed[:20])}")
    return report
