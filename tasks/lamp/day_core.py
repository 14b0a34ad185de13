"""One service date from parquet bytes to per-stop CSV bytes, timed per stage (no I/O).

Shared by the flow's processing and upload tasks, the local-file mode (`pipelines lamp-file`)
and the benchmark, so all of them run exactly the same code. Only the stage timings read a
clock.

Memory: `process_day` keeps the file's table once plus a few integer arrays per event; the CSV
bytes are made by `DayResult.batches()`, a batch of whole stops at a time, for the caller to
write and release before the next batch is rendered.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pyarrow as pa

from tasks.lamp import csv_core, events_core
from tasks.transit import gtfs_core

# A batch of stop files: whole stops, about this many events at most (a stop with more is a
# batch of its own) and at most this many files. ~130 bytes per event: ~7 MB of CSV a batch.
BATCH_EVENTS = 50_000
BATCH_STOPS = 64
STOP_KEY_REJECT = "stop_key_invalid"


@dataclass(frozen=True)
class RejectedStop:
    """A stop whose file cannot be stored: its events are not written (counted, reported)."""

    stop_id: str
    reason: str
    events: int

    def doc(self) -> dict[str, Any]:
        return {"stop_id": self.stop_id, "reason": self.reason, "events": self.events}


@dataclass(frozen=True)
class _Run:
    stop_id: str
    key: str
    start: int
    end: int


@dataclass(frozen=True)
class DayResult:
    """What processing one service date produced, and how the rows and events reconcile.

    `source_rows = rows_kept + sum(rows_dropped)`;
    `event_candidates = events_written + sum(events_dropped)` (one candidate per non-null
    `stop_timestamp` and per non-null `move_timestamp` of the kept rows; events of a stop whose
    file cannot be stored count under `stop_key_invalid`).
    """

    service_date: date
    source_rows: int
    rows_dropped: dict[str, int]
    event_candidates: int
    events_dropped: dict[str, int]
    non_revenue: dict[str, Any]
    rejected_stops: list[RejectedStop]
    warnings: list[str]
    timings: dict[str, float]
    events: events_core.Events | None = field(default=None, repr=False)
    runs: list[_Run] = field(default_factory=list, repr=False)

    @property
    def rows_kept(self) -> int:
        return self.source_rows - sum(self.rows_dropped.values())

    @property
    def events_written(self) -> int:
        return sum(r.end - r.start for r in self.runs)

    @property
    def stops(self) -> int:
        return len(self.runs)

    def batches(
        self, max_events: int = BATCH_EVENTS, max_stops: int = BATCH_STOPS
    ) -> Iterator[list[csv_core.StopFile]]:
        """The stop files, in lexical stop order, a batch of whole stops at a time.

        Each batch is rendered when asked for: write it and drop it before taking the next, and
        memory holds one batch of CSV. Rendering seconds add up in `timings["render"]`.
        """
        events = self.events
        if events is None or not self.runs:
            return
        self.timings.setdefault("render", 0.0)
        times = csv_core.EventTimes.covering(events.epoch)
        batch: list[_Run] = []
        size = 0
        for run in [*self.runs, None]:
            full = run is None or (
                batch and (size + run.end - run.start > max_events or len(batch) >= max_stops)
            )
            if full and batch:
                started = time.perf_counter()
                files = _render(events, batch, self.service_date, times)
                self.timings["render"] = round(
                    self.timings["render"] + time.perf_counter() - started, 4
                )
                yield files
                batch, size = [], 0
            if run is not None:
                batch.append(run)
                size += run.end - run.start

    @property
    def files(self) -> list[csv_core.StopFile]:
        """Every stop file at once: for tests and small days (the pipeline uses `batches`)."""
        return [f for batch in self.batches() for f in batch]

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
            "stops": self.stops,
            "stops_rejected": [r.doc() for r in self.rejected_stops],
            "non_revenue": dict(self.non_revenue),
            "warnings": list(self.warnings),
        }


def _render(
    events: events_core.Events,
    runs: list[_Run],
    service_date: date,
    times: csv_core.EventTimes | None,
) -> list[csv_core.StopFile]:
    """The files of consecutive accepted stops (rejected ones between them are skipped)."""
    keys = {r.stop_id: r.key for r in runs}
    if runs[-1].end - runs[0].start == sum(r.end - r.start for r in runs):
        table = events.slice_table(runs[0].start, runs[-1].end)
        return csv_core.render_sorted(table, service_date, times, keys)
    return [
        f
        for r in runs
        for f in csv_core.render_sorted(
            events.slice_table(r.start, r.end), service_date, times, keys
        )
    ]


class _Timer:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.timings[stage] = round(now - self._last, 4)
        self._last = now


def _runs(events: events_core.Events, service_date: date) -> tuple[list[_Run], list[RejectedStop]]:
    """Each stop's events with its key, or its rejection: checked before anything is written."""
    runs: list[_Run] = []
    rejected: list[RejectedStop] = []
    for stop_id, start, end in events.stop_runs():
        key, problem = csv_core.checked_stop_key(stop_id, service_date)
        if key is not None:
            runs.append(_Run(stop_id, key, start, end))
        else:
            rejected.append(RejectedStop(stop_id, problem or "", end - start))
    return runs, rejected


