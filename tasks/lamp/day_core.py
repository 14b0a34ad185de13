"""One service date from parquet bytes to per-stop CSV bytes, timed per stage (no I/O).

Shared by the flow's processing task, the local-file mode (`pipelines lamp-file`) and the
benchmark, so all three run exactly the same code. Only the stage timings read a clock.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pyarrow as pa

from tasks.lamp import csv_core, events_core
from tasks.transit import gtfs_core


@dataclass(frozen=True)
class DayResult:
    """What processing one service date produced, and how the rows and events reconcile.

    `source_rows = rows_kept + sum(rows_dropped)`;
    `event_candidates = events_written + sum(events_dropped)` (one candidate per non-null
    `stop_timestamp` and per non-null `move_timestamp` of the kept rows).
    """

    service_date: date
    source_rows: int
    rows_dropped: dict[str, int]
    event_candidates: int
    events_dropped: dict[str, int]
    files: list[csv_core.StopFile] = field(repr=False)
    timings: dict[str, float]

    @property
    def rows_kept(self) -> int:
        return self.source_rows - sum(self.rows_dropped.values())

    @property
    def events_written(self) -> int:
        return sum(f.events for f in self.files)

    def counts(self) -> dict[str, Any]:
        """JSON-ready counts (no data)."""
        return {
            "service_date": self.service_date.isoformat(),
            "source_rows": self.source_rows,
            "rows_kept": self.rows_kept,
            "rows_dropped": dict(self.rows_dropped),
            "event_candidates": self.event_candidates,
            "events_written": self.events_written,
            "events_dropped": dict(self.events_dropped),
            "stops": len(self.files),
        }


class _Timer:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.timings[stage] = round(now - self._last, 4)
        self._last = now


def process_day(parquet: bytes, stop_times: pa.Table, service_date: date) -> DayResult:
    """Run every processing step on one day's LAMP parquet and that day's schedule.

    Args:
        parquet: the LAMP daily file's bytes.
        stop_times: the day's scheduled stop times (`gtfs_core.schedule_for_date`).
        service_date: the service date the file is for.
    """
    timer = _Timer()
    table = events_core.read_lamp_parquet(parquet)
    timer.lap("read")
    rows = events_core.prepare_rows(table, service_date)
    schedule = events_core.prepare_schedule(stop_times)
    timer.lap("prepare")
    events = events_core.build_events(rows, schedule, service_date)
    timer.lap("events")
    files = csv_core.render_stop_files(events.table, service_date)
    timer.lap("render")
    result = DayResult(
        service_date=service_date,
        source_rows=rows.source_rows,
        rows_dropped=rows.dropped,
        event_candidates=events.candidates,
        events_dropped=events.dropped,
        files=files,
        timings=timer.timings,
    )
    if result.event_candidates != result.events_written + sum(events.dropped.values()):
        raise AssertionError(f"events do not reconcile: {result.counts()}")  # pragma: no cover
    return result


def process_local(parquet: bytes, gtfs_zip: bytes, service_date: date) -> DayResult:
    """`process_day` with the schedule built from a GTFS zip in memory (local-file mode)."""
    feed = gtfs_core.FeedRef(service_date, service_date, "local", "local zip")
    compact = gtfs_core.compact_feed(gtfs_zip, feed)
    return process_day(parquet, gtfs_core.schedule_for_date(compact, service_date), service_date)
