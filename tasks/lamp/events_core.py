"""LAMP rows → ARR/DEP events, enriched with the day's GTFS schedule (pure, vectorised, compact).

The steps follow "Processing" in `shared/spec/lamp.md`:

1. `read_lamp_parquet`: the needed columns only, selected by name (MBTA adds columns upstream),
   integers kept as integers (epoch seconds must never pass through float64).
2. `prepare_rows`: subway and light rail only, `NONREV-` trips only from the cut-over date on,
   terminal platform aliases → numeric stop ids; every dropped row is counted under a reason.
   The kept rows are sorted **once**, by trip then stop_sequence (then file order), and that
   order serves every later step: trips are contiguous runs, a row's predecessor on its trip is
   the row before its run.
3. `build_events`: an ARR per `stop_timestamp`; a DEP per `move_timestamp`, attributed to the
   row with the nearest smaller `stop_sequence` of the same trip (among *all* its rows); each
   observed trip matched to a scheduled trip; a departure with no earlier row on its trip goes to
   the stop before its own on that scheduled trip, else it is dropped with a reason;
   `scheduled_tt` and the smoothed `scheduled_headway`; then the one sort into output order.

Memory: the file's table is read once and never copied whole. Rows are positions into it and
events are a handful of integer arrays (row, type, time, stop, two benchmarks); the strings of
an event are taken from the file's table only when a batch of stop files is rendered
(`Events.slice_table`). Keys (stops, routes, trips, windows) are integer codes, so grouping is
bincounts and matching is one sorted search per trip, not string merges.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
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
# Spec step 4: `NONREV-` trips are dropped for service dates before this day and kept from it on
# (the dashboard reads them; LAMP itself stopped publishing non-revenue trips in October 2024).
# The `lamp_non_revenue_cutover` setting holds the value the pipeline uses.
NON_REVENUE_CUTOVER = date(2023, 11, 30)

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
SOURCE_NAMES = {v: k for k, v in RENAMES.items()}

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
EVENT_TYPES = ("ARR", "DEP")


class LampDataError(ValueError):
    """The LAMP file cannot be processed (not Parquet, missing columns, wrong types)."""


# --- small helpers --------------------------------------------------------------------------


def _np(array: Column, fill: int = 0) -> np.ndarray:
    """An integer Arrow array as int64 numpy, nulls replaced by `fill`."""
    return np.asarray(pc.fill_null(array, fill).to_numpy(zero_copy_only=False), dtype=np.int64)


def _valid(array: Column) -> np.ndarray:
    return np.asarray(pc.is_valid(array).to_numpy(zero_copy_only=False), dtype=bool)


def _bools(array: Column) -> np.ndarray:
    """A boolean Arrow array as numpy, null → False."""
    return np.asarray(pc.fill_null(array, False).to_numpy(zero_copy_only=False), dtype=bool)


def _int_or_null(values: np.ndarray) -> pa.Array[Any]:
    """Float values (NaN = null) → an int64 Arrow array."""
    mask = np.isnan(values)
    return pa.array(np.where(mask, 0, values).astype(np.int64), mask=mask)


def _bits(span: int) -> int:
    """Bits needed for integers 0..span."""
    return max(int(span), 1).bit_length()


def _encode(column: Column) -> tuple[pa.Array[Any], np.ndarray]:
    """(distinct values, code of each element; -1 for null), without copying the strings: a
    dictionary column's own dictionary (unified across chunks), else one hash pass."""
    encoded: Any = column if pa.types.is_dictionary(column.type) else pc.dictionary_encode(column)
    chunks: list[Any] = encoded.chunks if isinstance(encoded, pa.ChunkedArray) else [encoded]
    if len(chunks) > 1 and not all(c.dictionary.equals(chunks[0].dictionary) for c in chunks):
        chunks = pa.chunked_array(chunks).unify_dictionaries().chunks
    if not chunks:
        return pa.array([], pa.string()), np.zeros(0, dtype=np.int64)
    codes = np.concatenate([_np(chunk.indices, -1) for chunk in chunks])
    return chunks[0].dictionary, codes


def _flag(column: Column, test: Any) -> np.ndarray:
    """`test(distinct values)` (a boolean Arrow array) for each element; null → False."""
    values, codes = _encode(column)
    per_value = np.r_[_bools(test(values)), False]
    return np.asarray(per_value[codes])  # code -1 (null) takes the trailing False


def _decoded(column: Column) -> Any:
    return column.cast(pa.string()) if pa.types.is_dictionary(column.type) else column


def _lexical_rank(values: pa.Array[Any]) -> np.ndarray:
    """Rank (1-based, byte order) of each distinct string: sorting by it sorts the strings."""
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64)
    return _np(pc.rank(values, sort_keys="ascending"))


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


def _dense_groups(key: np.ndarray, limit: int) -> tuple[np.ndarray, int]:
    """(group number of each key, number of groups): the key itself when its range is small
    (a bincount over it is linear), else the rank among the distinct keys (a sort)."""
    if len(key) == 0:
        return key, 0
    low, high = int(key.min()), int(key.max())
    if high - low < limit:
        return key - low, high - low + 1
    groups = np.unique(key, return_inverse=True)[1]
    return groups, int(groups.max()) + 1


