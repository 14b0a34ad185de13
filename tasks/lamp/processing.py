"""The LAMP processing step as a Prefect task (the work itself is in `tasks.lamp.process`)."""

from __future__ import annotations

from datetime import date

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

from tasks.lamp import process, transform_gtfs


@task(name="lamp-process-day", cache_policy=NO_CACHE)
def process_lamp_day(
    parquet: bytes, compact_schedule: bytes, service_date: date
) -> process.DayResult:
    """Events, GTFS enrichment and per-stop CSVs of one day (pure; not retried: same input,
    same error)."""
    stop_times = transform_gtfs.schedule_for_date(
        transform_gtfs.read_compact(compact_schedule), service_date
    )
    result = process.process_day(parquet, stop_times, service_date)
    counts = result.counts()
    get_run_logger().info(
        "%s: %d rows → %d events in %d stop files; dropped rows %s, events %s",
        service_date,
        counts["source_rows"],
        counts["events_written"],
        counts["stops"],
        counts["rows_dropped"],
        counts["events_dropped"],
    )
    return result
