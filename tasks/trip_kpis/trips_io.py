"""DynamoDB I/O of trip KPIs: one date by the index, one segment of a scan, the migration.

Every task takes names and values and reads through `tasks.common.dynamo`, which pages (1 MB
per page), counts what was read (`ReadStats`, with the capacity DynamoDB reports through
`ReturnConsumedCapacity`) and gives each scan segment a client of its own. Items are folded
into the tally in chunks as they arrive, so memory is bounded by the number of dates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from prefect import get_run_logger

from tasks.common import dynamo, state
from tasks.common.dynamo import ReadStats
from tasks.common.errors import ConflictError
from tasks.common.runs import io_task
from tasks.trip_kpis import plan_core
from tasks.trip_kpis.kpi_core import ATTRIBUTES, INDEX_NAME, Tally, parse_pickup
from tasks.trip_kpis.plan_core import MigrationCounts

T = TypeVar("T")
CHUNK = 1_000  # items folded at a time


def _chunks(items: Iterable[T], size: int = CHUNK) -> Iterator[list[T]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


@dataclass
class Read:
    """The tally of what a query or scan read, and what reading it cost."""

    tally: Tally = field(default_factory=Tally)
    stats: ReadStats = field(default_factory=ReadStats)

    def merge(self, other: Read) -> Read:
        self.tally.merge(other.tally)
        self.stats.merge(other.stats)
        return self


@io_task("query-trips", run_name="query-trips {day}")
def query_trips(table: str, day: str, timezone: str, page_size: int | None = None) -> Read:
    """Every trip of `day`: a `Query` of `pickup_date = day` on the by-date index.

    The index is eventually consistent (the only kind a GSI has); the daily run reads a
    finished day, hours after its last trip was written.
    """
    read = Read()
    read.tally.day(day)  # a date without trips still gets its (zero-count) tally
    items = dynamo.query(
        table,
        index=INDEX_NAME,
        key_condition="#date = :date",
        names={"#date": "pickup_date"},
        values={":date": day},
        projection=ATTRIBUTES,
        page_size=page_size,
        stats=read.stats,
    )
    zone = ZoneInfo(timezone)
    for chunk in _chunks(items):
        read.tally.add(chunk, zone)
    get_run_logger().info(
        "%s %s: %d trips in %d page(s), %.1f read capacity units",
        table,
        day,
        read.stats.items,
        read.stats.pages,
        read.stats.capacity_units,
    )
    return read


@io_task("scan-trips", run_name="scan-trips segment {segment} of {total_segments}")
def scan_trips(
    table: str, segment: int, total_segments: int, timezone: str, page_size: int | None = None
) -> Read:
    """Every item of one segment of a parallel `Scan`, tallied by date (legacy items by the
    date of their `pickup_datetime`; items with no date as unassigned)."""
    read = Read()
    items = dynamo.scan_segment(
        table,
        segment,
        total_segments,
        projection=ATTRIBUTES,
        page_size=page_size,
        stats=read.stats,
    )
    zone = ZoneInfo(timezone)
    for chunk in _chunks(items):
        read.tally.add(chunk, zone)
    get_run_logger().info(
        "%s segment %d of %d: %d items in %d page(s), %d date(s), %d unassigned",
        table,
        segment,
        total_segments,
        read.stats.items,
        read.stats.pages,
        len(read.tally.days),
        sum(read.tally.unassigned.values()),
    )
    return read


@dataclass(frozen=True)
class SegmentMigration:
    """What the migration did in one segment: this run, in total, and whether it is done."""

    segment: int
    done_before: bool
    this_run: MigrationCounts
    total: MigrationCounts
    complete: bool


_LEGACY_NAMES = {"#id": "trip_id", "#date": "pickup_date", "#when": "pickup_datetime"}


def _migrate_page(
    table: str, items: list[dict[str, Any]], zone: ZoneInfo, dry_run: bool
) -> MigrationCounts:
    """Give each legacy item of a page its `pickup_date`: a conditional update that applies
    only if the item still exists, still has no `pickup_date` and the same `pickup_datetime`."""
    counts = plan_core.no_counts()
    for item in items:
        counts["legacy"] += 1
        day = parse_pickup(item.get("pickup_datetime"), zone)
        if day is None:
            counts["unassigned"] += 1
            continue
        if dry_run:
            continue
        try:
            dynamo.update_item(
                table,
                {"trip_id": item["trip_id"]},
                update="SET #date = :date",
                condition="attribute_exists(#id) AND attribute_not_exists(#date) AND #when = :when",
                names=_LEGACY_NAMES,
                values={":date": day.isoformat(), ":when": item["pickup_datetime"]},
            )
        except ConflictError:
            counts["changed"] += 1
            continue
        counts["migrated"] += 1
    return counts


def _replace_with(doc: dict[str, Any]) -> Callable[[dict[str, Any] | None], dict[str, Any]]:
    return lambda _previous: doc


@io_task(
    "migrate-segment",
    run_name="migrate-segment {segment} of {total_segments}",
)
def migrate_segment(
    table: str,
    bucket: str,
    segment: int,
    total_segments: int,
    timezone: str,
    restart: bool = False,
    dry_run: bool = False,
    page_size: int | None = None,
) -> SegmentMigration:
    """Add `pickup_date` to the legacy items of one scan segment, resuming after the last page
    its checkpoint records; the checkpoint moves after each page's updates."""
    key = plan_core.migration_state_key(table, segment, total_segments)
    doc = None if restart else state.read(bucket, key).doc
    if doc is not None and doc.get("done"):
        total = plan_core.add_counts(plan_core.no_counts(), doc["counts"])
        return SegmentMigration(segment, True, plan_core.no_counts(), total, True)
    start = doc.get("last_evaluated_key") if doc else None
    total = plan_core.no_counts()
    if doc is not None:
        total = plan_core.add_counts(total, doc["counts"])
    this_run = plan_core.no_counts()
    stats = ReadStats()
    zone = ZoneInfo(timezone)
    pages = dynamo.scan_pages(
        table,
        segment,
        total_segments,
        start_key=start,
        projection=("trip_id", "pickup_date", "pickup_datetime"),
        filter_expression="attribute_not_exists(#legacy)",
        names={"#legacy": "pickup_date"},
        page_size=page_size,
        stats=stats,
    )
    scanned = 0
    for page in pages:  # the page is counted in `stats` before it is yielded
        counts = _migrate_page(table, page.items, zone, dry_run)
        counts["scanned"], scanned = stats.scanned - scanned, stats.scanned
        counts["pages"] = 1
        this_run = plan_core.add_counts(this_run, counts)
        total = plan_core.add_counts(total, counts)
        if not dry_run:
            checkpoint = plan_core.migration_state(page.last_key, total, datetime.now(UTC))
            state.update(bucket, key, _replace_with(checkpoint))
    get_run_logger().info(
        "%s segment %d of %d: %d scanned, %d legacy, %d migrated, %d changed, %d unassigned%s",
        table,
        segment,
        total_segments,
        this_run["scanned"],
        this_run["legacy"],
        this_run["migrated"],
        this_run["changed"],
        this_run["unassigned"],
        " (dry run)" if dry_run else "",
    )
    return SegmentMigration(segment, False, this_run, total, not dry_run)