# --- reading --------------------------------------------------------------------------------

# The types the pipeline reads each column as. Strings stay dictionary-encoded, as Parquet
# stores them: a day repeats a few thousand trip, vehicle and stop ids hundreds of thousands of
# times, and the codes are what grouping needs anyway.
_DICT = pa.dictionary(pa.int32(), pa.string())
_WANTED: dict[str, pa.DataType] = {
    **{c: pa.int64() for c in _INT_COLUMNS},
    **dict.fromkeys(_STR_COLUMNS, _DICT),
    "direction_id": pa.bool_(),
}


def _nulls(n: int, kind: pa.DataType) -> pa.Array[Any]:
    if kind == _DICT:
        return pa.DictionaryArray.from_arrays(pa.nulls(n, pa.int32()), pa.array([], pa.string()))
    return pa.nulls(n, kind)  # type: ignore[call-overload,no-any-return]


def empty_lamp_table() -> pa.Table:
    """What `read_lamp_parquet` returns for a file without rows."""
    return pa.table({name: _nulls(0, _WANTED[name]) for name in LAMP_COLUMNS})


def _as_wanted(name: str, column: Column) -> Any:
    kind = column.type
    if name == "direction_id" and pa.types.is_integer(kind):
        return pc.not_equal(column, 0)  # 0/1 integers mean the same as false/true
    if _WANTED[name] != _DICT:
        return column.cast(_WANTED[name], safe=True)
    if pa.types.is_dictionary(kind):
        if not (pa.types.is_string(kind.value_type) or pa.types.is_large_string(kind.value_type)):
            raise pa.ArrowInvalid(f"dictionary of {kind.value_type}")
        return column.cast(_DICT)
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        raise pa.ArrowInvalid(f"{kind}")
    return pc.dictionary_encode(column.cast(pa.string()))


def read_lamp_parquet(data: bytes) -> pa.Table:
    """The LAMP columns this pipeline uses, with checked types; optional ones filled with nulls.

    Integers are int64 (epoch seconds never pass through float64), `direction_id` boolean,
    strings dictionary-encoded with one dictionary per column. Raises `LampDataError` naming
    what is wrong (unreadable file, missing or ill-typed column).
    """
    try:
        names = set(pq.read_schema(io.BytesIO(data)).names)
        missing = [c for c in REQUIRED_COLUMNS if c not in names]
        if missing:
            raise LampDataError(f"LAMP parquet lacks required column(s): {', '.join(missing)}")
        parquet = pq.ParquetFile(
            io.BytesIO(data), read_dictionary=[c for c in _STR_COLUMNS if c in names]
        )
        table = parquet.read(columns=[c for c in LAMP_COLUMNS if c in names])
    except LampDataError:
        raise
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise LampDataError(f"not a readable Parquet file ({len(data)} bytes): {exc}") from exc
    arrays: list[Any] = []
    for name in LAMP_COLUMNS:
        if name not in table.column_names:
            arrays.append(_nulls(table.num_rows, _WANTED[name]))
            continue
        column = table.column(name)
        try:
            arrays.append(_as_wanted(name, column))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            expected = "string" if _WANTED[name] == _DICT else _WANTED[name]
            raise LampDataError(
                f"LAMP column {name!r} has type {column.type}, expected {expected}"
            ) from exc
    return pa.table(arrays, names=list(LAMP_COLUMNS)).unify_dictionaries()


# --- rows -----------------------------------------------------------------------------------


def _dateint(day: date) -> int:
    return day.year * 10000 + day.month * 100 + day.day


def resolve_aliases(stop_id: Column) -> Column:
    """Terminal platform names → numeric stop ids (`STOP_ID_ALIASES`); others unchanged."""
    index = pc.index_in(stop_id, value_set=pa.array(list(STOP_ID_ALIASES)))
    mapped = pc.take(pa.array(list(STOP_ID_ALIASES.values())), index)
    resolved: Column = pc.coalesce(mapped, stop_id)
    return resolved


@dataclass(frozen=True)
class NonRevenue:
    """`NONREV-` trips of the day and what the policy did with them (spec step 4)."""

    kept: bool
    cutover: date
    trips: int
    rows: int
    # kept: events written; dropped: ARR/DEP timestamps the dropped rows carried
    events: int = 0

    def doc(self) -> dict[str, Any]:
        """For the report and the day state."""
        side = "on or after" if self.kept else "before"
        return {
            "policy": f"{'kept' if self.kept else 'dropped'} (service date {side} "
            f"{self.cutover.isoformat()})",
            "trips": self.trips,
            "rows": self.rows,
            "events": self.events,
        }


