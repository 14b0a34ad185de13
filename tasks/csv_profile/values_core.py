"""Per-column counters over blocks of text: missing, type classes, statistics, distinct (pure).

Every value of a column is classified, block by block, with vectorised Arrow kernels and numpy
masks; the column's type is decided only at the end from counts over the whole file (the
majority rule in docs/csv_profile.md). Value classes, after trimming surrounding whitespace:

- missing: the value is one of the null tokens (case-sensitive, exact);
- int: `[+-]?` digits without a leading zero (`0` itself is fine), at most 18 digits;
- code: digits with a significant leading zero (`02134`, `007`): an identifier, never a number;
- float (only): any other decimal number — `1.5`, `-.5`, `5.`, `1e-3`, digits longer than 18 — or,
  when the file's decimal mark is `,`, the same with `,` (`3,50`); finite values only;
- date: `YYYY-MM-DD`, `YYYY/MM/DD` or US `M/D/YYYY` (1- or 2-digit month/day), a real calendar day;
- datetime: `YYYY-MM-DD[T ]HH:MM[:SS[.fraction]][Z|±HH[:]MM]`, valid fields; zoned values are
  converted to UTC, naive ones are taken as they are;
- bool: `true`/`false`/`yes`/`no`, any case;
- anything else is text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tasks.common.time_core import days_from_civil

INT_MAX_DIGITS = 18
EXAMPLE_CHARS = 64

_FLOAT = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d{1,3})?$"
_FLOAT_COMMA = r"^[+-]?(\d+[.,]?\d*|[.,]\d+)([eE][+-]?\d{1,3})?$"
_SIGNED_INT = rf"^[+-](0|[1-9]\d{{0,{INT_MAX_DIGITS - 1}}})$"
_DATETIME = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?$"
_BOOLS = pa.array(["true", "false", "yes", "no"])
_PLUS, _MINUS, _ZERO = ord("+"), ord("-"), ord("0")
_US_PER_DAY = 86_400_000_000


# --- small vector helpers ----------------------------------------------------------------------


def _np(mask: pa.Array[Any]) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """An Arrow boolean array as a numpy bool array (a null, as None, becomes False)."""
    return np.asarray(mask.to_numpy(zero_copy_only=False), dtype=np.bool_)


def _offsets_and_data(
    arr: pa.Array[Any],
) -> tuple[np.ndarray[Any, np.dtype[np.int64]], np.ndarray[Any, np.dtype[np.uint8]]]:
    """(offsets relative to the data view, data bytes) of a string array, without copying data."""
    width = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    buffers = arr.buffers()
    offsets = np.frombuffer(memoryview(buffers[1] or b""), dtype=width)
    offsets = offsets[arr.offset : arr.offset + len(arr) + 1]
    offsets = offsets.astype(np.int64)
    data_buf = buffers[2]
    data = (
        np.frombuffer(memoryview(data_buf), dtype=np.uint8)[offsets[0] : offsets[-1]]
        if data_buf is not None and len(arr)
        else np.zeros(0, dtype=np.uint8)
    )
    return offsets - offsets[0], data


def _edge_bytes(
    offsets: np.ndarray[Any, np.dtype[np.int64]], data: np.ndarray[Any, np.dtype[np.uint8]]
) -> tuple[np.ndarray[Any, np.dtype[np.uint8]], np.ndarray[Any, np.dtype[np.uint8]]]:
    """(first byte, last byte) of each string; 0 for empty strings."""
    padded = np.concatenate([np.zeros(1, dtype=np.uint8), data, np.zeros(1, dtype=np.uint8)])
    lengths = np.diff(offsets)
    first = padded[offsets[:-1] + 1]
    last = np.where(lengths > 0, padded[offsets[1:]], 0).astype(np.uint8)
    return np.where(lengths > 0, first, 0).astype(np.uint8), last


def _byte_set(values: Any) -> np.ndarray[Any, np.dtype[np.bool_]]:
    table = np.zeros(256, dtype=np.bool_)
    table[list(values)] = True
    return table


_ASCII_SPACE = (9, 10, 11, 12, 13, 32)
# Bytes that can start or end a (Unicode) whitespace character in UTF-8: a block whose values
# never start or end with one needs no trimming (conservative: é ends in 0xA9 and triggers it).
_WS_FIRST = _byte_set((*_ASCII_SPACE, 0xC2, 0xE1, 0xE2, 0xE3))
_WS_LAST = _byte_set((*_ASCII_SPACE, 0x85, 0x9F, 0xA0, 0xA8, 0xA9, 0xAF, *range(0x80, 0x8B)))
_DIGIT = _byte_set(range(ord("0"), ord("9") + 1))
_NUMBER_FIRST = _byte_set((*range(ord("0"), ord("9") + 1), ord("+"), ord("-"), ord("."), ord(",")))
_BOOL_FIRST = _byte_set(map(ord, "tTfFyYnN"))


def _ints(arr: pa.Array[Any]) -> np.ndarray[Any, np.dtype[np.int64]]:
    return np.asarray(pc.cast(arr, pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)


def _fixed_width(arr: pa.Array[Any], width: int) -> np.ndarray[Any, np.dtype[np.uint8]]:
    """The bytes of strings that all have `width` bytes, as an (n, width) matrix (no copy)."""
    _, data = _offsets_and_data(arr)
    return data.reshape(len(arr), width)


def _byte_matrix(
    arr: pa.Array[Any], width: int
) -> tuple[np.ndarray[Any, np.dtype[np.uint8]], np.ndarray[Any, np.dtype[np.int64]]]:
    """((n, width) matrix of each string's first `width` bytes, zero-padded; lengths)."""
    offsets, data = _offsets_and_data(arr)
    lengths = np.diff(offsets)
    padded = np.zeros(len(data) + width, dtype=np.uint8)
    padded[: len(data)] = data
    cols = np.arange(width)
    matrix = padded[offsets[:-1, None] + cols[None, :]]
    matrix[cols[None, :] >= lengths[:, None]] = 0
    return matrix, lengths


def _digits_at(
    matrix: np.ndarray[Any, Any], start: int | np.ndarray[Any, Any], count: int
) -> np.ndarray[Any, Any]:
    """The number written by `count` digits from column `start` (a scalar or one per row)."""
    if isinstance(start, int):
        block = matrix[:, start : start + count].astype(np.int64) - 48
        return np.asarray(block @ (10 ** np.arange(count - 1, -1, -1)), dtype=np.int64)
    rows = np.arange(len(matrix))
    value = np.zeros(len(matrix), dtype=np.int64)
    for k in range(count):
        value = value * 10 + (matrix[rows, np.asarray(start) + k].astype(np.int64) - 48)
    return value


# --- deterministic 64-bit string hash and a KMV distinct sketch ---------------------------------

_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_BYTE_MASKS = np.array([(1 << (8 * k)) - 1 for k in range(8)] + [(1 << 64) - 1], dtype=np.uint64)


def _mix(h: np.ndarray[Any, np.dtype[np.uint64]]) -> np.ndarray[Any, np.dtype[np.uint64]]:
    """splitmix64's finaliser: a bijective avalanche of 64-bit words."""
    h = h ^ (h >> np.uint64(30))
    h = h * _M1
    h = h ^ (h >> np.uint64(27))
    h = h * _M2
    return h ^ (h >> np.uint64(31))


def hash_strings(arr: pa.Array[Any]) -> np.ndarray[Any, np.dtype[np.uint64]]:
    """A deterministic 64-bit hash of each string (same bytes → same hash in every process).

    The string's bytes are read as little-endian 8-byte words (gathered through an unaligned
    strided view, so no per-byte Python work) and folded with splitmix64's finaliser, seeded
    with the length.
    """
    offsets, data = _offsets_and_data(arr)
    starts, lengths = offsets[:-1], np.diff(offsets)
    padded = np.zeros(len(data) + 24, dtype=np.uint8)  # words may start up to 15 bytes past the end
    padded[: len(data)] = data
    words = np.ndarray(shape=(len(data) + 16,), dtype="<u8", buffer=padded, strides=(1,))
    with np.errstate(over="ignore"):
        h = _mix(lengths.astype(np.uint64) + _GOLDEN)
        longest = int(lengths.max()) if len(lengths) else 0
        for j in range(0, longest, 8):
            sel = np.flatnonzero(lengths > j) if j >= 16 else slice(None)
            word = words[starts[sel] + j] & _BYTE_MASKS[np.clip(lengths[sel] - j, 0, 8)]
            h[sel] = _mix(h[sel] ^ word)
    return h


@dataclass
class DistinctSketch:
    """K minimum values: exact up to `k` distinct values, then an estimate (error ~1/sqrt(k))."""

    k: int = 4096
    values: np.ndarray[Any, np.dtype[np.uint64]] = field(
        default_factory=lambda: np.zeros(0, dtype=np.uint64)
    )

    @property
    def full(self) -> bool:
        return len(self.values) >= self.k

    def add(self, arr: pa.Array[Any]) -> None:
        """Add the (non-missing) strings of one block."""
        if not len(arr):
            return
        if not self.full:  # low-cardinality columns: hash each distinct value once
            arr = pc.unique(arr)
        h = hash_strings(arr)
        if self.full:
            h = h[h < self.values[-1]]
        if len(h):
            self.values = np.unique(np.concatenate([self.values, h]))[: self.k]

    def estimate(self) -> tuple[int, bool]:
        """(distinct count, exact?)."""
        if not self.full:
            return len(self.values), True
        kth = float(self.values[-1]) / 2.0**64
        return round((self.k - 1) / kth), False


# --- statistics ---------------------------------------------------------------------------------


@dataclass
class NumberStats:
    """count/min/max/sum of numbers (ints kept exact as Python ints)."""

    count: int = 0
    min: int | float | None = None
    max: int | float | None = None
    total: int | float = 0

    def add(self, count: int, low: Any, high: Any, total: int | float) -> None:
        if not count:
            return
        self.count += count
        self.min = low if self.min is None else min(self.min, low)
        self.max = high if self.max is None else max(self.max, high)
        self.total += total

    def merged(self, other: NumberStats) -> NumberStats:
        out = NumberStats(self.count, self.min, self.max, self.total)
        out.add(other.count, other.min, other.max, other.total)
        return out


def _int_stats(
    values: pa.Array[Any], weights: np.ndarray[Any, Any] | None
) -> tuple[int, int, int, int]:
    """(count, min, max, exact sum) of int64 values, each counted `weights[i]` times."""
    low, high = (v.as_py() for v in pc.min_max(values).values())
    n = len(values) if weights is None else int(weights.sum())
    if max(abs(low), abs(high)) * n < 2**63:  # the int64 sum cannot overflow
        if weights is None:
            total = int(pc.sum(values).as_py())
        else:
            total = int(np.dot(values.to_numpy(), weights.astype(np.int64)))
    elif weights is None:
        total = int(pc.sum(pc.cast(values, pa.decimal128(38, 0))).as_py())
    else:
        total = sum(int(v) * int(w) for v, w in zip(values.to_numpy(), weights, strict=True))
    return n, low, high, total


@dataclass
class RangeStats:
    """count/min/max of dates (days) or datetimes (µs) since 1970-01-01."""

    count: int = 0
    min: int | None = None
    max: int | None = None

    def add(self, values: np.ndarray[Any, np.dtype[np.int64]], count: int | None = None) -> None:
        if not len(values):
            return
        self.count += len(values) if count is None else count
        low, high = int(values.min()), int(values.max())
        self.min = low if self.min is None else min(self.min, low)
        self.max = high if self.max is None else max(self.max, high)


def _valid_ymd(
    y: np.ndarray[Any, Any], m: np.ndarray[Any, Any], d: np.ndarray[Any, Any]
) -> np.ndarray[Any, np.dtype[np.bool_]]:
    leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
    month_days = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
    dim = month_days[np.clip(m, 0, 12)] + ((m == 2) & leap)
    return np.asarray((y >= 1) & (m >= 1) & (m <= 12) & (d >= 1) & (d <= dim), dtype=np.bool_)


# Date layouts: Y/M/D are digits, anything else is a literal.
DATE_LAYOUTS = ("YYYY-MM-DD", "YYYY/MM/DD", "MM/DD/YYYY", "M/DD/YYYY", "MM/D/YYYY", "M/D/YYYY")


def _layout_slots(layout: str) -> tuple[list[int], list[int], list[int], list[tuple[int, int]]]:
    def where(letter: str) -> list[int]:
        return [i for i, ch in enumerate(layout) if ch == letter]

    literals = [(i, ord(ch)) for i, ch in enumerate(layout) if ch not in "YMD"]
    return where("Y"), where("M"), where("D"), literals


def parse_dates(
    values: pa.Array[Any], lengths: np.ndarray[Any, Any], candidates: np.ndarray[Any, Any]
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """(indices among `candidates` that are valid dates, their days since 1970-01-01).

    Pure numpy on byte positions, one fixed-width group per layout length: no regex, no parsing
    of anything that is not shaped like a date.
    """
    found: list[np.ndarray[Any, Any]] = []
    days: list[np.ndarray[Any, Any]] = []
    for width in sorted({len(layout) for layout in DATE_LAYOUTS}):
        idx = candidates[lengths[candidates] == width]
        if not len(idx):
            continue
        m = _fixed_width(values.take(idx), width)
        todo = np.ones(len(idx), dtype=np.bool_)
        for layout in (x for x in DATE_LAYOUTS if len(x) == width):
            ys, ms, ds, literals = _layout_slots(layout)
            ok = todo & _DIGIT[m[:, ys + ms + ds]].all(axis=1)
            for col, byte in literals:
                ok &= m[:, col] == byte
            if not ok.any():
                continue
            sel = np.flatnonzero(ok)
            rows = m[sel]
            y = _digits_at(rows, ys[0], len(ys))
            mo = _digits_at(rows, ms[0], len(ms))
            d = _digits_at(rows, ds[0], len(ds))
            real = _valid_ymd(y, mo, d)
            todo[sel] = False
            found.append(idx[sel[real]])
            days.append(days_from_civil(y[real], mo[real], d[real]))
    if not found:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(found), np.concatenate(days)


def parse_datetimes(
    values: pa.Array[Any], candidates: np.ndarray[Any, Any]
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], bool]:
    """(indices among `candidates` that are valid datetimes, µs since epoch (UTC for zoned
    values), any zoned?). A regex checks the shape; numbers are read from byte positions."""
    shaped = _np(pc.match_substring_regex(values.take(candidates), _DATETIME))
    if not shaped.any():
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), False
    idx = candidates[shaped]
    m, length = _byte_matrix(values.take(idx), 36)
    rows = np.arange(len(m))
    y, mo, d = _digits_at(m, 0, 4), _digits_at(m, 5, 2), _digits_at(m, 8, 2)
    h, mi = _digits_at(m, 11, 2), _digits_at(m, 14, 2)
    has_s = (length >= 19) & (m[:, 16] == ord(":"))
    s = np.where(has_s, _digits_at(m, 17, 2), 0)
    has_f = has_s & (length > 20) & np.isin(m[:, 19], (ord("."), ord(",")))
    is_digit = (m[:, 20:29] >= ord("0")) & (m[:, 20:29] <= ord("9"))
    k = np.where(has_f, np.cumprod(is_digit, axis=1).sum(axis=1), 0)
    micros = np.zeros(len(m), dtype=np.int64)
    for j in range(6):
        digit = m[:, 20 + j].astype(np.int64) - 48
        micros += np.where(j < k, digit, 0) * 10 ** (5 - j)
    tz_at = np.where(has_f, 20 + k, np.where(has_s, 19, 16))
    tz_len = length - tz_at
    tz_char = m[rows, np.minimum(tz_at, 35)]
    offset_sign = np.where(tz_char == ord("-"), -1, 1)
    signed = tz_len >= 5  # ±HHMM or ±HH:MM
    tzh = np.where(signed, _digits_at(m, np.minimum(tz_at + 1, 33), 2), 0)
    tz_min_at = np.where(tz_len == 6, tz_at + 4, tz_at + 3)
    tzm = np.where(signed, _digits_at(m, np.minimum(tz_min_at, 33), 2), 0)
    ok = _valid_ymd(y, mo, d) & (h <= 23) & (mi <= 59) & (s <= 59) & (tzh <= 23) & (tzm <= 59)
    seconds = h * 3600 + mi * 60 + s - offset_sign * (tzh * 3600 + tzm * 60)
    stamp = days_from_civil(y, mo, d) * _US_PER_DAY + seconds * 1_000_000 + micros
    return idx[ok], stamp[ok], bool(((tz_len > 0) & ok).any())


