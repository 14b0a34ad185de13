"""Service dates, the LAMP index, per-day ingest state and backfill plans (pure).

- Service date: the Eastern calendar day, except that 00:00-02:59 belongs to the previous day.
- `index.csv` lists every published daily file with a `last_modified` token; MBTA regenerates
  all files when it bumps its data version, so the token (compared as an opaque string) tells a
  changed file from an unchanged one.
- After a day's CSVs are written, a small JSON state is stored at
  `Events-lamp/_state/daily/YYYY-MM-DD.json` (beside `daily-data/`, which the dashboard reads,
  and inside the prefix the pipeline's role may write). The backfill compares its
  `source_last_modified` with the index to skip unchanged days.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal, Required, TypedDict

from tasks.common import keys_core
from tasks.transit.service_core import service_date_at

BACKFILL_START = date(2019, 9, 15)  # the earliest date the original backfill used
STATE_PREFIX = "Events-lamp/_state"
STATE_VERSION = 1
LAMP_SUFFIX = "-subway-on-time-performance-v1.parquet"
STOPS_PER_DAY_ESTIMATE = 270  # subway + light rail platforms with events on a weekday

Which = Literal["today", "yesterday"]
Action = Literal["ingest", "unchanged", "not_in_index"]


class LampIndexError(ValueError):
    """index.csv is not what it should be (which line, what is wrong)."""


def resolve_service_date(explicit: date | None, which: Which, instant: datetime) -> date:
    """`explicit` if given, else the service date of `instant` ("today") or the one before."""
    if explicit is not None:
        return explicit
    today = service_date_at(instant)
    return today - timedelta(days=1) if which == "yesterday" else today


def daily_file_url(base_url: str, day: date) -> str:
    """URL of the LAMP daily parquet for `day`."""
    return f"{base_url.rstrip('/')}/{day.isoformat()}{LAMP_SUFFIX}"


def index_url(base_url: str) -> str:
    """URL of the LAMP index.csv."""
    return f"{base_url.rstrip('/')}/index.csv"


@dataclass(frozen=True)
class IndexEntry:
    """One published daily file."""

    service_date: date
    last_modified: str
    size_bytes: int | None
    file_url: str


def parse_index(text: str) -> dict[date, IndexEntry]:
    """index.csv (`size_bytes,last_modified,service_date,file_url`) by service date."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    needed = {"last_modified", "service_date"}
    if not reader.fieldnames or not needed <= set(reader.fieldnames):
        raise LampIndexError(f"LAMP index.csv lacks columns {sorted(needed)}: {reader.fieldnames}")
    entries: dict[date, IndexEntry] = {}
    for line, row in enumerate(reader, start=2):
        try:
            day = date.fromisoformat(row["service_date"].strip())
        except (AttributeError, ValueError) as exc:
            raise LampIndexError(
                f"LAMP index.csv line {line}: service_date {row['service_date']!r}"
                " is not YYYY-MM-DD"
            ) from exc
        size = (row.get("size_bytes") or "").strip()
        entries[day] = IndexEntry(
            service_date=day,
            last_modified=(row["last_modified"] or "").strip(),
            size_bytes=int(size) if size.isdigit() else None,
            file_url=(row.get("file_url") or "").strip(),
        )
    return entries


def state_key(day: date) -> str:
    """Key of the ingest state of `day` in the output bucket."""
    return keys_core.join(STATE_PREFIX, "daily", keys_core.segment(f"{day.isoformat()}.json"))


def make_state(
    day: date,
    last_modified: str | None,
    feed_version: str,
    counts: dict[str, Any],
) -> dict[str, Any]:
    """The state stored after a successful ingest (no clock: a rerun stores the same bytes).

    Besides the counts it records what was not written: stops whose file could not be stored
    (`stops_rejected`: id, reason, events), the non-revenue policy applied, and warnings.
    """
    return {
        "version": STATE_VERSION,
        "service_date": day.isoformat(),
        "source_last_modified": last_modified,
        "gtfs_feed": feed_version,
        "source_rows": counts.get("source_rows"),
        "events_written": counts.get("events_written"),
        "stops": counts.get("stops"),
        "stops_rejected": counts.get("stops_rejected") or [],
        "non_revenue": counts.get("non_revenue") or {},
        "warnings": counts.get("warnings") or [],
    }


def days_between(start: date, end: date) -> list[date]:
    """Every day from `start` to `end` inclusive (empty when end < start)."""
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


@dataclass(frozen=True)
class DayPlan:
    """What a backfill will do for one day."""

    service_date: date
    action: Action
    last_modified: str | None


def plan_backfill(
    days: list[date],
    index: dict[date, IndexEntry],
    states: dict[date, dict[str, Any]],
    force: bool,
) -> list[DayPlan]:
    """Decide per day: ingest it, skip it (unchanged since the last ingest), or report it absent.

    A day is unchanged when its stored state carries the index's current `last_modified`;
    `force` ingests every day the index lists.
    """
    plans = []
    for day in days:
        entry = index.get(day)
        if entry is None:
            plans.append(DayPlan(day, "not_in_index", None))
            continue
        stored = (states.get(day) or {}).get("source_last_modified")
        unchanged = not force and bool(entry.last_modified) and stored == entry.last_modified
        plans.append(DayPlan(day, "unchanged" if unchanged else "ingest", entry.last_modified))
    return plans


