"""Telemetry CSV framing and parsing (pure): bounded blocks of whole lines → string columns.

A telemetry record is one line (LF or CRLF). The byte stream is cut into blocks of about
`block_bytes` that end at a line break, so memory is bounded by the block size whatever the file
size, and every row keeps its physical line number (the header is line 1) and its original text
for the rejects object. Blank lines are not rows.

Parsing reads every column as a string (explicit types, no inference: `007` stays `007`, and a
bad value rejects one row instead of failing a block). The fast path (no `"` and no bare CR in the
block, the normal machine-written file) frames lines and counts fields with numpy and lets
pyarrow's CSV reader split the fields; a block with quotes goes through Python's `csv` module
line by line. Rows whose field count differs from the header's, or whose bytes are not UTF-8,
cannot be read field by field: they come back as `malformed` (rejected as `missing_field`).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from tasks.telemetry.contract_core import KNOWN_COLUMNS

BOM = b"\xef\xbb\xbf"
# Text kept of a line too long to be a telemetry row (it is rejected, not buffered whole).
OVERSIZED_KEEP = 1024
_NL, _CR = 10, 13

IntArray = np.ndarray[Any, np.dtype[np.int64]]


@dataclass(frozen=True)
class Header:
    """The header line: its column names and where the known columns are."""

    names: tuple[str, ...]
    positions: dict[str, int]  # canonical known column → field index (first occurrence)

    @property
    def ignored(self) -> tuple[str, ...]:
        """Columns that are neither required nor optional (named once in the run report)."""
        used = set(self.positions.values())
        return tuple(n for i, n in enumerate(self.names) if i not in used)

    def missing(self, required: Sequence[str]) -> tuple[str, ...]:
        return tuple(c for c in required if c not in self.positions)


def parse_header(line: bytes) -> Header:
    """The header from the first line (BOM, CR and surrounding spaces removed; names matched
    case-insensitively)."""
    text = line.removeprefix(BOM).rstrip(b"\r\n").decode("utf-8", errors="replace")
    names = tuple(n.strip() for n in next(csv.reader([text]), [])) if text.strip() else ()
    positions: dict[str, int] = {}
    for i, name in enumerate(names):
        key = name.lower()
        if key in KNOWN_COLUMNS and key not in positions:
            positions[key] = i
    return Header(names, positions)


@dataclass(frozen=True)
class Block:
    """Whole lines of the file: `data` starts at physical line `first_line`."""

    index: int
    data: bytes
    first_line: int
    # lines longer than the block limit: (line number, first OVERSIZED_KEEP bytes, length)
    oversized: tuple[tuple[int, bytes, int], ...] = ()


def frame(chunks: Iterable[bytes], block_bytes: int) -> tuple[Header | None, Iterator[Block]]:
    """Split a byte stream into the header and blocks of whole lines of ~`block_bytes` each.

    The header is read eagerly (None for an empty stream); the blocks lazily. A line longer
    than `2 * block_bytes` is not buffered: it becomes an `oversized` entry of a block.
    """
    it = iter(chunks)
    buf = bytearray()
    for chunk in it:
        buf += chunk
        if b"\n" in buf or len(buf) > 2 * block_bytes:
            break
    if not buf:
        return None, iter(())
    end = buf.find(b"\n")
    cut = end + 1 if end >= 0 else len(buf)
    header = parse_header(bytes(buf[:cut]))
    del buf[:cut]
    return header, _blocks(buf, it, block_bytes, 2 if end >= 0 else 1)


def _blocks(buf: bytearray, it: Iterator[bytes], block_bytes: int, line: int) -> Iterator[Block]:
    index = 0
    oversized: list[tuple[int, bytes, int]] = []
    exhausted = False
    pos = 0  # start of the unconsumed bytes in `buf` (compacted now and then, not per block)

    def more() -> None:
        nonlocal exhausted
        chunk = next(it, None)
        if chunk is None:
            exhausted = True
        else:
            buf.extend(chunk)

    while True:
        if pos > block_bytes and pos * 2 > len(buf):
            del buf[:pos]
            pos = 0
        while len(buf) - pos < block_bytes and not exhausted:
            more()
        left = len(buf) - pos
        if exhausted and left <= block_bytes:
            data = bytes(buf[pos:])
            pos = len(buf)
        else:
            # cut at the last line break within the block (or after it, for a long line)
            cut = buf.rfind(b"\n", pos, pos + block_bytes)
            if cut < 0:
                cut = buf.find(b"\n", pos + block_bytes)
            if cut < 0 and left > 2 * block_bytes:
                # one line longer than any row: keep its start, skip to its end
                skipped, rest = _skip_line(buf[pos:], it)
                oversized.append((line, bytes(buf[pos : pos + OVERSIZED_KEEP]), skipped))
                buf[:] = rest
                pos = 0
                line += 1
                continue
            if cut < 0 and not exhausted:
                more()
                continue
            end = len(buf) if cut < 0 else cut + 1
            data = bytes(buf[pos:end])
            pos = end
        if data or oversized:
            yield Block(index, data, line, tuple(oversized))
            index += 1
            oversized = []
            line += data.count(b"\n")
        if exhausted and pos >= len(buf):
            return


def _skip_line(buf: bytearray, it: Iterator[bytes]) -> tuple[int, bytearray]:
    """Consume the rest of an overlong line; (its length, the bytes after its line break)."""
    length = len(buf)
    for chunk in it:
        cut = chunk.find(b"\n")
        if cut >= 0:
            return length + cut, bytearray(chunk[cut + 1 :])
        length += len(chunk)
    return length, bytearray()


@dataclass
class ParsedBlock:
    """The readable rows of a block as string columns, with line numbers and original text."""

    table: pa.Table  # one string column per known column present in the header
    lines: IntArray  # physical line number of each table row
    texts: list[str] | None = None  # original line of each row (slow path)
    data: bytes = b""  # fast path: the block, with each row's line at data[starts:ends]
    starts: IntArray = field(default_factory=lambda: np.empty(0, np.int64))
    ends: IntArray = field(default_factory=lambda: np.empty(0, np.int64))
    malformed: list[tuple[int, str]] = field(default_factory=list)  # (line, original text)

    @property
    def readable(self) -> int:
        """Rows read field by field (the table's rows; also when no known column exists)."""
        return len(self.lines)

    @property
    def rows(self) -> int:
        """Rows of the block: readable plus malformed."""
        return self.readable + len(self.malformed)

    def text(self, rows: IntArray) -> list[str]:
        """The original lines of table rows `rows`."""
        if self.texts is not None:
            return [self.texts[i] for i in rows.tolist()]
        data = self.data
        return [
            data[s:e].decode("utf-8", errors="replace")
            for s, e in zip(self.starts[rows].tolist(), self.ends[rows].tolist(), strict=True)
        ]


def parse_block(block: Block, header: Header) -> ParsedBlock:
    """Parse one block of whole lines into string columns (see the module docstring)."""
    data = block.data
    if b'"' in data or _has_bare_cr(data):
        parsed = _parse_slow(data, block.first_line, header)
    else:
        parsed = _parse_fast(data, block.first_line, header)
    for line, head, length in block.oversized:
        note = f"…(line of {length:,} bytes)"
        parsed.malformed.append((line, head.decode("utf-8", errors="replace") + note))
    return parsed


def _has_bare_cr(data: bytes) -> bool:
    return b"\r" in data and data.count(b"\r") != data.count(b"\r\n")


def _empty_table(header: Header) -> pa.Table:
    return pa.table({name: pa.array([], pa.string()) for name in header.positions})


def _line_bounds(buf: np.ndarray[Any, Any]) -> tuple[IntArray, IntArray]:
    """(start, end) byte offsets of each line, end excluding LF/CRLF."""
    breaks = np.flatnonzero(buf == _NL)
    if len(buf) and buf[-1] != _NL:
        breaks = np.append(breaks, len(buf))
    starts = np.empty(len(breaks), np.int64)
    if len(breaks):
        starts[0] = 0
        starts[1:] = breaks[:-1] + 1
    ends = breaks.astype(np.int64)
    cr = np.zeros(len(ends), dtype=bool)
    nonempty = ends > starts
    cr[nonempty] = buf[ends[nonempty] - 1] == _CR
    return starts, ends - cr


def _parse_fast(data: bytes, first_line: int, header: Header) -> ParsedBlock:
    buf = np.frombuffer(data, np.uint8)
    starts, ends = _line_bounds(buf)
    numbers = first_line + np.arange(len(starts), dtype=np.int64)
    keep = ends > starts  # blank lines are not rows
    decodable = np.ones(len(starts), dtype=bool)
    if len(buf) and int(buf.max()) >= 0x80:
        decodable = _utf8_lines(data, starts, ends)
    readable = keep & decodable
    table = _empty_table(header)
    if header.positions and readable.any():
        # undecodable lines would fail a whole column: then read the decodable lines only
        body = data if bool(decodable[keep].all()) else _select_lines(buf, starts, readable)
        table, wrong_width = _read_fields(body, header)
        # pyarrow numbers the rows it refused among the non-blank lines it read
        refused = np.flatnonzero(readable)[np.asarray(wrong_width, np.int64) - 1]
        readable[refused] = False
    bad = keep & ~readable
    malformed = [
        (int(n), data[s:e].decode("utf-8", errors="replace"))
        for n, s, e in zip(numbers[bad], starts[bad], ends[bad], strict=True)
    ]
    if header.positions and table.num_rows != int(readable.sum()):  # pragma: no cover
        return _parse_slow(data, first_line, header)  # framing and pyarrow disagree
    return ParsedBlock(
        table,
        numbers[readable],
        data=data,
        starts=starts[readable],
        ends=ends[readable],
        malformed=malformed,
    )


def _utf8_lines(data: bytes, starts: IntArray, ends: IntArray) -> np.ndarray[Any, Any]:
    """Which lines are valid UTF-8 (checked line by line only when the block is not)."""
    ok = np.ones(len(starts), dtype=bool)
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        for i, (s, e) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
            try:
                data[s:e].decode("utf-8")
            except UnicodeDecodeError:
                ok[i] = False
    return ok


def _select_lines(buf: np.ndarray[Any, Any], starts: IntArray, good: np.ndarray[Any, Any]) -> bytes:
    """The bytes of the `good` lines only (each with its own line break)."""
    lengths = np.diff(np.append(starts, len(buf)))
    return bytes(buf[np.repeat(good, lengths)].tobytes())


def _read_fields(body: bytes, header: Header) -> tuple[pa.Table, list[int]]:
    """The known columns as strings, and the numbers (1-based, among non-blank lines) of the
    rows pyarrow refused because their field count differs from the header's."""
    names = [f"c{i}" for i in range(len(header.names))]
    wanted = {f"c{pos}": name for name, pos in header.positions.items()}
    refused: list[int] = []

    def skip(row: Any) -> str:
        refused.append(int(row.number))
        return "skip"

    table = pacsv.read_csv(
        pa.py_buffer(body),  # type: ignore[arg-type]
        # one thread: row numbers of refused rows are known only then (and the flow's work is
        # already parallel across chunks on the machine's cores)
        read_options=pacsv.ReadOptions(
            column_names=names, use_threads=False, block_size=max(len(body), 1 << 16) + 1
        ),  # one Arrow chunk per column: no copy to combine chunks later
        parse_options=pacsv.ParseOptions(
            quote_char=False,
            double_quote=False,
            newlines_in_values=False,
            invalid_row_handler=skip,  # type: ignore[arg-type]
        ),
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in names},
            include_columns=list(wanted),
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    return table.rename_columns([wanted[n] for n in table.column_names]), refused


def _parse_slow(data: bytes, first_line: int, header: Header) -> ParsedBlock:
    """Line by line with the `csv` module (quoted fields, bare CRs): same result, slower."""
    width = len(header.names)
    columns: dict[str, list[str]] = {name: [] for name in header.positions}
    lines: list[int] = []
    texts: list[str] = []
    malformed: list[tuple[int, str]] = []
    raw_lines = data.split(b"\n")
    if raw_lines and raw_lines[-1] == b"":
        raw_lines.pop()
    for offset, raw in enumerate(raw_lines):
        line = first_line + offset
        raw = raw.removesuffix(b"\r")
        if not raw:
            continue
        try:
            text = raw.decode("utf-8")
            fields = next(csv.reader([text], strict=True))
        except (UnicodeDecodeError, csv.Error, StopIteration):
            malformed.append((line, raw.decode("utf-8", errors="replace")))
            continue
        if len(fields) != width:
            malformed.append((line, text))
            continue
        for name, pos in header.positions.items():
            columns[name].append(fields[pos])
        lines.append(line)
        texts.append(text)
    table = pa.table({name: pa.array(values, pa.string()) for name, values in columns.items()})
    return ParsedBlock(table, np.array(lines, np.int64), texts=texts, malformed=malformed)
