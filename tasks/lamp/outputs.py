"""LAMP outputs (Prefect tasks): per-stop CSV uploads and the per-day ingest state in S3."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

from tasks.common import aws, s3
from tasks.common.settings import get_settings
from tasks.lamp import plan_core
from tasks.lamp.transform_csv import StopFile


@task(name="lamp-upload-stop-files", retries=2, retry_delay_seconds=[5, 30], cache_policy=NO_CACHE)
def upload_stop_files(files: list[StopFile]) -> s3.WriteReport:
    """Put every stop's CSV with a bounded pool, skipping files whose MD5 matches the ETag."""
    settings = get_settings()
    report = s3.put_many(
        settings.lamp_bucket,
        [(f.key, f.body) for f in files],
        content_type=s3.CSV,
        skip_unchanged=True,
        settings=settings,
    )
    get_run_logger().info(
        "stop files: %d written, %d unchanged (s3://%s)",
        report.written,
        report.unchanged,
        settings.lamp_bucket,
    )
    return report


@task(name="lamp-read-states", retries=2, retry_delay_seconds=[5, 30], cache_policy=NO_CACHE)
def read_states(days: list[date]) -> dict[date, dict[str, Any]]:
    """The stored ingest state of each day that has one.

    One LIST of the state prefix (a request per 1,000 days), then bounded parallel GETs of the
    states that exist: a first backfill of 2,000+ days makes no request per missing day.
    """
    settings = get_settings()
    if not days:
        return {}
    prefix = plan_core.state_key(days[0]).rsplit("/", 1)[0] + "/"
    pages = (
        aws.s3(settings)
        .get_paginator("list_objects_v2")
        .paginate(Bucket=settings.lamp_bucket, Prefix=prefix)
    )
    existing = {o["Key"] for page in pages for o in page.get("Contents", [])}
    wanted = [d for d in days if plan_core.state_key(d) in existing]

    def one(day: date) -> tuple[date, Any]:
        return day, s3.read_json(settings.lamp_bucket, plan_core.state_key(day), settings)

    found: dict[date, dict[str, Any]] = {}
    if wanted:
        with ThreadPoolExecutor(max_workers=min(settings.s3_upload_workers, len(wanted))) as pool:
            found = {d: state for d, state in pool.map(one, wanted) if isinstance(state, dict)}
    get_run_logger().info("ingest state found for %d of %d days", len(found), len(days))
    return found


@task(name="lamp-write-state", retries=2, retry_delay_seconds=[5, 30], cache_policy=NO_CACHE)
def write_state(service_date: date, state: dict[str, Any]) -> str:
    """Store the day's ingest state (after its CSVs are written); returns its s3:// URI."""
    settings = get_settings()
    key = plan_core.state_key(service_date)
    s3.write_json(settings.lamp_bucket, key, state, skip_unchanged=True, settings=settings)
    return f"s3://{settings.lamp_bucket}/{key}"
