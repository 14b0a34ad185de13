"""Backfill plans, month markers and run summaries of the historic backfills (pure).

- A backfill is a list of `Unit`s, one per ArcGIS item (a year of rapid transit or bus, or the
  whole ferry export), each with the calendar months it covers. Years and/or a date range
  select months: a range selects every month it touches (inclusive at both ends), because the
  output is one file per month and writing part of a month would replace the whole month's
  file with a fragment. Months after the current one are never planned.
- After a month's files are written, a marker `Events/_state/historic/{source}/{YYYY-MM}.json`
  records the item's `modified` and the routes written. A month is done (skipped) while the
  item's `modified` is unchanged and the marker's routes cover the requested ones.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal, Required, TypedDict

from tasks.common import keys_core
from tasks.historic.sources_core import ItemInfo, ItemRef, Source, item_for, items_of

STATE_PREFIX = "Events/_state/historic"
MARKER_VERSION = 1
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")

Action = Literal["process", "done"]


class PlanError(ValueError):
    """The parameters do not describe a backfill (bad range, unknown year, routes for rapid)."""


def month_label(year: int, month: int) -> str:
    """`2024-02`."""
    return f"{year:04d}-{month:02d}"


def month_of(day: date) -> str:
    """The month label of a date."""
    return month_label(day.year, day.month)


def parse_month(label: str) -> tuple[int, int]:
    """`2024-02` → (2024, 2)."""
    match = _MONTH.match(label)
    if match is None or not 1 <= int(match[2]) <= 12:
        raise PlanError(f"expected a month as YYYY-MM, got {label!r}")
    return int(match[1]), int(match[2])


def months_of_year(year: int) -> list[str]:
    return [month_label(year, m) for m in range(1, 13)]


@dataclass(frozen=True)
class Unit:
    """One item to process: its months, or None for "every month in the archive up to `last`"."""

    item: ItemRef
    months: tuple[str, ...] | None
    last: str | None = None


def normalize_routes(routes: Iterable[str] | None) -> tuple[str, ...] | None:
    """Sorted distinct route ids; None (every route) when empty."""
    cleaned = sorted({r.strip() for r in routes or () if r.strip()})
    return tuple(cleaned) or None


def plan_units(
    source: Source,
    years: Sequence[int] | None,
    start: date | None,
    end: date | None,
    today: date,
) -> list[Unit]:
    """The items and months a backfill covers (see the module docstring)."""
    if start and end and end < start:
        raise PlanError(f"end {end} is before start {start}")
    current = month_of(today)
    hi = min(month_of(end), current) if end else current
    lo = month_of(start) if start else None
    if source == "ferry":
        item = item_for("ferry", None)
        if not years and lo is None:
            return [Unit(item, None, hi)]
        if years:
            wanted = [m for y in sorted(set(years)) for m in months_of_year(y)]
        else:
            assert lo is not None
            wanted = _months_between(lo, hi)
        return [Unit(item, tuple(m for m in wanted if (lo is None or m >= lo) and m <= hi))]
    available = sorted(items_of(source))
    chosen = sorted(set(years)) if years else available
    units = []
    for year in chosen:
        item = item_for(source, year)  # UnknownYearError names the years that exist
        months = [m for m in months_of_year(year) if (lo is None or m >= lo) and m <= hi]
        if months:
            units.append(Unit(item, tuple(months)))
    return units


def _months_between(first: str, last: str) -> list[str]:
    y, m = parse_month(first)
    out = []
    while month_label(y, m) <= last:
        out.append(month_label(y, m))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


# --- month markers ---------------------------------------------------------------------------


def marker_key(source: Source, month: str) -> str:
    """Key of a month's marker in the output bucket (beside the data, under `Events/`)."""
    parse_month(month)
    return keys_core.join(
        STATE_PREFIX, keys_core.segment(source), keys_core.segment(month + ".json")
    )


def marker_prefix(source: Source) -> str:
    return keys_core.join(STATE_PREFIX, keys_core.segment(source)) + "/"


