"""Per-stop event CSVs in the exact format the dashboard reads, and their keys (pure).

Format (spec "Output"): UTF-8, header, no index, columns `OUTPUT_COLUMNS` in that order,
`event_time` like `2024-02-07 05:27:40-05:00`, integers without `.0`, empty string for null,
minimal quoting (a field is quoted only if it holds `,`, `"` or a line break, as pandas'
`to_csv` did). Each stop's events are sorted by event_time, ties broken by event type (ARR
first), trip_id, stop_sequence, vehicle_id and source row, so a rerun gives the same bytes.

The whole day is rendered at once with Arrow kernels (no Python loop over rows): every line is
joined into one buffer in stop order and each stop's file is a slice of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any, TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as _compute

from tasks.common import keys_core
from tasks.common.time_core import EASTERN
from tasks.lamp.events_core import OUTPUT_COLUMNS, _positions, lexsort

Column: TypeAlias = "pa.Array[Any] | pa.ChunkedArray[Any]"
# pyarrow-stubs' overloads reject valid compute calls (string joins with scalars, dictionary
# results, comparisons with Python values): compute functions are used untyped here.
pc: Any = _compute

EVENTS_PREFIX = "Events-lamp/daily-data"
HEADER = (",".join(OUTPUT_COLUMNS) + "\n").encode()
_NEEDS_QUOTES = r'[",\r\n]'


def _lit(text: str) -> pa.Scalar[Any]:
    return pa.scalar(text, pa.string())


_STRING_COLUMNS = (
    "route_id",
    "trip_id",
    "stop_id",
    "vehicle_id",
    "vehicle_label",
    "vehicle_consist",
)


@dataclass(frozen=True)
class StopFile:
    """One `events.csv`: the stop, its key in the bucket, its bytes and its number of events."""

    stop_id: str
    key: str
    body: bytes
    events: int


def stop_key(stop_id: str, service_date: date) -> str:
    """`Events-lamp/daily-data/{stop_id}/Year=YYYY/Month=M/Day=D/events.csv` (M, D unpadded).

    The stop id is one escaped key segment: `/` or `..` in it cannot leave the prefix.
    """
    return keys_core.join(
        EVENTS_PREFIX,
        keys_core.segment(stop_id),
        keys_core.partition("Year", service_date.year),
        keys_core.partition("Month", service_date.month),
        keys_core.partition("Day", service_date.day),
        "events.csv",
    )


def utc_offsets(epoch: np.ndarray) -> np.ndarray:
    """Eastern UTC offset in seconds of each instant.

    A service day spans at most one DST change: when the instants cover three days or less, the
    offsets at both ends (and, if they differ, the change found by bisection) give every offset
    without a per-row time zone lookup; anything wider goes through pandas.
    """
    if len(epoch) == 0:
        return np.zeros(0, dtype=np.int64)
    lo, hi = int(epoch.min()), int(epoch.max())
    first, last = _offset_at(lo), _offset_at(hi)
    if hi - lo > 3 * 86_400:
        utc = pd.DatetimeIndex(epoch.astype("datetime64[s]"), tz="UTC")
        local = utc.tz_convert(EASTERN).tz_localize(None).as_unit("s").asi8
        return np.asarray(local - epoch, dtype=np.int64)
    if first == last:
        return np.full(len(epoch), first, dtype=np.int64)
    while hi - lo > 1:  # invariant: offset(lo) == first, offset(hi) == last
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if _offset_at(mid) == first else (lo, mid)
    return np.where(epoch >= hi, last, first).astype(np.int64)


def _offset_at(epoch: int) -> int:
    offset = datetime.fromtimestamp(epoch, EASTERN).utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


def format_event_times(epoch: np.ndarray) -> pa.Array[Any]:
    """Epoch seconds → `YYYY-MM-DD HH:MM:SS±HH:MM` in Eastern time (offset of that instant).

    The text is three lookups: the local date with its offset (two or three per service day),
    and the time of day (one of 86,400 labels).
    """
    offset = utc_offsets(epoch)
    day, second = np.divmod(epoch + offset, 86_400)
    # (local day, offset in minutes) as one small integer, mapped without sorting
    key = (day - day.min()) * 4096 + (offset // 60 + 2048) if len(day) else day
    present = np.zeros(int(key.max()) + 1 if len(key) else 0, dtype=bool)
    present[key] = True
    keys = np.flatnonzero(present)
    slot = np.zeros(len(present), dtype=np.int64)
    slot[keys] = np.arange(len(keys))
    first_day = int(day.min()) if len(day) else 0
    dates = [np.datetime64(first_day + int(k) // 4096, "D").astype(str) + " " for k in keys]
    zones = [_offset_label((int(k) % 4096 - 2048) * 60) for k in keys]
    index = _positions(slot[key])
    clock = _clock_labels().take(_positions(second))
    text: pa.Array[Any] = pc.binary_join_element_wise(
        pa.array(dates, pa.string()).take(index),
        clock,
        pa.array(zones, pa.string()).take(index),
        _lit(""),
    )
    return text


@cache
def _clock_labels() -> pa.Array[Any]:
    """`HH:MM:SS` for every second of a day, indexed by second."""
    two = [f"{i:02d}" for i in range(60)]
    return pa.array([f"{h}:{m}:{s}" for h in two[:24] for m in two for s in two], pa.string())


def _offset_label(seconds: int) -> str:
    sign = "-" if seconds < 0 else "+"
    minutes = abs(seconds) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _text(values: Column, quote: bool = False) -> pa.Array[Any]:
    arr = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    if not pa.types.is_string(arr.type):
        text: pa.Array[Any] = pc.cast(arr, pa.string())
        return text
    if quote:
        # test the distinct values only: ids repeat thousands of times
        distinct = pc.unique(arr)
        if pc.any(pc.fill_null(pc.match_substring_regex(distinct, _NEEDS_QUOTES), False)).as_py():
            flagged = pc.fill_null(pc.match_substring_regex(arr, _NEEDS_QUOTES), False)
            quoted = pc.binary_join_element_wise(
                _lit('"'), pc.replace_substring(arr, '"', '""'), _lit('"'), _lit("")
            )
            arr = pc.if_else(flagged, quoted, arr)
    return arr


def _rank(values: Column) -> np.ndarray:
    """Dense lexical rank of each string (nulls first), for integer sorting."""
    encoded = pc.dictionary_encode(
        values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    )
    order = np.asarray(
        pc.rank(encoded.dictionary, sort_keys="ascending").to_numpy(), dtype=np.int64
    )
    index = np.asarray(
        pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False), dtype=np.int64
    )
    return np.where(index >= 0, order[np.clip(index, 0, None)], 0)


def _ints(values: Column, fill: int) -> np.ndarray:
    return np.asarray(pc.fill_null(values, fill).to_numpy(zero_copy_only=False), dtype=np.int64)


def sort_order(events: pa.Table) -> np.ndarray:
    """Positions of `events` grouped by stop (lexical), each stop's events in output order."""
    is_dep = np.asarray(pc.equal(events["event_type"], "DEP").to_numpy(zero_copy_only=False))
    return lexsort(
        (
            _ints(events["_row"], 0),
            _rank(events["vehicle_id"]),
            _ints(events["stop_sequence"], -1),
            _rank(events["trip_id"]),
            is_dep.astype(np.int8),
            _ints(events["epoch"], 0),
            _rank(events["stop_id"]),
        )
    )


