"""One month of one source, from its rows to its gzip files (pure; the schedule comes in).

Shared by the `process-month` task and the benchmark, so both run exactly this code:
transform (per source) → GTFS benchmarks (`enrich_core`) → files (`output_core`). The schedules
come through a callback, `schedule_of(day)`, that returns a day's stop times or the reason
there are none; the caller does the I/O (the compact GTFS cache) and this module stays pure.
Only the stage timings read a clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import pyarrow as pa

from tasks.historic import bus_core, enrich_core, ferry_core, output_core, rapid_core
from tasks.historic.events_core import Transformed
from tasks.historic.plan_core import MonthSummary, parse_month
from tasks.historic.sources_core import Source

EPOCH = date(1970, 1, 1)
ScheduleOf = Callable[[date], pa.Table | str]


def day_of(number: int) -> date:
    """Days since 1970-01-01 → date."""
    return EPOCH + timedelta(days=int(number))


def service_days(source: Source, rows: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """(days since 1970-01-01, valid) of each row's service date, by the source's rule."""
    if source == "rapid":
        return rapid_core.service_days(rows)
    if source == "bus":
        return bus_core.service_days(rows)
    return ferry_core.service_days(rows)


def transform(source: Source, rows: pa.Table, routes: tuple[str, ...] | None) -> Transformed:
    """The source's transform (rapid transit takes no routes filter: files are per stop)."""
    if source == "rapid":
        return rapid_core.transform(rows)
    if source == "bus":
        return bus_core.transform(rows, routes)
    return ferry_core.transform(rows, routes)


def _int_column(values: np.ndarray) -> pa.Array[Any]:
    mask = np.isnan(values)
    out: pa.Array[Any] = pa.array(np.where(mask, 0, values).astype(np.int64), pa.int64(), mask=mask)
    return out


@dataclass(frozen=True)
class MonthResult:
    """What one month produced: files and counts (see `MonthSummary`)."""

    month: str
    transformed: Transformed = field(repr=False)
    files: list[output_core.MonthFile] = field(repr=False)
    enrichment_warnings: dict[str, int]
    days: list[date]
    timings: dict[str, float]

    @property
    def events(self) -> int:
        return sum(f.events for f in self.files)

    def summary(self) -> MonthSummary:
        """The month's counts (written/unchanged are filled in after the upload)."""
        t = self.transformed
        return MonthSummary(
            month=self.month,
            status="written" if self.files else "no_data",
            source_rows=t.source_rows,
            rows_kept=t.rows_kept,
            rows_rejected=dict(t.rows_rejected),
            rows_excluded_by_route=t.rows_excluded_by_route,
            events=self.events,
            events_missing=dict(t.events_missing),
            files=len(self.files),
            enrichment_warnings=dict(self.enrichment_warnings),
            notes=dict(t.notes),
        )


def process_month(
    source: Source,
    month: str,
    rows: pa.Table,
    schedule_of: ScheduleOf,
    routes: tuple[str, ...] | None = None,
) -> MonthResult:
    """Transform, enrich and render one month of `source` (`rows`: canonical text columns)."""
    timings: dict[str, float] = {}
    started = last = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal last
        now = time.perf_counter()
        timings[stage] = round(now - last, 4)
        last = now

    year, number = parse_month(month)
    transformed = transform(source, rows, routes)
    events = transformed.events
    lap("transform")
    days = sorted({int(d) for d in np.unique(events["day"].to_numpy())})
    schedules: dict[int, pa.Table | str] = {d: schedule_of(day_of(d)) for d in days}
    lap("schedules")
    bench = enrich_core.benchmarks(events, schedules, with_tt=source != "ferry")
    events = events.append_column("scheduled_headway", _int_column(bench.scheduled_headway))
    if source != "ferry":  # ferry keeps the export's own scheduled crossing time
        index = events.schema.get_field_index("scheduled_tt")
        events = events.set_column(index, "scheduled_tt", _int_column(bench.scheduled_tt))
    lap("enrich")
    files = output_core.render_month(source, year, number, events)
    lap("render")
    timings["total"] = round(time.perf_counter() - started, 4)
    if sum(f.events for f in files) != events.num_rows:  # pragma: no cover - a bug, not data
        raise AssertionError(f"{month}: {events.num_rows} events but files hold fewer")
    return MonthResult(
        month, transformed, files, bench.warnings, [day_of(d) for d in days], timings
    )
