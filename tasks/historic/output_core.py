"""Monthly gzip CSVs of the historic backfills: keys, columns, bytes (pure).

Keys (spec "Output", Month not zero padded):
- rapid transit: `Events/monthly-data/{stop_id}/Year={YYYY}/Month={M}/events.csv.gz`
- bus: `Events/monthly-bus-data/{route_id}-{direction_id}-{stop_id}/Year=…/Month=…/…`
- ferry: `Events/monthly-ferry-data/{route_id}|{direction_id}|{stop_id}/Year=…/Month=…/…`
The data-derived segment is escaped by `keys_core` (`/` or `..` in an id cannot leave the
prefix; `|` is kept as the ferry layout needs it).

Format: UTF-8 CSV with a header, a fixed column list per source whether or not the GTFS
enrichment worked (rapid and bus: 12 columns, ferry 13: the original's ferry files also had an
empty `vehicle_consist`), `service_date` `YYYY-MM-DD`, `event_time` `YYYY-MM-DD HH:MM:SS`
(Eastern, no offset), integers without `.0`, empty for null, a field quoted only when it holds
`,`, `"` or a line break. Each file's rows are ordered by event time, ARR before DEP, trip,
stop_sequence and source row. Gzip with mtime 0 and no file name: the same input gives the
same bytes on every run.
"""

from __future__ import annotations

import gzip
import io
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as _compute
import pyarrow.csv as pacsv

from tasks.common import keys_core
from tasks.historic import parse_core
from tasks.historic.sources_core import Source

pc: Any = _compute

BASE_COLUMNS: tuple[str, ...] = (
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
    "scheduled_headway",
    "scheduled_tt",
)
COLUMNS: dict[Source, tuple[str, ...]] = {
    "rapid": BASE_COLUMNS,
    "bus": BASE_COLUMNS,
    "ferry": (*BASE_COLUMNS, "vehicle_consist"),
}
PREFIXES: dict[Source, str] = {
    "rapid": "Events/monthly-data",
    "bus": "Events/monthly-bus-data",
    "ferry": "Events/monthly-ferry-data",
}
GZIP_LEVEL = 1  # 5x faster than 6 for 29 % more bytes (docs/historic.md, "Benchmark")
_STRINGS = ("route_id", "trip_id", "stop_id", "vehicle_id", "vehicle_label", "event_type")
_NEEDS_QUOTES = r'[",\r\n]'


@dataclass(frozen=True)
class MonthFile:
    """One output object: its group (stop, or route-direction-stop), key, gzip bytes, rows."""

    group: str
    key: str
    body: bytes
    events: int


def object_key(source: Source, group: str, year: int, month: int) -> str:
    """The key of one group's month file."""
    return keys_core.join(
        PREFIXES[source],
        keys_core.segment(group),
        keys_core.partition("Year", year),
        keys_core.partition("Month", month),
        "events.csv.gz",
    )


def group_labels(source: Source, table: pa.Table) -> pa.Array[Any]:
    """Each event's file group: the stop, or `route-direction-stop` / `route|direction|stop`."""
    stop = pc.fill_null(table["stop_id"], "")
    if source == "rapid":
        return stop.combine_chunks() if isinstance(stop, pa.ChunkedArray) else stop
    sep = "-" if source == "bus" else "|"
    direction = pc.fill_null(pc.cast(table["direction_id"], pa.string()), "")
    out: pa.Array[Any] = pc.binary_join_element_wise(
        pc.fill_null(table["route_id"], ""), direction, stop, sep
    )
    return out.combine_chunks() if isinstance(out, pa.ChunkedArray) else out


def _lit(text: str) -> pa.Scalar[Any]:
    return pa.scalar(text, pa.string())


def _as_text(values: Any) -> pa.Array[Any]:
    arr = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    out: pa.Array[Any] = arr if pa.types.is_string(arr.type) else pc.cast(arr, pa.string())
    return out


def _needs_quotes(values: pa.Array[Any]) -> bool:
    """Whether any value holds `,`, `"` or a line break (tested on the distinct values: ids
    repeat thousands of times)."""
    if len(values) == 0:
        return False
    found = pc.any(pc.fill_null(pc.match_substring_regex(pc.unique(values), _NEEDS_QUOTES), False))
    return bool(found.as_py())


