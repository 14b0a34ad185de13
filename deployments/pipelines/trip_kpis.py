"""Trip KPIs: declaration and demo scenario.

The demo loads the sample trips (`tasks/trip_kpis/sample_core.py`: two hand-checked days with
legacy items and every skip reason, and three generated days) into the stack's trips table, then:
1. the daily run of 2024-03-01 (a Query of that date on the index) writes its file;
2. the same again: the file is unchanged, nothing is written;
3. a backfill of 2024-03-01..2024-03-06, one daily run per date (subflows, 2 at once): the
   dates that have trips, and a zero-count file for 2024-03-06;
4. a full rebuild by a parallel scan (4 segments): it also counts the legacy items without
   `pickup_date`, so the dates that have some are rewritten; unassigned items are reported;
5. the migration (4 segments) gives legacy items their `pickup_date`;
6. the migration again: every segment's checkpoint says done, nothing is read;
7. the backfill again: now the daily queries see the migrated trips, and every file is
   unchanged — the index query and the full scan agree, byte for byte.
Then every KPI file is read back: `trip_count + sum(skipped) = trips_read` for each date.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from deployments.registry import Deployment, FlowSpec, Pipeline, Schedule

if TYPE_CHECKING:
    from deployments.demo import DemoRow
    from deployments.local_stack import LocalStack

FIRST, LAST = date(2024, 3, 1), date(2024, 3, 6)
AT_ONCE = {"max_concurrency": 2}  # daily subflows in flight (the demo's SQLite Prefect server)
RUNS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("daily 2024-03-01", "trip_kpis_day", {"day": FIRST}),
    ("daily 2024-03-01 again", "trip_kpis_day", {"day": FIRST}),
    ("backfill 2024-03-01..06", "trip_kpis_backfill", {"start": FIRST, "end": LAST, **AT_ONCE}),
    ("rebuild, parallel scan x4", "trip_kpis_rebuild", {"segments": 4}),
    ("migrate legacy items x4", "trip_kpis_migrate", {"segments": 4}),
    ("migrate again (resumed: done)", "trip_kpis_migrate", {"segments": 4}),
    (
        "backfill again after migration",
        "trip_kpis_backfill",
        {"start": FIRST, "end": LAST, **AT_ONCE},
    ),
)


def demo(stack: LocalStack) -> list[DemoRow]:
    """Load the sample trips, run the flows, check every KPI file."""
    from flows import trip_kpis as flows
    from tasks.common import s3
    from tasks.common.settings import get_settings
    from tasks.trip_kpis.sample_core import sample_trips
    from tasks.trip_kpis.sample_io import load_trips

    settings = get_settings()
    loaded = load_trips(settings.trips_table, sample_trips(settings.kpi_timezone))
    print(f"  loaded {loaded.written} sample trips into {settings.trips_table}")
    rows: list[DemoRow] = []
    completed = True
    before: dict[str, str] = {}
    for label, name, params in RUNS:
        before = {o.key: o.etag for o in s3.list_objects(settings.kpi_bucket, "kpis/")}
        state = getattr(flows, name)(**params, return_state=True)
        completed = completed and state.is_completed()
        summary: dict[str, Any] = dict(state.result()) if state.is_completed() else {}
        rows.append(_row(label, name, state.name or "-", summary, settings.kpi_bucket))
    if completed:  # a failed run shows in the table; the checks need every run
        after = {o.key: o.etag for o in s3.list_objects(settings.kpi_bucket, "kpis/")}
        changed = sorted(k for k, etag in after.items() if before.get(k) != etag)
        if changed:
            raise RuntimeError(f"after the migration, the daily runs rewrote {changed}")
        _check_files(settings.kpi_bucket)
    return rows


def _row(label: str, flow: str, state: str, summary: dict[str, Any], bucket: str) -> DemoRow:
    from deployments.demo import DemoRow

    where = f"s3://{bucket}/kpis/"
    if flow == "trip_kpis_day":
        detail = f"{summary.get('trip_count', 0)} of {summary.get('trips_read', 0)} trips"
        written = 1 if summary.get("file") == "written" else 0
        counted, rejects = summary.get("trip_count", 0), sum(summary.get("skipped", {}).values())
        detail += f", file {summary.get('file', '-')}"
    elif flow == "trip_kpis_backfill":
        runs = summary.get("runs", {})
        detail = ", ".join(f"{n} {k}" for k, n in runs.items()) or "-"
        written, counted, rejects = runs.get("written", 0), 0, 0
    elif flow == "trip_kpis_rebuild":
        written, counted = summary.get("written", 0), summary.get("trips_counted", 0)
        rejects = summary.get("trips_skipped", 0) + summary.get("unassigned", 0)
        detail = (
            f"{summary.get('items_read', 0)} items read, {written} written, "
            f"{summary.get('unchanged', 0)} unchanged, {summary.get('unassigned', 0)} unassigned"
        )
    else:
        run = summary.get("this_run", {})
        written, counted, rejects = 0, run.get("migrated", 0), run.get("unassigned", 0)
        where = "pickup_date on legacy items"
        detail = (
            f"{run.get('scanned', 0)} scanned, {run.get('migrated', 0)} migrated, "
            f"{summary.get('segments_done_before', 0)} segment(s) already done"
        )
    return DemoRow(
        "trip_kpis",
        f"{label}: {detail}",
        state,
        objects=int(written),
        items=int(counted),
        rejects=int(rejects),
        where=where,
    )


def _check_files(bucket: str) -> None:
    from tasks.common import s3
    from tasks.trip_kpis import plan_core
    from tasks.trip_kpis.kpi_core import kpi_key

    for day in plan_core.days_between(FIRST, LAST):
        body = s3.get_bytes(bucket, kpi_key(day.isoformat()))
        if body is None:
            raise RuntimeError(f"no KPI file for {day}")
        doc = json.loads(body, parse_float=Decimal)  # the numbers as written
        if doc["trip_count"] + sum(doc["skipped"].values()) != doc["trips_read"]:
            raise RuntimeError(f"the KPI file of {day} does not reconcile: {doc}")
        mape = "-" if doc["mape_percent"] is None else f"{doc['mape_percent']} %"
        print(
            f"  {day}: {doc['trip_count']} of {doc['trips_read']} trips counted, total "
            f"{doc['total_fare']}, average {doc['average_fare']}, MAPE {mape} ({doc['timezone']})"
        )


PIPELINE = Pipeline(
    name="trip_kpis",
    title="Trip KPIs",
    summary="DynamoDB `completed-trips-{env}` (Query of one date on `pickup_date-index`; "
    "parallel Scan to rebuild) → exact daily KPI JSON `s3://trip-kpis-{env}/kpis/date=…/kpi.json`",
    flows=(
        FlowSpec(
            "trip-kpis",
            "flows/trip_kpis.py:trip_kpis_day",
            "KPIs of one pickup date (default yesterday in the KPI time zone) by an index Query",
        ),
        FlowSpec(
            "trip-kpis-backfill",
            "flows/trip_kpis.py:trip_kpis_backfill",
            "KPIs of a date range (both ends included), one daily run per date, a bounded "
            "number at once",
        ),
        FlowSpec(
            "trip-kpis-rebuild",
            "flows/trip_kpis.py:trip_kpis_rebuild",
            "KPIs of every date from a parallel Scan of the whole table, legacy items included",
        ),
        FlowSpec(
            "trip-kpis-migrate",
            "flows/trip_kpis.py:trip_kpis_migrate",
            "Add pickup_date to legacy trips (conditional updates, resumable per segment)",
        ),
    ),
    deployments=(
        Deployment(
            "trip-kpis-daily",
            "trip-kpis",
            "Yesterday's KPIs (KPI time zone, default UTC) at 03:00 UTC, and the day before "
            "again at 03:30 UTC for trips that completed late (an unchanged file is kept).",
            schedules=(
                Schedule("0 3 * * *", "UTC"),
                Schedule("30 3 * * *", "UTC", parameters={"days_ago": 2}),
            ),
            concurrency_limit=1,
            tags=("trip_kpis", "daily"),
        ),
        Deployment(
            "trip-kpis-backfill-day",
            "trip-kpis",
            "One date of a trip-KPIs backfill (trip-kpis-backfill submits one run per date); "
            "the concurrency limit is the backfill's parallelism on the work pool.",
            concurrency_limit=8,
            tags=("trip_kpis", "backfill"),
        ),
        Deployment(
            "trip-kpis-backfill",
            "trip-kpis-backfill",
            "Manual: KPIs of every date from start to end (both included), one run of "
            "trip-kpis-backfill-day per date.",
            parameters={"day_deployment": "trip-kpis-day/trip-kpis-backfill-day"},
            tags=("trip_kpis", "backfill"),
        ),
        Deployment(
            "trip-kpis-rebuild",
            "trip-kpis-rebuild",
            "Manual: every date's KPIs from a parallel Scan (8 segments) of the whole table, "
            "legacy items included; the first deployment, or after fixing trip data.",
            parameters={"segments": 8},
            concurrency_limit=1,
            tags=("trip_kpis", "rebuild"),
        ),
        Deployment(
            "trip-kpis-migrate",
            "trip-kpis-migrate",
            "Manual, once: add pickup_date to legacy trips (run with dry_run=true first; "
            "re-run to resume after an interruption).",
            parameters={"segments": 4, "dry_run": True},
            concurrency_limit=1,
            tags=("trip_kpis", "migration"),
        ),
    ),
    role="TripKpisRole",
    settings_prefixes=("trips_", "kpi_"),
    demo=demo,
    docs="docs/trip_kpis.md",
)
