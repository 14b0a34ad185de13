"""LAMP and GTFS sources (Prefect tasks): the index, daily parquet files, the GTFS feed cache.

HTTP goes through the project session: connect/read timeouts bound every request (Prefect's
`timeout_seconds` cannot interrupt a blocking call in a sync task's worker thread and only warns,
so it is not used), and retries with backoff cover 429/5xx and connection errors. A task retries
once more, later, only when the source never answered (status None): an HTTP error status that
outlasted the session's retries fails the run with URL and status.
A 404 for a day that may not be published yet is returned as None, for the flow to decide.
"""

from __future__ import annotations

import threading
from datetime import date
from typing import Any

from prefect import Task, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State, TaskRun
from prefect.logging import get_run_logger

from tasks.common import http, keys, s3
from tasks.common.settings import get_settings
from tasks.lamp import plan_core, transform_gtfs

GTFS_CACHE_PREFIX = "lamp/gtfs-compact"

_locks_guard = threading.Lock()
_build_locks: dict[str, threading.Lock] = {}


def never_answered(_task: Task[Any, Any], _run: TaskRun, state: State[Any]) -> bool:
    """Retry condition: the source could not be reached at all (no HTTP status)."""
    exc = state.result(raise_on_failure=False)
    return isinstance(exc, http.HttpSourceError) and exc.status is None


# Options of every HTTP task: one more try, 30 s later, only if the source never answered.
HTTP_TASK: dict[str, Any] = {
    "retries": 1,
    "retry_delay_seconds": [30],
    "retry_condition_fn": never_answered,
    "cache_policy": NO_CACHE,
}


@task(name="lamp-fetch-index", **HTTP_TASK)
def fetch_index() -> dict[date, plan_core.IndexEntry]:
    """The LAMP index.csv, by service date."""
    settings = get_settings()
    url = plan_core.index_url(settings.lamp_base_url)
    response = http.get(http.session(settings), url)
    index = plan_core.parse_index(response.text)
    get_run_logger().info("LAMP index: %d published days", len(index))
    return index


@task(name="lamp-fetch-parquet", **HTTP_TASK)
def fetch_daily_file(service_date: date, missing_ok: bool) -> bytes | None:
    """The LAMP parquet of `service_date`; None on 404 when `missing_ok`, else an error."""
    settings = get_settings()
    url = plan_core.daily_file_url(settings.lamp_base_url, service_date)
    response = http.get(http.session(settings), url, ok=(200, 404) if missing_ok else (200,))
    if response.status_code == 404:
        get_run_logger().info("LAMP file for %s is not published yet (404)", service_date)
        return None
    body = response.content
    get_run_logger().info("LAMP file for %s: %d bytes", service_date, len(body))
    return body


@task(name="lamp-fetch-gtfs-archive-index", **HTTP_TASK)
def fetch_archived_feeds() -> str:
    """MBTA's GTFS archive index (`archived_feeds.txt`) as text."""
    settings = get_settings()
    return http.get(http.session(settings), settings.gtfs_archive_index_url).text


@task(
    name="lamp-gtfs-feeds-not-cached", retries=2, retry_delay_seconds=[5, 30], cache_policy=NO_CACHE
)
def feeds_not_cached(feeds: list[transform_gtfs.FeedRef]) -> list[transform_gtfs.FeedRef]:
    """The feeds whose compact schedule is not in the cache bucket yet (one HEAD each)."""
    settings = get_settings()
    return [
        f for f in feeds if s3.stored_md5(settings.gtfs_bucket, compact_key(f), settings) is None
    ]


def compact_key(feed: transform_gtfs.FeedRef) -> str:
    """Cache key of a feed's compact schedule: by layout version, feed start date and version."""
    return keys.join(
        GTFS_CACHE_PREFIX,
        transform_gtfs.COMPACT_VERSION,
        keys.segment(f"{feed.start:%Y%m%d}"),
        keys.segment(f"{feed.version}.parquet"),
    )


def _lock_for(key: str) -> threading.Lock:
    with _locks_guard:
        return _build_locks.setdefault(key, threading.Lock())


@task(
    name="lamp-gtfs-schedule",
    retries=2,
    retry_delay_seconds=[10, 60],
    cache_policy=NO_CACHE,
)
def load_compact_schedule(feed: transform_gtfs.FeedRef) -> tuple[bytes, bool]:
    """The compact schedule of `feed` from the cache bucket, built (once) if missing.

    Returns `(parquet bytes, built_now)`. Days of a backfill running in one process share a
    lock per feed, so a feed's zip is downloaded once even when several days need it at once.
    """
    settings = get_settings()
    key = compact_key(feed)
    logger = get_run_logger()
    cached = s3.get_bytes(settings.gtfs_bucket, key, settings)
    if cached is not None:
        logger.info("GTFS cache hit s3://%s/%s (%d bytes)", settings.gtfs_bucket, key, len(cached))
        return cached, False
    with _lock_for(key):
        cached = s3.get_bytes(settings.gtfs_bucket, key, settings)
        if cached is not None:
            return cached, False
        archive = http.get(http.session(settings), feed.url).content
        table = transform_gtfs.compact_feed(archive, feed)
        data = transform_gtfs.to_parquet(table)
        s3.put_bytes(settings.gtfs_bucket, key, data, content_type=s3.PARQUET, settings=settings)
        logger.info(
            "GTFS cache built from %s (%d bytes zip → %d stop times, %d bytes)",
            feed.url,
            len(archive),
            table.num_rows,
            len(data),
        )
        return data, True