@dataclass(frozen=True)
class Rows:
    """The kept rows of a file: positions into the file's table, grouped by trip.

    `index[i]` is the source row of kept row `i`; kept rows are sorted by trip (same service
    date, route, trip, vehicle, direction), then `stop_sequence`, then file order, so each trip
    is one run of consecutive rows and `trip[i]` (its number) never decreases. `stop[i]` is the
    row's stop id (aliases resolved) as a code into `stops`.
    """

    source: pa.Table
    index: np.ndarray
    trip: np.ndarray
    stop: np.ndarray
    stops: pa.Array[Any]
    source_rows: int
    dropped: dict[str, int]
    non_revenue: NonRevenue

    def __len__(self) -> int:
        return len(self.index)

    @property
    def n_trips(self) -> int:
        return int(self.trip[-1]) + 1 if len(self.trip) else 0

    def ints(self, name: str, fill: int = 0) -> np.ndarray:
        """An integer column of the kept rows (nulls → `fill`); output names accepted."""
        return np.asarray(_np(self.source[SOURCE_NAMES.get(name, name)], fill)[self.index])

    def valid(self, name: str) -> np.ndarray:
        return np.asarray(_valid(self.source[SOURCE_NAMES.get(name, name)])[self.index])

    def direction(self) -> np.ndarray:
        """direction_id of the kept rows as 0/1, -1 for null (int8)."""
        values = _np(pc.cast(self.source["direction_id"], pa.int8()), -1).astype(np.int8)
        return np.asarray(values[self.index])

    def flag(self, name: str, test: Any) -> np.ndarray:
        """`test` (an Arrow predicate on distinct values) for a string column's kept rows."""
        return np.asarray(_flag(self.source[name], test)[self.index])

    @property
    def table(self) -> pa.Table:
        """The kept rows as a table (aliases resolved, headway columns renamed, direction 0/1,
        plain strings). Materialised on demand (tests, inspection); processing never needs it.
        """
        kept = self.source.take(pa.array(self.index, pa.int64()))
        plain: dict[str, Any] = {n: _decoded(kept[n]) for n in kept.column_names}
        kept = pa.table(plain)
        kept = kept.set_column(
            kept.schema.get_field_index("stop_id"), "stop_id", self.stops.take(pa.array(self.stop))
        )
        direction = pc.cast(kept["direction_id"], pa.int8())
        kept = kept.set_column(
            kept.schema.get_field_index("direction_id"), "direction_id", direction
        )
        return kept.rename_columns([RENAMES.get(n, n) for n in kept.column_names])


def _trip_keys(table: pa.Table, kept: np.ndarray) -> np.ndarray:
    """One integer per observed trip of each kept row (same route, trip, vehicle, direction;
    the service date is the same for every kept row)."""
    combined = np.zeros(len(kept), dtype=np.int64)
    span = 1
    for name in ("route_id", "trip_id", "vehicle_id", "direction_id"):
        if name == "direction_id":
            width, codes = 3, _np(pc.cast(table[name], pa.int8()), -1)[kept]
        else:
            values, all_codes = _encode(table[name])
            width, codes = len(values) + 1, all_codes[kept]
            del all_codes
        if span * width >= 1 << 62:  # renumber before the product overflows
            combined = np.unique(combined, return_inverse=True)[1].astype(np.int64)
            span = int(combined.max()) + 1 if len(combined) else 1
        combined = combined * width + (codes + 1)
        span *= width
    return combined


def prepare_rows(
    table: pa.Table, service_date: date, non_revenue_cutover: date = NON_REVENUE_CUTOVER
) -> Rows:
    """Filter, normalise and order the source rows (steps 1-4 of the spec); count drops by reason.

    `table` (as `read_lamp_parquet` returns it) becomes the rows' source, not copied: callers
    drop their own reference.
    """
    source_rows = table.num_rows
    keep_non_revenue = service_date >= non_revenue_cutover
    non_revenue = _flag(table["trip_id"], lambda v: pc.starts_with(v, NON_REVENUE_PREFIX))
    subway = _flag(table["route_id"], lambda v: pc.is_in(v, pa.array(SUBWAY_ROUTES)))
    reasons: dict[str, Callable[[], np.ndarray]] = {
        "route_not_subway": lambda: ~subway,
        "non_revenue_trip": lambda: non_revenue & (not keep_non_revenue),
        "other_service_date": lambda: (
            ~_bools(pc.equal(table["service_date"], _dateint(service_date)))
        ),
        "missing_trip_id": lambda: ~_valid(table["trip_id"]),
        "missing_stop_id": lambda: ~_valid(table["stop_id"]),
        "missing_stop_sequence": lambda: ~_valid(table["stop_sequence"]),
    }
    keep = np.ones(source_rows, dtype=bool)
    dropped: dict[str, int] = {}
    hits: dict[str, np.ndarray] = {}
    for reason in ROW_DROP_REASONS:
        hits[reason] = hit = keep & reasons[reason]()
        if hit.any():
            dropped[reason] = int(hit.sum())
        keep &= ~hit
    if keep_non_revenue:
        nonrev_rows, timestamps = non_revenue & keep, 0  # their events are counted once built
    else:
        nonrev_rows = hits["non_revenue_trip"]
        timestamps = int(
            (_valid(table["stop_timestamp"]) & nonrev_rows).sum()
            + (_valid(table["move_timestamp"]) & nonrev_rows).sum()
        )
    nonrev_trips = len(np.unique(_encode(table["trip_id"])[1][nonrev_rows]))
    non_revenue_doc = NonRevenue(
        keep_non_revenue, non_revenue_cutover, nonrev_trips, int(nonrev_rows.sum()), timestamps
    )
    kept = np.flatnonzero(keep)
    del keep, hits, nonrev_rows
    # the one sort of the rows: by trip, then stop_sequence; stable, so file order breaks ties
    trip_key = _trip_keys(table, kept)
    order = lexsort((_np(table["stop_sequence"])[kept], trip_key))
    index = kept[order]
    trip_key = trip_key[order]
    trip = np.cumsum(np.r_[False, trip_key[1:] != trip_key[:-1]]).astype(np.int64)
    del trip_key, order, kept
    names, codes = _encode(table["stop_id"])
    resolved = resolve_aliases(names)
    stops = pc.unique(resolved)
    stop = _np(pc.index_in(resolved, value_set=stops), -1)[codes[index]]
    return Rows(
        source=table,
        index=index,
        trip=trip,
        stop=stop,
        stops=stops,
        source_rows=source_rows,
        dropped=dropped,
        non_revenue=non_revenue_doc,
    )


