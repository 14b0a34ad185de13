"""Bytes → UTF-8 CSV text, streamed: encoding detection, BOM, transcoding, binary rejection (pure).

`Utf8Stream` wraps an iterator of raw byte chunks (an S3 body, a local file) and is a read-only
file-like object that yields UTF-8 bytes, so pyarrow's streaming CSV reader can consume any input
in bounded memory. Encoding is decided from the first `SNIFF_BYTES`:

- a UTF-8 BOM → `utf-8-sig` (BOM dropped); a UTF-16 BOM → `utf-16-le`/`utf-16-be` (transcoded);
- valid UTF-8 → `utf-8`: chunks pass through untouched after an incremental validity check. If
  invalid UTF-8 appears later, from that chunk on each invalid byte is decoded as cp1252 (mixed
  files are common: a UTF-8 export with one pasted Windows-1252 value) and a note says where;
- otherwise → `cp1252` for the whole file (the Windows superset of Latin-1's printable range; the
  five bytes cp1252 leaves undefined are read as Latin-1 control characters).

Binary input is rejected with a specific `CsvFormatError`: a known file signature (gzip, zip/xlsx,
PNG, PDF, Parquet, ...), any NUL byte (never part of CSV text), or >1% control bytes at the start.

`QuoteScanner` follows the quote state of the text as the CSV parser reads it, so a quote that is
never closed is reported with the line where its field began.
"""

from __future__ import annotations

import codecs
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

SNIFF_BYTES = 64 * 1024

# Signatures of binary formats that people rename to .csv by mistake.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "gzip"),
    (b"PK\x03\x04", "zip (or xlsx/docx)"),
    (b"\x89PNG\r\n\x1a\n", "PNG image"),
    (b"%PDF-", "PDF"),
    (b"PAR1", "Parquet"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "OLE2 (legacy xls/doc)"),
    (b"\xff\xd8\xff", "JPEG image"),
    (b"GIF8", "GIF image"),
    (b"7z\xbc\xaf\x27\x1c", "7-Zip"),
    (b"\x28\xb5\x2f\xfd", "Zstandard"),
    (b"SQLite format 3\x00", "SQLite database"),
)
_CONTROL = bytes([*range(1, 9), 11, *range(14, 32), 127])
_CONTROL_LIMIT = 0.01
# Lone surrogates that `surrogateescape` produces for undecodable bytes 0x80-0xFF.
_ESCAPED = re.compile("[\udc80-\udcff]")
_CP1252 = {
    0xDC00 + b: (bytes([b]).decode("cp1252", errors="ignore") or chr(b)) for b in range(128, 256)
}


class CsvFormatError(ValueError):
    """The input is not CSV text the profiler can read; the message says what and where."""

    partial: Any = None  # what was detected before the error (a FileProfile, set by profile_core)


def binary_signature(head: bytes) -> str | None:
    """The name of a binary format whose signature `head` starts with, else None."""
    for magic, name in _SIGNATURES:
        if head.startswith(magic):
            return name
    return None


def check_not_binary(head: bytes) -> None:
    """Raise `CsvFormatError` if the first bytes of a file are evidently not text."""
    kind = binary_signature(head)
    if kind is not None:
        sig = " ".join(f"{b:02x}" for b in head[:4])
        raise CsvFormatError(f"binary content, not CSV text: starts like a {kind} file ({sig} …)")
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return
    nul = head.find(b"\x00")
    if nul >= 0:
        raise CsvFormatError(f"binary content, not CSV text: NUL byte at byte offset {nul}")
    controls = len(head) - len(head.translate(None, _CONTROL))
    if head and controls / len(head) > _CONTROL_LIMIT:
        raise CsvFormatError(
            f"binary content, not CSV text: {controls} control bytes in the first {len(head)} bytes"
        )


