"""Per-stop event CSVs in the exact format the dashboard reads, and their keys (pure).

Format (spec "Output"): UTF-8, header, no index, columns `OUTPUT_COLUMNS` in that order,
`event_time` like `2024-02-07 05:27:40-05:00`, integers without `.0`, empty string for null,
minimal quoting (a field is quoted only if it holds `,`, `"` or a line break, as pandas'
`to_csv` did). Each stop's events are sorted by event_time, ties broken by event type (ARR
first), trip_id, stop_sequence, vehicle_id and source row, so a rerun gives the same bytes.

Rendering is per batch of whole stops (`day_core.BATCH_EVENTS`), so memory is bounded by the
batch, and each stop's file is written once, by Arrow's CSV writer (no Python loop over rows, no
text column built per value): strings stay dictionary-encoded, `event_time` is a dictionary over
one label per second of the day (`EventTimes`).
Keys longer than S3 allows (1,024 bytes) are found before anything is written
(`checked_stop_key`).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any, TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as _compute
import pyarrow.csv as pacsv

from tasks.common import keys_core
from tasks.common.time_core import EASTERN
from tasks.lamp.events_core import OUTPUT_COLUMNS, lexsort

Column: TypeAlias = "pa.Array[Any] | pa.ChunkedArray[Any]"
# pyarrow-stubs' overloads reject valid compute calls (string joins with scalars, dictionary
# results, comparisons with Python values): compute functions are used untyped here.
pc: Any = _compute

EVENTS_PREFIX = "Events-lamp/daily-data"
HEADER = (",".join(OUTPUT_COLUMNS) + "\n").encode()
_NEEDS_QUOTES = r'[",\r\n]'


def _positions(values: np.ndarray) -> pa.Array[Any]:
    """Row positions as an Arrow index array (for `take`)."""
    out: pa.Array[Any] = pa.array(np.asarray(values, dtype=np.int64), pa.int64())
    return out


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
    return keys_core.join(EVENTS_PREFIX, keys_core.segment(stop_id), _day_path(service_date))


@cache
def _day_path(service_date: date) -> str:
    return "/".join(
        (
            keys_core.partition("Year", service_date.year),
            keys_core.partition("Month", service_date.month),
            keys_core.partition("Day", service_date.day),
            "events.csv",
        )
    )


def checked_stop_key(stop_id: str, service_date: date) -> tuple[str | None, str | None]:
    """(key, None), or (None, why the stop's file cannot be stored: its id makes no valid key,
    or the key is longer than S3 allows). Checked for every stop before any file is written."""
    try:
        key = stop_key(stop_id, service_date)
    except keys_core.UnsafeKeyError as exc:
        return None, f"no valid S3 key for this stop id: {exc}"
    if keys_core.fits_s3(key):
        return key, None
    size = len(key.encode("utf-8"))
    return None, (
        f"S3 key of {size:,} bytes (UTF-8) exceeds the {keys_core.MAX_KEY_BYTES:,}-byte limit"
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
    if pa.types.is_dictionary(arr.type):
        arr = arr.cast(arr.type.value_type)
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


# Days whose event times span more than this are rendered without the per-second labels.
_MAX_LABEL_SECONDS = 4 * 86_400
_WRITE = pacsv.WriteOptions(include_header=False, quoting_style="none")


@dataclass(frozen=True)
class EventTimes:
    """`event_time` text of every second from `first` on: a batch's column is then a
    dictionary over these labels (indices = seconds since `first`), no text built per event."""

    first: int
    labels: pa.Array[Any]

    @classmethod
    def covering(cls, epoch: np.ndarray) -> EventTimes | None:
        """Labels for the instants of `epoch` (None if they span more than four days)."""
        if len(epoch) == 0:
            return None
        lo, hi = int(epoch.min()), int(epoch.max())
        if hi - lo > _MAX_LABEL_SECONDS:
            return None
        return cls(lo, format_event_times(np.arange(lo, hi + 1, dtype=np.int64)))

    def covers(self, epoch: np.ndarray) -> bool:
        return bool(
            len(epoch) == 0
            or (int(epoch.min()) >= self.first and int(epoch.max()) < self.first + len(self.labels))
        )

    def column(self, epoch: np.ndarray) -> pa.Array[Any]:
        indices = pa.array((epoch - self.first).astype(np.int32), pa.int32())
        return pa.DictionaryArray.from_arrays(indices, self.labels)


def _csv_table(events: pa.Table, service_date: date, times: EventTimes | None) -> pa.Table:
    """The CSV's columns in order; strings may stay dictionary-encoded."""
    n = events.num_rows
    epoch = _ints(events["epoch"], 0)
    if times is None or not times.covers(epoch):
        times = EventTimes.covering(epoch)
    event_time = times.column(epoch) if times is not None else format_event_times(epoch)
    columns: dict[str, Any] = {
        "service_date": pa.DictionaryArray.from_arrays(
            np.zeros(n, dtype=np.int32), pa.array([service_date.isoformat()])
        ),
        "event_time": event_time,
    }
    for name in OUTPUT_COLUMNS:
        if name not in columns:
            columns[name] = events[name]
    return pa.table({name: columns[name] for name in OUTPUT_COLUMNS})


