"""Whole-file profiling: types from every value, blocks, ragged rows, unreadable input."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tasks.csv_profile.local_io import file_chunks
from tasks.csv_profile.profile_core import (
    CsvFormatError,
    profile_chunks,
    profile_or_error,
)
from tasks.csv_profile.synthetic_io import write_csv
from tests.csv_profile.options import options

SMALL_BLOCKS = options(block_bytes=1 << 16)


def csv_bytes(header: str, values: list[str]) -> list[bytes]:
    body = (header + "\n" + "\n".join(values) + "\n").encode()
    return [body[i : i + 50_000] for i in range(0, len(body), 50_000)]


def test_a_float_after_100000_ints_makes_the_column_float_not_an_error() -> None:
    values = [str(i) for i in range(1, 100_001)] + ["12.5"]
    profile = profile_chunks(csv_bytes("n", values), SMALL_BLOCKS)  # ~10 blocks
    (column,) = profile.columns
    assert (column.type, column.invalid, column.non_missing) == ("float", 0, 100_001)
    # (1 + ... + 100000 + 12.5) / 100001 = (5000050000 + 12.5) / 100001 = 50000.000124998…
    assert column.stats == {"min": 1.0, "max": 100000.0, "avg": 50000.000125, "count": 100_001}
    assert column.class_counts["int"] == 100_000
    assert column.class_counts["float"] == 1


def test_late_bad_values_are_counted_exactly_by_the_majority_rule() -> None:
    values = [str(i) for i in range(1, 100_001)] + ["12.5", "abc", "abc", "N/A"]
    (column,) = profile_chunks(csv_bytes("n", values), SMALL_BLOCKS).columns
    # 100003 present values; 100001 are numbers (0.99998 >= 0.95) → float; "abc" twice invalid
    assert (column.type, column.missing, column.invalid) == ("float", 1, 2)
    assert column.invalid_examples == ("abc",)


def test_the_profile_does_not_depend_on_block_or_chunk_sizes(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    injected = write_csv(path, 60_000, seed=7, bad_rate=0.01)
    small = profile_chunks(file_chunks(path, size=4096), SMALL_BLOCKS)
    large = profile_chunks(file_chunks(path), options(block_bytes=8 << 20))
    assert small == large
    by_name = {c.name: c for c in small.columns}
    assert small.row_count == injected.rows == 60_000
    assert by_name["amount"].missing == injected.amount_missing
    assert by_name["age"].invalid == injected.age_invalid
    assert by_name["signup_date"].invalid == injected.date_invalid
    assert (by_name["id"].distinct, by_name["id"].distinct_exact) == (
        by_name["id"].distinct,
        False,
    )
    assert by_name["name"].distinct == 8


def test_an_unterminated_quote_is_a_specific_error() -> None:
    data = b'a,b\n1,2\n3,"never closed\n' + b"x,y\n" * 30_000
    with pytest.raises(CsvFormatError) as info:
        profile_chunks([data], SMALL_BLOCKS)
    # the field opens on line 3 (the header is line 1); 30,000 lines follow, past many blocks
    assert str(info.value) == (
        "unterminated quoted field: the quote that opens a field on line 3 is never closed "
        "(the rest of the file would be read as that one value)"
    )


def test_an_error_profile_keeps_what_was_detected_before_the_error() -> None:
    data = b'a;b\n1;2\n3;"never closed\n' + "\u00e9;x\n".encode("cp1252") * 30_000
    profile = profile_or_error([data], SMALL_BLOCKS)
    assert profile.error is not None
    assert profile.error.startswith("unterminated quoted field")
    assert (profile.encoding, profile.delimiter, profile.has_header) == ("cp1252", ";", True)
    assert profile.row_count == 0
    assert profile.columns == ()


def test_a_stray_quote_inside_an_unquoted_field_is_just_text() -> None:
    profile = profile_chunks([b'item,size\ntv,55" screen\nlamp,small\n'], options())
    assert profile.row_count == 2
    assert profile.columns[1].invalid_examples == ()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty file: 0 bytes"),
        (b"\n \r\n", "empty file: only whitespace (4 bytes)"),
        (
            b'"unclosed header,b\n1,2\n',
            "unterminated quoted field: the quote that opens a field on line 1 is never closed",
        ),
        (
            b"a" * 70_000 + b",b\n1,2\n",
            "cannot read the header: the first row does not end within the first 65,536 bytes",
        ),
    ],
)
def test_files_without_a_readable_header_are_errors(data: bytes, message: str) -> None:
    profile = profile_or_error([data], options())
    assert profile.error is not None
    assert profile.error.startswith(message)


def test_a_network_failure_while_streaming_is_not_mistaken_for_a_bad_file() -> None:
    def chunks() -> Iterator[bytes]:
        yield b"a,b\n" + b"1,2\n" * 50_000
        raise ConnectionResetError("peer went away")

    with pytest.raises(ConnectionResetError):
        profile_or_error(chunks(), SMALL_BLOCKS)


def test_header_only_file_has_columns_but_no_rows() -> None:
    profile = profile_chunks([b"id,name"], options())  # no trailing newline either
    assert profile.row_count == 0
    assert [(c.name, c.type, c.non_missing) for c in profile.columns] == [
        ("id", "string", 0),
        ("name", "string", 0),
    ]
