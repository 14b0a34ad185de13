"""The original's LAMP algorithm in pandas, as docs/lamp.md describes it (the bench's alternative).

The TransitMatters ingest this pipeline replaces worked on pandas DataFrames. This module
re-implements that algorithm, step for step and with its documented behaviour (not the fixes of
this repository), so the benchmark can put the same input through both:

1. read the parquet into pandas (nullable integers), `direction_id` → int16, `service_date`
   formatted row by row (`apply`), the headway and scheduled travel time columns renamed, the
   original's alias map (no Alewife; Union Square-01 → 70504), `NONREV-` trips dropped before
   the cut-over date; commuter rail is not filtered (it leaked into the original's output);
2. arrivals = rows with a `stop_timestamp`; departures = rows with a `move_timestamp`, merged
   (`merge_asof`, backward on `stop_sequence`, per service date, route, trip, vehicle and
   direction, exact matches excluded) against the **arrival rows only**: a DEP takes the stop id
   of the nearest earlier arrival and every other value from its own (next-stop) row; a DEP
   with no earlier arrival is dropped;
3. GTFS: trips and stop times of the trip ids seen in LAMP (from the zip: the original built a
   SQLite database of the feed, far slower), the Red branch of each scheduled and observed trip
   by `groupby().apply()`, scheduled_tt = arrival - the trip's first arrival; each observed trip
   matched on its earliest event (`merge_asof(direction="nearest")` by route, direction, stop,
   branch); scheduled_tt merged by (scheduled trip, stop); missing ones from the 30-minute
   window median, looked up with a row-wise `apply`;
4. scheduled_headway: a loop over the 97 half-hour buckets of 48 hours, each filtering the whole
   frame and merging back the per route/direction/stop mean rounded to 10 s;
5. sort by event_time, group by stop, `to_csv(index=False)` each group.

Its files are not byte-identical to ours (the differences are the point of docs/lamp.md); the
benchmark compares its time and memory, and the tests check that every `NONREV-` event it
produces on the real sample is in ours.
"""

from __future__ import annotations

import io
import zipfile
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from tasks.lamp.events_core import OUTPUT_COLUMNS

EASTERN = "US/Eastern"
LAMP_COLUMNS = [
    "service_date",
    "route_id",
    "trip_id",
    "stop_id",
    "direction_id",
    "stop_sequence",
    "vehicle_id",
    "vehicle_label",
    "move_timestamp",
    "stop_timestamp",
    "travel_time_seconds",
    "dwell_time_seconds",
    "headway_trunk_seconds",
    "headway_branch_seconds",
    "scheduled_travel_time",
    "scheduled_headway_trunk",
    "scheduled_headway_branch",
    "vehicle_consist",
]
RENAMES = {
    "headway_trunk_seconds": "headway_seconds",
    "scheduled_headway_trunk": "scheduled_headway",
    "scheduled_travel_time": "scheduled_tt",
}
# the original's map: Alewife missing, both Union Square platforms → 70504
ALIASES = {
    "Forest Hills-01": "70001",
    "Forest Hills-02": "70001",
    "Braintree-01": "70105",
    "Braintree-02": "70105",
    "Oak Grove-01": "70036",
    "Oak Grove-02": "70036",
    "Union Square-01": "70504",
    "Union Square-02": "70504",
}
ASHMONT = {str(s) for s in range(70085, 70095)}
BRAINTREE = {str(s) for s in range(70095, 70106)}
RTE_DIR_STOP = ["route_id", "direction_id", "stop_id"]
NON_REVENUE_CUTOVER = date(2023, 11, 30)


def _dateint(value: int) -> str:
    text = str(value)
    return f"{text[:4]}-{text[4:6]}-{text[6:]}"


