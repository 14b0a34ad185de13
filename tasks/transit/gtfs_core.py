"""GTFS for the transit pipelines (LAMP, historic): feed selection, compact cache, day schedule.

MBTA publishes every past schedule in `archived_feeds.txt`; the feed for a date is the first in
file order whose `feed_start_date..feed_end_date` covers it. The original rebuilt a SQLite
database of the whole feed (and timed out doing it); the pipelines need four columns of
`stop_times.txt` for the trips of one mode (a `FeedSelection`: subway for LAMP and the rapid
transit backfill, bus, ferry) plus the service calendar, so each mode is cached as one Parquet
file per feed (a few MB instead of a 100 MB zip), built once, read by every later run.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as _compute
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from tasks.transit.service_core import SUBWAY_ROUTES

Column: TypeAlias = "pa.Array[Any] | pa.ChunkedArray[Any]"
# pyarrow-stubs' overloads reject valid compute calls (string joins with scalars, dictionary
# results, comparisons with Python values): compute functions are used untyped here.
pc: Any = _compute

# Bump when the compact layout changes: old cache objects are then simply not found.
COMPACT_VERSION = "v1"
META_CALENDAR = b"lamp.calendar"
META_CALENDAR_DATES = b"lamp.calendar_dates"
_META_FEED = b"lamp.feed"
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True)
class FeedSelection:
    """Which trips of a feed a compact schedule keeps: these route ids and/or route types.

    `name` says it in reports and cache keys. `SUBWAY` is what LAMP always cached: its compact
    schedules are unchanged byte for byte (same rows, same metadata), so cached objects stay valid.
    """

    name: str
    routes: tuple[str, ...] = ()
    route_types: tuple[int, ...] = ()


SUBWAY = FeedSelection("subway", routes=SUBWAY_ROUTES)
# GTFS route_type 3 = bus, 4 = ferry (https://gtfs.org/schedule/reference/#routestxt)
BUS = FeedSelection("bus", route_types=(3,))
FERRY = FeedSelection("ferry", route_types=(4,))


class GtfsFeedError(ValueError):
    """The GTFS archive index or a feed zip is unusable (which file, what is wrong)."""


class ScheduleError(ValueError):
    """The schedule cannot serve a service date (no service that day)."""


@dataclass(frozen=True)
class FeedRef:
    """One row of `archived_feeds.txt`."""

    start: date
    end: date
    version: str
    url: str

    @property
    def label(self) -> str:
        """`<version> (<start>..<end>)`, for reports."""
        return f"{self.version} ({self.start:%Y%m%d}..{self.end:%Y%m%d})"


def _parse_day(text: str, what: str) -> date:
    try:
        return datetime.strptime(text.strip(), "%Y%m%d").date()
    except ValueError as exc:
        raise GtfsFeedError(f"{what}: expected YYYYMMDD, got {text!r}") from exc


def select_feed(archived_feeds: str, day: date) -> FeedRef:
    """The feed covering `day`: the first row, in file order, whose date range contains it."""
    reader = csv.DictReader(io.StringIO(archived_feeds.lstrip("\ufeff")))
    needed = {"feed_start_date", "feed_end_date", "feed_version", "archive_url"}
    if not reader.fieldnames or not needed <= set(reader.fieldnames):
        raise GtfsFeedError(
            f"archived_feeds.txt lacks columns {sorted(needed - set(reader.fieldnames or []))}"
        )
    for line, row in enumerate(reader, start=2):
        start = _parse_day(row["feed_start_date"], f"archived_feeds.txt line {line}")
        end = _parse_day(row["feed_end_date"], f"archived_feeds.txt line {line}")
        if start <= day <= end:
            return FeedRef(start, end, row["feed_version"].strip(), row["archive_url"].strip())
    raise GtfsFeedError(f"no GTFS feed in archived_feeds.txt covers {day.isoformat()}")


def parse_gtfs_times(values: Column, where: str = "GTFS time column") -> np.ndarray:
    """`H:MM:SS` / `HH:MM:SS` (hours may exceed 24) → seconds as float (NaN where empty).

    A value that is not three `:`-separated integers raises `GtfsFeedError` naming `where`
    (file and column), the first bad value and its row.
    """
    text = pc.utf8_trim_whitespace(values)
    blank = np.asarray(pc.fill_null(pc.equal(text, ""), True).to_numpy(zero_copy_only=False))
    shaped = pc.match_substring_regex(text, r"^\d+:\d{1,2}:\d{1,2}$")
    bad = ~blank & ~np.asarray(pc.fill_null(shaped, False).to_numpy(zero_copy_only=False))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise GtfsFeedError(
            f"{where}: {text[row].as_py()!r} at data row {row + 1} is not a time (HH:MM:SS)"
        )
    out = np.full(len(text), np.nan)
    valid = ~blank
    if valid.any():
        parts = pc.split_pattern(pc.filter(text, pa.array(valid)), ":")
        flat = pc.cast(pc.list_flatten(parts), pa.int64()).to_numpy().reshape(-1, 3)
        out[valid] = flat[:, 0] * 3600 + flat[:, 1] * 60 + flat[:, 2]
    return out


def _member(zf: zipfile.ZipFile, name: str) -> str | None:
    for info in zf.infolist():
        if info.filename.rsplit("/", 1)[-1] == name:
            return info.filename
    return None


def _read_csv(
    zf: zipfile.ZipFile,
    name: str,
    columns: list[str],
    required: bool,
    keep: tuple[str, pa.Array[Any]] | None = None,
) -> pa.Table:
    """`columns` of a GTFS file as strings; `keep=(column, values)` filters while streaming."""
    member = _member(zf, name)
    if member is None:
        if required:
            raise GtfsFeedError(f"GTFS zip lacks {name}")
        return pa.table({c: pa.array([], pa.string()) for c in columns})
    options = pacsv.ConvertOptions(
        include_columns=columns, column_types={c: pa.string() for c in columns}
    )
    batches = []
    try:
        with zf.open(member) as fh, pacsv.open_csv(fh, convert_options=options) as reader:
            for batch in reader:
                if keep is not None:
                    batch = batch.filter(pc.is_in(batch.column(keep[0]), keep[1]))
                batches.append(batch)
            schema = reader.schema
    except (pa.ArrowException, zipfile.BadZipFile, OSError) as exc:
        raise GtfsFeedError(f"GTFS {name}: {exc}") from exc
    return pa.Table.from_batches(batches, schema=schema).select(columns)


def _selected_routes(zf: zipfile.ZipFile, selection: FeedSelection) -> pa.Array[Any]:
    """Route ids of `selection`: its named routes plus every route of its route types."""
    routes = list(selection.routes)
    if selection.route_types:
        table = _read_csv(zf, "routes.txt", ["route_id", "route_type"], True)
        wanted = pa.array([str(t) for t in selection.route_types], pa.string())
        kind = pc.utf8_trim_whitespace(table["route_type"])
        chosen = table.filter(pc.fill_null(pc.is_in(kind, wanted), False))["route_id"]
        routes += [str(r) for r in chosen.to_pylist() if r is not None]
    return pa.array(sorted(set(routes)), pa.string())


def compact_feed(zip_bytes: bytes, feed: FeedRef, selection: FeedSelection = SUBWAY) -> pa.Table:
    """The compact schedule of a GTFS zip: the stop times of `selection` + the service calendar.

    Columns: trip_id, route_id, direction_id (int8), service_id, stop_id, stop_sequence (int32),
    arrival_s (int32, seconds from noon-minus-12h; departure time where arrival is empty). The
    calendar and calendar_dates rows of those services ride along as schema metadata, so one
    object holds everything (an S3 put is atomic: no half-written cache).
    """
    try:
        zf = zipfile.ZipFile(io.BytesIO(zip_bytes))
    except zipfile.BadZipFile as exc:
        raise GtfsFeedError(f"GTFS archive {feed.url} is not a zip file: {exc}") from exc
    with zf:
        trips = _read_csv(
            zf, "trips.txt", ["route_id", "service_id", "trip_id", "direction_id"], True
        )
        trips = trips.filter(pc.is_in(trips["route_id"], _selected_routes(zf, selection)))
        # stop_times.txt is most of the zip (every bus too): filter it while streaming
        stop_times = _read_csv(
            zf,
            "stop_times.txt",
            ["trip_id", "arrival_time", "departure_time", "stop_id", "stop_sequence"],
            True,
            keep=("trip_id", trips["trip_id"].combine_chunks()),
        )
        calendar = _read_csv(
            zf, "calendar.txt", ["service_id", *_WEEKDAYS, "start_date", "end_date"], False
        )
        calendar_dates = _read_csv(
            zf, "calendar_dates.txt", ["service_id", "date", "exception_type"], False
        )

    arrival = parse_gtfs_times(stop_times["arrival_time"], "GTFS stop_times.txt arrival_time")
    departure = parse_gtfs_times(stop_times["departure_time"], "GTFS stop_times.txt departure_time")
    seconds = np.where(np.isnan(arrival), departure, arrival)
    known = ~np.isnan(seconds)
    st = pd.DataFrame(
        {
            "trip_id": stop_times["trip_id"].to_numpy(zero_copy_only=False),
            "stop_id": stop_times["stop_id"].to_numpy(zero_copy_only=False),
            "stop_sequence": pd.to_numeric(
                stop_times["stop_sequence"].to_pandas(), errors="coerce"
            ).to_numpy(),
            "arrival_s": seconds,
        }
    )[known]
    if st["stop_sequence"].isna().any():
        raise GtfsFeedError(f"GTFS {feed.url}: stop_times.txt has a non-integer stop_sequence")
    tr = trips.to_pandas()
    merged = st.merge(tr, on="trip_id", how="inner")
    merged["direction_id"] = pd.to_numeric(merged["direction_id"], errors="coerce").fillna(-1)
    merged = merged.sort_values(["trip_id", "stop_sequence"], kind="stable")
    table = pa.table(
        {
            "trip_id": pa.array(merged["trip_id"].to_numpy(dtype=object), pa.string()),
            "route_id": pa.array(merged["route_id"].to_numpy(dtype=object), pa.string()),
            "direction_id": pa.array(merged["direction_id"].to_numpy(np.int8)),
            "service_id": pa.array(merged["service_id"].to_numpy(dtype=object), pa.string()),
            "stop_id": pa.array(merged["stop_id"].to_numpy(dtype=object), pa.string()),
            "stop_sequence": pa.array(merged["stop_sequence"].to_numpy(np.int32)),
            "arrival_s": pa.array(merged["arrival_s"].to_numpy(np.int32)),
        }
    )
    services = set(tr["service_id"].dropna())
    cal_rows = [r for r in calendar.to_pylist() if r["service_id"] in services]
    date_rows = [r for r in calendar_dates.to_pylist() if r["service_id"] in services]
    about: dict[str, str] = {
        "version": feed.version,
        "start": feed.start.isoformat(),
        "end": feed.end.isoformat(),
        "url": feed.url,
        "compact": COMPACT_VERSION,
    }
    if selection != SUBWAY:  # subway caches keep their original metadata (and bytes)
        about["selection"] = selection.name
    metadata = {
        META_CALENDAR: json.dumps(cal_rows, sort_keys=True).encode(),
        META_CALENDAR_DATES: json.dumps(date_rows, sort_keys=True).encode(),
        _META_FEED: json.dumps(about, sort_keys=True).encode(),
    }
    return table.replace_schema_metadata(metadata)


def to_parquet(table: pa.Table) -> bytes:
    """Parquet bytes of a compact schedule (zstd; deterministic for the same input)."""
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def active_services(table: pa.Table, day: date) -> set[str]:
    """Service ids running on `day` (calendar.txt ranges and weekdays, calendar_dates.txt)."""
    meta = table.schema.metadata or {}
    calendar = json.loads(meta.get(META_CALENDAR, b"[]"))
    exceptions = json.loads(meta.get(META_CALENDAR_DATES, b"[]"))
    stamp = f"{day:%Y%m%d}"
    weekday = _WEEKDAYS[day.weekday()]
    active = {
        r["service_id"]
        for r in calendar
        if r["start_date"].strip() <= stamp <= r["end_date"].strip() and r[weekday].strip() == "1"
    }
    for r in exceptions:
        if r["date"].strip() != stamp:
            continue
        if r["exception_type"].strip() == "1":
            active.add(r["service_id"])
        elif r["exception_type"].strip() == "2":
            active.discard(r["service_id"])
    return active


def read_compact(data: bytes) -> pa.Table:
    """A compact schedule from its Parquet bytes."""
    try:
        return pq.read_table(io.BytesIO(data))
    except (pa.ArrowException, OSError) as exc:
        raise GtfsFeedError(f"unreadable compact GTFS cache object: {exc}") from exc


def selection_name(table: pa.Table) -> str:
    """The `FeedSelection` name a compact schedule was built for ("subway" for LAMP's)."""
    about = json.loads((table.schema.metadata or {}).get(_META_FEED, b"{}"))
    return str(about.get("selection", SUBWAY.name))


def schedule_for_date(table: pa.Table, day: date) -> pa.Table:
    """Stop times of the trips running on `day` (input of `transform.prepare_schedule`)."""
    services = active_services(table, day)
    running = table.filter(pc.is_in(table["service_id"], pa.array(sorted(services), pa.string())))
    if running.num_rows == 0:
        raise ScheduleError(
            f"the GTFS feed has no {selection_name(table)} service on {day.isoformat()}"
        )
    return running.drop_columns(["service_id"])
