"""Historic backfills: ArcGIS rapid transit, bus and ferry exports → monthly gzip CSVs in S3.

`historic_backfill` plans (items, months, markers) and fans out one `historic_year` run per
ArcGIS item: locally as subflows (a bounded number at once), on ECS as runs of the
`historic-year` deployment (`run_deployment`, throttled by that deployment's concurrency
limit, then watched to the end). A year run downloads its archive once, spills it per month,
and processes its months as tasks (a bounded number at once); each month writes its files,
then its marker, so a rerun skips it until the ArcGIS item changes. A month that fails leaves
no marker: the next run does that month alone.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID

from prefect import flow
from prefect.client.schemas.objects import FlowRun
from prefect.deployments import run_deployment
from prefect.futures import PrefectFuture, as_completed
from prefect.logging import get_run_logger
from prefect.runtime import flow_run
from prefect.task_runners import ThreadPoolTaskRunner

from tasks.common.artifacts import Progress, publish_markdown, publish_summary
from tasks.common.errors import is_permanent
from tasks.common.runs import await_flow_runs, compute_task, label_flow_run, run_subflow
from tasks.common.settings import get_settings
from tasks.common.time_core import EASTERN
from tasks.historic import month_core, plan_core, sources_core
from tasks.historic.archive_io import SplitResult, split_months
from tasks.historic.download_io import download_archive, fetch_item_info, refresh_ferry_export
from tasks.historic.month_io import SELECTIONS, DayFeed, process_month, read_markers
from tasks.historic.plan_core import (
    BackfillPlanSummary,
    BackfillSummary,
    MonthSummary,
    PlanError,
    Unit,
    YearSummary,
)
from tasks.historic.sources_core import ItemInfo, Source
from tasks.transit import gtfs_core
from tasks.transit.gtfs_io import fetch_archived_feeds, load_compact_schedule

# Items (year runs) a local backfill keeps in flight, and months a year run processes at once:
# the parameters are capped by these (each month holds its rows in memory).
MAX_LOCAL_ITEMS = 4
MAX_MONTHS = 4
YEAR_DEPLOYMENT = "historic-year/historic-year"


def _year_run_name() -> str:
    p = flow_run.parameters
    item = p.get("source", "?") if p.get("year") is None else f"{p.get('source')} {p.get('year')}"
    months = p.get("months")
    which = f"{len(months)} month(s)" if months else "every month"
    return f"historic-year {item} ({which})"


@flow(
    name="historic-year",
    flow_run_name=_year_run_name,
    task_runner=ThreadPoolTaskRunner(max_workers=MAX_MONTHS),  # type: ignore[arg-type]
)
def historic_year(
    source: Source,
    year: int | None = None,
    months: list[str] | None = None,
    last_month: str | None = None,
    routes: list[str] | None = None,
    force: bool = False,
    month_concurrency: int = 2,
) -> YearSummary:
    """One ArcGIS item (a year of rapid transit or bus, or the ferry export) → monthly files.

    Args:
        source: "rapid", "bus" or "ferry".
        year: The item's year (rapid transit, bus); empty for ferry.
        months: Months to process (YYYY-MM); an empty list: none. Null: every month in the
            archive, up to `last_month`.
        last_month: With `months` null, the last month to process (YYYY-MM).
        routes: Only these routes (bus: `1`, `28`; ferry: `Boat-F1`); empty = every route.
        force: Process months whose marker says they are written for this item version.
        month_concurrency: Months processed at once (at most 4).
    """
    started = time.monotonic()
    item = sources_core.item_for(source, year)
    wanted = _routes(source, routes)
    label_flow_run(tags=["historic", source])
    info = fetch_item_info(item)
    planned = (
        None
        if months is None
        else [plan_core.month_label(*plan_core.parse_month(m)) for m in months]
    )
    plans = _plans(source, planned or [], info, wanted, force)
    todo = [p.month for p in plans if p.action == "process"]
    if planned is not None and not todo:
        return _year_report(info, plans, {}, None, None, [], started)
    settings = get_settings()
    work = tempfile.mkdtemp(prefix=f"historic-{source}-", dir=settings.historic_work_dir or None)
    notes: list[str] = []
    try:
        if source == "ferry":
            status = refresh_ferry_export()
            if status.lower() != "completed":
                notes.append(
                    f"the ferry export's refresh ended as {status!r}: this is its last export"
                )
        archive = download_archive(info, work)
        split = split_months(source, archive.path, work, todo or None, last_month)
        if planned is None:  # every month of the archive
            plans = _plans(source, sorted(split.months), info, wanted, force)
            todo = [p.month for p in plans if p.action == "process"]
        feeds, failures = _day_feeds(source, split, todo)
        outcomes = _run_months(
            source, todo, split, info, wanted, feeds, failures, month_concurrency
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    archive_facts = {"name": archive.name, "bytes": archive.size, "url": archive.url}
    return _year_report(info, plans, outcomes, split, archive_facts, notes, started)


def _routes(source: Source, routes: Sequence[str] | None) -> tuple[str, ...] | None:
    wanted = plan_core.normalize_routes(routes)
    if source == "rapid" and wanted:
        raise PlanError(
            "routes do not apply to rapid transit: its files are per stop and hold every route "
            "at that stop (a filtered run would overwrite them with part of their rows)"
        )
    return wanted


def _plans(
    source: Source,
    months: list[str],
    info: ItemInfo,
    routes: tuple[str, ...] | None,
    force: bool,
) -> list[plan_core.MonthPlan]:
    markers = read_markers(source, months) if months else {}
    return plan_core.plan_months(months, markers, info.modified, routes, force)


def _day_feeds(
    source: Source, split: SplitResult, todo: list[str]
) -> tuple[dict[date, DayFeed], dict[str, str]]:
    """The GTFS feed of each service day of the months to process (or why it has none), with
    every feed's compact schedule built once; months that need a feed whose build failed on a
    transient error are returned with that error (they fail and are retried by the next run)."""
    days = sorted(
        {month_core.day_of(d) for m in todo if m in split.months for d in split.months[m].days}
    )
    if not days:
        return {}, {}
    index = fetch_archived_feeds(
        get_settings().historic_gtfs_archive_index_url or None, return_state=True
    )
    if not index.is_completed():
        error = index.result(raise_on_failure=False)
        if isinstance(error, BaseException) and not is_permanent(error):
            raise error
        return dict.fromkeys(days, "gtfs_index_unavailable"), {}
    text = str(index.result())
    feeds: dict[date, DayFeed] = {}
    for day in days:
        try:
            feeds[day] = gtfs_core.select_feed(text, day)
        except gtfs_core.GtfsFeedError as exc:  # no feed for the day, or an unreadable index
            covered = str(exc).startswith("no GTFS feed")
            feeds[day] = "no_gtfs_feed" if covered else "gtfs_index_unavailable"
    failures: dict[str, str] = {}
    unique = sorted({f for f in feeds.values() if isinstance(f, gtfs_core.FeedRef)}, key=str)
    for feed in unique:
        built = load_compact_schedule(feed, SELECTIONS[source], return_state=True)
        if built.is_completed():
            continue
        failure = built.result(raise_on_failure=False)
        for day in [d for d, f in feeds.items() if f == feed]:
            if isinstance(failure, BaseException) and not is_permanent(failure):
                failures[plan_core.month_of(day)] = f"GTFS feed {feed.label}: {failure}"
            feeds[day] = "gtfs_feed_unavailable"
    return feeds, failures


def _run_months(
    source: Source,
    todo: list[str],
    split: SplitResult,
    info: ItemInfo,
    routes: tuple[str, ...] | None,
    feeds: dict[date, DayFeed],
    failures: dict[str, str],
    concurrency: int,
) -> dict[str, MonthSummary]:
    """Month tasks, at most `concurrency` in flight; progress as each one finishes."""
    progress = Progress(len(todo), f"historic {info.item.label}: {len(todo)} month(s) to process")
    outcomes: dict[str, MonthSummary] = {}
    for month in todo:
        if month in failures:
            outcomes[month] = MonthSummary(month=month, status="failed", error=failures[month])
            progress.advance()
    pending = [m for m in reversed(todo) if m not in failures]
    running: dict[PrefectFuture[MonthSummary], str] = {}
    limit = max(1, min(concurrency, MAX_MONTHS))
    while pending or running:
        while pending and len(running) < limit:
            month = pending.pop()
            spill = split.months.get(month)
            days = {d: f for d, f in feeds.items() if plan_core.month_of(d) == month}
            running[process_month.submit(source, month, spill, info, routes, days)] = month
        done = next(as_completed(list(running)))
        month = running.pop(done)
        done.wait()
        state = done.state
        if state.is_completed():
            outcomes[month] = state.result()
        else:
            outcomes[month] = MonthSummary(month=month, status="failed", error=str(state.message))
        progress.advance()
    return dict(sorted(outcomes.items()))


def _year_report(
    info: ItemInfo,
    plans: list[plan_core.MonthPlan],
    outcomes: dict[str, MonthSummary],
    split: SplitResult | None,
    archive: dict[str, Any] | None,
    notes: list[str],
    started: float,
) -> YearSummary:
    """Publish the year run's summary; fail the run (after publishing) if a month failed."""
    months = list(outcomes.values())
    failed = [m["month"] for m in months if m["status"] == "failed"]
    files = split.files if split else []
    notes = notes + [
        f"skipped {f['name']}: {f['reason']}" for f in files if f["status"] == "skipped"
    ]
    if split and split.rows_unassigned:
        notes.append(
            f"rows without a usable service date (not in any month): {split.rows_unassigned}"
        )
    summary = YearSummary(
        source=info.item.source,
        item=info.item.label,
        item_id=info.item.item_id,
        item_modified=info.modified_iso,
        status="failed" if failed else ("done" if outcomes else "nothing_to_do"),
        archive=archive or {},
        months_planned=len(plans),
        months_already_done=[p.month for p in plans if p.action == "done"],
        months=months,
        failed_months=failed,
        files=files,
        rows_unassigned=dict(split.rows_unassigned) if split else {},
        rows_outside_months=split.rows_outside_months if split else 0,
        objects_written=sum(m.get("written", 0) for m in months),
        objects_unchanged=sum(m.get("unchanged", 0) for m in months),
        events=sum(m.get("events", 0) for m in months),
        notes=notes,
        seconds={"total": round(time.monotonic() - started, 3)},
    )
    title = (
        f"historic {info.item.label}: {len(months)} month(s) processed, "
        f"{summary['objects_written']} object(s) written, {summary['objects_unchanged']} "
        f"unchanged, {len(summary['months_already_done'])} month(s) already done"
    )
    get_run_logger().info(title)
    publish_summary(
        f"historic-{info.item.source}-{info.item.year or 'all'}",
        title,
        plan_core.year_rows(summary) or [{"month": "-", "status": "nothing to do"}],
        notes,
    )
    if failed:
        errors = "; ".join(
            f"{m['month']}: {m.get('error', '')}" for m in months if m["status"] == "failed"
        )
        raise RuntimeError(
            f"historic {info.item.label}: {len(failed)} month(s) failed: {errors[:2000]}"
        )
    return summary