def previous_rows(trip: np.ndarray, seq: np.ndarray) -> np.ndarray:
    """For each row, the position of its trip's row with the nearest smaller stop_sequence.

    -1 where the trip has no earlier row. Rows sharing a stop_sequence share a predecessor (the
    last such row in file order). Rows in any order; `_previous_sorted` is the same on rows
    already sorted by trip and stop_sequence.
    """
    order = lexsort((seq, trip))
    prev_sorted = _previous_sorted(trip[order], seq[order])
    prev = np.empty(len(trip), dtype=np.int64)
    prev[order] = np.where(prev_sorted >= 0, order[np.clip(prev_sorted, 0, None)], -1)
    return prev


def _previous_sorted(trip: np.ndarray, seq: np.ndarray) -> np.ndarray:
    """`previous_rows` of rows sorted by trip, then stop_sequence, then file order (linear)."""
    n = len(trip)
    new_run = np.ones(n, dtype=bool)
    new_run[1:] = (trip[1:] != trip[:-1]) | (seq[1:] != seq[:-1])
    run_start = np.maximum.accumulate(np.where(new_run, np.arange(n), 0))
    before = run_start - 1
    safe = np.clip(before, 0, None)
    has_prev = (before >= 0) & (trip[safe] == trip)
    return np.where(has_prev, before, -1)


# --- schedule -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Schedule:
    """A day's scheduled subway stop times, sorted by trip and stop_sequence.

    Columns: trip_id, route_id, direction_id, stop_id (aliases resolved), stop_sequence,
    arrival_s (GTFS seconds of the day), scheduled_tt (seconds since the trip's first stop),
    prev_stop_id (null at a trip's first stop), branch_route_id (Red-A/Red-B/route).
    """

    table: pa.Table


def _flags(values: Column, members: tuple[str, ...]) -> np.ndarray:
    return _bools(pc.is_in(values, pa.array(members)))


def _schedule_branches(route: Column, stop: Column, trip: np.ndarray) -> pa.Array[Any]:
    """Branch of each scheduled stop time's trip: the route, except Red → Red-A/Red-B by the
    stops the trip visits (Red if it visits both or neither)."""
    names, codes = _encode(route)
    routes = names.to_pylist()
    values = [*routes, "Red-A", "Red-B"]
    red = codes == (routes.index("Red") if "Red" in routes else -2)
    if red.any():
        n_trips = int(trip.max()) + 1
        on_a = np.bincount(trip, weights=_flags(stop, RED_ASHMONT_STOPS), minlength=n_trips) > 0
        on_b = np.bincount(trip, weights=_flags(stop, RED_BRAINTREE_STOPS), minlength=n_trips) > 0
        a, b = len(values) - 2, len(values) - 1
        codes = codes.copy()
        codes[red] = np.where(on_a & ~on_b, a, np.where(on_b & ~on_a, b, codes[red][0]))[trip[red]]
    taken: pa.Array[Any] = pa.array(values, pa.string()).take(pa.array(codes, mask=codes < 0))
    return taken


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
    branch = _schedule_branches(s["route_id"], stop_id, trip)
    columns: dict[str, Any] = {
        "trip_id": s["trip_id"].cast(pa.string()),
        "route_id": s["route_id"].cast(pa.string()),
        "direction_id": pa.array(_np(s["direction_id"], -1)),
        "stop_id": stop_id.cast(pa.string()),
        "stop_sequence": pa.array(_np(s["stop_sequence"])),
        "arrival_s": pa.array(arrival),
        "scheduled_tt": pa.array(arrival - start_of),
        "prev_stop_id": prev_stop.cast(pa.string()),
        "branch_route_id": branch,
    }
    return Schedule(pa.table(columns))


# --- codes shared by events and schedule ------------------------------------------------------


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