def covers(doc: Mapping[str, Any] | None, modified: int, routes: tuple[str, ...] | None) -> bool:
    """Whether a marker says the month is written for this item version and these routes."""
    if not doc or doc.get("item_modified") != modified:
        return False
    done = doc.get("routes")
    if done is None:
        return True
    return routes is not None and set(routes) <= set(done)


def routes_written(
    previous: Mapping[str, Any] | None, modified: int, routes: tuple[str, ...] | None
) -> list[str] | None:
    """The routes a new marker records: this run's, plus the previous marker's if it is of the
    same item version (a bus month can be filled route by route); None means every route."""
    if routes is None:
        return None
    if previous and previous.get("item_modified") == modified:
        before = previous.get("routes")
        if before is None:
            return None
        return sorted(set(before) | set(routes))
    return list(routes)


def marker_doc(
    source: Source,
    month: str,
    info: ItemInfo,
    routes: list[str] | None,
    counts: Mapping[str, Any],
) -> dict[str, Any]:
    """The marker written after a month's files (no clock: a rerun stores the same bytes)."""
    return {
        "version": MARKER_VERSION,
        "source": source,
        "month": month,
        "item_id": info.item.item_id,
        "item_modified": info.modified,
        "routes": routes,
        **counts,
    }


@dataclass(frozen=True)
class MonthPlan:
    """What a run does with one month, and why."""

    month: str
    action: Action
    reason: str


def plan_months(
    months: Sequence[str],
    markers: Mapping[str, Mapping[str, Any]],
    modified: int,
    routes: tuple[str, ...] | None,
    force: bool,
) -> list[MonthPlan]:
    """Process a month unless its marker covers this item version and these routes."""
    plans = []
    for month in months:
        doc = markers.get(month)
        if force:
            plans.append(MonthPlan(month, "process", "forced"))
        elif covers(doc, modified, routes):
            plans.append(MonthPlan(month, "done", "written for this item version"))
        elif not doc:
            plans.append(MonthPlan(month, "process", "not written yet"))
        elif doc.get("item_modified") != modified:
            plans.append(MonthPlan(month, "process", "the ArcGIS item changed since"))
        else:
            plans.append(MonthPlan(month, "process", "routes not written yet"))
    return plans


# --- summaries -------------------------------------------------------------------------------

MonthStatus = Literal["written", "no_data", "failed"]


class MonthSummary(TypedDict, total=False):
    """What one month did (a `process-month` task's result, and a row of the year's artifact).

    `source_rows = rows_kept + sum(rows_rejected) + rows_excluded_by_route`; events come from
    the kept rows (bus: 1 or 2 per row, ferry: up to 2, rapid: 1), `events_missing` counts the
    ferry events a row could not give (no terminal or no actual time).
    """

    month: Required[str]
    status: Required[MonthStatus]
    source_rows: int
    rows_kept: int
    rows_rejected: dict[str, int]
    rows_excluded_by_route: int
    events: int
    events_missing: dict[str, int]
    files: int
    written: int
    unchanged: int
    enrichment_warnings: dict[str, int]
    notes: dict[str, int]
    error: str


class FileReport(TypedDict):
    """One member of an archive: processed (rows) or skipped (why)."""

    name: str
    status: Literal["events", "skipped"]
    rows: int
    reason: str


class YearSummary(TypedDict):
    """What a `historic-year` run did (its return value and artifact)."""

    source: str
    item: str
    item_id: str
    item_modified: str
    status: Literal["done", "nothing_to_do", "failed"]
    archive: dict[str, Any]
    months_planned: int
    months_already_done: list[str]
    months: list[MonthSummary]
    failed_months: list[str]
    files: list[FileReport]
    rows_unassigned: dict[str, int]
    rows_outside_months: int
    objects_written: int
    objects_unchanged: int
    events: int
    notes: list[str]
    seconds: dict[str, float]


