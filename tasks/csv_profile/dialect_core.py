"""Delimiter, header and column names from the first bytes of a CSV file (pure).

Rules (documented in docs/csv_profile.md):

- Delimiter: of `,` `;` tab `|`, the one whose field count is the same on the most of the first
  `SAMPLE_RECORDS` records (quotes respected), with at least 2 fields; ties go to the larger field
  count, then to the order above. No candidate with 2+ fields → a one-column file, `,`.
- Header: the first non-blank record is a header unless it looks like data, i.e. at least one of
  its fields is a number or an ISO date *and* every non-empty field has the same kind (number,
  date, text) as most values of its column in the sample. Callers can force either way.
- Names: blank header names become `column_<position>`, repeated names get `_2`, `_3`, ...
  (position is 1-based); both are reported as header issues.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from dataclasses import dataclass, field

DELIMITERS = (",", ";", "\t", "|")
SAMPLE_RECORDS = 100
_NUMBER = re.compile(r"[+-]?(\d+[.,]?\d*|[.,]\d+)([eE][+-]?\d+)?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}([T ].*)?|\d{1,2}/\d{1,2}/\d{4}|\d{4}/\d{2}/\d{2}")


@dataclass(frozen=True)
class Dialect:
    """How to read the data part of a file."""

    delimiter: str
    has_header: bool
    header: tuple[str, ...]  # raw header fields (or generated names without a header)
    names: tuple[str, ...]  # unique, non-blank column names
    header_bytes: int  # UTF-8 bytes before the first data record (header + leading blanks)
    header_lines: int  # physical lines in those bytes
    blank_names: tuple[int, ...] = ()  # 1-based positions of blank header names
    duplicate_names: dict[str, list[int]] = field(default_factory=dict)  # name → positions


def _records(text: str, delimiter: str, limit: int) -> list[list[str]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
    out: list[list[str]] = []
    try:
        for row in reader:
            if row:
                out.append(row)
            if len(out) >= limit:
                break
    except csv.Error:  # e.g. a field larger than csv.field_size_limit: judged on what we have
        pass
    return out


def sniff_delimiter(text: str) -> str:
    """The delimiter of a text sample (see the module docstring)."""
    best: tuple[int, int, int] | None = None
    chosen = ","
    for rank, delimiter in enumerate(DELIMITERS):
        rows = _records(text, delimiter, SAMPLE_RECORDS)
        if not rows:
            continue
        width, agreeing = Counter(len(r) for r in rows).most_common(1)[0]
        if width < 2:
            continue
        score = (agreeing, width, -rank)
        if best is None or score > best:
            best, chosen = score, delimiter
    return chosen


def _kind(value: str) -> str:
    text = value.strip()
    if _NUMBER.fullmatch(text):
        return "number"
    if _DATE.fullmatch(text):
        return "date"
    return "text"


def looks_like_header(rows: list[list[str]]) -> bool:
    """True unless the first row looks like data (see the module docstring)."""
    if len(rows) < 2:
        return True
    first, rest = rows[0], rows[1:]
    typed = False
    for i, value in enumerate(first):
        if not value.strip():
            continue
        kind = _kind(value)
        column = [_kind(r[i]) for r in rest if i < len(r) and r[i].strip()]
        if not column:
            continue
        usual = Counter(column).most_common(1)[0][0]
        if kind != usual:
            return True
        typed = typed or kind != "text"
    return not typed


def unique_names(
    header: list[str],
) -> tuple[tuple[str, ...], tuple[int, ...], dict[str, list[int]]]:
    """(names, blank positions, duplicates) — see the module docstring for the renaming rule."""
    blanks = tuple(i + 1 for i, h in enumerate(header) if not h.strip())
    positions: dict[str, list[int]] = {}
    for i, h in enumerate(header):
        if h.strip():
            positions.setdefault(h, []).append(i + 1)
    duplicates = {h: p for h, p in positions.items() if len(p) > 1}
    taken = {h for h in header if h.strip()}
    names: list[str] = []
    seen: Counter[str] = Counter()
    for i, h in enumerate(header):
        if not h.strip():
            name = f"column_{i + 1}"
        else:
            seen[h] += 1
            name = h if seen[h] == 1 else f"{h}_{seen[h]}"
        while name in names or (name != h and name in taken):
            name += "_"
        names.append(name)
    return tuple(names), blanks, duplicates


def first_record_extent(
    text: str, delimiter: str, at_eof: bool
) -> tuple[list[str], int, int] | None:
    """(fields, UTF-8 bytes, lines) of the first non-blank record; None if it is incomplete."""
    lines = io.StringIO(text, newline="").readlines()
    consumed: list[str] = []
    source = iter(lines)

    def feed() -> object:
        for line in source:
            consumed.append(line)
            yield line

    reader = csv.reader(feed(), delimiter=delimiter, strict=False)  # type: ignore[arg-type]
    try:
        for row in reader:
            if row:
                text = "".join(consumed)
                ended = consumed[-1].endswith(("\n", "\r")) or at_eof
                if not ended or text.count('"') % 2:
                    return None  # an unclosed quote, or the record continues past the sample
                return row, len(text.encode()), len(consumed)
    except csv.Error:
        return None
    return None


def sniff(
    sample: bytes,
    at_eof: bool,
    *,
    delimiter: str | None = None,
    has_header: bool | None = None,
) -> Dialect:
    """The dialect of a file from its first UTF-8 bytes (`at_eof`: the sample is the whole file).

    Raises `ValueError` when the first record does not end within the sample.
    """
    text = sample.decode("utf-8", errors="replace")
    if not at_eof:  # judge complete lines only
        cut = max(text.rfind("\n"), text.rfind("\r"))
        text = text[: cut + 1] if cut >= 0 else ""
    chosen = delimiter or sniff_delimiter(text)
    extent = first_record_extent(text, chosen, at_eof)
    if extent is None:
        if at_eof and text.strip() == "":
            raise ValueError("no records")
        raise ValueError(
            f"the first row does not end within the first {len(sample):,} bytes "
            "(an unclosed quote or an enormous header)"
        )
    first, nbytes, nlines = extent
    header = looks_like_header(_records(text, chosen, SAMPLE_RECORDS))
    if has_header is not None:
        header = has_header
    if header:
        names, blanks, duplicates = unique_names(first)
        return Dialect(chosen, True, tuple(first), names, nbytes, nlines, blanks, duplicates)
    generated = tuple(f"column_{i + 1}" for i in range(len(first)))
    blank = text[: len(text) - len(text.lstrip("\r\n"))]
    lines = len(io.StringIO(blank, newline="").readlines())
    return Dialect(chosen, False, generated, generated, len(blank.encode()), lines)