def _backfill_run_name() -> str:
    p = flow_run.parameters
    what = [str(p.get("source", "?"))]
    if p.get("years"):
        what.append(",".join(str(y) for y in p["years"]))
    if p.get("start") or p.get("end"):
        what.append(f"{p.get('start') or '…'}..{p.get('end') or '…'}")
    if not p.get("years") and not (p.get("start") or p.get("end")):
        what.append("all years")
    return "historic-backfill " + " ".join(what) + (" (dry run)" if p.get("dry_run") else "")


@flow(
    name="historic-backfill",
    flow_run_name=_backfill_run_name,
    task_runner=ThreadPoolTaskRunner(max_workers=MAX_LOCAL_ITEMS),  # type: ignore[arg-type]
)
def historic_backfill(
    source: Source,
    years: list[int] | None = None,
    start: date | None = None,
    end: date | None = None,
    routes: list[str] | None = None,
    force: bool = False,
    dry_run: bool = False,
    max_concurrency: int = 2,
    month_concurrency: int = 2,
    year_deployment: str | None = None,
) -> BackfillSummary | BackfillPlanSummary:
    """Backfill monthly event files from the ArcGIS exports, one run per item, resumable.

    Args:
        source: "rapid" (rapid transit, 2016 on), "bus" (2020 on) or "ferry".
        years: Years to backfill; empty = every year of the source (with `start`/`end`: the
            months of these years in that range).
        start: First date (inclusive): every month it touches is processed whole.
        end: Last date (inclusive), likewise; never later than the current month.
        routes: Only these routes (bus: `1`, `28`; ferry: `Boat-F1`). Not for rapid transit,
            whose files are per stop.
        force: Redo months whose marker says they are written for the item's current version.
        dry_run: Only show the plan (months to process or already done per item, expected
            downloads); nothing is downloaded or written.
        max_concurrency: Items (year runs) processed at once here, when they are local
            subflows (at most 4).
        month_concurrency: Months each year run processes at once (at most 4).
        year_deployment: `flow/deployment` of the deployment that processes one item (ECS):
            this run then submits one run of it per item. Empty: year runs are subflows.
    """
    today = datetime.now(EASTERN).date()
    wanted = _routes(source, routes)
    units = plan_core.plan_units(source, years, start, end, today)
    label_flow_run(tags=["historic", source, "dry-run" if dry_run else "backfill"])
    infos = {u.item: fetch_item_info(u.item) for u in units}
    explicit = sorted({m for u in units for m in u.months or ()})
    markers = read_markers(source, explicit) if explicit else {}
    plans = {
        u.item: plan_core.plan_months(
            list(u.months or ()), markers, infos[u.item].modified, wanted, force
        )
        for u in units
    }
    if dry_run:
        return _dry_run(source, units, infos, plans)
    work = [
        u for u in units if u.months is None or any(p.action == "process" for p in plans[u.item])
    ]
    progress = Progress(
        max(1, sum(_todo_count(u, plans) for u in work)),
        f"historic {source} backfill: {len(work)} item(s) to process",
    )
    if year_deployment:
        outcomes = _submit_years(
            work, plans, infos, wanted, force, month_concurrency, year_deployment, progress
        )
    else:
        outcomes = _run_years_locally(
            work, plans, wanted, force, max_concurrency, month_concurrency, progress
        )
    return _backfill_report(source, units, plans, outcomes)


