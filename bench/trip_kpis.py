"""Trip KPIs benchmark: the daily index Query (this repo) vs the seed's daily full-table Scan.

The trips table is the CloudFormation template's (`pickup_date-index`: hash key only, INCLUDE
projection), created in moto's threaded server in this process, and filled step by step with
`--per-day` generated trips per date (`tasks/trip_kpis/sample_core.py`: ~350-byte items, 1 %
of each defect; no legacy items: the steady state after the migration) until it holds each of
`--days` dates of history. After each step, each approach computes the KPIs of the most recent
date in a fresh process (`bench.common.measure`: seconds exclude imports; peak RSS is the
whole child's):

- **seed**: the seed's Lambda — a paginated `Scan` of the whole table (every attribute),
  a pandas DataFrame, rows with both fares, group by pickup date, float sum/count/mean/max/min
  (fares stored as text are coerced to NaN so that it finishes: the seed would crash);
- **this repo, daily**: `query_trips` (the daily flow's task) — a `Query` of that date on the
  index, tallied exactly — and the KPI document.

Then the full rebuild (`scan_trips`, the rebuild flow's task) with 1 and with 8 segments.

What is compared: items read (DynamoDB bills Query/Scan by the size of what it reads, so items
read and read capacity are what a real table charges for) and read capacity units, computed by
DynamoDB's rule from the items' sizes (0.5 RCU per 4 KB for eventually consistent reads; moto
reports a fixed `ConsumedCapacity` per request, shown for reference). Seconds are moto's: an
in-memory Python DynamoDB on this machine, whose Query and Scan both walk the whole table on
every page, so its times grow with history for both approaches; on DynamoDB a Query reads only
its key's items. Targets: the daily run reads exactly that date's items whatever the history
(items read per daily run the same at every step), i.e. `1/N` of the seed's; its read capacity
is at most `1/N` of the seed's; 1 and 8 segments read the same items and give the same KPIs.

Run: `python -m bench.trip_kpis [--days 10,20,30] [--per-day 2000] [--segments 1,8]`
(~3 minutes with the defaults, most of it moto's Scan).
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from bench.common import Measurement, Target, check, measure, peak_rss_mb, print_table

FIRST_DAY = date(2024, 4, 1)
TIMEZONE = "UTC"
RCU_BYTES = 4096  # one read capacity unit reads 4 KB strongly consistent, 8 KB eventually


# --- DynamoDB's size rule --------------------------------------------------------------------


def value_size(value: Any) -> int:
    """Bytes DynamoDB counts for an attribute value (its documented approximation)."""
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, bytes):
        return len(value)
    if isinstance(value, bool) or value is None:
        return 1
    if isinstance(value, Decimal | int):
        digits = len(Decimal(value).normalize().as_tuple().digits)
        return (digits + 1) // 2 + 1  # 1 byte per two significant digits, plus 1
    if isinstance(value, Mapping):
        return 3 + sum(len(str(k).encode()) + value_size(v) + 1 for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return 3 + sum(value_size(v) + 1 for v in value)
    raise TypeError(f"no DynamoDB size for a {type(value).__name__}")


def item_size(item: Mapping[str, Any]) -> int:
    """Bytes of an item: attribute names plus values."""
    return sum(len(name.encode()) + value_size(v) for name, v in item.items())


def read_capacity(page_sizes: Iterable[int]) -> float:
    """RCUs of eventually consistent Query/Scan requests: each request's bytes read, rounded up
    to 4 KB, at 0.5 RCU per 4 KB."""
    return sum(0.5 * math.ceil(size / RCU_BYTES) for size in page_sizes)


# --- the approaches (top-level: they run in spawned processes) ------------------------------


def run_seed(table: str, day: str) -> dict[str, Any]:
    """The seed: Scan everything, pandas, float KPIs per date, keep one date."""
    import pandas as pd

    from tasks.common import dynamo

    started = time.perf_counter()  # after the imports, like the others
    stats = dynamo.ReadStats()
    rows: list[dict[str, Any]] = []
    page_bytes: list[int] = []
    for page in dynamo.scan_pages(table, 0, 1, stats=stats):
        rows.extend(page.items)
        page_bytes.append(sum(item_size(i) for i in page.items))
    kpis = seed_kpis(rows)
    one = kpis.get(day, {})
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "items_read": stats.scanned,
        "rcu": read_capacity(page_bytes),
        "reported_rcu": stats.capacity_units,
        "trip_count": int(one.get("count", 0)),
        "total_fare": repr(float(one.get("sum", 0.0))),
        "peak_mb": peak_rss_mb(),
        "seed_days": len(kpis),
        "pd_version": pd.__version__,
    }


def seed_kpis(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """The seed's pandas aggregation: float fares, grouped by the date of pickup_datetime."""
    import pandas as pd

    df = pd.DataFrame(rows)
    df = df.dropna(subset=["fare_amount", "estimated_fare_amount"])
    fares = pd.to_numeric(df["fare_amount"], errors="coerce").astype(float)  # Decimal → float
    when = pd.to_datetime(df["pickup_datetime"], errors="coerce", utc=True, format="ISO8601")
    dates = when.dt.strftime("%Y-%m-%d")
    frame = pd.DataFrame({"date": dates, "fare": fares})
    grouped = frame.groupby("date")["fare"].agg(["sum", "count", "mean", "max", "min"])
    by_date = grouped.to_dict(orient="index")
    return {str(d): {str(k): float(v) for k, v in row.items()} for d, row in by_date.items()}


