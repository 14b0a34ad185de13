"""Profile a CSV byte stream in bounded memory: every value read, types decided at the end (pure).

`profile_chunks(chunks, options)` takes any iterable of raw byte chunks (an S3 body, a local
file) and returns a `FileProfile`; input that is not readable CSV raises `CsvFormatError` with a
specific message (`profile_or_error` turns it into an error profile). Memory is bounded by
`block_bytes` (pyarrow parses one block at a time; every counter is O(columns)), never by the file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import IO, Any, Literal, cast

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from tasks.csv_profile.dialect_core import Dialect, sniff, sniff_delimiter
from tasks.csv_profile.text_core import SNIFF_BYTES, CsvFormatError, QuoteScanner, Utf8Stream
from tasks.csv_profile.values_core import (
    EXAMPLE_CHARS,
    ColumnCounts,
    ColumnProfiler,
    ColumnRules,
    NumberStats,
)

__all__ = [
    "ColumnProfile",
    "CsvFormatError",
    "FileProfile",
    "ProfileOptions",
    "RaggedRows",
    "infer_type",
    "profile_chunks",
    "profile_or_error",
]


@dataclass(frozen=True)
class ProfileOptions:
    """How to read and judge a file; the first three come from the `csv_*` settings, which hold
    their defaults (`tasks.csv_profile.options_io.options_from_settings`)."""

    type_threshold: float
    null_tokens: tuple[str, ...]
    block_bytes: int
    delimiter: str | None = None  # None: detect
    has_header: bool | None = None  # None: detect
    max_examples: int = 5
    max_ragged_rows: int = 10
    sketch_size: int = 4096
    workers: int = 2  # threads profiling the columns of a block (Arrow/numpy release the GIL)


@dataclass(frozen=True)
class RaggedRows:
    """Data records whose field count differs from the header's: counted in the row count,
    left out of every per-column count."""

    count: int = 0
    too_many_fields: int = 0
    too_few_fields: int = 0
    # (row, fields, text) of the first few: row = 1-based record number in the file (header = 1)
    first_rows: tuple[tuple[int, int, str], ...] = ()


@dataclass(frozen=True)
class ColumnProfile:
    """The verdict on one column over the whole file."""

    name: str
    header: str
    position: int
    type: str
    non_missing: int
    missing: int
    invalid: int
    invalid_examples: tuple[str, ...]
    distinct: int
    distinct_exact: bool
    class_counts: dict[str, int]
    stats: dict[str, Any] | None


@dataclass(frozen=True)
class FileProfile:
    """What a file holds; `error` is set (and the rest mostly empty) when it could not be read."""

    encoding: str | None = None
    delimiter: str | None = None
    decimal_mark: str | None = None
    has_header: bool | None = None
    row_count: int = 0  # data records, ragged ones included (their fields are not profiled)
    columns: tuple[ColumnProfile, ...] = ()
    ragged: RaggedRows = field(default_factory=RaggedRows)
    blank_names: tuple[int, ...] = ()
    duplicate_names: dict[str, list[int]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    error: str | None = None


class _RaggedCounter:
    """pyarrow's invalid-row handler: count, remember the first few record numbers, skip."""

    def __init__(self, keep: int, header_lines: int) -> None:
        self.keep, self.header_lines = keep, header_lines
        self.many = self.few = 0
        self.first: list[tuple[int, int, str]] = []

    def __call__(self, row: pacsv.InvalidRow) -> Literal["skip"]:
        if row.actual_columns > row.expected_columns:
            self.many += 1
        else:
            self.few += 1
        if len(self.first) < self.keep and row.number is not None:
            text = row.text if len(row.text) <= EXAMPLE_CHARS else row.text[:EXAMPLE_CHARS] + "…"
            self.first.append((self.header_lines + row.number, row.actual_columns, text))
        return "skip"

    def result(self) -> RaggedRows:
        return RaggedRows(self.many + self.few, self.many, self.few, tuple(self.first))


# --- type decision ------------------------------------------------------------------------------


def infer_type(c: ColumnCounts, threshold: float) -> str:
    """The majority rule over all non-missing values (docs/csv_profile.md):

    no values → string; digit codes with a leading zero present and codes + ints reach the
    threshold → string; then the first of int, float, date, datetime, bool whose valid share
    reaches the threshold, where a wider type wins over a narrower one that would call a valid
    wider value invalid (one `12.5` among ints → float; one datetime among dates → datetime).
    """
    n = c.present
    if n == 0:
        return "string"
    if c.codes and (c.ints + c.codes) / n >= threshold:
        return "string"
    if c.ints / n >= threshold and not c.floats:
        return "int"
    if (c.ints + c.floats) / n >= threshold:
        return "float"
    if c.dates / n >= threshold and not c.datetimes:
        return "date"
    if (c.dates + c.datetimes) / n >= threshold:
        return "datetime"
    if c.bools / n >= threshold:
        return "bool"
    return "string"


