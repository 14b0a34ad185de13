"""Text → numbers, dates and times for the ArcGIS exports, vectorised (pure).

The exports are read as text (ids keep their exact spelling) and parsed here. Dates and times
come in several spellings: `2024-02-07`, `2024/02/07 00:00:00+00` (ArcGIS Hub CSV),
`2024-06-04T13:08:00Z`, `1900-01-02 05:08:00.000` (the bus placeholders), `2/7/2024`. Such
columns repeat a few thousand distinct values over millions of rows, so each distinct value is
parsed once (dictionary encoding) and the result is spread back by index.

Times are returned as "naive local seconds": seconds since 1970-01-01 00:00 of the wall clock,
with no time zone attached (`event_time` is written as Eastern wall-clock time without offset).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as _compute

from tasks.common.time_core import EASTERN

Column: TypeAlias = "pa.Array[Any] | pa.ChunkedArray[Any]"
# pyarrow-stubs' overloads reject valid compute calls: compute functions are used untyped here.
pc: Any = _compute

DAY = 86_400
_ISO = (
    r"^\s*(?P<y>\d{4})[-/](?P<mo>\d{1,2})[-/](?P<d>\d{1,2})"
    r"(?:[ T](?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:\.\d+)?)?)?"
    r"\s*(?P<tz>Z|[+-]\d{2}(?::?\d{2})?)?\s*$"
)
_US = (
    r"^\s*(?P<mo>\d{1,2})/(?P<d>\d{1,2})/(?P<y>\d{4})"
    r"(?:[ T](?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:\.\d+)?)?)?"
    r"\s*(?P<tz>Z|[+-]\d{2}(?::?\d{2})?)?\s*$"
)
_INT = r"^\s*[+-]?\d+(\.0*)?\s*$"


def _flat(values: Column) -> pa.Array[Any]:
    arr = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    out: pa.Array[Any] = arr if pa.types.is_string(arr.type) else pc.cast(arr, pa.string())
    return out


def blank_to_null(values: Column) -> pa.Array[Any]:
    """Text with surrounding spaces removed; empty text becomes null."""
    text = pc.utf8_trim_whitespace(_flat(values))
    out: pa.Array[Any] = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
    return out


def present(values: Column) -> np.ndarray:
    """True where a text value is neither null nor blank."""
    return np.asarray(pc.is_valid(blank_to_null(values)).to_numpy(zero_copy_only=False), dtype=bool)


def outside(values: Column, allowed: Iterable[str] | None) -> np.ndarray:
    """True where a value is not one of `allowed` (nulls included); all False without a filter."""
    if allowed is None:
        return np.zeros(len(values), dtype=bool)
    inside = pc.fill_null(pc.is_in(_flat(values), pa.array(list(allowed), pa.string())), False)
    return ~np.asarray(inside.to_numpy(zero_copy_only=False), dtype=bool)


@dataclass(frozen=True)
class Ints:
    """Parsed integers: `values` (0 where not valid), `valid`, and `bad` (text that is no int)."""

    values: np.ndarray
    valid: np.ndarray
    bad: np.ndarray


def parse_ints(values: Column) -> Ints:
    """Integer text (`12`, `-3`, `7.0`) → int64; blank is missing (not bad), other text is bad."""
    text = blank_to_null(values)
    missing = ~np.asarray(pc.is_valid(text).to_numpy(zero_copy_only=False), dtype=bool)
    try:  # the common case: every value is a plain integer
        direct = pc.cast(text, pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    else:
        filled = np.asarray(pc.fill_null(direct, 0).to_numpy(zero_copy_only=False), np.int64)
        return Ints(filled, ~missing, np.zeros(len(filled), dtype=bool))
    ok = pc.fill_null(pc.match_substring_regex(text, _INT), False)
    cleaned = pc.if_else(ok, pc.replace_substring_regex(text, r"\.0*\s*$", ""), None)
    numbers = pc.cast(cleaned, pa.int64())
    valid = np.asarray(ok.to_numpy(zero_copy_only=False), dtype=bool)
    filled = np.asarray(pc.fill_null(numbers, 0).to_numpy(zero_copy_only=False), dtype=np.int64)
    return Ints(filled, valid, ~valid & ~missing)


@dataclass(frozen=True)
class Stamps:
    """Parsed date/time text, one entry per value.

    `day`: days since 1970-01-01 of the written calendar date; `second`: seconds into that day
    as written (0 when there is no time); `has_time`; `offset`: the written UTC offset in
    seconds (`has_offset` False when none is written); `valid`: the text is a real date.
    """

    day: np.ndarray
    second: np.ndarray
    has_time: np.ndarray
    offset: np.ndarray
    has_offset: np.ndarray
    valid: np.ndarray

    @property
    def naive(self) -> np.ndarray:
        """The written wall-clock time as naive seconds (offset ignored)."""
        return np.asarray(self.day * DAY + self.second, dtype=np.int64)

    def take(self, index: np.ndarray) -> Stamps:
        return Stamps(
            self.day[index],
            self.second[index],
            self.has_time[index],
            self.offset[index],
            self.has_offset[index],
            self.valid[index],
        )


def _field(parts: Any, name: str) -> np.ndarray:
    text = parts.field(name)
    number = pc.cast(pc.if_else(pc.equal(text, ""), None, text), pa.int64())
    return np.asarray(pc.fill_null(number, -1).to_numpy(zero_copy_only=False), dtype=np.int64)


def _parse_distinct(text: pa.Array[Any]) -> Stamps:
    n = len(text)
    iso = pc.extract_regex(text, _ISO)
    us = pc.extract_regex(text, _US)
    use_us = np.asarray((pc.is_null(iso).to_numpy(zero_copy_only=False)), dtype=bool) & np.asarray(
        pc.is_valid(us).to_numpy(zero_copy_only=False), dtype=bool
    )
    fields: dict[str, np.ndarray] = {}
    for name in ("y", "mo", "d", "h", "mi", "s"):
        fields[name] = np.where(use_us, _field(us, name), _field(iso, name))
    matched = use_us | np.asarray(pc.is_valid(iso).to_numpy(zero_copy_only=False), dtype=bool)
    tz_text = pc.if_else(pa.array(use_us), us.field("tz"), iso.field("tz")).to_pylist()
    y, mo, d = fields["y"], fields["mo"], fields["d"]
    month_ok = (mo >= 1) & (mo <= 12) & (y >= 1)
    months = np.where(month_ok, (y - 1970) * 12 + (mo - 1), 0)
    first = months.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
    next_first = (months + 1).astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
    day = first + d - 1
    day_ok = month_ok & (d >= 1) & (day < next_first)
    has_time = fields["h"] >= 0
    h, mi, s = (np.clip(fields[k], 0, None) for k in ("h", "mi", "s"))
    time_ok = ~has_time | ((h <= 23) & (mi <= 59) & (s <= 59))
    offset = np.zeros(n, dtype=np.int64)
    has_offset = np.zeros(n, dtype=bool)
    for i, tz in enumerate(tz_text):  # distinct values only: a handful per file
        if tz:
            has_offset[i] = True
            if tz != "Z":
                sign = -1 if tz[0] == "-" else 1
                digits = tz[1:].replace(":", "")
                offset[i] = sign * (int(digits[:2]) * 3600 + int(digits[2:4] or 0) * 60)
    valid = matched & day_ok & time_ok
    return Stamps(
        day=np.where(valid, day, 0),
        second=np.where(valid, h * 3600 + mi * 60 + s, 0),
        has_time=has_time & valid,
        offset=offset,
        has_offset=has_offset & valid,
        valid=valid,
    )


def parse_stamps(values: Column) -> Stamps:
    """Parse date/time text (see the module docstring); each distinct value once."""
    encoded = pc.dictionary_encode(blank_to_null(values))
    distinct = _parse_distinct(encoded.dictionary)
    index = np.asarray(pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False))
    if len(distinct.valid) == 0:
        empty = np.zeros(len(index), dtype=np.int64)
        no = np.zeros(len(index), dtype=bool)
        return Stamps(empty, empty, no, empty, no, no)
    picked = distinct.take(np.clip(index, 0, None))
    ok = picked.valid & (index >= 0)
    return Stamps(
        np.where(ok, picked.day, 0),
        np.where(ok, picked.second, 0),
        picked.has_time & ok,
        np.where(ok, picked.offset, 0),
        picked.has_offset & ok,
        ok,
    )


def utc_to_eastern(seconds: np.ndarray) -> np.ndarray:
    """UTC instants (epoch seconds) → Eastern wall-clock time as naive seconds."""
    if len(seconds) == 0:
        return np.zeros(0, dtype=np.int64)
    utc = pd.DatetimeIndex(np.asarray(seconds, dtype="datetime64[s]"), tz="UTC")
    local = utc.tz_convert(EASTERN).tz_localize(None).as_unit("s").asi8
    return np.asarray(local, dtype=np.int64)


def eastern_wall_clock(stamps: Stamps) -> np.ndarray:
    """Eastern wall-clock naive seconds: written offsets are honoured, naive text is Eastern."""
    naive = stamps.naive
    if not stamps.has_offset.any():
        return naive
    out = naive.copy()
    aware = np.flatnonzero(stamps.has_offset)
    out[aware] = utc_to_eastern(naive[aware] - stamps.offset[aware])
    return out


def positions(values: np.ndarray) -> Any:
    """Row positions as an Arrow int64 array (for `take`)."""
    return pa.array(np.asarray(values, dtype=np.int64), pa.int64())


def format_dates(days: np.ndarray) -> pa.Array[Any]:
    """Days since 1970-01-01 → `YYYY-MM-DD`."""
    out: pa.Array[Any] = pc.cast(
        pa.array(np.asarray(days, dtype=np.int32), pa.int32()).cast(pa.date32()), pa.string()
    )
    return out


def format_times(seconds: np.ndarray) -> pa.Array[Any]:
    """Naive seconds → `YYYY-MM-DD HH:MM:SS` (one label per distinct day and per second)."""
    seconds = np.asarray(seconds, dtype=np.int64)
    if len(seconds) == 0:
        return pa.array([], pa.string())
    day, second = np.divmod(seconds, DAY)
    first = int(day.min())
    days = format_dates(np.arange(first, int(day.max()) + 1))
    date_part = pc.binary_join_element_wise(
        days.take(positions(day - first)), pa.scalar(" ", pa.string()), ""
    )
    out: pa.Array[Any] = pc.binary_join_element_wise(
        date_part, _clock().take(positions(second)), ""
    )
    return out


_CLOCK: list[pa.Array[Any]] = []


def _clock() -> pa.Array[Any]:
    """`HH:MM:SS` for each second of a day, indexed by second (built once per process)."""
    if not _CLOCK:
        two = [f"{i:02d}" for i in range(60)]
        _CLOCK.append(
            pa.array([f"{h}:{m}:{s}" for h in two[:24] for m in two for s in two], pa.string())
        )
    return _CLOCK[0]