def run_daily(table: str, day: str) -> dict[str, Any]:
    """This repo's daily run: the index Query of one date, exact KPIs."""
    from prefect.logging import disable_run_logger

    from tasks.trip_kpis import kpi_core
    from tasks.trip_kpis.trips_io import query_trips

    started = time.perf_counter()
    with disable_run_logger():
        read = query_trips.fn(table, day, TIMEZONE)
    doc = kpi_core.kpi_document(read.tally.day(day), TIMEZONE, datetime.now(UTC))
    kpi_core.kpi_body(doc)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "items_read": read.stats.scanned,
        "rcu": index_read_capacity(table, day),
        "reported_rcu": read.stats.capacity_units,
        "trip_count": doc["trip_count"],
        "total_fare": str(doc["total_fare"]),
        "trips_read": doc["trips_read"],
        "peak_mb": peak_rss_mb(),
    }


def index_read_capacity(table: str, day: str) -> float:
    """RCUs of the daily Query by DynamoDB's rule: the index items (the projected attributes)
    of every page, as the daily task reads them (not timed)."""
    from tasks.common import dynamo
    from tasks.trip_kpis.kpi_core import ATTRIBUTES, INDEX_NAME

    sizes: list[int] = []
    page: list[int] = []
    for item in dynamo.query(
        table,
        index=INDEX_NAME,
        key_condition="#d = :d",
        names={"#d": "pickup_date"},
        values={":d": day},
        projection=ATTRIBUTES,
    ):
        page.append(item_size(item))
        if sum(page) >= 1 << 20:  # DynamoDB's 1 MB page
            sizes.append(sum(page))
            page = []
    return read_capacity([*sizes, sum(page)])


def run_rebuild(table: str, segments: int) -> dict[str, Any]:
    """This repo's full rebuild: every segment of a parallel Scan (threads here, concurrent
    Prefect tasks in the flow), tallied exactly by date."""
    from prefect.logging import disable_run_logger

    from tasks.trip_kpis import kpi_core
    from tasks.trip_kpis.trips_io import Read, scan_trips

    started = time.perf_counter()
    read = Read()
    with disable_run_logger(), ThreadPoolExecutor(max_workers=segments) as pool:
        parts = pool.map(lambda n: scan_trips.fn(table, n, segments, TIMEZONE), range(segments))
        for part in parts:
            read.merge(part)
    at = datetime(2024, 1, 1, tzinfo=UTC)  # fixed: the digest compares the files' content
    digest = hashlib.sha256()
    for day in sorted(read.tally.days):
        digest.update(kpi_core.kpi_body(kpi_core.kpi_document(read.tally.days[day], TIMEZONE, at)))
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "items_read": read.stats.scanned,
        "dates": len(read.tally.days),
        "files_digest": digest.hexdigest(),
        "unassigned": sum(read.tally.unassigned.values()),
        "peak_mb": peak_rss_mb(),
    }


# --- the run ---------------------------------------------------------------------------------


@dataclass
class Step:
    """One history size: the seed's and this repo's daily run of its most recent date."""

    days: int
    day: str
    seed: Measurement
    daily: Measurement


def load_days(table: str, days: Sequence[date], per_day: int) -> int:
    """Generated trips of `days`, one writer thread per date (seeded by the date)."""
    from tasks.trip_kpis.sample_core import generated_trips
    from tasks.trip_kpis.sample_io import load_trips

    def one(day: date) -> int:
        seed = day.toordinal()
        # no legacy items: this measures the steady state, after the migration
        trips = generated_trips([day], per_day, seed=seed, legacy_share=0.0)
        return load_trips(table, trips).written

    with ThreadPoolExecutor(max_workers=4) as pool:
        return sum(pool.map(one, days))