class _Keys:
    """Integer codes of stops, routes, branches and scheduled trips for one day."""

    def __init__(self, rows: Rows, schedule: Schedule) -> None:
        st = schedule.table
        self.stops = _Vocab(rows.stops, st["stop_id"])
        # the rows' own codes, translated (few distinct values: a lookup per distinct stop)
        self.row_stop = self.stops.codes(rows.stops)[rows.stop] if len(rows) else rows.stop
        route_names, route_codes = _encode(rows.source["route_id"])
        self.routes = _Vocab(route_names, st["route_id"])
        self.row_route = self.routes.codes(route_names)[route_codes[rows.index]]
        self.branches = _Vocab(pa.array(["Red", "Red-A", "Red-B"]), route_names, st["route_id"])
        self.sched_trip = _np(pc.dictionary_encode(st["trip_id"].combine_chunks()).indices)
        self.sched_stop = self.stops.codes(st["stop_id"])
        self.sched_prev_stop = self.stops.codes(st["prev_stop_id"])
        self.sched_route = self.routes.codes(st["route_id"])
        self.sched_direction = _np(st["direction_id"], -1)
        self.sched_t = _np(st["arrival_s"])
        self.sched_tt = _np(st["scheduled_tt"]).astype(np.float64)
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


def _trip_branches(rows: Rows, keys: _Keys) -> np.ndarray:
    """Branch code of each observed trip: its route, except Red → Red-A/Red-B by the stops it
    visits; a Red trip seen only on the trunk (or on both branches) takes LAMP's own
    `branch_route_id` when that names a Red branch (Red-A first), else stays "Red"."""
    n_trips = rows.n_trips
    route_names = np.asarray(keys.routes.values.to_numpy(zero_copy_only=False), dtype=object)
    trip_start = np.r_[0, np.flatnonzero(np.diff(rows.trip)) + 1]
    trip_route = keys.row_route[trip_start]  # the route is part of the trip's identity
    branch_name = route_names[np.clip(trip_route, 0, None)].astype(object)
    branch_name[trip_route < 0] = None
    red = branch_name == "Red"
    if red.any():
        stop_a = _flags(keys.stops.values, RED_ASHMONT_STOPS)
        stop_b = _flags(keys.stops.values, RED_BRAINTREE_STOPS)
        at = np.clip(keys.row_stop, 0, None)
        on_a = np.bincount(rows.trip, weights=stop_a[at], minlength=n_trips) > 0
        on_b = np.bincount(rows.trip, weights=stop_b[at], minlength=n_trips) > 0
        per_trip = np.where(on_a & ~on_b, "Red-A", np.where(on_b & ~on_a, "Red-B", "Red"))
        for name in ("Red-A", "Red-B"):
            named = rows.flag("branch_route_id", lambda v, name=name: pc.equal(v, name))
            hit = np.bincount(rows.trip, weights=named, minlength=n_trips) > 0
            per_trip = np.where((per_trip == "Red") & hit, name, per_trip)
        branch_name[red] = per_trip.astype(object)[red]
    return keys.branches.codes(pa.array(branch_name, pa.string()))


