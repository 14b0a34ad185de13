"""One month of a historic backfill as a Prefect task, and the month markers (S3 I/O).

`process_month` reads the month's spill file, runs `month_core.process_month` with the day
schedules from the compact GTFS cache, uploads the files in parallel (skipping objects whose
bytes are unchanged) and only then writes the month's marker, through the shared state store
(a conditional write; a concurrent writer makes it re-read and merge).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import pyarrow as pa
from prefect.logging import get_run_logger

from tasks.common import s3, state
from tasks.common.runs import io_task, run_parameter
from tasks.common.settings import get_settings
from tasks.historic import archive_io, month_core, plan_core
from tasks.historic.plan_core import MonthSummary
from tasks.historic.sources_core import ItemInfo, Source
from tasks.transit import gtfs_core, gtfs_io

MONTH_TASK_TIMEOUT = 3 * 3600.0
SELECTIONS: dict[Source, gtfs_core.FeedSelection] = {
    "rapid": gtfs_core.SUBWAY,
    "bus": gtfs_core.BUS,
    "ferry": gtfs_core.FERRY,
}
# a day's schedule is a FeedRef (load it) or why there is none
DayFeed = gtfs_core.FeedRef | str


def _markers_run_name() -> str:
    months: list[str] = run_parameter("months") or []
    source = run_parameter("source", "?")
    span = f"{months[0]}..{months[-1]}" if months else "(none)"
    return f"read-month-markers {source} {span}"


@io_task("read-month-markers", run_name=_markers_run_name)
def read_markers(source: Source, months: list[str]) -> dict[str, dict[str, Any]]:
    """The stored marker of each month that has one: one LIST of the source's marker prefix
    (a request per 1,000 months), then parallel GETs of those that exist."""
    if not months:
        return {}
    bucket = get_settings().lamp_bucket
    existing = {o.key for o in s3.list_objects(bucket, plan_core.marker_prefix(source))}
    wanted = {plan_core.marker_key(source, m): m for m in months}
    docs = state.read_many(bucket, [k for k in wanted if k in existing])
    return {wanted[k]: doc for k, doc in docs.items()}


def _loader(selection: gtfs_core.FeedSelection) -> Any:
    """Day schedules from the compact cache, each feed read once per month."""
    tables: dict[str, pa.Table | str] = {}

    def schedule_of(feed: DayFeed, day: date) -> pa.Table | str:
        if isinstance(feed, str):
            return feed
        if feed.url not in tables:
            data, _built = gtfs_io.compact_schedule(feed, selection)
            tables[feed.url] = gtfs_core.read_compact(data)
        table = tables[feed.url]
        if isinstance(table, str):
            return table
        try:
            return gtfs_core.schedule_for_date(table, day)
        except gtfs_core.ScheduleError:
            return "no_scheduled_service"

    return schedule_of


@io_task("process-month", run_name="process-month {source} {month}", timeout=MONTH_TASK_TIMEOUT)
def process_month(
    source: Source,
    month: str,
    spill: archive_io.MonthSpill | None,
    info: ItemInfo,
    routes: tuple[str, ...] | None,
    feeds: Mapping[date, DayFeed],
) -> MonthSummary:
    """One month: transform, enrich, upload its files, then its marker (module docstring).

    `spill` None: the archive has no rows for the month (it is marked done, with no files).
    """
    settings = get_settings()
    logger = get_run_logger()
    if spill is None:
        summary = MonthSummary(month=month, status="no_data", source_rows=0, events=0, files=0)
        _write_marker(source, month, info, routes, summary)
        logger.info("%s %s: no rows in %s", source, month, info.item.label)
        return summary
    rows = archive_io.read_spill(spill)
    load = _loader(SELECTIONS[source])
    result = month_core.process_month(
        source, month, rows, lambda day: load(feeds.get(day, "no_gtfs_feed"), day), routes
    )
    del rows
    report = s3.put_many(
        settings.lamp_bucket,
        [(f.key, f.body) for f in result.files],
        content_type="application/gzip",
        skip_unchanged=True,
        settings=settings,
    )
    summary = result.summary()
    summary["written"], summary["unchanged"] = report.written, report.unchanged
    _write_marker(source, month, info, routes, summary)
    logger.info(
        "%s %s: %s rows → %s events in %d files (%d written, %d unchanged); rejected %s; "
        "enrichment warnings %s; %s",
        source,
        month,
        f"{summary.get('source_rows', 0):,}",
        f"{summary.get('events', 0):,}",
        len(result.files),
        report.written,
        report.unchanged,
        summary.get("rows_rejected"),
        summary.get("enrichment_warnings"),
        result.timings,
    )
    return summary


def _write_marker(
    source: Source,
    month: str,
    info: ItemInfo,
    routes: tuple[str, ...] | None,
    summary: MonthSummary,
) -> None:
    """The month's marker, after its files (a routes-limited run adds its routes)."""
    counts = {
        "status": summary["status"],
        "source_rows": summary.get("source_rows", 0),
        "events": summary.get("events", 0),
        "files": summary.get("files", 0),
        "rows_rejected": summary.get("rows_rejected", {}),
        "enrichment_warnings": summary.get("enrichment_warnings", {}),
    }

    def change(previous: dict[str, Any] | None) -> dict[str, Any]:
        routes_done = plan_core.routes_written(previous, info.modified, routes)
        return plan_core.marker_doc(source, month, info, routes_done, counts)

    state.update(get_settings().lamp_bucket, plan_core.marker_key(source, month), change)
