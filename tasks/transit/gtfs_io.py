"""GTFS I/O shared by the transit pipelines (Prefect tasks): the archive index, the compact cache.

MBTA's `archived_feeds.txt` lists every past schedule. A feed's compact schedule
(`gtfs_core.compact_feed`) is built once from its zip and cached in the GTFS bucket; every later
run reads the few-MB Parquet object instead of a 100 MB zip. Each `FeedSelection` (subway for
LAMP and the rapid transit backfill, bus, ferry) has its own cache object per feed.
"""

from __future__ import annotations

import threading

from prefect.logging import get_run_logger

from tasks.common import http, keys_core, s3
from tasks.common.runs import io_task, run_parameter
from tasks.common.settings import get_settings
from tasks.transit import gtfs_core

# Cache prefix in the GTFS bucket (kept from the first version: existing objects stay valid).
GTFS_CACHE_PREFIX = "lamp/gtfs-compact"

_locks_guard = threading.Lock()
_build_locks: dict[str, threading.Lock] = {}


@io_task("fetch-gtfs-index", run_name="fetch-gtfs-index", retries=1)
def fetch_archived_feeds(url: str | None = None) -> str:
    """MBTA's GTFS archive index (`archived_feeds.txt`) as text (default: the setting's URL)."""
    settings = get_settings()
    return http.get(http.session(settings), url or settings.gtfs_archive_index_url).text


def compact_key(
    feed: gtfs_core.FeedRef, selection: gtfs_core.FeedSelection = gtfs_core.SUBWAY
) -> str:
    """Cache key of a feed's compact schedule: by layout version, feed start date and version.

    Subway keys are the original ones (`.../{version}.parquet`, still valid); other selections
    add their name (`.../{version}.bus.parquet`).
    """
    suffix = "" if selection == gtfs_core.SUBWAY else f".{selection.name}"
    return keys_core.join(
        GTFS_CACHE_PREFIX,
        gtfs_core.COMPACT_VERSION,
        keys_core.segment(f"{feed.start:%Y%m%d}"),
        keys_core.segment(f"{feed.version}{suffix}.parquet"),
    )


@io_task("find-uncached-feeds", run_name="find-uncached-feeds")
def feeds_not_cached(
    feeds: list[gtfs_core.FeedRef], selection: gtfs_core.FeedSelection = gtfs_core.SUBWAY
) -> list[gtfs_core.FeedRef]:
    """The feeds whose compact schedule is not in the cache bucket yet (one HEAD each)."""
    bucket = get_settings().gtfs_bucket
    return [f for f in feeds if s3.head(bucket, compact_key(f, selection)) is None]


def _lock_for(key: str) -> threading.Lock:
    with _locks_guard:
        return _build_locks.setdefault(key, threading.Lock())


def _schedule_run_name() -> str:
    feed: gtfs_core.FeedRef | None = run_parameter("feed")
    selection = run_parameter("selection", gtfs_core.SUBWAY)
    version = feed.version if feed is not None else "?"
    extra = "" if selection == gtfs_core.SUBWAY else f" ({selection.name})"
    return f"load-gtfs-schedule {version}{extra}"


@io_task("load-gtfs-schedule", run_name=_schedule_run_name)
def load_compact_schedule(
    feed: gtfs_core.FeedRef, selection: gtfs_core.FeedSelection = gtfs_core.SUBWAY
) -> tuple[bytes, bool]:
    """The compact schedule of `feed` from the cache bucket, built (once) if missing.

    Returns `(parquet bytes, built_now)`. Runs in one process share a lock per feed, so a
    feed's zip is downloaded once even when several days need it at once.
    """
    return compact_schedule(feed, selection)


def compact_schedule(
    feed: gtfs_core.FeedRef, selection: gtfs_core.FeedSelection = gtfs_core.SUBWAY
) -> tuple[bytes, bool]:
    """`load_compact_schedule` as a plain function, for code already inside a task run."""
    settings = get_settings()
    key = compact_key(feed, selection)
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
        table = gtfs_core.compact_feed(archive, feed, selection)
        data = gtfs_core.to_parquet(table)
        s3.put_bytes(settings.gtfs_bucket, key, data, content_type=s3.PARQUET, settings=settings)
        logger.info(
            "GTFS cache built from %s (%d bytes zip → %d stop times, %d bytes)",
            feed.url,
            len(archive),
            table.num_rows,
            len(data),
        )
        return data, True
