"""LAMP outputs (Prefect tasks): per-stop CSV uploads (streamed) and the per-day state in S3.

The day state (`plan_core.state_key`) is written after the day's CSVs, through the shared state
store (a conditional put: a concurrent ingest of the same day cannot be overwritten unseen).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from prefect.logging import get_run_logger

from tasks.common import s3, state
from tasks.common.runs import io_task, run_parameter
from tasks.common.settings import get_settings
from tasks.lamp import plan_core
from tasks.lamp.day_core import DayResult


@io_task("put-stop-files", run_name="put-stop-files {service_date}")
def upload_stop_files(service_date: date, day: DayResult) -> s3.WriteReport:
    """Put every stop's CSV, a batch of stops at a time: each batch is rendered, put with a
    bounded pool (files whose MD5 matches the stored ETag are skipped) and released before the
    next one is rendered. Every key was checked to fit S3 before the first put."""
    settings = get_settings()
    report = s3.WriteReport()
    for batch in day.batches():
        report += s3.put_many(
            settings.lamp_bucket,
            [(f.key, f.body) for f in batch],
            content_type=s3.CSV,
            skip_unchanged=True,
            settings=settings,
        )
        del batch
    get_run_logger().info(
        "%s stop files: %d written, %d unchanged (s3://%s)",
        service_date,
        report.written,
        report.unchanged,
        settings.lamp_bucket,
    )
    return report


def _states_run_name() -> str:
    days: list[date] = run_parameter("days") or []
    return f"read-day-states {days[0]}..{days[-1]}" if days else "read-day-states (none)"


@io_task("read-day-states", run_name=_states_run_name)
def read_states(days: list[date]) -> dict[date, dict[str, Any]]:
    """The stored ingest state of each day that has one.

    One LIST of the state prefix (a request per 1,000 days), then parallel GETs of the states
    that exist: a first backfill of 2,000+ days makes no request per missing day.
    """
    if not days:
        return {}
    bucket = get_settings().lamp_bucket
    prefix = plan_core.state_key(days[0]).rsplit("/", 1)[0] + "/"
    existing = {obj.key for obj in s3.list_objects(bucket, prefix)}
    wanted = {plan_core.state_key(day): day for day in days}
    docs = state.read_many(bucket, [key for key in wanted if key in existing])
    found = {wanted[key]: doc for key, doc in docs.items()}
    get_run_logger().info("ingest state found for %d of %d days", len(found), len(days))
    return found


@io_task("write-day-state", run_name="write-day-state {service_date}")
def write_state(service_date: date, day_state: dict[str, Any]) -> str:
    """Store the day's ingest state (after its CSVs are written); returns its s3:// URI."""
    bucket = get_settings().lamp_bucket
    key = plan_core.state_key(service_date)
    state.update(bucket, key, lambda _stored: day_state)
    return f"s3://{bucket}/{key}"