class BackfillPlanSummary(TypedDict):
    """What a backfill would do (`dry_run`): counts, ranges and the requests it would make."""

    dry_run: bool
    days: int
    ingest: int
    unchanged: int
    not_in_index: int
    expected_requests: dict[str, int]
    ranges: list[dict[str, Any]]
    gtfs_feeds_to_build: list[str]


def summarize_plan(
    plans: list[DayPlan], feeds_to_build: list[str], states_found: int
) -> BackfillPlanSummary:
    """Counts of a plan and the requests it is expected to make (for `dry_run`)."""
    ingest = sum(1 for p in plans if p.action == "ingest")
    return BackfillPlanSummary(
        dry_run=True,
        days=len(plans),
        ingest=ingest,
        unchanged=sum(1 for p in plans if p.action == "unchanged"),
        not_in_index=sum(1 for p in plans if p.action == "not_in_index"),
        expected_requests={
            "lamp_index": 1,
            "gtfs_archive_index": 1,
            # per ingested day: the daily parquet; once per feed not cached yet: its GTFS zip
            "lamp_parquet_downloads": ingest,
            "gtfs_zip_downloads": len(feeds_to_build),
            # one LIST per 1,000 stored states, then a GET of each
            "s3_state_reads": states_found // 1000 + 1 + states_found,
            # estimate: ~270 stop files a day, each a HEAD (skip-unchanged) + a PUT if changed
            "s3_stop_file_requests_max": ingest * 2 * STOPS_PER_DAY_ESTIMATE,
        },
        ranges=plan_ranges(plans),
        gtfs_feeds_to_build=feeds_to_build,
    )


def plan_markdown(summary: BackfillPlanSummary) -> str:
    """The plan as the markdown of the dry run's artifact."""
    lines = [
        f"| {r['start']} | {r['end']} | {r['days']} | {r['action']} |" for r in summary["ranges"]
    ]
    requests = "\n".join(f"- {k}: {v}" for k, v in summary["expected_requests"].items())
    return (
        "| from | to | days | action |\n|---|---|---|---|\n"
        + "\n".join(lines)
        + f"\n\nExpected requests:\n{requests}\n\nGTFS feeds to build: "
        + (", ".join(summary["gtfs_feeds_to_build"]) or "none")
    )


class BackfillSummary(TypedDict):
    """What a backfill did: days planned, skipped, and the outcome of each day run.

    `empty_days`: days whose file had no events (not marked done; `allow_empty` accepts them).
    """

    days: int
    skipped_unchanged: int
    not_in_index: int
    runs: dict[str, int]
    failed_days: list[str]
    empty_days: list[str]


DayStatus = Literal["ingested", "unchanged", "not_published", "empty"]
DAY_MESSAGES: dict[str, str] = {
    "unchanged": "source file unchanged since the last ingest (same index last_modified)",
    "not_published": "today's LAMP file is not published yet (404): nothing to do",
    "ingested": "ingested",
    "empty": "WARNING: the LAMP file of this past day has no events: nothing written and the day"
    " is not marked done (a later run retries it; allow_empty=true accepts it)",
}


class DaySummary(TypedDict, total=False):
    """What one day run did (the flow's return value and its artifact)."""

    status: Required[DayStatus]
    message: Required[str]
    service_date: Required[str]
    source_url: Required[str]
    output: Required[str]
    last_modified: str | None
    gtfs_feed: str
    gtfs_cache: str
    source_rows: int
    rows_kept: int
    rows_dropped: dict[str, int]
    event_candidates: int
    events_written: int
    events_dropped: dict[str, int]
    stops: int
    stops_rejected: list[dict[str, Any]]
    non_revenue: dict[str, Any]
    warnings: list[str]
    stops_written: int
    stops_unchanged: int
    state: str
    processing_seconds: dict[str, float]
    seconds: Required[dict[str, float]]


def day_summary(day: date, status: DayStatus, **details: Any) -> DaySummary:
    """The summary of a day run (`details`: the keys of `DaySummary` that the run has)."""
    unknown = set(details) - set(DaySummary.__annotations__)
    if unknown:
        raise KeyError(f"not fields of a day summary: {sorted(unknown)}")
    summary: dict[str, Any] = {
        "status": status,
        "message": DAY_MESSAGES[status],
        "service_date": day.isoformat(),
        **details,
    }
    return summary  # type: ignore[return-value]


def summary_rows(summary: DaySummary) -> list[dict[str, Any]]:
    """The summary as `item | value` rows (nested maps flattened as `key.subkey`)."""
    rows: list[dict[str, Any]] = []
    for key, value in summary.items():
        if isinstance(value, dict):
            rows.extend({"item": f"{key}.{k}", "value": v} for k, v in value.items())
        else:
            rows.append({"item": key, "value": value})
    return rows


def plan_ranges(plans: list[DayPlan]) -> list[dict[str, Any]]:
    """Consecutive days with the same action as ranges (a readable plan of thousands of days)."""
    ranges: list[dict[str, Any]] = []
    for plan in plans:
        last = ranges[-1] if ranges else None
        if (
            last is not None
            and last["action"] == plan.action
            and date.fromisoformat(last["end"]) + timedelta(days=1) == plan.service_date
        ):
            last["end"] = plan.service_date.isoformat()
            last["days"] += 1
        else:
            day = plan.service_date.isoformat()
            ranges.append({"start": day, "end": day, "action": plan.action, "days": 1})
    return ranges