def _todo_count(unit: Unit, plans: dict[sources_core.ItemRef, list[plan_core.MonthPlan]]) -> int:
    return 1 if unit.months is None else sum(p.action == "process" for p in plans[unit.item])


def _todo(
    unit: Unit, plans: dict[sources_core.ItemRef, list[plan_core.MonthPlan]]
) -> list[str] | None:
    if unit.months is None:
        return None
    return [p.month for p in plans[unit.item] if p.action == "process"]


def _dry_run(
    source: Source,
    units: list[Unit],
    infos: dict[sources_core.ItemRef, ItemInfo],
    plans: dict[sources_core.ItemRef, list[plan_core.MonthPlan]],
) -> BackfillPlanSummary:
    items = [plan_core.unit_plan(infos[u.item], plans[u.item], u.months is None) for u in units]
    summary = plan_core.summarize_plan(source, items)
    publish_markdown(
        f"historic-{source}-plan",
        f"historic {source} backfill plan: {summary['months_to_process']} month(s) to process, "
        f"{summary['expected_downloads']['archives']} archive(s) to download",
        plan_core.plan_markdown(summary),
    )
    return summary


@compute_task("backfill-item", run_name="backfill-item {unit.item.label}")
def backfill_item(
    unit: Unit,
    months: list[str] | None,
    routes: tuple[str, ...] | None,
    force: bool,
    month_concurrency: int,
) -> dict[str, Any]:
    """One item of a local backfill, as a subflow run; returns its outcome and counts."""
    report = run_subflow(
        historic_year,
        source=unit.item.source,
        year=unit.item.year,
        months=months,
        last_month=unit.last,
        routes=list(routes) if routes else None,
        force=force,
        month_concurrency=month_concurrency,
    )
    if isinstance(report, Exception):
        return {"outcome": "failed", "error": f"{type(report).__name__}: {report}"}
    return {
        "outcome": report["status"],
        "months": len(report["months"]),
        "written": report["objects_written"],
        "unchanged": report["objects_unchanged"],
        "events": report["events"],
        "rejected": sum(sum((m.get("rows_rejected") or {}).values()) for m in report["months"]),
    }