def _branch(frame: pd.DataFrame) -> str:
    route = str(frame["route_id"].iloc[0])
    if route != "Red":
        return route
    stops = set(frame["stop_id"].astype(str))
    ashmont, braintree = bool(stops & ASHMONT), bool(stops & BRAINTREE)
    if ashmont and not braintree:
        return "Red-A"
    if braintree and not ashmont:
        return "Red-B"
    return route


def _with_branch(frame: pd.DataFrame, by: str) -> pd.DataFrame:
    groups: Any = frame.groupby(by, group_keys=False)
    branches = groups.apply(_branch, include_groups=False)
    branches.name = "branch_route_id"
    return frame.drop(columns=["branch_route_id"], errors="ignore").merge(
        branches, on=by, how="left"
    )


def _seconds(text: Any) -> float:
    h, m, s = (int(x) for x in str(text).split(":"))
    return float(h * 3600 + m * 60 + s)


def _gtfs(zip_bytes: bytes, trip_ids: np.ndarray) -> pd.DataFrame:
    """trip_id, stop_id, arrival_time (seconds), route_id, direction_id of the LAMP trip ids."""
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as zf:
        # nullable strings, like the LAMP frame's (merge keys must have the same dtype)
        trips = pd.read_csv(zf.open("trips.txt"), dtype="string")
        stop_times = pd.read_csv(zf.open("stop_times.txt"), dtype="string")
    trips = trips[trips["trip_id"].isin(trip_ids)]
    stop_times = stop_times[stop_times["trip_id"].isin(trip_ids)]
    stops = stop_times.merge(trips[["trip_id", "route_id", "direction_id"]], on="trip_id")
    stops["arrival_time"] = stops["arrival_time"].apply(_seconds).astype("float64")
    stops["direction_id"] = stops["direction_id"].astype("int16")
    return stops[["trip_id", "stop_id", "arrival_time", "route_id", "direction_id"]]