class UnitPlan(TypedDict):
    """One item of a dry run."""

    item: str
    item_id: str
    item_modified: str
    size_bytes: int | None
    months_to_process: list[str]
    months_done: list[str]
    reasons: dict[str, str]


class BackfillPlanSummary(TypedDict):
    """What a backfill would do (`dry_run`): months, items and the downloads it would make."""

    dry_run: bool
    source: str
    months_planned: int
    months_to_process: int
    months_done: int
    items: list[UnitPlan]
    expected_downloads: dict[str, int]
    notes: list[str]


class BackfillSummary(TypedDict):
    """What a backfill did: the runs it made per item and what they wrote."""

    dry_run: bool
    source: str
    items: int
    months_to_process: int
    months_done: int
    runs: dict[str, int]
    objects_written: int
    objects_unchanged: int
    events: int
    rows_rejected: int
    failed: list[str]


def unit_plan(info: ItemInfo, plans: Sequence[MonthPlan], unknown_months: bool) -> UnitPlan:
    """One item's part of a dry run (`unknown_months`: every month of the ferry export)."""
    todo = [p.month for p in plans if p.action == "process"]
    return UnitPlan(
        item=info.item.label,
        item_id=info.item.item_id,
        item_modified=info.modified_iso,
        size_bytes=info.size,
        months_to_process=["every month in the export"] if unknown_months else todo,
        months_done=[p.month for p in plans if p.action == "done"],
        reasons={p.month: p.reason for p in plans},
    )


def summarize_plan(source: Source, items: Sequence[UnitPlan]) -> BackfillPlanSummary:
    """The dry run's summary: counts and expected downloads (one archive per item with work)."""
    busy = [i for i in items if i["months_to_process"]]
    todo = sum(len(i["months_to_process"]) for i in items)
    done = sum(len(i["months_done"]) for i in items)
    notes = []
    if any(i["size_bytes"] is None for i in busy):
        notes.append("ArcGIS gives no size for some items: expected bytes are a lower bound")
    if source == "ferry":
        notes.append("the ferry export is refreshed (one request, then status checks) first")
    return BackfillPlanSummary(
        dry_run=True,
        source=source,
        months_planned=todo + done,
        months_to_process=todo,
        months_done=done,
        items=list(items),
        expected_downloads={
            "archives": len(busy),
            "bytes": sum(i["size_bytes"] or 0 for i in busy),
            "item_metadata_requests": len(items),
            "gtfs_archive_index": 1 if busy else 0,
        },
        notes=notes,
    )


def plan_markdown(summary: BackfillPlanSummary) -> str:
    """The dry run as markdown (its artifact)."""
    lines = [
        "| item | modified | size (bytes) | months to process | months done |",
        "|---|---|---|---|---|",
    ]
    for i in summary["items"]:
        todo = ", ".join(i["months_to_process"]) or "-"
        done = ", ".join(i["months_done"]) or "-"
        size = f"{i['size_bytes']:,}" if i["size_bytes"] is not None else "?"
        lines.append(f"| {i['item']} | {i['item_modified']} | {size} | {todo} | {done} |")
    expected = "\n".join(f"- {k}: {v:,}" for k, v in summary["expected_downloads"].items())
    notes = "".join(f"\n- {n}" for n in summary["notes"])
    return "\n".join(lines) + f"\n\nExpected downloads:\n{expected}\n" + notes


def year_rows(summary: YearSummary) -> list[dict[str, Any]]:
    """The year run's months as artifact rows."""
    return [
        {
            "month": m["month"],
            "status": m["status"],
            "rows": m.get("source_rows", 0),
            "events": m.get("events", 0),
            "files": m.get("files", 0),
            "written": m.get("written", 0),
            "unchanged": m.get("unchanged", 0),
            "rejected": sum((m.get("rows_rejected") or {}).values()),
            "enrichment_warnings": sum((m.get("enrichment_warnings") or {}).values()),
            "error": m.get("error", ""),
        }
        for m in summary["months"]
    ]