def render_stop_files(events: pa.Table, service_date: date) -> list[StopFile]:
    """One `StopFile` per stop with events, in lexical stop order."""
    if events.num_rows == 0:
        return []
    n = events.num_rows
    columns: dict[str, pa.Array[Any] | pa.Scalar[Any]] = {
        "service_date": _lit(service_date.isoformat()),
        "event_time": format_event_times(_ints(events["epoch"], 0)),
    }
    for name in OUTPUT_COLUMNS:
        if name not in columns:
            columns[name] = _text(events[name], quote=name in _STRING_COLUMNS)
    # the line break rides on the last column, so the lines are built in one pass
    last = OUTPUT_COLUMNS[-1]
    columns[last] = pc.binary_join_element_wise(
        pc.fill_null(columns[last], ""), _lit(""), _lit("\n")
    )
    joined = pc.binary_join_element_wise(
        *(columns.pop(name) for name in OUTPUT_COLUMNS),
        _lit(","),
        null_handling="replace",
        null_replacement="",
    )
    order = sort_order(events)
    lines = joined.take(pa.array(order))
    del joined
    offsets = np.frombuffer(
        lines.buffers()[1], dtype=np.int32, count=n + 1, offset=lines.offset * 4
    )
    data = memoryview(lines.buffers()[2])

    stops = events["stop_id"].take(pa.array(order)).combine_chunks()
    encoded = pc.dictionary_encode(stops)
    codes = np.asarray(encoded.indices.to_numpy(zero_copy_only=False))
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    ends = np.r_[starts[1:], n]
    names = encoded.dictionary.to_pylist()
    return [
        StopFile(
            stop_id=str(names[codes[s]]),
            key=stop_key(str(names[codes[s]]), service_date),
            body=HEADER + bytes(data[offsets[s] : offsets[e]]),
            events=int(e - s),
        )
        for s, e in zip(starts, ends, strict=True)
    ]
