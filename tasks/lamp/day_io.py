"""One service date's processing, as a Prefect task and on local files (`pipelines lamp-file`).

The work itself is `tasks.lamp.day_core` (pure); both entry points run exactly that code.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from prefect.logging import get_run_logger

from tasks.common.runs import compute_task
from tasks.common.settings import get_settings
from tasks.lamp import day_core
from tasks.transit import gtfs_core


@compute_task("process-day", run_name="process-day {service_date}")
def process_lamp_day(
    parquet: bytes, compact_schedule: bytes, service_date: date
) -> day_core.DayResult:
    """Events and GTFS enrichment of one day (the stop files are rendered as they are written)."""
    compact = gtfs_core.read_compact(compact_schedule)
    stop_times = gtfs_core.schedule_for_date(compact, service_date)
    del compact
    cutover = get_settings().lamp_non_revenue_cutover
    result = day_core.process_day(parquet, stop_times, service_date, cutover)
    counts = result.counts()
    logger = get_run_logger()
    logger.info(
        "%s: %d rows → %d events for %d stop files; dropped rows %s, events %s; non-revenue %s",
        service_date,
        counts["source_rows"],
        counts["events_written"],
        counts["stops"],
        counts["rows_dropped"],
        counts["events_dropped"],
        counts["non_revenue"],
    )
    for rejected in result.rejected_stops:
        logger.warning(
            "stop %.80r… rejected (%d events): %s",
            rejected.stop_id,
            rejected.events,
            rejected.reason,
        )
    for warning in result.warnings:
        logger.warning("%s: %s", service_date, warning)
    return result


def run_local_file(parquet: Path, gtfs_zip: Path, service_date: date, out: Path) -> dict[str, Any]:
    """Process `parquet` for `service_date` with the schedule of `gtfs_zip`; write under `out`.

    Returns the run's counts and the files written. Keys are built so they cannot leave their
    prefix, and each path is checked to resolve inside `out` before writing.
    """
    result = day_core.process_local(
        parquet.read_bytes(),
        gtfs_zip.read_bytes(),
        service_date,
        get_settings().lamp_non_revenue_cutover,
    )
    root = out.resolve()
    for batch in result.batches():  # written a batch at a time, then released
        for stop_file in batch:
            path = (root / stop_file.key).resolve()
            if not path.is_relative_to(root):  # pragma: no cover - keys_core.join prevents it
                raise ValueError(f"refusing to write outside {root}: {stop_file.key}")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(stop_file.body)
    return {**result.counts(), "out": str(root), "seconds": result.timings}