def _distinct(column: Column) -> Any:
    """The distinct values of a column (of a dictionary column: the ones its rows use, so the
    cost follows the batch, not the day's dictionary)."""
    if not pa.types.is_dictionary(column.type):
        return pc.unique(column)
    chunks: list[Any] = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    used = [c.dictionary.take(pc.drop_null(pc.unique(c.indices))) for c in chunks]
    return pa.chunked_array(used, column.type.value_type)


def _needs_quotes(table: pa.Table) -> bool:
    """Whether any string value (tested on distinct values) holds `,`, `"` or a line break."""
    return any(
        pc.any(
            pc.fill_null(pc.match_substring_regex(_distinct(table[name]), _NEEDS_QUOTES), False)
        ).as_py()
        for name in _STRING_COLUMNS
    )


def _runs(stop_ids: Column) -> list[tuple[str, int, int]]:
    """(stop_id, start, end) of the consecutive events of each stop."""
    values, codes = _codes(stop_ids)
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    ends = np.r_[starts[1:], len(codes)]
    names = values.take(pa.array(codes[starts])).to_pylist()
    return [(str(n), int(s), int(e)) for n, s, e in zip(names, starts, ends, strict=True)]


def _codes(column: Column) -> tuple[pa.Array[Any], np.ndarray]:
    encoded: Any = column if pa.types.is_dictionary(column.type) else pc.dictionary_encode(column)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.unify_dictionaries().combine_chunks()
    return encoded.dictionary, _ints(encoded.indices, -1)


def render_sorted(
    events: pa.Table,
    service_date: date,
    times: EventTimes | None = None,
    keys: dict[str, str] | None = None,
) -> list[StopFile]:
    """One `StopFile` per stop of `events`, which are already in output order (`sort_order`):
    grouped by stop, each stop's events in order.

    The batch is written once, by Arrow's CSV writer (integers as integers, nulls as empty
    fields, strings as they are), and each stop's file is its header plus its lines, copied
    once into the file's bytes. A batch where some string needs
    quotes (`,`, `"`, a line break: never seen in LAMP ids) is rendered by `_render_quoted`,
    which quotes exactly those values, as pandas did. `times`: labels for `event_time`
    (`EventTimes.covering` the day, built once); made here when absent. `keys`: the stop
    files' keys, when the caller has them already.
    """
    if events.num_rows == 0:
        return []
    table = _csv_table(events, service_date, times)
    known = keys or {}
    runs = [
        (stop_id, known.get(stop_id) or stop_key(stop_id, service_date), s, e)
        for stop_id, s, e in _runs(events["stop_id"])
    ]
    if _needs_quotes(table):
        return _render_quoted(table, runs)
    # Arrow's writer is fastest on plain strings, and per call it costs ~1 ms: the batch is
    # written once and cut at the line breaks (no value holds one: `_needs_quotes`)
    columns: dict[str, Any] = {n: _plain(table[n]) for n in OUTPUT_COLUMNS}
    plain = pa.table(columns)
    del table
    sink = io.BytesIO()
    pacsv.write_csv(plain, sink, _WRITE)
    del plain
    text = sink.getbuffer()
    line_end = np.flatnonzero(np.frombuffer(text, dtype=np.uint8) == 10) + 1
    if len(line_end) != events.num_rows:  # pragma: no cover - guarded by _needs_quotes
        raise AssertionError(f"{len(line_end)} lines for {events.num_rows} events")
    line_start = np.r_[0, line_end[:-1]]
    files = [
        StopFile(
            stop_id=stop_id,
            key=key,
            body=b"".join((HEADER, text[line_start[start] : line_end[end - 1]])),
            events=end - start,
        )
        for stop_id, key, start, end in runs
    ]
    text.release()
    return files


def _plain(column: Column) -> Any:
    return column.cast(column.type.value_type) if pa.types.is_dictionary(column.type) else column


def _render_quoted(table: pa.Table, runs: list[tuple[str, str, int, int]]) -> list[StopFile]:
    """`render_sorted` with minimal quoting: every line built by Arrow kernels into one
    buffer, each stop's file the header plus its slice of it."""
    n = table.num_rows
    columns: dict[str, pa.Array[Any]] = {
        name: _text(table[name], quote=name in _STRING_COLUMNS) for name in OUTPUT_COLUMNS
    }
    # the line break rides on the last column, so the lines are built in one pass
    last = OUTPUT_COLUMNS[-1]
    columns[last] = pc.binary_join_element_wise(
        pc.fill_null(columns[last], ""), _lit(""), _lit("\n")
    )
    lines = pc.binary_join_element_wise(
        *(columns.pop(name) for name in OUTPUT_COLUMNS),
        _lit(","),
        null_handling="replace",
        null_replacement="",
    )
    offsets = np.frombuffer(
        lines.buffers()[1], dtype=np.int32, count=n + 1, offset=lines.offset * 4
    )
    data = memoryview(lines.buffers()[2])
    return [
        StopFile(
            stop_id=stop_id,
            key=key,
            body=b"".join((HEADER, data[offsets[s] : offsets[e]])),
            events=e - s,
        )
        for stop_id, key, s, e in runs
    ]


def render_stop_files(events: pa.Table, service_date: date) -> list[StopFile]:
    """One `StopFile` per stop with events, in lexical stop order (events in any order).

    For a table of events (tests, small inputs); the pipeline renders `Events` batch by batch
    (`day_core.DayResult.batches`), already sorted.
    """
    if events.num_rows == 0:
        return []
    return render_sorted(events.take(pa.array(sort_order(events))), service_date)