def _quoted(values: pa.Array[Any]) -> pa.Array[Any]:
    flagged = pc.fill_null(pc.match_substring_regex(values, _NEEDS_QUOTES), False)
    wrapped = pc.binary_join_element_wise(
        _lit('"'), pc.replace_substring(values, '"', '""'), _lit('"'), _lit("")
    )
    out: pa.Array[Any] = pc.if_else(flagged, wrapped, values)
    return out


def _rank(values: Any) -> np.ndarray:
    """Lexical rank of each value (nulls first), for integer sorting."""
    arr = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    encoded = pc.dictionary_encode(arr)
    order = np.asarray(pc.rank(encoded.dictionary, sort_keys="ascending").to_numpy(), np.int64)
    index = np.asarray(pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False), np.int64)
    return np.where(index >= 0, order[np.clip(index, 0, None)], 0)


def _ints(values: Any, fill: int) -> np.ndarray:
    return np.asarray(pc.fill_null(values, fill).to_numpy(zero_copy_only=False), dtype=np.int64)


def render_month(source: Source, year: int, month: int, events: pa.Table) -> list[MonthFile]:
    """Every group's file of one month, in lexical group order.

    `events` has the event table's columns plus `scheduled_headway` (int64, nullable).
    """
    if events.num_rows == 0:
        return []
    columns = COLUMNS[source]
    groups = group_labels(source, events)
    day = _ints(events["day"], 0)
    moment = day * parse_core.DAY + _ints(events["t"], 0)
    event_rank = _rank(events["event_type"])
    order = np.lexsort(
        (
            _ints(events["_row"], 0),
            _ints(events["stop_sequence"], -1),
            _rank(events["trip_id"]),
            event_rank,
            moment,
            _rank(groups),
        )
    )
    take = pa.array(order, pa.int64())
    text: dict[str, pa.Array[Any]] = {
        "service_date": parse_core.format_dates(day),
        "event_time": parse_core.format_times(moment),
    }
    for name in columns:
        if name not in text:
            text[name] = _as_text(events[name])
    quote = [n for n in _STRINGS if n in text and _needs_quotes(text[n])]
    table = pa.table({name: text[name] for name in columns}).take(take)
    encoded = pc.dictionary_encode(groups.take(take))
    codes = np.asarray(encoded.indices.to_numpy(zero_copy_only=False))
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    ends = np.r_[starts[1:], len(codes)]
    names = encoded.dictionary.to_pylist()
    if quote:  # rare (ids are plain): join the lines with Arrow kernels, quoting those values
        bodies = _joined_bodies(table, quote, starts, ends)
    else:  # Arrow's CSV writer, which never needs to quote here
        header = (",".join(columns) + "\n").encode()
        spans = zip(starts.tolist(), ends.tolist(), strict=True)
        bodies = [header + _csv(table.slice(s, e - s)) for s, e in spans]
    return [
        MonthFile(
            group=str(names[codes[s]]),
            key=object_key(source, str(names[codes[s]]), year, month),
            body=gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0),
            events=int(e - s),
        )
        for s, e, body in zip(starts, ends, bodies, strict=True)
    ]


def _joined_bodies(
    table: pa.Table, quote: list[str], starts: np.ndarray, ends: np.ndarray
) -> list[bytes]:
    columns = [
        _quoted(table[n].combine_chunks()) if n in quote else table[n].combine_chunks()
        for n in table.column_names
    ]
    columns[-1] = pc.binary_join_element_wise(pc.fill_null(columns[-1], ""), "", "\n")
    lines = pc.binary_join_element_wise(
        *[pc.cast(c, pa.large_string()) for c in columns],
        pa.scalar(",", pa.large_string()),
        null_handling="replace",
        null_replacement="",
    )
    offsets = np.frombuffer(
        lines.buffers()[1], dtype=np.int64, count=len(lines) + 1, offset=lines.offset * 8
    )
    data = memoryview(lines.buffers()[2] or b"")
    header = (",".join(table.column_names) + "\n").encode()
    return [
        header + bytes(data[offsets[s] : offsets[e]]) for s, e in zip(starts, ends, strict=True)
    ]


_WRITE = pacsv.WriteOptions(quoting_style="none", include_header=False)


def _csv(table: pa.Table) -> bytes:
    """CSV lines of text columns none of which needs quoting: Arrow writes them as they are,
    nulls empty (the header is written by the caller: Arrow would quote its names)."""
    sink = io.BytesIO()
    pacsv.write_csv(table, sink, _WRITE)
    return sink.getvalue()