# --- one column ---------------------------------------------------------------------------------


@dataclass
class ColumnCounts:
    """Everything counted about one column so far (all counts are of values, not distinct)."""

    rows: int = 0
    missing: int = 0
    ints: int = 0
    codes: int = 0
    floats: int = 0  # numbers that are not ints (ints count as floats by the float rule)
    dates: int = 0
    datetimes: int = 0  # datetimes that are not plain dates
    bools: int = 0
    int_stats: NumberStats = field(default_factory=NumberStats)
    float_stats: NumberStats = field(default_factory=NumberStats)
    date_range: RangeStats = field(default_factory=RangeStats)
    datetime_range: RangeStats = field(default_factory=RangeStats)  # dates included, as µs
    zoned: bool = False
    examples: dict[str, list[str]] = field(default_factory=dict)  # type → values that are not
    sketch: DistinctSketch = field(default_factory=DistinctSketch)

    @property
    def present(self) -> int:
        return self.rows - self.missing

    def classes(self) -> dict[str, int]:
        """Non-missing values per class (the classes partition them; `text` is the rest)."""
        typed = {
            "int": self.ints,
            "code": self.codes,
            "float": self.floats,
            "date": self.dates,
            "datetime": self.datetimes,
            "bool": self.bools,
        }
        return {**typed, "text": self.present - sum(typed.values())}

    def valid(self, kind: str) -> int:
        """Non-missing values that parse as `kind`."""
        return {
            "int": self.ints,
            "float": self.ints + self.floats,
            "date": self.dates,
            "datetime": self.dates + self.datetimes,
            "bool": self.bools,
        }.get(kind, self.present)


