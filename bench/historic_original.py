"""The benchmark's alternative: the original's approach to a rapid transit year, in pandas.

What the original backfill did with an ArCGIS year (re-expressed here, not copied): every CSV of
the archive read into one pandas frame, `event_time = service_date + event_time_sec`, then
per service date the GTFS benchmarks with `merge_asof` (scheduled headway: the last scheduled
arrival at or before the event at its route/direction/stop; scheduled travel time: each trip
matched to the scheduled trip whose time at the trip's first event is nearest), then one gzip
CSV per calendar month and stop with `DataFrame.to_csv`. Its helper columns (`arrival_time`,
`scheduled_trip_id`, `trip_id_gtfs`, ...) stay in the files, as they did in the original: the
output differs in those columns, the events and their benchmark values do not (the benchmark's
test checks it on a small year).

The schedule comes from the same compact GTFS table as ours (the original rebuilt it from the
feed's zip each time, which is not what is measured here).
"""

from __future__ import annotations

import io
import zipfile
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from tasks.transit import gtfs_core

KEYS = ["route_id", "direction_id", "stop_id"]


def read_year(archive: Path) -> pd.DataFrame:
    """Every events CSV of the archive in one frame."""
    frames = []
    with zipfile.ZipFile(archive) as zf:
        for name in zf.namelist():
            if not name.lower().endswith(".csv"):
                continue
            with zf.open(name) as fh:
                frame = pd.read_csv(
                    fh,
                    parse_dates=["service_date"],
                    dtype={
                        "route_id": "str",
                        "trip_id": "str",
                        "stop_id": "str",
                        "vehicle_id": "str",
                        "vehicle_label": "str",
                    },
                )
            frames.append(frame.rename(columns={"sync_stop_sequence": "stop_sequence"}))
    df = pd.concat(frames, ignore_index=True)
    df["event_time"] = df["service_date"] + pd.to_timedelta(df["event_time_sec"], unit="s")
    return df.drop(columns=["event_time_sec"])


def day_schedule(compact: pa.Table, day: date) -> pd.DataFrame:
    """A day's stop times with `arrival_time` as a timedelta, headways and travel times."""
    stops = gtfs_core.schedule_for_date(compact, day).to_pandas()
    stops["direction_id"] = stops["direction_id"].astype("int64")
    stops["arrival_time"] = pd.to_timedelta(stops["arrival_s"], unit="s")
    stops = stops.sort_values(by="arrival_time", kind="stable")
    stops["scheduled_headway"] = stops.groupby(KEYS).arrival_time.diff().dt.total_seconds()
    start = stops.groupby("trip_id").arrival_time.transform("min")
    stops["scheduled_tt"] = (stops.arrival_time - start).dt.total_seconds()
    return stops


def add_benchmarks(df: pd.DataFrame, compact: pa.Table) -> pd.DataFrame:
    """The original's per-day `merge_asof` enrichment (helper columns included)."""
    results = []
    for day, events in df.groupby("service_date"):
        service_date = pd.Timestamp(day)  # type: ignore[arg-type]
        stops = day_schedule(compact, service_date.date())
        events = events.copy()
        events["arrival_time"] = events.event_time - service_date
        final = pd.merge_asof(
            events.sort_values(by="arrival_time", kind="stable"),
            stops[[*KEYS, "arrival_time", "scheduled_headway"]],
            on="arrival_time",
            by=KEYS,
            direction="backward",
        )
        starts = events.loc[events.groupby("trip_id").event_time.idxmin()]
        trip_map = pd.merge_asof(
            starts[[*KEYS, "trip_id", "arrival_time"]].sort_values(
                by="arrival_time", kind="stable"
            ),
            stops[[*KEYS, "arrival_time", "trip_id"]],
            on="arrival_time",
            by=KEYS,
            direction="nearest",
            suffixes=("", "_scheduled"),
        ).set_index("trip_id")["trip_id_scheduled"]
        final["scheduled_trip_id"] = final.trip_id.map(trip_map)
        first = stops.drop_duplicates(subset=[*KEYS, "trip_id"], keep="first")
        final = final.merge(
            first[[*KEYS, "trip_id", "scheduled_tt"]],
            how="left",
            left_on=[*KEYS, "scheduled_trip_id"],
            right_on=[*KEYS, "trip_id"],
            suffixes=("", "_gtfs"),
        )
        results.append(final)
    return pd.concat(results, ignore_index=True)


def write_months(df: pd.DataFrame) -> dict[str, bytes]:
    """One gzip CSV per calendar month and stop, keyed like ours."""
    files: dict[str, bytes] = {}
    month = pd.Grouper(key="service_date", freq="1ME")
    for (end, stop), events in df.groupby([month, "stop_id"]):
        sink = io.BytesIO()
        events.to_csv(sink, index=False, compression={"method": "gzip", "mtime": 0})
        key = f"Events/monthly-data/{stop}/Year={end.year}/Month={end.month}/events.csv.gz"  # type: ignore[attr-defined]
        files[key] = sink.getvalue()
    return files


def run_year(archive: Path, compact_path: Path, keep_files: bool = False) -> dict[str, Any]:
    """The whole year, the original's way; returns counts (and the files if asked)."""
    compact = gtfs_core.read_compact(compact_path.read_bytes())
    df = add_benchmarks(read_year(archive), compact)
    files = write_months(df)
    report: dict[str, Any] = {
        "events": len(df),
        "files": len(files),
        "bytes": sum(len(b) for b in files.values()),
    }
    if keep_files:
        report["contents"] = files
    return report
