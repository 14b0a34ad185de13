"""Running one month of a test archive through the real code, without Prefect or AWS."""

from __future__ import annotations

import gzip
import tempfile
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pyarrow as pa

from tasks.historic import archive_io, month_core
from tasks.historic.sources_core import Source

ScheduleOf = Callable[[date], pa.Table | str]


def no_gtfs(_day: date) -> pa.Table | str:
    return "no_gtfs_feed"


def run_month(
    source: Source,
    archive: bytes,
    month: str,
    schedule_of: ScheduleOf = no_gtfs,
    routes: tuple[str, ...] | None = None,
) -> tuple[month_core.MonthResult, dict[str, str]]:
    """Split `archive` (a ZIP, or the ferry CSV) and process `month`: the result and each
    file's text by key."""
    with tempfile.TemporaryDirectory(prefix="historic-test-") as tmp:
        path = Path(tmp) / ("ferry.csv" if source == "ferry" else "archive.zip")
        path.write_bytes(archive)
        split = archive_io.split_archive(source, path, Path(tmp), {month})
        rows = archive_io.read_spill(split.months[month])
    result = month_core.process_month(source, month, rows, schedule_of, routes)
    return result, {f.key: gzip.decompress(f.body).decode() for f in result.files}


def schedule(rows: list[tuple[str, str, int, str, int, int]]) -> pa.Table:
    """A day's stop times from (trip_id, route_id, direction_id, stop_id, stop_sequence,
    arrival_s) tuples."""
    names = ("trip_id", "route_id", "direction_id", "stop_id", "stop_sequence", "arrival_s")
    columns = list(zip(*rows, strict=True))
    types = (pa.string(), pa.string(), pa.int8(), pa.string(), pa.int32(), pa.int32())
    return pa.table({n: pa.array(c, t) for n, c, t in zip(names, columns, types, strict=True)})