def detect_encoding(head: bytes, at_eof: bool) -> tuple[str, list[str]]:
    """(encoding, notes) from the first bytes: a BOM, else UTF-8 if valid, else cp1252."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig", []
    if head.startswith(codecs.BOM_UTF16_LE):
        return "utf-16-le", ["UTF-16 (little-endian BOM): transcoded to UTF-8"]
    if head.startswith(codecs.BOM_UTF16_BE):
        return "utf-16-be", ["UTF-16 (big-endian BOM): transcoded to UTF-8"]
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=at_eof)
    except UnicodeDecodeError as exc:
        return "cp1252", [
            f"not valid UTF-8 (byte 0x{head[exc.start]:02x} at offset {exc.start}): "
            "decoded as cp1252 (Windows Latin-1)"
        ]
    return "utf-8", []


def _unescape(text: str) -> tuple[str, int]:
    """Replace `surrogateescape` stand-ins by their cp1252 characters; returns (text, count)."""
    count = 0

    def one(match: re.Match[str]) -> str:
        nonlocal count
        count += 1
        return _CP1252[ord(match.group())]

    return _ESCAPED.sub(one, text), count


_QUOTE, _LF, _CR = 34, 10, 13


class QuoteScanner:
    """Whether a stream of UTF-8 CSV text ends inside a quoted field, and where that field began.

    The rules are the parser's (pyarrow's, `double_quote=True`): a `"` opens a quoted field only
    at the start of a field (after the delimiter, a line break, or at the start); inside, `""`
    is a literal quote and a single `"` closes the field; anything after the closing quote up to
    the next delimiter is plain text, and so is a `"` in the middle of an unquoted field
    (`55" screen`). On runs of consecutive quotes this means: an even run changes nothing; an
    odd run at a field start flips the state (opens, or closes a field that contains the
    delimiter or line break before it); an odd run elsewhere closes an open field and is text
    otherwise. That makes the state after each run a prefix computation, done with numpy per
    chunk (chunks without a quote cost one `bytes.find`).

    `first_line`: the file's line number of the first byte fed (1-based; header lines count).
    """

    def __init__(self, delimiter: str, first_line: int = 1) -> None:
        self._delimiter = ord(delimiter)
        self.inside = False  # inside a quoted field after the bytes fed so far
        self.opened_line: int | None = None  # where that field's opening quote is
        self._line = first_line  # line number of the next byte
        self._prev = _LF  # the byte before the next one: a line break starts a field
        self._pending = b""  # trailing quotes of the last chunk (their run may go on)
        self._cr_end = False  # the last byte processed was `\r` (a `\n` next is the same break)

    def feed(self, data: bytes) -> None:
        """The next bytes of the text."""
        data = self._pending + data
        body = data.rstrip(b'"')
        self._pending = data[len(body) :]
        if body:
            self._scan(body)

    def finish(self) -> None:
        """The end of the text (quotes held back are a complete run)."""
        pending, self._pending = self._pending, b""
        if pending:
            self._scan(pending)

    def _breaks(self, data: bytes, end: int) -> int:
        """Line breaks (`\n`, `\r\n`, lone `\r`) in `data[:end]`."""
        breaks = data.count(b"\n", 0, end) + data.count(b"\r", 0, end)
        breaks -= data.count(b"\r\n", 0, end)
        if self._cr_end and end > 0 and data[0] == _LF:
            breaks -= 1  # `\r` ended the previous chunk: this `\n` completes that break
        return breaks

    def _scan(self, data: bytes) -> None:
        if data.find(b'"') < 0:
            self._advance(data)
            return
        text = np.frombuffer(data, dtype=np.uint8)
        quotes = np.flatnonzero(text == _QUOTE)
        new_run = np.r_[True, np.diff(quotes) != 1]
        starts = quotes[new_run]
        lengths = np.diff(np.r_[np.flatnonzero(new_run), len(quotes)])
        at = starts[lengths % 2 == 1]  # even runs change nothing
        if len(at):
            before = np.where(at > 0, text[np.maximum(at - 1, 0)], self._prev)
            field_start = (before == self._delimiter) | (before == _LF) | (before == _CR)
            inside_before = self._states(field_start)
            self.inside = bool(field_start[-1] and not inside_before[-1])
            if self.inside:  # opened by the last run that opened a field (none closed it)
                opening = int(at[np.flatnonzero(field_start & ~inside_before)[-1]])
                self.opened_line = self._line + self._breaks(data, opening)
            else:
                self.opened_line = None
        self._advance(data)

    def _states(self, field_start: np.ndarray) -> np.ndarray:
        """Inside a quoted field before each odd run? A run at a field start flips the state,
        any other sets it to outside: the state is the parity of field-start runs since the
        last other run (or since the chunk's start, from the current state)."""
        k = np.arange(len(field_start))
        other = ~field_start
        last_other = np.maximum.accumulate(np.where(other, k, -1))
        last_before = np.r_[-1, last_other[:-1]]
        flips = np.cumsum(field_start)
        flips_before = np.r_[0, flips[:-1]]
        since = flips_before - np.where(last_before >= 0, flips[np.maximum(last_before, 0)], 0)
        base = np.where(last_before >= 0, False, self.inside)
        return np.asarray(base ^ (since % 2 == 1), dtype=bool)

    def _advance(self, data: bytes) -> None:
        self._line += self._breaks(data, len(data))
        self._prev = data[-1]
        self._cr_end = data[-1] == _CR


class Utf8Stream:
    """A read-only binary file over raw chunks that yields UTF-8 (see the module docstring).

    `peek(n)` looks ahead without consuming (the dialect sniffer), `skip(n)` drops bytes (the
    header row), `read(n)` is what pyarrow calls. `notes` collects what was done to the text.
    """

    def __init__(self, chunks: Iterable[bytes], sniff_bytes: int = SNIFF_BYTES) -> None:
        self._chunks: Iterator[bytes] = iter(chunks)
        self._parts: list[bytes] = []
        self._size = 0
        self._done = False  # every raw byte has been converted
        self.raw_bytes = 0  # raw bytes taken from the chunks so far
        self.mixed_bytes = 0  # invalid UTF-8 bytes (after the sniff window) read as cp1252
        self.closed = False
        self._watch: Callable[[bytes], None] | None = None
        # pyarrow reads on its own thread; the profiler drains what is left after it stops
        self._lock = threading.Lock()
        head, self._surplus, at_eof = _gather(self._chunks, sniff_bytes)
        self.raw_bytes = len(head) + len(self._surplus)
        check_not_binary(head)
        self.encoding, self.notes = detect_encoding(head, at_eof=at_eof)
        codec = {"utf-8-sig": "utf-8"}.get(self.encoding, self.encoding)
        self._mode = "passthrough" if codec == "utf-8" else "transcode"
        errors = "strict" if self._mode == "passthrough" else "surrogateescape"
        self._decoder = codecs.getincrementaldecoder(codec)(errors=errors)
        self._pending = b""  # an incomplete UTF-8 character held back in passthrough mode
        bom = {"utf-8-sig": 3, "utf-16-le": 2, "utf-16-be": 2}.get(self.encoding, 0)
        self._queue: list[bytes] = [head[bom:]]
        self._offset = bom  # raw offset of the next queued byte
        if self._surplus:
            self._queue.append(self._surplus)

    # --- conversion -------------------------------------------------------------------------

    def _next_raw(self) -> bytes | None:
        if self._queue:
            return self._queue.pop(0)
        chunk = next(self._chunks, None)
        if chunk is not None:
            self.raw_bytes += len(chunk)
        return chunk

    def _convert(self, chunk: bytes, final: bool) -> bytes:
        start = self._offset - len(self._pending)
        self._offset += len(chunk)
        if self._mode == "passthrough":
            data = self._pending + chunk
            try:
                self._decoder.decode(chunk, final=final)
            except UnicodeDecodeError:
                self._mode = "mixed"
                self._decoder = codecs.getincrementaldecoder("utf-8")(errors="surrogateescape")
                self._pending = b""
                out = self._transcode(data, final, start)
            else:
                keep = len(self._decoder.getstate()[0])  # an incomplete character at the end
                self._pending = data[len(data) - keep :] if keep else b""
                out = data[: len(data) - keep] if keep else data
                nul = out.find(b"\x00")
                if nul >= 0:
                    raise CsvFormatError(
                        f"binary content, not CSV text: NUL byte at byte offset {start + nul}"
                    )
                return out
        else:
            out = self._transcode(chunk, final, start)
        if b"\x00" in out:
            raise CsvFormatError(
                "binary content, not CSV text: NUL character in the text "
                f"(raw bytes {start}-{self._offset})"
            )
        return out

    def _transcode(self, data: bytes, final: bool, offset: int) -> bytes:
        text = self._decoder.decode(data, final=final)
        if self._mode == "mixed":
            text, count = _unescape(text)
            if count and not self.mixed_bytes:
                self.notes.append(
                    f"invalid UTF-8 from raw byte offset ~{offset}: "
                    "such bytes were decoded as cp1252 (Windows Latin-1)"
                )
            self.mixed_bytes += count
        elif self.encoding == "cp1252":
            text = _unescape(text)[0]
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError as exc:  # lone surrogates in UTF-16 input
            raise CsvFormatError(
                f"invalid {self.encoding} text near raw byte offset {offset}: {exc.reason}"
            ) from exc

    def _fill(self, n: int) -> None:
        while self._size < n and not self._done:
            chunk = self._next_raw()
            out = self._convert(chunk or b"", final=chunk is None)
            if chunk is None:
                self._done = True
                if self._pending:  # a truncated last character: not UTF-8 after all
                    self._mode = "mixed"
                    pending, self._pending = self._pending, b""
                    out += self._transcode(pending, True, self._offset - len(pending))
            if out:
                self._parts.append(out)
                self._size += len(out)

    # --- file protocol ----------------------------------------------------------------------

    def _take(self, n: int, consume: bool) -> bytes:
        self._fill(n)
        data = self._parts[0] if len(self._parts) == 1 else b"".join(self._parts)
        out = data[:n]
        rest = data[len(out) :] if consume else data
        self._parts = [rest] if rest else []
        self._size = len(rest)
        return out

    def read(self, n: int | None = -1) -> bytes:
        """Up to `n` UTF-8 bytes (all remaining if `n` is None or < 0); b"" at the end, and
        once closed. What is read goes to the `watch` callback too."""
        with self._lock:
            if self.closed:
                return b""
            data = self._take(1 << 62 if n is None or n < 0 else n, consume=True)
            if self._watch is not None and data:
                self._watch(data)
            return data

    def peek(self, n: int) -> bytes:
        """The next `n` bytes (fewer at the end) without consuming them."""
        with self._lock:
            return self._take(n, consume=False)

    def skip(self, n: int) -> None:
        """Drop the next `n` bytes."""
        with self._lock:
            self._take(n, consume=True)

    def watch(self, callback: Callable[[bytes], None] | None) -> None:
        """Send every byte read from now on to `callback` as well (the quote scanner)."""
        with self._lock:
            self._watch = callback

    def drain(self, size: int = 1 << 20) -> None:
        """Read (and watch) what is left, `size` bytes at a time, without keeping it."""
        while self.read(size):
            pass

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def writable(self) -> bool:
        return False

    def close(self) -> None:
        with self._lock:
            self.closed = True
            self._parts, self._size = [], 0


def _gather(chunks: Iterator[bytes], size: int) -> tuple[bytes, bytes, bool]:
    """The first `size` bytes of `chunks`, the surplus of the last chunk read, and EOF-reached."""
    parts: list[bytes] = []
    got = 0
    while got < size:
        chunk = next(chunks, None)
        if chunk is None:
            return b"".join(parts), b"", True
        parts.append(chunk)
        got += len(chunk)
    data = b"".join(parts)
    return data[:size], data[size:], False
