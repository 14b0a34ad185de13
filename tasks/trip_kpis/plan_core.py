"""Which dates a run covers, where its state lives, and what it reports (pure).

- **Daily**: the date `days_ago` days before the run's scheduled time, in the KPI time zone
  (default 1: yesterday).
- **Ranges** (backfill, rebuild) are inclusive of both ends and at most `MAX_RANGE_DAYS` long.
- **Rebuild** writes every date that has trips, plus every date of the requested range (a date
  without trips gets a zero-count file); dates outside a requested range are left alone.
- **Migration state**: one small JSON object per scan segment under `pipeline_state/` of the
  KPI bucket (beside `kpis/`, which Athena reads), holding the segment's `LastEvaluatedKey`
  after the last page whose items were all updated, and the counts so far.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any, TypedDict
from zoneinfo import ZoneInfo

from tasks.common import keys_core

MAX_RANGE_DAYS = 3_660  # ten years: a bound against a typo, not a limit of the design
STATE_PREFIX = "pipeline_state/trip-kpis"
STATE_VERSION = 1


def default_day(scheduled: datetime, timezone: str, days_ago: int = 1) -> date:
    """The date `days_ago` days before `scheduled` in `timezone` (a naive time is UTC)."""
    if scheduled.tzinfo is None:
        scheduled = scheduled.replace(tzinfo=ZoneInfo("UTC"))
    return scheduled.astimezone(ZoneInfo(timezone)).date() - timedelta(days=days_ago)


def days_between(start: date, end: date) -> list[date]:
    """Every date from `start` to `end`, both included."""
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    count = (end - start).days + 1
    if count > MAX_RANGE_DAYS:
        raise ValueError(f"{start}..{end} is {count:,} days; at most {MAX_RANGE_DAYS:,} per run")
    return [start + timedelta(days=n) for n in range(count)]


def rebuild_dates(found: Iterable[str], start: date | None, end: date | None) -> list[str]:
    """The dates a rebuild writes: those with trips within [start, end] (each end optional),
    plus every date of the range when both ends are given."""
    low = start.isoformat() if start else None
    high = end.isoformat() if end else None
    dates = {d for d in found if (low is None or d >= low) and (high is None or d <= high)}
    if start is not None and end is not None:
        dates |= {d.isoformat() for d in days_between(start, end)}
    return sorted(dates)


def month_chunks(dates: Sequence[str]) -> list[list[str]]:
    """Sorted dates grouped by month (one write task per month of a rebuild)."""
    chunks: dict[str, list[str]] = {}
    for day in sorted(dates):
        chunks.setdefault(day[:7], []).append(day)
    return list(chunks.values())


def migration_state_key(table: str, segment: int, total_segments: int) -> str:
    """Where the migration checkpoint of one scan segment lives."""
    return keys_core.join(
        STATE_PREFIX,
        "migration",
        keys_core.segment(table),
        f"segment-{segment:04d}-of-{total_segments:04d}.json",
    )


class MigrationCounts(TypedDict):
    """What the migration did in one segment (or in total)."""

    scanned: int  # items the scan read (all of them: a filter saves transfer, not capacity)
    legacy: int  # of those, without pickup_date
    migrated: int  # pickup_date added
    changed: int  # the item changed (or got a pickup_date) between read and update
    unassigned: int  # no parseable pickup_datetime: cannot be given a date
    pages: int


def no_counts() -> MigrationCounts:
    return MigrationCounts(scanned=0, legacy=0, migrated=0, changed=0, unassigned=0, pages=0)


def add_counts(a: Mapping[str, Any], b: Mapping[str, Any]) -> MigrationCounts:
    """`a + b`, field by field (`b` may be the counts read back from a checkpoint)."""
    return MigrationCounts(
        scanned=int(a["scanned"]) + int(b["scanned"]),
        legacy=int(a["legacy"]) + int(b["legacy"]),
        migrated=int(a["migrated"]) + int(b["migrated"]),
        changed=int(a["changed"]) + int(b["changed"]),
        unassigned=int(a["unassigned"]) + int(b["unassigned"]),
        pages=int(a["pages"]) + int(b["pages"]),
    )


def migration_state(
    last_key: Mapping[str, Any] | None, total: Mapping[str, Any], updated_at: datetime
) -> dict[str, Any]:
    """The checkpoint of a segment after a page: where to continue, and the counts so far."""
    return {
        "version": STATE_VERSION,
        "done": last_key is None,
        "last_evaluated_key": dict(last_key) if last_key else None,
        "counts": dict(total),
        "updated_at": updated_at.isoformat(),
    }


class DaySummary(TypedDict):
    """What a daily run did (its return value and artifact)."""

    date: str
    timezone: str
    file: str  # written | unchanged
    uri: str
    trips_read: int
    trip_count: int
    skipped: dict[str, int]
    total_fare: str | None
    items_read: int  # items the query returned
    read_capacity_units: float  # as DynamoDB reported it (ReturnConsumedCapacity)
    pages: int


class BackfillSummary(TypedDict):
    """What a backfill did: one daily run per date."""

    start: str
    end: str
    days: int
    runs: dict[str, int]  # outcome → days (written / unchanged / submitted / failed)
    failed_days: list[str]


class RebuildSummary(TypedDict):
    """What a full rebuild did."""

    segments: int
    range: str
    items_read: int
    read_capacity_units: float
    pages: int
    dates: int
    written: int
    unchanged: int
    trips_counted: int
    trips_skipped: int
    outside_range: int  # trips of dates outside the requested range (not written)
    unassigned: int  # items with no date at all, counted once
    unassigned_by_reason: dict[str, int]
    unassigned_examples: list[str]
    skipped: dict[str, int]


class MigrationSummary(TypedDict):
    """What a migration run did (this run, and the total over resumed runs)."""

    segments: int
    dry_run: bool
    segments_done_before: int
    this_run: MigrationCounts
    total: MigrationCounts
    complete: bool