def _arrivals_departures(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame["dep_time"] = pd.to_datetime(frame["move_timestamp"], unit="s", utc=True).dt.tz_convert(
        EASTERN
    )
    frame["arr_time"] = pd.to_datetime(frame["stop_timestamp"], unit="s", utc=True).dt.tz_convert(
        EASTERN
    )
    frame = frame.sort_values(by=["stop_sequence"])
    columns = [c for c in OUTPUT_COLUMNS if c != "event_type"] + ["event_type"]
    arrivals = frame[frame["arr_time"].notna()]
    arrivals = arrivals.assign(event_type="ARR").rename(columns={"arr_time": "event_time"})
    arrivals = arrivals[[c for c in columns if c in arrivals.columns]]
    departures = frame[frame["dep_time"].notna()]
    departures = departures.assign(event_type="DEP").rename(columns={"dep_time": "event_time"})
    by = ["service_date", "route_id", "trip_id", "vehicle_id", "direction_id"]
    departures = pd.merge_asof(
        departures,
        arrivals,
        on="stop_sequence",
        by=by,
        direction="backward",
        suffixes=("_curr", "_prev"),
        allow_exact_matches=False,
    )
    renamed = {f"{c}_curr": c for c in arrivals.columns if c not in by and c != "stop_sequence"}
    renamed["stop_id_prev"] = "stop_id"
    renamed.pop("stop_id_curr")
    departures = departures.rename(columns=renamed)[list(arrivals.columns)]
    return pd.concat([arrivals, departures])


def _enrich(events: pd.DataFrame, zip_bytes: bytes, day: date) -> pd.DataFrame:
    gtfs = _gtfs(zip_bytes, events["trip_id"].unique()).sort_values(by="arrival_time")
    events = _with_branch(events.drop(columns=["scheduled_tt"]), "trip_id")
    gtfs = _with_branch(gtfs, "trip_id")
    starts = gtfs.groupby("trip_id").arrival_time.transform("min")
    gtfs["scheduled_tt"] = gtfs["arrival_time"] - starts
    match = [*RTE_DIR_STOP, "branch_route_id"]
    route_starts = events.loc[events.groupby("trip_id").event_time.idxmin()]
    midnight = pd.Timestamp(day).tz_localize(EASTERN)
    route_starts = route_starts.assign(
        arrival_time=(route_starts.event_time - midnight).dt.total_seconds()
    )
    trip_map = pd.merge_asof(
        route_starts.sort_values(by="arrival_time"),
        gtfs[[*match, "arrival_time", "trip_id"]].drop_duplicates(),
        on="arrival_time",
        direction="nearest",
        by=match,
        suffixes=("", "_scheduled"),
    )
    scheduled = trip_map.drop_duplicates("trip_id").set_index("trip_id")["trip_id_scheduled"]
    events["scheduled_trip_id"] = events["trip_id"].map(scheduled)
    events = events.merge(
        gtfs[["trip_id", "stop_id", "scheduled_tt"]],
        how="left",
        left_on=["scheduled_trip_id", "stop_id"],
        right_on=["trip_id", "stop_id"],
        suffixes=("", "_gtfs"),
    )
    missing = events["scheduled_tt"].isna()
    if missing.any():
        gtfs["time_bucket"] = (gtfs["arrival_time"] // 1800).astype(int)
        medians = gtfs.groupby([*RTE_DIR_STOP, "time_bucket"])["scheduled_tt"].median()
        seconds = (events.loc[missing, "event_time"] - midnight).dt.total_seconds()
        lookup = events.loc[missing, RTE_DIR_STOP].copy()
        lookup["time_bucket"] = (seconds // 1800).astype(int).to_numpy()
        fallback = lookup.apply(lambda row: medians.get(tuple(row)), axis=1)
        events.loc[missing, "scheduled_tt"] = fallback.to_numpy()
    return events


def _smooth_headways(events: pd.DataFrame, day: date) -> pd.DataFrame:
    start = pd.Timestamp(day.year, day.month, day.day)
    parts = []
    for bucket in pd.date_range(start, start + pd.Timedelta(hours=48), freq="30min"):
        low = bucket.tz_localize(EASTERN, ambiguous=True, nonexistent="shift_forward")
        high = (bucket + pd.Timedelta(minutes=30)).tz_localize(
            EASTERN, ambiguous=True, nonexistent="shift_forward"
        )
        window = events[(events["event_time"] >= low) & (events["event_time"] < high)]
        means = window.groupby(RTE_DIR_STOP)["scheduled_headway"].mean().round(-1)
        parts.append(window.merge(means, how="left", on=RTE_DIR_STOP, suffixes=("_lamp", "")))
    return pd.concat(parts)


def process(
    parquet: bytes, zip_bytes: bytes, day: date, cutover: date = NON_REVENUE_CUTOVER
) -> dict[str, bytes]:
    """Per-stop CSV bytes as the original produced them from a parquet file and a GTFS zip."""
    frame = pd.read_parquet(
        io.BytesIO(parquet), columns=LAMP_COLUMNS, engine="pyarrow", dtype_backend="numpy_nullable"
    )
    frame["direction_id"] = frame["direction_id"].astype("int16")
    frame["service_date"] = frame["service_date"].apply(_dateint)
    frame = frame.rename(columns=RENAMES)
    frame["stop_id"] = frame["stop_id"].replace(ALIASES)
    before = frame["service_date"] < cutover.isoformat()
    frame = frame[~(frame["trip_id"].str.startswith("NONREV-").fillna(False) & before)]
    events = _arrivals_departures(frame)
    events = events[events["stop_id"].notna()]
    events = _enrich(events, zip_bytes, day)
    events = _smooth_headways(events, day)
    events = events.sort_values(by=["event_time"])[list(OUTPUT_COLUMNS)]
    files: dict[str, bytes] = {}
    for stop_id, group in events.groupby("stop_id"):
        buffer = io.BytesIO()
        group.to_csv(buffer, index=False, encoding="utf-8")
        files[str(stop_id)] = buffer.getvalue()
    return files
