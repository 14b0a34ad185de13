"""LAMP rows → ARR/DEP events, enriched with the day's GTFS schedule (pure, vectorised).

The steps follow "Processing" in `shared/spec/lamp.md`:

1. `read_lamp_parquet`: the needed columns only, selected by name (MBTA adds columns upstream),
   integers kept as integers (epoch seconds must never pass through float64).
2. `prepare_rows`: subway and light rail only, no non-revenue trips, terminal platform aliases
   → numeric stop ids, headway renames; every dropped row is counted under a reason.
3. `derive_events`: an ARR per `stop_timestamp`; a DEP per `move_timestamp`, attributed to the
   row with the nearest smaller `stop_sequence` of the same trip (among *all* its rows).
4. `match_trips` + `attribute_origin_departures`: each observed trip is matched to a scheduled
   trip; a departure with no earlier row on its trip goes to the stop before its own on that
   scheduled trip, else it is dropped with a reason.
5. `add_scheduled_tt`, `smooth_scheduled_headway`: the schedule benchmarks of each event.

Tables are Arrow; keys (stops, routes, trips, windows) are turned into integer codes once, so
matching and grouping are numpy sorts, searches and bincounts rather than string merges.
Events carry the CSV columns except `service_date`/`event_time` (rendered from `epoch` by
`transform_csv`), plus `epoch`, `_trip` (observed trip code) and `_row` (source row).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as _compute
import pyarrow.parquet as pq

from tasks.transit.gtfs_core import ScheduleError
from tasks.transit.service_core import SUBWAY_ROUTES, service_day_start

Column: TypeAlias = "pa.Array[Any] | pa.ChunkedArray[Any]"
# pyarrow-stubs' overloads reject valid compute calls (string joins with scalars, dictionary
# results, comparisons with Python values): compute functions are used untyped here.
pc: Any = _compute

WINDOW_SECONDS = 30 * 60

# Live data names some terminal platforms where GTFS (and the dashboard) use the numeric stop
# id. The original lacked Alewife and sent Union Square-01 to 70504.
STOP_ID_ALIASES: dict[str, str] = {
    "Alewife-01": "70061",
    "Alewife-02": "70061",
    "Forest Hills-01": "70001",
    "Forest Hills-02": "70001",
    "Braintree-01": "70105",
    "Braintree-02": "70105",
    "Oak Grove-01": "70036",
    "Oak Grove-02": "70036",
    "Union Square-01": "70503",
    "Union Square-02": "70504",
}

# Red Line branches: LAMP and GTFS both call every Red trip "Red"; its stops tell them apart.
RED_ASHMONT_STOPS = tuple(str(s) for s in range(70085, 70095))
RED_BRAINTREE_STOPS = tuple(str(s) for s in range(70095, 70106))

NON_REVENUE_PREFIX = "NONREV-"

# The daily file's columns as MBTA publishes them (spec "Source"); all nullable. Upstream adds
# columns now and then, so the pipeline reads the ones it needs by name.
_SOURCE_FIELDS: list[tuple[str, pa.DataType]] = [
    ("stop_sequence", pa.int16()),
    ("stop_id", pa.string()),
    ("parent_station", pa.string()),
    ("move_timestamp", pa.int64()),
    ("stop_timestamp", pa.int64()),
    ("travel_time_seconds", pa.int64()),
    ("dwell_time_seconds", pa.int64()),
    ("headway_trunk_seconds", pa.int64()),
    ("headway_branch_seconds", pa.int64()),
    ("service_date", pa.int64()),
    ("route_id", pa.string()),
    ("direction_id", pa.bool_()),
    ("start_time", pa.int64()),
    ("vehicle_id", pa.string()),
    ("branch_route_id", pa.string()),
    ("trunk_route_id", pa.string()),
    ("stop_count", pa.int16()),
    ("trip_id", pa.string()),
    ("vehicle_label", pa.string()),
    ("vehicle_consist", pa.string()),
    ("direction", pa.string()),
    ("direction_destination", pa.string()),
    ("scheduled_arrival_time", pa.int64()),
    ("scheduled_departure_time", pa.int64()),
    ("scheduled_travel_time", pa.int64()),
    ("scheduled_headway_branch", pa.int64()),
    ("scheduled_headway_trunk", pa.int64()),
]
LAMP_SOURCE_SCHEMA = pa.schema(_SOURCE_FIELDS)

_INT_COLUMNS = (
    "stop_sequence",
    "move_timestamp",
    "stop_timestamp",
    "travel_time_seconds",
    "dwell_time_seconds",
    "headway_trunk_seconds",
    "headway_branch_seconds",
    "service_date",
    "scheduled_headway_branch",
    "scheduled_headway_trunk",
)
_STR_COLUMNS = (
    "stop_id",
    "route_id",
    "trip_id",
    "vehicle_id",
    "vehicle_label",
    "vehicle_consist",
    "branch_route_id",
)
# Without these a row cannot become an event: a file lacking one is not a LAMP file. The others
# are read when present and taken as all-null otherwise.
REQUIRED_COLUMNS = (
    "stop_sequence",
    "stop_id",
    "move_timestamp",
    "stop_timestamp",
    "service_date",
    "route_id",
    "direction_id",
    "trip_id",
    "vehicle_id",
)
LAMP_COLUMNS: tuple[str, ...] = (*_INT_COLUMNS, "direction_id", *_STR_COLUMNS)
RENAMES = {
    "headway_trunk_seconds": "headway_seconds",
    "scheduled_headway_trunk": "scheduled_headway",
}

OUTPUT_COLUMNS: tuple[str, ...] = (
    "service_date",
    "route_id",
    "trip_id",
    "direction_id",
    "stop_id",
    "stop_sequence",
    "vehicle_id",
    "vehicle_label",
    "event_type",
    "event_time",
    "travel_time_seconds",
    "dwell_time_seconds",
    "headway_seconds",
    "headway_branch_seconds",
    "scheduled_tt",
    "scheduled_headway",
    "scheduled_headway_branch",
    "vehicle_consist",
)
# What an event copies from the row of the stop it belongs to (for a DEP: the stop it leaves);
# the others are the day, the event itself and the schedule benchmark.
ROW_VALUES = tuple(
    c
    for c in OUTPUT_COLUMNS
    if c not in {"service_date", "event_type", "event_time", "scheduled_tt"}
)
# What an origin departure knows from its trip; the other values describe a stop LAMP has no
# row for and stay empty.
TRIP_VALUES = (
    "route_id",
    "trip_id",
    "direction_id",
    "vehicle_id",
    "vehicle_label",
    "vehicle_consist",
)

# Row drop reasons, in the order they are tested (a row counts under the first that applies).
ROW_DROP_REASONS = (
    "route_not_subway",
    "non_revenue_trip",
    "other_service_date",
    "missing_trip_id",
    "missing_stop_id",
    "missing_stop_sequence",
)


class LampDataError(ValueError):
    """The LAMP file cannot be processed (not Parquet, missing columns, wrong types)."""


@dataclass(frozen=True)
class Rows:
    """Source rows ready for event derivation, and what was dropped on the way."""

    table: pa.Table
    source_rows: int
    dropped: dict[str, int]


@dataclass(frozen=True)
class Schedule:
    """A day's scheduled subway stop times, sorted by trip and stop_sequence.

    Columns: trip_id, route_id, direction_id, stop_id (aliases resolved), stop_sequence,
    arrival_s (GTFS seconds of the day), scheduled_tt (seconds since the trip's first stop),
    prev_stop_id (null at a trip's first stop), branch_route_id (Red-A/Red-B/route).
    """

    table: pa.Table


@dataclass(frozen=True)
class Events:
    """The day's events and the departures that found no stop."""

    table: pa.Table
    candidates: int
    dropped: dict[str, int]


# --- small helpers --------------------------------------------------------------------------


def _np(array: Column, fill: int = 0) -> np.ndarray:
    """An integer Arrow array as int64 numpy, nulls replaced by `fill`."""
    return np.asarray(pc.fill_null(array, fill).to_numpy(zero_copy_only=False), dtype=np.int64)


def _valid(array: Column) -> np.ndarray:
    return np.asarray(pc.is_valid(array).to_numpy(zero_copy_only=False), dtype=bool)


def _nulls_to_nan(array: Column) -> np.ndarray:
    values = _np(array).astype(np.float64)
    values[~_valid(array)] = np.nan
    return values


def _positions(values: np.ndarray) -> pa.Array[Any]:
    """Row positions as an Arrow index array (for `take`)."""
    out: pa.Array[Any] = pa.array(np.asarray(values, dtype=np.int64), pa.int64())
    return out


def _int_or_null(values: np.ndarray) -> pa.Array[Any]:
    """Float values (NaN = null) → an int64 Arrow array."""
    mask = np.isnan(values)
    return pa.array(np.where(mask, 0, values).astype(np.int64), mask=mask)


class _Vocab:
    """Integer codes for string values shared by several arrays (-1 for null/unknown)."""

    def __init__(self, *arrays: Column) -> None:
        chunks = [a.cast(pa.string()) for a in arrays]
        merged = pa.chunked_array(
            [c for a in chunks for c in (a.chunks if isinstance(a, pa.ChunkedArray) else [a])],
            pa.string(),
        )
        self.values = pc.drop_null(pc.unique(merged))

    def __len__(self) -> int:
        return len(self.values)

    def codes(self, array: Column) -> np.ndarray:
        index = pc.index_in(array.cast(pa.string()), value_set=self.values)
        return _np(index, -1)


def lexsort(keys: tuple[np.ndarray, ...]) -> np.ndarray:
    """`np.lexsort(keys)` (last key primary, stable), faster: integer keys whose value ranges
    fit together in 62 bits are packed into one int64 and sorted in one stable argsort."""
    packed: list[np.ndarray] = []
    current: np.ndarray | None = None
    bits = 0
    for key in reversed(keys):  # primary first
        low = int(key.min()) if len(key) else 0
        span = (int(key.max()) - low + 1) if len(key) else 1
        width = max(span - 1, 1).bit_length()
        shifted = key.astype(np.int64) - low
        if current is None or bits + width > 62:
            if current is not None:
                packed.append(current)
            current, bits = shifted, width
        else:
            current, bits = (current << width) | shifted, bits + width
    if current is not None:
        packed.append(current)
    if len(packed) == 1:
        return np.argsort(packed[0], kind="stable")
    return np.lexsort(tuple(reversed(packed)))


def _group_first(sorted_keys: np.ndarray) -> np.ndarray:
    """Positions where a new key starts in a sorted key array."""
    starts = np.ones(len(sorted_keys), dtype=bool)
    starts[1:] = sorted_keys[1:] != sorted_keys[:-1]
    return np.flatnonzero(starts)


def _lookup(keys: np.ndarray, table_keys: np.ndarray) -> np.ndarray:
    """Position in `table_keys` (sorted, unique) of each key, -1 where absent."""
    if len(table_keys) == 0:
        return np.full(len(keys), -1, dtype=np.int64)
    pos = np.searchsorted(table_keys, keys)
    pos = np.clip(pos, 0, len(table_keys) - 1)
    return np.where(table_keys[pos] == keys, pos, -1)


# --- reading --------------------------------------------------------------------------------


def read_lamp_parquet(data: bytes) -> pa.Table:
    """The LAMP columns this pipeline uses, with checked types; optional ones filled with nulls.

    Raises `LampDataError` naming what is wrong (unreadable file, missing or ill-typed column).
    """
    try:
        parquet = pq.ParquetFile(io.BytesIO(data))
        names = set(parquet.schema_arrow.names)
        missing = [c for c in REQUIRED_COLUMNS if c not in names]
        if missing:
            raise LampDataError(f"LAMP parquet lacks required column(s): {', '.join(missing)}")
        table = parquet.read(columns=[c for c in LAMP_COLUMNS if c in names])
    except LampDataError:
        raise
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise LampDataError(f"not a readable Parquet file ({len(data)} bytes): {exc}") from exc
    wanted: dict[str, pa.DataType] = {
        **{c: pa.int64() for c in _INT_COLUMNS},
        **{c: pa.string() for c in _STR_COLUMNS},
        "direction_id": pa.bool_(),
    }
    arrays: list[Any] = []
    for name in LAMP_COLUMNS:
        if name not in table.column_names:
            arrays.append(pa.nulls(table.num_rows, wanted[name]))  # type: ignore[call-overload]
            continue
        column = table.column(name)
        try:
            if name == "direction_id" and pa.types.is_integer(column.type):
                column = pc.not_equal(column, 0)  # 0/1 integers mean the same as false/true
            arrays.append(column.cast(wanted[name], safe=True))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise LampDataError(
                f"LAMP column {name!r} has type {column.type}, expected {wanted[name]}"
            ) from exc
    return pa.table(arrays, names=list(LAMP_COLUMNS))


# --- rows -----------------------------------------------------------------------------------


def _dateint(day: date) -> int:
    return day.year * 10000 + day.month * 100 + day.day


def resolve_aliases(stop_id: Column) -> Column:
    """Terminal platform names → numeric stop ids (`STOP_ID_ALIASES`); others unchanged."""
    index = pc.index_in(stop_id, value_set=pa.array(list(STOP_ID_ALIASES)))
    mapped = pc.take(pa.array(list(STOP_ID_ALIASES.values())), index)
    resolved: Column = pc.coalesce(mapped, stop_id)
    return resolved


def prepare_rows(table: pa.Table, service_date: date) -> Rows:
    """Filter and normalise source rows (steps 1-4 of the spec); count drops by reason."""
    source_rows = table.num_rows
    reasons = {
        "route_not_subway": pc.invert(
            pc.fill_null(pc.is_in(table["route_id"], pa.array(SUBWAY_ROUTES)), False)
        ),
        # Non-revenue moves are not service. The original kept them from 2023-11-30 on, trusting
        # that LAMP had stopped emitting them; the real 2024-02-07 file still has them.
        "non_revenue_trip": pc.fill_null(
            pc.starts_with(table["trip_id"], NON_REVENUE_PREFIX), False
        ),
        "other_service_date": pc.fill_null(
            pc.not_equal(table["service_date"], _dateint(service_date)), True
        ),
        "missing_trip_id": pc.is_null(table["trip_id"]),
        "missing_stop_id": pc.is_null(table["stop_id"]),
        "missing_stop_sequence": pc.is_null(table["stop_sequence"]),
    }
    keep = np.ones(source_rows, dtype=bool)
    dropped: dict[str, int] = {}
    for reason in ROW_DROP_REASONS:
        hit = keep & np.asarray(reasons[reason].to_numpy(zero_copy_only=False), dtype=bool)
        if hit.any():
            dropped[reason] = int(hit.sum())
        keep &= ~hit
    kept = table.filter(pa.array(keep)).combine_chunks()
    kept = kept.set_column(
        kept.schema.get_field_index("stop_id"), "stop_id", resolve_aliases(kept["stop_id"])
    )
    direction = pc.cast(kept["direction_id"], pa.int8())
    kept = kept.set_column(kept.schema.get_field_index("direction_id"), "direction_id", direction)
    kept = kept.rename_columns([RENAMES.get(n, n) for n in kept.column_names])
    return Rows(kept, source_rows, dropped)


# --- events ---------------------------------------------------------------------------------


def trip_codes(rows: pa.Table) -> np.ndarray:
    """One integer per observed trip: same service_date, route, trip, vehicle and direction."""
    combined = np.zeros(rows.num_rows, dtype=np.int64)
    for name in ("service_date", "route_id", "trip_id", "vehicle_id", "direction_id"):
        encoded = pc.dictionary_encode(rows[name].combine_chunks())
        codes = _np(encoded.indices, -1) + 1  # 0 = null
        combined = combined * (len(encoded.dictionary) + 1) + codes
    return np.unique(combined, return_inverse=True)[1].astype(np.int64)


def previous_rows(trip: np.ndarray, seq: np.ndarray) -> np.ndarray:
    """For each row, the position of its trip's row with the nearest smaller stop_sequence.

    -1 where the trip has no earlier row. Rows sharing a stop_sequence share a predecessor (the
    last such row in file order).
    """
    n = len(trip)
    order = lexsort((seq, trip))
    t, q = trip[order], seq[order]
    new_run = np.ones(n, dtype=bool)
    new_run[1:] = (t[1:] != t[:-1]) | (q[1:] != q[:-1])
    run_start = np.maximum.accumulate(np.where(new_run, np.arange(n), 0))
    before = run_start - 1
    safe = np.clip(before, 0, None)
    has_prev = (before >= 0) & (t[safe] == t)
    prev = np.empty(n, dtype=np.int64)
    prev[order] = np.where(has_prev, order[safe], -1)
    return prev


def _events_table(
    rows: pa.Table,
    identity: np.ndarray,
    event_type: np.ndarray,
    epoch: np.ndarray,
    trip: np.ndarray,
) -> pa.Table:
    table = rows.select(list(ROW_VALUES)).take(pa.array(identity, pa.int64()))
    return (
        table.append_column("event_type", pa.array(event_type, pa.string()))
        .append_column("epoch", pa.array(epoch, pa.int64()))
        .append_column("_trip", pa.array(trip, pa.int64()))
        .append_column("_row", pa.array(identity, pa.int64()))
    )


def derive_events(rows: Rows, trip: np.ndarray) -> tuple[pa.Table, np.ndarray]:
    """ARR events and DEP events attributed to an earlier row of their trip.

    Returns `(events, pending)`: `pending` lists the rows whose `move_timestamp` has no earlier
    row on the trip (the departure from a stop LAMP has no row for).
    """
    table = rows.table
    prev = previous_rows(trip, _np(table["stop_sequence"]))
    arr_pos = np.flatnonzero(_valid(table["stop_timestamp"]))
    dep_pos = np.flatnonzero(_valid(table["move_timestamp"]))
    dep_prev = prev[dep_pos]
    attributed = dep_prev >= 0
    identity = np.concatenate([arr_pos, dep_prev[attributed]])
    epoch = np.concatenate(
        [_np(table["stop_timestamp"])[arr_pos], _np(table["move_timestamp"])[dep_pos[attributed]]]
    )
    kinds = np.repeat(np.array(["ARR", "DEP"], dtype=object), [len(arr_pos), int(attributed.sum())])
    events = _events_table(table, identity, kinds, epoch, trip[identity])
    return events, dep_pos[~attributed]


# --- schedule -------------------------------------------------------------------------------


def _branches(
    route: Column,
    stop: Column,
    trip: np.ndarray,
    reported: Column | None = None,
) -> np.ndarray:
    """Branch of each row's trip: the route, except Red → Red-A/Red-B by the stops it visits.

    A Red trip seen only on the trunk (or on both branches) takes `reported` (LAMP's own
    `branch_route_id`) when that names a Red branch, else stays "Red".
    """
    branch = np.asarray(route.to_numpy(zero_copy_only=False), dtype=object).copy()
    red = branch == "Red"
    if not red.any():
        return branch
    n_trips = int(trip.max()) + 1
    on_a = np.bincount(trip, weights=_flags(stop, RED_ASHMONT_STOPS), minlength=n_trips) > 0
    on_b = np.bincount(trip, weights=_flags(stop, RED_BRAINTREE_STOPS), minlength=n_trips) > 0
    per_trip = np.where(on_a & ~on_b, "Red-A", np.where(on_b & ~on_a, "Red-B", "Red")).astype(
        object
    )
    if reported is not None:
        names = np.asarray(reported.to_numpy(zero_copy_only=False), dtype=object)
        for name in ("Red-A", "Red-B"):
            hit = np.bincount(trip, weights=names == name, minlength=n_trips) > 0
            per_trip = np.where((per_trip == "Red") & hit, name, per_trip)
    branch[red] = per_trip[trip[red]]
    return branch


def _flags(values: Column, members: tuple[str, ...]) -> np.ndarray:
    hit = pc.fill_null(pc.is_in(values, pa.array(members)), False)
    return np.asarray(hit.to_numpy(zero_copy_only=False), dtype=np.float64)


def prepare_schedule(stop_times: pa.Table) -> Schedule:
    """Index a day's stop times: aliases, cumulative scheduled time, previous stop, branch.

    `stop_times` has one row per scheduled stop of each trip running that day: trip_id,
    route_id, direction_id, stop_id, stop_sequence, arrival_s (GTFS seconds). Raises
    `ScheduleError` when it is empty (the feed has no subway service that day).
    """
    if stop_times.num_rows == 0:
        raise ScheduleError("the GTFS feed has no subway service on this date")
    trip_dict = pc.dictionary_encode(stop_times["trip_id"].combine_chunks())
    trip_rank = _np(pc.rank(trip_dict.dictionary, sort_keys="ascending")) - 1
    trip = trip_rank[_np(trip_dict.indices)]
    order = np.lexsort((_np(stop_times["stop_sequence"]), trip))
    s = stop_times.take(pa.array(order, pa.int64()))
    trip = trip[order]
    stop_id = resolve_aliases(s["stop_id"].combine_chunks())
    arrival = _np(s["arrival_s"])
    first = _group_first(trip)
    start_of = np.repeat(arrival[first], np.diff(np.r_[first, len(trip)]))
    same_trip = np.r_[False, trip[1:] == trip[:-1]]
    prev_index = np.where(same_trip, np.arange(len(trip)) - 1, -1)
    prev_stop = pc.take(stop_id, pa.array(np.where(same_trip, prev_index, 0)))
    prev_stop = pc.if_else(pa.array(same_trip), prev_stop, pa.scalar(None, pa.string()))
    branch = _branches(s["route_id"], stop_id, trip)
    columns: dict[str, Any] = {
        "trip_id": s["trip_id"].cast(pa.string()),
        "route_id": s["route_id"].cast(pa.string()),
        "direction_id": pa.array(_np(s["direction_id"], -1)),
        "stop_id": stop_id.cast(pa.string()),
        "stop_sequence": pa.array(_np(s["stop_sequence"])),
        "arrival_s": pa.array(arrival),
        "scheduled_tt": pa.array(arrival - start_of),
        "prev_stop_id": prev_stop.cast(pa.string()),
        "branch_route_id": pa.array(branch, pa.string()),
    }
    return Schedule(pa.table(columns))


# --- codes shared by events and schedule ------------------------------------------------------


class _Keys:
    """Integer codes of stops, routes, branches and scheduled trips for one day."""

    def __init__(self, rows: pa.Table, schedule: Schedule) -> None:
        st = schedule.table
        self.stops = _Vocab(rows["stop_id"], st["stop_id"])
        self.routes = _Vocab(rows["route_id"], st["route_id"])
        self.branches = _Vocab(
            pa.array(["Red", "Red-A", "Red-B"]), rows["route_id"], st["route_id"]
        )
        self.sched_trip = _np(pc.dictionary_encode(st["trip_id"].combine_chunks()).indices)
        self.sched_stop = self.stops.codes(st["stop_id"])
        self.sched_prev_stop = self.stops.codes(st["prev_stop_id"])
        self.sched_route = self.routes.codes(st["route_id"])
        self.sched_direction = _np(st["direction_id"], -1)
        self.sched_t = _np(st["arrival_s"])
        # (trip, stop) → first schedule row with that pair (a loop visits a stop twice)
        pair = self.sched_trip * (len(self.stops) + 1) + self.sched_stop
        order = np.lexsort((np.arange(len(pair)), pair))
        first = order[_group_first(pair[order])]
        self.pair_keys = pair[first]
        self.pair_rows = first

    def pair_row(self, sched_trip: np.ndarray, stop: np.ndarray) -> np.ndarray:
        """Schedule row of (scheduled trip code, stop code), -1 where absent or trip unknown."""
        keys = sched_trip * (len(self.stops) + 1) + stop
        hit = _lookup(keys, self.pair_keys)
        return np.where(
            (sched_trip >= 0) & (stop >= 0) & (hit >= 0), self.pair_rows[np.clip(hit, 0, None)], -1
        )


def _match_key(
    route: np.ndarray, direction: np.ndarray, branch: np.ndarray, stop: np.ndarray, keys: _Keys
) -> np.ndarray:
    key = route + 1
    key = key * 4 + (direction + 1)
    key = key * (len(keys.branches) + 1) + (branch + 1)
    result: np.ndarray = key * (len(keys.stops) + 1) + (stop + 1)
    return result


# --- trip matching --------------------------------------------------------------------------


def match_trips(
    events: pa.Table,
    rows: pa.Table,
    trip_of_row: np.ndarray,
    schedule: Schedule,
    keys: _Keys,
    service_date: date,
) -> np.ndarray:
    """Scheduled trip code (row of `keys.sched_trip`'s dictionary) of each observed trip, or -1.

    A trip is matched on its first observed event: same route, direction, branch and stop, the
    scheduled time at that stop nearest to the observed time (ties: the earlier, then the
    later-sorting scheduled trip_id, as pandas' `merge_asof(direction="nearest")`).
    """
    n_trips = int(trip_of_row.max()) + 1 if len(trip_of_row) else 0
    result = np.full(n_trips, -1, dtype=np.int64)
    if events.num_rows == 0:
        return result
    row_branch = _branches(rows["route_id"], rows["stop_id"], trip_of_row, rows["branch_route_id"])
    trip_branch = np.empty(n_trips, dtype=object)
    trip_branch[trip_of_row] = row_branch

    ev_trip = _np(events["_trip"])
    epoch = _np(events["epoch"])
    is_dep = np.asarray(
        pc.equal(events["event_type"], "DEP").to_numpy(zero_copy_only=False), dtype=np.int8
    )
    order = lexsort((_np(events["_row"]), is_dep, epoch, ev_trip))
    first = order[_group_first(ev_trip[order])]
    trips = ev_trip[first]
    branch_codes = keys.branches.codes(pa.array(trip_branch[trips], pa.string()))
    left_key = _match_key(
        keys.routes.codes(events["route_id"].take(pa.array(first))),
        _np(events["direction_id"].take(pa.array(first)), -1),
        branch_codes,
        keys.stops.codes(events["stop_id"].take(pa.array(first))),
        keys,
    )
    left_t = epoch[first] - service_day_start(service_date)

    st = schedule.table
    right_key = _match_key(
        keys.sched_route,
        keys.sched_direction,
        keys.branches.codes(st["branch_route_id"]),
        keys.sched_stop,
        keys,
    )
    # trip rank by trip_id, so ties at the same time resolve the same way on every run
    trip_rank = _np(pc.rank(st["trip_id"], sort_keys="ascending", tiebreaker="dense"))
    r_order = np.lexsort((trip_rank, keys.sched_t, right_key))
    r_key, r_t = right_key[r_order], keys.sched_t[r_order]
    span = 1 << 24  # 194 days of seconds: wider than any service day
    r_comp = r_key * span + (r_t + span // 2)
    l_comp = left_key * span + (np.clip(left_t, -span // 2 + 1, span // 2 - 1) + span // 2)
    back = np.searchsorted(r_comp, l_comp, side="right") - 1
    fwd = np.searchsorted(r_comp, l_comp, side="left")
    back_ok = (back >= 0) & (r_key[np.clip(back, 0, None)] == left_key)
    fwd_ok = (fwd < len(r_comp)) & (r_key[np.clip(fwd, None, len(r_comp) - 1)] == left_key)
    back_c, fwd_c = np.clip(back, 0, None), np.clip(fwd, None, len(r_comp) - 1)
    back_d = np.where(back_ok, np.abs(left_t - r_t[back_c]), np.iinfo(np.int64).max)
    fwd_d = np.where(fwd_ok, np.abs(r_t[fwd_c] - left_t), np.iinfo(np.int64).max)
    chosen = np.where(fwd_d < back_d, fwd_c, back_c)
    found = back_ok | fwd_ok
    result[trips] = np.where(found, keys.sched_trip[r_order][chosen], -1)
    return result


def attribute_origin_departures(
    pending: np.ndarray, rows: pa.Table, trip_of_row: np.ndarray, matched: np.ndarray, keys: _Keys
) -> tuple[pa.Table, dict[str, int]]:
    """Departures with no earlier row on their trip → the stop before theirs on the schedule.

    Such a DEP keeps its trip's identity (route, trip, direction, vehicle) but describes a stop
    LAMP has no row for: its stop_sequence (LAMP and GTFS number stops differently) and the
    stop's measurements stay empty. Returns `(events, dropped by reason)`.
    """
    trip = trip_of_row[pending]
    sched_trip = matched[trip] if len(pending) else np.array([], dtype=np.int64)
    stop = keys.stops.codes(rows["stop_id"].take(pa.array(pending, pa.int64())))
    at = keys.pair_row(sched_trip, stop)
    prev_code = np.where(at >= 0, keys.sched_prev_stop[np.clip(at, 0, None)], -1)
    dropped = {
        "departure_trip_unmatched": int((sched_trip < 0).sum()),
        "departure_stop_not_on_scheduled_trip": int(((sched_trip >= 0) & (at < 0)).sum()),
        "departure_from_first_scheduled_stop": int(((at >= 0) & (prev_code < 0)).sum()),
    }
    ok = prev_code >= 0
    carrier = pending[ok]
    epoch = _np(rows["move_timestamp"])[carrier]
    events = _events_table(
        rows, carrier, np.full(len(carrier), "DEP", dtype=object), epoch, trip[ok]
    )
    for name in ROW_VALUES:
        if name not in TRIP_VALUES:
            index = events.schema.get_field_index(name)
            events = events.set_column(
                index, name, pa.nulls(len(carrier), events.schema.field(name).type)
            )
    stop_index = events.schema.get_field_index("stop_id")
    origin = keys.stops.values.take(pa.array(prev_code[ok], pa.int64()))
    events = events.set_column(stop_index, "stop_id", origin)
    return events, {k: v for k, v in dropped.items() if v}


# --- schedule benchmarks ----------------------------------------------------------------------


def _window(epoch_or_seconds: np.ndarray) -> np.ndarray:
    return epoch_or_seconds // WINDOW_SECONDS


def _group_keys(
    route: np.ndarray,
    direction: np.ndarray,
    stop: np.ndarray,
    window: np.ndarray,
    keys: _Keys,
    w0: int,
    w_span: int,
) -> np.ndarray:
    key = (route + 1) * 4 + (direction + 1)
    key = key * (len(keys.stops) + 1) + (stop + 1)
    result: np.ndarray = key * w_span + (window - w0)
    return result


def add_scheduled_tt(
    events: pa.Table, matched: np.ndarray, keys: _Keys, schedule: Schedule, service_date: date
) -> pa.Table:
    """`scheduled_tt`: seconds from the matched trip's first stop to the event's stop.

    Where the trip is unmatched or the stop is not on it: the median scheduled_tt of the
    schedule's stop times of that route/direction/stop in the same 30-minute window of the day
    (rounded to a whole second, ties to even); else empty.
    """
    st = schedule.table
    sched_tt = _np(st["scheduled_tt"]).astype(np.float64)
    ev_stop = keys.stops.codes(events["stop_id"])
    ev_trip = _np(events["_trip"])
    sched_trip = matched[ev_trip] if len(ev_trip) else np.array([], dtype=np.int64)
    at = keys.pair_row(sched_trip, ev_stop)
    tt = np.where(at >= 0, sched_tt[np.clip(at, 0, None)], np.nan)

    missing = np.flatnonzero(at < 0)
    if len(missing):
        ev_window = _window(_np(events["epoch"])[missing] - service_day_start(service_date))
        sc_window = _window(keys.sched_t)
        w0 = int(min(ev_window.min(), sc_window.min()))
        w_span = int(max(ev_window.max(), sc_window.max())) - w0 + 1
        sc_key = _group_keys(
            keys.sched_route, keys.sched_direction, keys.sched_stop, sc_window, keys, w0, w_span
        )
        order = np.lexsort((sched_tt, sc_key))
        k, v = sc_key[order], sched_tt[order]
        starts = _group_first(k)
        counts = np.diff(np.r_[starts, len(k)])
        medians = (v[starts + (counts - 1) // 2] + v[starts + counts // 2]) / 2
        ev_key = _group_keys(
            keys.routes.codes(events["route_id"].take(_positions(missing))),
            _np(events["direction_id"].take(_positions(missing)), -1),
            ev_stop[missing],
            ev_window,
            keys,
            w0,
            w_span,
        )
        hit = _lookup(ev_key, k[starts])
        tt[missing] = np.where(hit >= 0, np.round(medians[np.clip(hit, 0, None)]), np.nan)
    return events.append_column("scheduled_tt", _int_or_null(tt))


def smooth_scheduled_headway(events: pa.Table, keys: _Keys, service_date: date) -> pa.Table:
    """`scheduled_headway` → its mean per route, direction, stop and 30-minute window of the day.

    One grouped pass (the original looped over 97 windows). The mean skips nulls and is rounded
    to the nearest 10 s, ties to even (numpy rounding, as the original); null if all are null.
    """
    if events.num_rows == 0:
        return events
    window = _window(_np(events["epoch"]) - service_day_start(service_date))
    w0 = int(window.min())
    key = _group_keys(
        keys.routes.codes(events["route_id"]),
        _np(events["direction_id"], -1),
        keys.stops.codes(events["stop_id"]),
        window,
        keys,
        w0,
        int(window.max()) - w0 + 1,
    )
    groups = np.unique(key, return_inverse=True)[1]
    values = _nulls_to_nan(events["scheduled_headway"])
    present = ~np.isnan(values)
    sums = np.bincount(groups[present], weights=values[present], minlength=int(groups.max()) + 1)
    counts = np.bincount(groups[present], minlength=int(groups.max()) + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.round(sums / counts, -1)
    index = events.schema.get_field_index("scheduled_headway")
    return events.set_column(index, "scheduled_headway", _int_or_null(means[groups]))


# --- all steps ------------------------------------------------------------------------------


def build_events(rows: Rows, schedule: Schedule, service_date: date) -> Events:
    """Every event of the day with its schedule benchmarks (steps 5-7 of the spec)."""
    table = rows.table
    candidates = int(
        pc.sum(pc.is_valid(table["stop_timestamp"]).cast(pa.int64())).as_py() or 0
    ) + int(pc.sum(pc.is_valid(table["move_timestamp"]).cast(pa.int64())).as_py() or 0)
    trip = trip_codes(table)
    events, pending = derive_events(rows, trip)
    keys = _Keys(table, schedule)
    matched = match_trips(events, table, trip, schedule, keys, service_date)
    origin, dropped = attribute_origin_departures(pending, table, trip, matched, keys)
    events = pa.concat_tables([events, origin])
    events = add_scheduled_tt(events, matched, keys, schedule, service_date)
    events = smooth_scheduled_headway(events, keys, service_date)
    return Events(events, candidates, dropped)