def _first_events(
    trip: np.ndarray, epoch: np.ndarray, kind: np.ndarray, row: np.ndarray, n_trips: int
) -> tuple[np.ndarray, np.ndarray]:
    """(kept row, time) of each trip's first event: earliest time, then ARR before DEP, then
    the row first in the file; row -1 for a trip without events. Linear: one grouped minimum
    of a packed (time, type, row) key per trip."""
    first = np.full(n_trips, -1, dtype=np.int64)
    when = np.zeros(n_trips, dtype=np.int64)
    if len(trip) == 0:
        return first, when
    t0 = int(epoch.min())
    row_bits = _bits(int(row.max()))
    if _bits(int(epoch.max()) - t0) + 1 + row_bits > 62:  # absurd time spans: sort instead
        order = np.lexsort((row, kind, epoch, trip))
        head = order[_group_first(trip[order])]
        first[trip[head]], when[trip[head]] = row[head], epoch[head]
        return first, when
    packed = ((epoch - t0) << (row_bits + 1)) | (kind.astype(np.int64) << row_bits) | row
    best = np.full(n_trips, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(best, trip, packed)
    has = best != np.iinfo(np.int64).max
    first[has] = best[has] & ((1 << row_bits) - 1)
    when[has] = (best[has] >> (row_bits + 1)) + t0
    return first, when


def match_trips(
    rows: Rows,
    keys: _Keys,
    first_row: np.ndarray,
    first_epoch: np.ndarray,
    schedule: Schedule,
    service_date: date,
) -> np.ndarray:
    """Scheduled trip code (row of `keys.sched_trip`'s dictionary) of each observed trip, or -1.

    A trip is matched on its first observed event (`first_row`, at `first_epoch`): same route,
    direction, branch and stop, the scheduled time at that stop nearest to the observed time
    (ties: the earlier, then the later-sorting scheduled trip_id, as pandas'
    `merge_asof(direction="nearest")`).
    """
    result = np.full(rows.n_trips, -1, dtype=np.int64)
    trips = np.flatnonzero(first_row >= 0)
    if len(trips) == 0:
        return result
    branch = _trip_branches(rows, keys)
    head = first_row[trips]
    left_key = _match_key(
        keys.row_route[head], rows.direction()[head], branch[trips], keys.row_stop[head], keys
    )
    left_t = first_epoch[trips] - service_day_start(service_date)

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


def _window_medians(
    keys: _Keys,
    route: np.ndarray,
    direction: np.ndarray,
    stop: np.ndarray,
    epoch: np.ndarray,
    service_date: date,
) -> np.ndarray:
    """Median scheduled_tt of the schedule's stop times of each (route, direction, stop,
    30-minute window of `epoch`), rounded to a whole second (ties to even); NaN if none."""
    ev_window = _window(epoch - service_day_start(service_date))
    sc_window = _window(keys.sched_t)
    w0 = int(min(ev_window.min(), sc_window.min()))
    w_span = int(max(ev_window.max(), sc_window.max())) - w0 + 1
    sc_key = _group_keys(
        keys.sched_route, keys.sched_direction, keys.sched_stop, sc_window, keys, w0, w_span
    )
    order = np.lexsort((keys.sched_tt, sc_key))
    k, v = sc_key[order], keys.sched_tt[order]
    starts = _group_first(k)
    counts = np.diff(np.r_[starts, len(k)])
    medians = (v[starts + (counts - 1) // 2] + v[starts + counts // 2]) / 2
    ev_key = _group_keys(route, direction, stop, ev_window, keys, w0, w_span)
    hit = _lookup(ev_key, k[starts])
    return np.where(hit >= 0, np.round(medians[np.clip(hit, 0, None)]), np.nan)


def smooth_headways(
    values: np.ndarray,
    route: np.ndarray,
    direction: np.ndarray,
    stop: np.ndarray,
    epoch: np.ndarray,
    n_stops: int,
    service_date: date,
) -> np.ndarray:
    """Each event's `scheduled_headway` → the mean per route, direction, stop and 30-minute
    window of the day (NaN = null: skipped; NaN where a group has no value at all).

    One grouped pass (the original looped over 97 windows): the group key is dense (a few
    hundred stops × windows × routes), so the sums are bincounts. The mean is rounded to the
    nearest 10 s, ties to even (numpy rounding, as the original).
    """
    if len(values) == 0:
        return values
    window = _window(epoch - service_day_start(service_date))
    w0 = int(window.min())
    w_span = int(window.max()) - w0 + 1
    key = (route + 1) * 4 + (direction + 1)
    key = (key * (n_stops + 1) + (stop + 1)) * w_span + (window - w0)
    groups, n_groups = _dense_groups(key, limit=4 * len(key) + (1 << 20))
    present = ~np.isnan(values)
    sums = np.bincount(groups[present], weights=values[present], minlength=n_groups)
    counts = np.bincount(groups[present], minlength=n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.round(sums / counts, -1)
    result: np.ndarray = means[groups]
    return result


# --- events ---------------------------------------------------------------------------------


class _Gather:
    """Rows `src` of a column (null where `mask`), taken one chunk at a time.

    A file's columns come in one chunk per Parquet row group, and Arrow's take on a column of
    several chunks joins them first: the whole column, on every call. Taking from each chunk
    the rows it holds, then putting them back in `src` order, costs the batch, not the day.
    """

    def __init__(self, src: np.ndarray, mask: np.ndarray | None = None) -> None:
        self.src, self.mask = src, mask
        self._plans: dict[tuple[int, ...], tuple[list[tuple[int, Any]], Any]] = {}

    def take(self, column: Column) -> Any:
        chunks: list[Any] = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
        if len(chunks) == 1:
            return chunks[0].take(pa.array(self.src, pa.int64(), mask=self.mask))
        lengths = tuple(len(c) for c in chunks)
        if lengths not in self._plans:
            self._plans[lengths] = self._plan(lengths)
        parts, back = self._plans[lengths]
        pieces = [chunks[c].take(index) for c, index in parts]
        if not pieces:
            return pa.array([], chunks[0].type) if chunks else pa.array([])
        return pa.concat_arrays(pieces).take(back)

    def _plan(self, lengths: tuple[int, ...]) -> tuple[list[tuple[int, Any]], Any]:
        starts = np.r_[0, np.cumsum(lengths)]
        chunk = np.searchsorted(starts, self.src, side="right") - 1
        order = np.argsort(chunk, kind="stable")
        bounds = np.searchsorted(chunk[order], np.arange(len(lengths) + 1))
        parts = []
        for c in range(len(lengths)):
            sel = order[bounds[c] : bounds[c + 1]]
            if len(sel):
                mask = None if self.mask is None else self.mask[sel]
                parts.append((c, pa.array(self.src[sel] - starts[c], pa.int64(), mask=mask)))
        back = pa.array(np.argsort(order, kind="stable"), pa.int64())
        return parts, back


@dataclass(frozen=True)
class Events:
    """The day's events, in output order: grouped by stop (lexical), each stop's events by
    event_time, ties by type (ARR first), trip_id, stop_sequence, vehicle_id and file row.

    Each event is a kept row (`row`: for a DEP the row of the stop it leaves; for an origin
    departure the row that carried it), its type (0 ARR, 1 DEP), time (epoch seconds), stop (a
    code into `stops`) and schedule benchmarks (NaN = empty). `origin` marks departures from a
    stop LAMP has no row for: they keep their trip's values only. Small dtypes: ~26 bytes an
    event.
    """

    rows: Rows
    stops: pa.Array[Any]
    row: np.ndarray  # int32
    kind: np.ndarray  # int8
    epoch: np.ndarray  # int64
    stop: np.ndarray  # int32
    origin: np.ndarray  # bool
    scheduled_tt: np.ndarray  # float32 (whole seconds, exact)
    scheduled_headway: np.ndarray  # float32 (multiples of 10 s, exact)
    candidates: int
    dropped: dict[str, int] = field(default_factory=dict)
    non_revenue_events: int = 0

    def __len__(self) -> int:
        return len(self.row)

    def stop_runs(self) -> list[tuple[str, int, int]]:
        """(stop_id, first event, end) of each stop's consecutive events, in output order."""
        if len(self.stop) == 0:
            return []
        starts = _group_first(self.stop)
        ends = np.r_[starts[1:], len(self.stop)]
        names = self.stops.take(pa.array(self.stop[starts])).to_pylist()
        return [(str(n), int(s), int(e)) for n, s, e in zip(names, starts, ends, strict=True)]

    def slice_table(self, start: int, end: int) -> pa.Table:
        """Events `start..end` with the CSV's values (`ROW_VALUES`, `event_type`, `scheduled_tt`)
        and `epoch`: values are taken from the file's table for these events only (strings stay
        dictionary-encoded)."""
        rows = self.rows
        source = rows.source
        src = rows.index[self.row[start:end]]
        origin = self.origin[start:end]
        at = _Gather(src)
        own = _Gather(src, origin) if origin.any() else at
        columns: dict[str, Any] = {}
        for name in ROW_VALUES:
            if name == "stop_id":
                columns[name] = self.stops.take(pa.array(self.stop[start:end]))
            elif name == "direction_id":
                columns[name] = pc.cast(at.take(source["direction_id"]), pa.int8())
            elif name == "scheduled_headway":  # smoothed per event
                columns[name] = _int_or_null(self.scheduled_headway[start:end])
            elif name in TRIP_VALUES:
                columns[name] = at.take(source[name])
            else:  # a value of the stop's own row: empty on an origin departure
                columns[name] = own.take(source[SOURCE_NAMES.get(name, name)])
        columns["event_type"] = pa.array(EVENT_TYPES, pa.string()).take(
            pa.array(self.kind[start:end])
        )
        columns["epoch"] = pa.array(self.epoch[start:end], pa.int64())
        columns["scheduled_tt"] = _int_or_null(self.scheduled_tt[start:end])
        return pa.table(
            {
                k: v.combine_chunks() if isinstance(v, pa.ChunkedArray) else v
                for k, v in columns.items()
            }
        )

    @property
    def table(self) -> pa.Table:
        """Every event as a table (plus `_trip` and `_row`; plain strings): for tests and
        inspection."""
        table = self.slice_table(0, len(self))
        plain: dict[str, Any] = {n: _decoded(table[n]) for n in table.column_names}
        table = pa.table(plain)
        return table.append_column("_trip", pa.array(self.rows.trip[self.row])).append_column(
            "_row", pa.array(self.rows.index[self.row])
        )


def _empty_events(rows: Rows, candidates: int, dropped: dict[str, int]) -> Events:
    none = np.zeros(0, dtype=np.int32)
    return Events(
        rows=rows,
        stops=pa.array([], pa.string()),
        row=none,
        kind=none.astype(np.int8),
        epoch=none.astype(np.int64),
        stop=none,
        origin=none.astype(bool),
        scheduled_tt=none.astype(np.float32),
        scheduled_headway=none.astype(np.float32),
        candidates=candidates,
        dropped=dropped,
    )


def _origin_departures(
    pending: np.ndarray, rows: Rows, keys: _Keys, matched: np.ndarray
) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """Departures with no earlier row on their trip → the stop before theirs on the schedule.

    Returns (carrier rows kept, their stop codes, dropped by reason).
    """
    sched_trip = matched[rows.trip[pending]] if len(pending) else np.zeros(0, dtype=np.int64)
    at = keys.pair_row(sched_trip, keys.row_stop[pending])
    prev_code = np.where(at >= 0, keys.sched_prev_stop[np.clip(at, 0, None)], -1)
    dropped = {
        "departure_trip_unmatched": int((sched_trip < 0).sum()),
        "departure_stop_not_on_scheduled_trip": int(((sched_trip >= 0) & (at < 0)).sum()),
        "departure_from_first_scheduled_stop": int(((at >= 0) & (prev_code < 0)).sum()),
    }
    ok = prev_code >= 0
    return pending[ok], prev_code[ok], {k: v for k, v in dropped.items() if v}


def _packed_order(keys: list[Any]) -> np.ndarray:
    """`lexsort` of keys given primary first, each a function making its array when asked: the
    keys are folded into as few int64 words as their ranges allow while they are made, so at
    most one unpacked key exists at a time."""
    words: list[np.ndarray] = []
    current: np.ndarray | None = None
    bits = 0
    for make in keys:
        key = make()
        if len(key) == 0:
            return np.zeros(0, dtype=np.int64)
        low = int(key.min())
        width = _bits(int(key.max()) - low)
        if current is None or bits + width > 62:
            if current is not None:
                words.append(current)
            current, bits = key.astype(np.int64) - low, width
        else:
            current <<= width
            current |= key.astype(np.int64) - low
            bits += width
        del key
    if current is not None:
        words.append(current)
    if len(words) == 1:
        return np.argsort(words[0], kind="stable")
    # the primary word decides almost every pair: sort it alone (an unstable sort is faster),
    # then order the few runs of equal primary values by the remaining words
    primary = words[0]
    order = np.argsort(primary, kind="quicksort")
    ranked = primary[order]
    tied = np.zeros(len(order), dtype=bool)
    tied[1:] = ranked[1:] == ranked[:-1]
    tied[:-1] |= tied[1:]
    if tied.any():
        at = np.flatnonzero(tied)
        members = order[at]
        inner = np.lexsort(tuple(w[members] for w in reversed(words)))
        order[at] = members[inner]
    return order


def _output_order(
    rows: Rows,
    keys: _Keys,
    row: np.ndarray,
    kind: np.ndarray,
    epoch: np.ndarray,
    stop: np.ndarray,
    origin: np.ndarray,
) -> np.ndarray:
    """The one sort of the events: stop (lexical), event_time, ARR first, trip_id,
    stop_sequence (empty first), vehicle_id (empty first), file row."""
    src = rows.index[row]

    def ranks(name: str) -> Any:
        def make() -> np.ndarray:
            names, codes = _encode(rows.source[name])
            rank: np.ndarray = np.r_[0, _lexical_rank(names)][codes[src] + 1]
            return rank

        return make

    return _packed_order(
        [
            lambda: _lexical_rank(keys.stops.values)[stop],
            lambda: epoch,
            lambda: kind,
            ranks("trip_id"),
            lambda: np.where(origin, -1, _np(rows.source["stop_sequence"], -1)[src]),
            ranks("vehicle_id"),
            lambda: src,
        ]
    )


def build_events(rows: Rows, schedule: Schedule, service_date: date) -> Events:
    """Every event of the day with its schedule benchmarks, in output order (steps 5-8)."""
    stop_valid, move_valid = rows.valid("stop_timestamp"), rows.valid("move_timestamp")
    candidates = int(stop_valid.sum() + move_valid.sum())
    if len(rows) == 0 or candidates == 0:
        return _empty_events(rows, candidates, {})
    prev = _previous_sorted(rows.trip, rows.ints("stop_sequence"))
    arrivals = np.flatnonzero(stop_valid)
    carriers = np.flatnonzero(move_valid)
    carried_from = prev[carriers]
    attributed = carried_from >= 0
    row = np.concatenate([arrivals, carried_from[attributed]]).astype(np.int32)
    kind = np.repeat(np.array([0, 1], dtype=np.int8), [len(arrivals), int(attributed.sum())])
    move = rows.ints("move_timestamp")
    epoch = np.concatenate([rows.ints("stop_timestamp")[arrivals], move[carriers[attributed]]])
    pending = carriers[~attributed]
    del prev, stop_valid, move_valid, arrivals, carriers, carried_from, attributed

    keys = _Keys(rows, schedule)
    trip = rows.trip[row]
    first_row, first_epoch = _first_events(trip, epoch, kind, row, rows.n_trips)
    del trip
    matched = match_trips(rows, keys, first_row, first_epoch, schedule, service_date)
    del first_row, first_epoch
    carriers_ok, origin_stop, dropped = _origin_departures(pending, rows, keys, matched)

    n_normal = len(row)
    row = np.concatenate([row, carriers_ok.astype(np.int32)])
    kind = np.concatenate([kind, np.ones(len(carriers_ok), dtype=np.int8)])
    epoch = np.concatenate([epoch, move[carriers_ok]])
    stop = np.concatenate([keys.row_stop[row[:n_normal]], origin_stop]).astype(np.int32)
    origin = np.zeros(len(row), dtype=bool)
    origin[n_normal:] = True
    del move, carriers_ok, origin_stop, pending

    # scheduled_tt: the matched trip's time at the stop, else the window median
    at = keys.pair_row(matched[rows.trip[row]], stop)
    tt = np.where(at >= 0, keys.sched_tt[np.clip(at, 0, None)], np.nan)
    route = keys.row_route[row]
    direction = rows.direction()[row]
    missing = np.flatnonzero(at < 0)
    del at
    if len(missing):
        tt[missing] = _window_medians(
            keys, route[missing], direction[missing], stop[missing], epoch[missing], service_date
        )
    del missing
    tt32 = tt.astype(np.float32)
    del tt

    headway = rows.ints("scheduled_headway").astype(np.float64)
    headway[~rows.valid("scheduled_headway")] = np.nan
    headway = headway[row]
    headway[origin] = np.nan
    headway = smooth_headways(headway, route, direction, stop, epoch, len(keys.stops), service_date)
    headway32 = headway.astype(np.float32)
    del route, direction, headway

    order = _output_order(rows, keys, row, kind, epoch, stop, origin)
    nonrev = 0
    if rows.non_revenue.kept and rows.non_revenue.rows:
        is_nonrev = _flag(rows.source["trip_id"], lambda v: pc.starts_with(v, NON_REVENUE_PREFIX))
        nonrev = int(is_nonrev[rows.index[row]].sum())
    return Events(
        rows=rows,
        stops=keys.stops.values,
        row=row[order],
        kind=kind[order],
        epoch=epoch[order],
        stop=stop[order],
        origin=origin[order],
        scheduled_tt=tt32[order],
        scheduled_headway=headway32[order],
        candidates=candidates,
        dropped=dropped,
        non_revenue_events=nonrev,
    )