def _run_years_locally(
    work: list[Unit],
    plans: dict[sources_core.ItemRef, list[plan_core.MonthPlan]],
    routes: tuple[str, ...] | None,
    force: bool,
    concurrency: int,
    month_concurrency: int,
    progress: Progress,
) -> dict[str, dict[str, Any]]:
    """Year runs as subflows, at most `concurrency` in flight."""
    limit = max(1, min(concurrency, MAX_LOCAL_ITEMS))
    outcomes: dict[str, dict[str, Any]] = {}
    pending = list(reversed(work))
    running: dict[PrefectFuture[dict[str, Any]], Unit] = {}
    while pending or running:
        while pending and len(running) < limit:
            unit = pending.pop()
            future = backfill_item.submit(
                unit, _todo(unit, plans), routes, force, month_concurrency
            )
            running[future] = unit
        done = next(as_completed(list(running)))
        unit = running.pop(done)
        outcomes[unit.item.label] = done.result()
        progress.advance(_todo_count(unit, plans))
    return outcomes


def _submit_years(
    work: list[Unit],
    plans: dict[sources_core.ItemRef, list[plan_core.MonthPlan]],
    infos: dict[sources_core.ItemRef, ItemInfo],
    routes: tuple[str, ...] | None,
    force: bool,
    month_concurrency: int,
    deployment: str,
    progress: Progress,
) -> dict[str, dict[str, Any]]:
    """One run of `deployment` per item (idempotent per backfill run), then watched until each
    ends; the progress artifact counts the months of finished item runs."""
    submitted: dict[UUID, Unit] = {}
    for unit in work:
        months = _todo(unit, plans)
        run: FlowRun = run_deployment(  # type: ignore[assignment]  # sync call returns a FlowRun
            deployment,
            parameters={
                "source": unit.item.source,
                "year": unit.item.year,
                "months": months,
                "last_month": unit.last,
                "routes": list(routes) if routes else None,
                "force": force,
                "month_concurrency": month_concurrency,
            },
            timeout=0,
            idempotency_key=(
                f"historic-backfill:{flow_run.id}:{unit.item.label}:{infos[unit.item].modified}"
            ),
            tags=["historic", unit.item.source],
        )
        submitted[run.id] = unit
    outcomes: dict[str, dict[str, Any]] = {}

    def finished(run: FlowRun) -> None:
        unit, state = submitted[run.id], run.state
        ok = state is not None and state.is_completed()
        outcome = "completed" if ok else "failed"
        outcomes[unit.item.label] = {"outcome": outcome, "run": str(run.id)}
        if state is not None and not ok:
            outcomes[unit.item.label]["error"] = f"{state.name}: {state.message}"
        progress.advance(_todo_count(unit, plans))

    await_flow_runs(list(submitted), finished)
    return outcomes