def process_day(
    parquet: bytes,
    stop_times: pa.Table,
    service_date: date,
    non_revenue_cutover: date = events_core.NON_REVENUE_CUTOVER,
) -> DayResult:
    """Run every processing step on one day's LAMP parquet and that day's schedule.

    Args:
        parquet: the LAMP daily file's bytes (empty bytes: a file without rows).
        stop_times: the day's scheduled stop times (`gtfs_core.schedule_for_date`).
        service_date: the service date the file is for.
        non_revenue_cutover: `NONREV-` trips are dropped before this service date, kept from it.
    """
    timer = _Timer()
    warnings: list[str] = []
    if parquet:
        table = events_core.read_lamp_parquet(parquet)
    else:
        warnings.append("the LAMP file is empty (0 bytes)")
        table = events_core.empty_lamp_table()
    timer.lap("read")
    rows = events_core.prepare_rows(table, service_date, non_revenue_cutover)
    del table  # the rows keep the file's table; nothing else holds it
    schedule = events_core.prepare_schedule(stop_times)
    timer.lap("prepare")
    events = events_core.build_events(rows, schedule, service_date)
    del rows, schedule
    runs, rejected = _runs(events, service_date)
    timer.lap("events")
    dropped = dict(events.dropped)
    if rejected:
        dropped[STOP_KEY_REJECT] = sum(r.events for r in rejected)
    non_revenue = events.rows.non_revenue
    if non_revenue.kept:
        nonrev_doc = {**non_revenue.doc(), "events": events.non_revenue_events}
    else:
        nonrev_doc = non_revenue.doc()
    result = DayResult(
        service_date=service_date,
        source_rows=events.rows.source_rows,
        rows_dropped=events.rows.dropped,
        event_candidates=events.candidates,
        events_dropped=dropped,
        non_revenue=nonrev_doc,
        rejected_stops=rejected,
        warnings=warnings,
        timings=timer.timings,
        events=events,
        runs=runs,
    )
    if result.events_written == 0 and parquet:
        warnings.append(
            f"no events to write ({result.source_rows:,} rows in the file, "
            f"{result.rows_kept:,} kept)"
        )
    if result.event_candidates != result.events_written + sum(dropped.values()):
        raise AssertionError(f"events do not reconcile: {result.counts()}")  # pragma: no cover
    return result


def process_local(
    parquet: bytes,
    gtfs_zip: bytes,
    service_date: date,
    non_revenue_cutover: date = events_core.NON_REVENUE_CUTOVER,
) -> DayResult:
    """`process_day` with the schedule built from a GTFS zip in memory (local-file mode)."""
    feed = gtfs_core.FeedRef(service_date, service_date, "local", "local zip")
    compact = gtfs_core.compact_feed(gtfs_zip, feed)
    return process_day(
        parquet,
        gtfs_core.schedule_for_date(compact, service_date),
        service_date,
        non_revenue_cutover,
    )