def measure_steps(
    table: str, steps: Sequence[int], per_day: int, runner: Any = measure
) -> list[Step]:
    """Fill the table step by step; after each, time both daily runs of the newest date."""
    results: list[Step] = []
    loaded = 0
    for days in steps:
        new = [FIRST_DAY + timedelta(days=n) for n in range(loaded, days)]
        started = time.perf_counter()
        load_days(table, new, per_day)
        print(
            f"loaded {len(new) * per_day:,} trips in {time.perf_counter() - started:.1f}s: "
            f"{days} day(s) of history"
        )
        loaded = days
        day = (FIRST_DAY + timedelta(days=days - 1)).isoformat()
        seed = runner(f"seed {days}d", run_seed, table, day)
        daily = runner(f"daily {days}d", run_daily, table, day)
        results.append(Step(days, day, seed, daily))
    return results


def targets(steps: Sequence[Step], rebuilds: Sequence[Measurement], per_day: int) -> list[Target]:
    """The benchmark's targets (see the module docstring)."""
    daily_reads = [s.daily.result["items_read"] for s in steps]
    last = steps[-1]
    read_ratio = last.daily.result["items_read"] / last.seed.result["items_read"]
    rcu_ratio = last.daily.result["rcu"] / last.seed.result["rcu"]
    found: list[Target] = [
        Target(
            "daily items read = that date's trips",
            float(set(daily_reads) == {per_day}),
            1.0,
            higher_is_better=True,
        ),
        Target(
            f"daily/seed items read at {last.days} days (≤ 1/N)",
            read_ratio,
            1.0 / last.days * 1.001,
        ),
        Target(f"daily/seed read capacity at {last.days} days (≤ 1/N)", rcu_ratio, 1.0 / last.days),
        Target("daily run peak RSS MB", max(s.daily.peak_rss_mb for s in steps), 512.0),
    ]
    if len(rebuilds) > 1:
        same = {(r.result["items_read"], r.result["files_digest"]) for r in rebuilds}
        found.append(
            Target(
                "rebuild: every segment count reads the same items, same files",
                float(len(same) == 1),
                1.0,
                higher_is_better=True,
            )
        )
    return found


def report(steps: Sequence[Step], rebuilds: Sequence[Measurement], per_day: int) -> int:
    print(f"\nKPIs of the newest date, {per_day:,} trips per date (seconds are moto's):")
    rows = []
    for s in steps:
        for label, m in (
            ("seed: full Scan + pandas (float)", s.seed),
            ("this repo: index Query (exact)", s.daily),
        ):
            r = m.result
            rows.append(
                [
                    s.days,
                    label,
                    r["items_read"],
                    r["rcu"],
                    r["reported_rcu"],
                    r["seconds"],
                    m.peak_rss_mb,
                    r["trip_count"],
                    r["total_fare"],
                ]
            )
    print_table(
        [
            "days stored",
            "daily run",
            "items read",
            "RCU (rule)",
            "RCU (moto)",
            "seconds",
            "peak MB",
            "trips",
            "total_fare",
        ],
        rows,
    )
    if rebuilds:
        print("\nFull rebuild (parallel Scan, every date):")
        print_table(
            ["segments", "items read", "seconds", "peak MB", "dates", "unassigned"],
            [
                [
                    r.label,
                    r.result["items_read"],
                    r.result["seconds"],
                    r.peak_rss_mb,
                    r.result["dates"],
                    r.result["unassigned"],
                ]
                for r in rebuilds
            ],
        )
    last = steps[-1]
    items = last.seed.result["items_read"] / last.daily.result["items_read"]
    capacity = last.seed.result["rcu"] / last.daily.result["rcu"]
    print(
        f"\nat {last.days} days: the seed reads {items:.1f}x the items and {capacity:.1f}x the "
        "read capacity of the daily Query (its float total_fare also counts what the contract "
        "skips, and a fare stored as text would crash it)"
    )
    return check(targets(steps, rebuilds, per_day))


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def run(argv: Sequence[str] = ()) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.trip_kpis", description=__doc__)
    parser.add_argument("--days", default="10,20,30", help="history sizes measured, ascending")
    parser.add_argument("--per-day", type=int, default=2_000, help="trips per date")
    parser.add_argument("--segments", default="1,8", help="rebuild segment counts")
    args, _unknown = parser.parse_known_args(list(argv))
    steps_days = sorted(_ints(args.days))

    from deployments.local_stack import FAKE_AWS_ENV, deploy_template, moto_server
    from tasks.common import aws
    from tasks.common.settings import get_settings

    saved = dict(os.environ)
    try:
        with moto_server() as endpoint:
            os.environ.update({**FAKE_AWS_ENV, "AWS_ENDPOINT_URL": endpoint})
            aws.clear_cache()
            deploy_template(endpoint)
            table = get_settings().trips_table
            steps = measure_steps(table, steps_days, args.per_day)
            rebuilds = [measure(f"{n}", run_rebuild, table, n) for n in _ints(args.segments)]
    finally:
        os.environ.clear()
        os.environ.update(saved)
        aws.clear_cache()
    return report(steps, rebuilds, args.per_day)


if __name__ == "__main__":
    import sys

    sys.exit(run(sys.argv[1:]))