def _iso_date(days: int) -> str:
    return str(np.datetime64(days, "D"))


def _iso_datetime(micros: int, zoned: bool) -> str:
    text = str(np.datetime64(micros, "us")).removesuffix(".000000")
    return text + ("Z" if zoned else "")


def _number_stats(stats: NumberStats, as_float: bool) -> dict[str, Any]:
    low, high = stats.min, stats.max
    if as_float:
        low, high = float(low or 0), float(high or 0)
    return {
        "min": low,
        "max": high,
        "avg": round(stats.total / stats.count, 6),
        "count": stats.count,
    }


def column_stats(kind: str, c: ColumnCounts) -> dict[str, Any] | None:
    """Statistics of a typed column (numbers: min/max/avg/count; dates: min/max/count)."""
    if kind == "int" and c.int_stats.count:
        return _number_stats(c.int_stats, as_float=False)
    if kind == "float":
        merged = c.int_stats.merged(c.float_stats)
        return _number_stats(merged, as_float=True) if merged.count else None
    if kind == "date" and c.date_range.count:
        low, high = c.date_range.min or 0, c.date_range.max or 0
        return {"min": _iso_date(low), "max": _iso_date(high), "count": c.date_range.count}
    if kind == "datetime" and c.datetime_range.count:
        low, high = c.datetime_range.min or 0, c.datetime_range.max or 0
        return {
            "min": _iso_datetime(low, c.zoned),
            "max": _iso_datetime(high, c.zoned),
            "count": c.datetime_range.count,
        }
    return None


def _column(name: str, header: str, position: int, c: ColumnCounts, threshold: float) -> Any:
    kind = infer_type(c, threshold)
    distinct, exact = c.sketch.estimate()
    return ColumnProfile(
        name=name,
        header=header,
        position=position,
        type=kind,
        non_missing=c.present,
        missing=c.missing,
        invalid=c.present - c.valid(kind),
        invalid_examples=tuple(c.examples.get(kind, ())),
        distinct=distinct,
        distinct_exact=exact,
        class_counts=c.classes(),
        stats=column_stats(kind, c),
    )


# --- the stream ---------------------------------------------------------------------------------


def _open_reader(
    stream: Utf8Stream, dialect: Dialect, options: ProfileOptions, ragged: _RaggedCounter
) -> pacsv.CSVStreamingReader:
    internal = [f"c{i}" for i in range(len(dialect.names))]
    return pacsv.open_csv(
        cast(IO[bytes], stream),
        read_options=pacsv.ReadOptions(
            use_threads=False,  # in-order batches and known record numbers for ragged rows
            block_size=options.block_bytes,
            column_names=internal,
        ),
        parse_options=pacsv.ParseOptions(
            delimiter=dialect.delimiter,
            quote_char='"',
            double_quote=True,
            newlines_in_values=True,
            ignore_empty_lines=True,
            invalid_row_handler=ragged,
        ),
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() for name in internal},
            null_values=[],
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
            check_utf8=False,  # Utf8Stream only ever yields valid UTF-8
        ),
    )


def _arrow_error(message: str, records: int, block_bytes: int) -> str:
    where = f"after {records:,} data records"
    if "straddling" in message or "straddles" in message:
        return (
            f"a record longer than the parse block ({block_bytes:,} bytes) {where}: raise "
            "PIPELINES_CSV_BLOCK_BYTES to read it"
        )
    return f"CSV parse error {where}: {message}"


def _unclosed(line: int | None) -> CsvFormatError:
    return CsvFormatError(
        f"unterminated quoted field: the quote that opens a field on line {line:,} is never "
        "closed (the rest of the file would be read as that one value)"
    )


def _header_error(stream: Utf8Stream, sample: bytes, opts: ProfileOptions, why: str) -> Exception:
    """The error of a file whose header cannot be read: an unclosed quote (with its line) when
    the text ends inside a quoted field, else `why`."""
    scanner = QuoteScanner(opts.delimiter or sniff_delimiter(sample.decode("utf-8", "replace")))
    stream.watch(scanner.feed)
    stream.drain()
    scanner.finish()
    if scanner.inside:
        return _unclosed(scanner.opened_line)
    return CsvFormatError(f"cannot read the header: {why}")