def _outcome_row(label: str, outcome: dict[str, Any]) -> dict[str, Any]:
    keys = ("outcome", "months", "written", "unchanged", "events", "rejected", "run", "error")
    return {"item": label, **{k: outcome.get(k, "") for k in keys}}


def _backfill_report(
    source: Source,
    units: list[Unit],
    plans: dict[sources_core.ItemRef, list[plan_core.MonthPlan]],
    outcomes: dict[str, dict[str, Any]],
) -> BackfillSummary:
    failed = sorted(label for label, o in outcomes.items() if o["outcome"] == "failed")
    summary = BackfillSummary(
        dry_run=False,
        source=source,
        items=len(units),
        months_to_process=sum(_todo_count(u, plans) for u in units if u.months is not None),
        months_done=sum(p.action == "done" for ps in plans.values() for p in ps),
        runs=dict(sorted(Counter(o["outcome"] for o in outcomes.values()).items())),
        objects_written=sum(int(o.get("written", 0)) for o in outcomes.values()),
        objects_unchanged=sum(int(o.get("unchanged", 0)) for o in outcomes.values()),
        events=sum(int(o.get("events", 0)) for o in outcomes.values()),
        rows_rejected=sum(int(o.get("rejected", 0)) for o in outcomes.values()),
        failed=failed,
    )
    publish_summary(
        f"historic-{source}-backfill",
        f"historic {source} backfill: {len(outcomes)} item run(s), {len(failed)} failed",
        [_outcome_row(label, o) for label, o in sorted(outcomes.items())]
        or [_outcome_row("-", {"outcome": "nothing to do"})],
    )
    if failed:
        errors = "; ".join(f"{label}: {outcomes[label].get('error', '')}" for label in failed)
        raise RuntimeError(
            f"historic {source} backfill: {len(failed)} item(s) failed: {errors[:2000]}"
        )
    return summary