@dataclass(frozen=True)
class ColumnRules:
    """How values are judged (from the profile options)."""

    null_tokens: tuple[str, ...]
    decimal_comma: bool = False
    max_examples: int = 5
    sketch_size: int = 4096


class ColumnProfiler:
    """Feeds blocks of one column's values into `ColumnCounts`.

    Blocks of a low-cardinality column are dictionary-encoded first: each distinct value is
    classified once and counted with its frequency (a category or date column costs one hash
    pass, not one parse per row). A block with more than `DICTIONARY_RATIO` distinct values
    switches the column to the plain path for the rest of the file. Both paths give identical
    counts; examples are the first distinct values in file order either way.
    """

    DICTIONARY_RATIO = 0.3

    def __init__(self, rules: ColumnRules) -> None:
        self.rules = rules
        self.counts = ColumnCounts(sketch=DistinctSketch(rules.sketch_size))
        self._nulls = pa.array(list(rules.null_tokens), type=pa.string())
        self._float_re = _FLOAT_COMMA if rules.decimal_comma else _FLOAT
        self._use_dictionary = True

    def add(self, raw: pa.Array[Any]) -> None:
        """Count one block of raw (untrimmed) text values."""
        self.counts.rows += len(raw)
        if self._use_dictionary and len(raw) > 64:
            encoded = cast("pa.DictionaryArray[Any, Any]", pc.dictionary_encode(raw))
            dictionary = encoded.dictionary
            if len(dictionary) > self.DICTIONARY_RATIO * len(raw):
                self._use_dictionary = False
            weights = np.bincount(
                np.asarray(encoded.indices.to_numpy(zero_copy_only=False)),
                minlength=len(dictionary),
            )
            self._classify(dictionary, weights)
        else:
            self._classify(raw, None)

    def _classify(self, raw: pa.Array[Any], weights: np.ndarray[Any, Any] | None) -> None:
        """Classify the values of `raw`, each counted `weights[i]` times (once if None)."""
        c = self.counts
        n = len(raw)

        def count(mask: np.ndarray[Any, Any]) -> int:
            return int(mask.sum()) if weights is None else int(weights[mask].sum())

        offsets, data = _offsets_and_data(raw)
        first, last = _edge_bytes(offsets, data)
        values = raw
        if _WS_FIRST[first].any() or _WS_LAST[last].any():
            values = pc.utf8_trim_whitespace(raw)
            offsets, data = _offsets_and_data(values)
            first, _ = _edge_bytes(offsets, data)
        lengths = np.diff(offsets)
        present = ~_np(pc.is_in(values, value_set=self._nulls))
        c.missing += (n if weights is None else int(weights.sum())) - count(present)
        if not present.any():
            return
        digits = _np(pc.ascii_is_decimal(values)) & present
        codes = digits & (lengths > 1) & (first == _ZERO)
        ints = digits & ~codes & (lengths <= INT_MAX_DIGITS)
        floats = digits & ~codes & (lengths > INT_MAX_DIGITS)
        other = present & ~digits

        dates = np.zeros(n, dtype=np.bool_)
        maybe = np.flatnonzero(other & (lengths >= 8) & (lengths <= 10) & _DIGIT[first])
        if len(maybe):
            found, days = parse_dates(values, lengths, maybe)
            dates[found] = True
            found_count = len(found) if weights is None else int(weights[found].sum())
            c.date_range.add(days, found_count)
            c.datetime_range.add(days * _US_PER_DAY, found_count)
            other &= ~dates

        signed = np.zeros(0, dtype=np.int64)
        maybe = np.flatnonzero(other & _NUMBER_FIRST[first])
        if len(maybe):
            number = maybe[_np(pc.match_substring_regex(values.take(maybe), self._float_re))]
            floats[number] = True
            other[number] = False
            maybe = number[(first[number] == _PLUS) | (first[number] == _MINUS)]
            if len(maybe):
                signed = maybe[_np(pc.match_substring_regex(values.take(maybe), _SIGNED_INT))]
                ints[signed] = True
                floats[signed] = False
        self._number_stats(values, weights, ints, signed, floats)

        datetimes = np.zeros(n, dtype=np.bool_)
        maybe = np.flatnonzero(other & (lengths >= 16) & (lengths <= 35) & _DIGIT[first])
        if len(maybe):
            found, micros, zoned = parse_datetimes(values, maybe)
            datetimes[found] = True
            other[found] = False
            c.datetime_range.add(
                micros, len(found) if weights is None else int(weights[found].sum())
            )
            c.zoned = c.zoned or zoned

        bools = np.zeros(n, dtype=np.bool_)
        maybe = np.flatnonzero(other & (lengths <= 5) & _BOOL_FIRST[first])
        if len(maybe):
            lowered = pc.utf8_lower(values.take(maybe))
            bools[maybe[_np(pc.is_in(lowered, value_set=_BOOLS))]] = True

        c.ints += count(ints)
        c.codes += count(codes)
        c.floats += count(floats)
        c.dates += count(dates)
        c.datetimes += count(datetimes)
        c.bools += count(bools)
        kinds = {"int": ints, "float": ints | floats, "date": dates}
        kinds.update(datetime=dates | datetimes, bool=bools)
        self._examples(raw, present, kinds)
        c.sketch.add(values if present.all() else values.filter(pa.array(present)))

    def _number_stats(
        self,
        values: pa.Array[Any],
        weights: np.ndarray[Any, Any] | None,
        ints: np.ndarray[Any, Any],
        signed: np.ndarray[Any, Any],
        floats: np.ndarray[Any, Any],
    ) -> None:
        c = self.counts

        def subset(mask_or_idx: np.ndarray[Any, Any]) -> tuple[Any, Any]:
            idx = np.flatnonzero(mask_or_idx) if mask_or_idx.dtype == np.bool_ else mask_or_idx
            text = values if len(idx) == len(values) else values.take(idx)
            return text, None if weights is None else weights[idx]

        if ints.any():
            unsigned = ints.copy()
            unsigned[signed] = False
            for part, strip in ((unsigned, False), (signed, True)):
                if len(part) and (part.dtype != np.bool_ or part.any()):
                    text, w = subset(part)
                    if strip:
                        text = pc.utf8_ltrim(text, "+")
                    c.int_stats.add(*_int_stats(pc.cast(text, pa.int64()), w))
        if floats.any():
            idx = np.flatnonzero(floats)
            text, w = subset(idx)
            if self.rules.decimal_comma:
                text = pc.replace_substring(text, ",", ".")
            numbers = pc.cast(text, pa.float64())
            finite = _np(pc.is_finite(numbers))
            if not finite.all():  # 1e999 and friends: not a usable number
                floats[idx[~finite]] = False
                numbers = numbers.filter(pa.array(finite))
                w = None if w is None else w[finite]
            if len(numbers):
                low, high = (v.as_py() for v in pc.min_max(numbers).values())
                if w is None:
                    c.float_stats.add(len(numbers), low, high, pc.sum(numbers).as_py())
                else:
                    total = float(np.dot(numbers.to_numpy(), w.astype(np.float64)))
                    c.float_stats.add(int(w.sum()), low, high, total)

    def _examples(
        self,
        raw: pa.Array[Any],
        present: np.ndarray[Any, Any],
        valid: dict[str, np.ndarray[Any, Any]],
    ) -> None:
        limit = self.rules.max_examples
        for kind, ok in valid.items():
            kept = self.counts.examples.setdefault(kind, [])
            if len(kept) >= limit:
                continue
            idx = np.flatnonzero(present & ~ok)[: limit * 8]
            for item in raw.take(idx).to_pylist():
                value = str(item)
                text = value if len(value) <= EXAMPLE_CHARS else value[: EXAMPLE_CHARS - 1] + "…"
                if text not in kept:
                    kept.append(text)
                    if len(kept) >= limit:
                        break