def profile_chunks(chunks: Iterable[bytes], options: ProfileOptions) -> FileProfile:
    """Profile a CSV file given as raw byte chunks; raises `CsvFormatError` if it is unreadable.

    The error's `partial` attribute is a `FileProfile` of what was detected before it.
    """
    opts = options
    stream = Utf8Stream(chunks)
    detected: dict[str, Any] = {}
    try:
        return _profile_stream(stream, opts, detected)
    except CsvFormatError as exc:
        exc.partial = FileProfile(encoding=stream.encoding, notes=tuple(stream.notes), **detected)
        raise


def _profile_stream(
    stream: Utf8Stream, opts: ProfileOptions, detected: dict[str, Any]
) -> FileProfile:
    sample = stream.peek(SNIFF_BYTES)
    at_eof = len(sample) < SNIFF_BYTES
    if at_eof and not sample.strip():
        size = stream.raw_bytes
        raise CsvFormatError(
            "empty file: 0 bytes" if size == 0 else f"empty file: only whitespace ({size} bytes)"
        )
    try:
        dialect = sniff(sample, at_eof, delimiter=opts.delimiter, has_header=opts.has_header)
    except ValueError as exc:
        raise _header_error(stream, sample, opts, str(exc)) from exc
    decimal_mark = "," if dialect.delimiter == ";" else "."
    detected.update(
        delimiter=dialect.delimiter, decimal_mark=decimal_mark, has_header=dialect.has_header
    )
    rules = ColumnRules(
        null_tokens=opts.null_tokens,
        decimal_comma=decimal_mark == ",",
        max_examples=opts.max_examples,
        sketch_size=opts.sketch_size,
    )
    profilers = [ColumnProfiler(rules) for _ in dialect.names]
    ragged = _RaggedCounter(opts.max_ragged_rows, dialect.header_lines)
    stream.skip(dialect.header_bytes)
    # the parser's quote state, over exactly the bytes it reads: an unclosed quote is found
    # wherever it is, with the line its field starts on
    quotes = QuoteScanner(dialect.delimiter, first_line=dialect.header_lines + 1)
    stream.watch(quotes.feed)
    rows = 0
    failure: str | None = None
    if stream.peek(1):
        rows, failure = _read_blocks(stream, dialect, opts, ragged, profilers)
    stream.drain()  # after a parse error, the rest still tells whether a quote was left open
    quotes.finish()
    if quotes.inside:
        raise _unclosed(quotes.opened_line)
    if failure is not None:
        raise CsvFormatError(failure)
    columns = tuple(
        _column(name, header, i + 1, p.counts, opts.type_threshold)
        for i, (name, header, p) in enumerate(
            zip(dialect.names, dialect.header, profilers, strict=True)
        )
    )
    return FileProfile(
        encoding=stream.encoding,
        delimiter=dialect.delimiter,
        decimal_mark=decimal_mark,
        has_header=dialect.has_header,
        row_count=rows + ragged.result().count,
        columns=columns,
        ragged=ragged.result(),
        blank_names=dialect.blank_names,
        duplicate_names=dialect.duplicate_names,
        notes=tuple(stream.notes),
    )


def _read_blocks(
    stream: Utf8Stream,
    dialect: Dialect,
    opts: ProfileOptions,
    ragged: _RaggedCounter,
    profilers: list[ColumnProfiler],
) -> tuple[int, str | None]:
    """Feed every block of well-formed rows to the column profilers: (rows, parse error).

    Block k's columns are profiled on the pool while the reader parses block k+1: at most two
    blocks are alive, and each column still sees its blocks in file order. The reader is closed
    on every path (its read-ahead thread must not outlive it), before anything else reads the
    stream.
    """
    rows = 0
    reader: pacsv.CSVStreamingReader | None = None
    try:
        # opening reads (and parses) the first block already
        reader = _open_reader(stream, dialect, opts, ragged)
        with ThreadPoolExecutor(max_workers=opts.workers) as pool:
            pending: list[Future[None]] = []
            try:
                for batch in reader:
                    for future in pending:
                        future.result()
                    pending = [
                        pool.submit(p.add, col)
                        for p, col in zip(profilers, batch.columns, strict=True)
                    ]
                    rows += batch.num_rows
            finally:
                for future in pending:
                    future.result()
    except pa.ArrowInvalid as exc:
        return rows, _arrow_error(str(exc), rows + ragged.result().count, opts.block_bytes)
    finally:
        if reader is not None:
            reader.close()
    return rows, None


def profile_or_error(chunks: Iterable[bytes], options: ProfileOptions) -> FileProfile:
    """`profile_chunks`, with an unreadable file turned into `FileProfile(error=...)`.

    Only `CsvFormatError` is caught: an exception raised by `chunks` itself (a network failure
    while streaming) propagates, so the caller can retry it.
    """
    try:
        return profile_chunks(chunks, options)
    except CsvFormatError as exc:
        return dataclasses.replace(exc.partial or FileProfile(), error=str(exc))
