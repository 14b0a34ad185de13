"""Delimiter, header and column names from the first bytes."""

from __future__ import annotations

import pytest

from tasks.csv_profile.dialect_core import looks_like_header, sniff, sniff_delimiter, unique_names


@pytest.mark.parametrize(
    ("text", "delimiter"),
    [
        ("a,b,c\n1,2,3\n", ","),
        ("name;price\napple;1,5\npear;2,25\n", ";"),  # decimal commas do not fool it
        ("a\tb\n1\t2\n", "\t"),
        ("a|b|c\n1|2|3\n", "|"),
        ('name,comment\nx,"a; b; c"\ny,"d; e"\n', ","),  # quoted delimiters are not counted
        ("single\nvalue\n", ","),  # one column
    ],
)
def test_delimiter_is_the_one_with_a_consistent_field_count(text: str, delimiter: str) -> None:
    assert sniff_delimiter(text) == delimiter


@pytest.mark.parametrize(
    ("rows", "header"),
    [
        ([["name", "age"], ["ann", "30"], ["bob", "41"]], True),
        ([["ann", "30"], ["bob", "41"]], False),  # the first row is typed like the rest
        ([["a", "b"], ["c", "d"]], True),  # all text: assume a header
        ([["id", "when"], ["1", "2024-01-01"]], True),
        ([["7", "2024-01-01"], ["8", "2024-01-02"]], False),
        ([["only"]], True),
    ],
)
def test_header_is_assumed_unless_the_first_row_looks_like_data(
    rows: list[list[str]], header: bool
) -> None:
    assert looks_like_header(rows) is header


def test_blank_and_repeated_names_are_renamed_and_reported() -> None:
    names, blanks, duplicates = unique_names(["id", "", "name", "name", "name_2"])
    assert names == ("id", "column_2", "name", "name_2_", "name_2")
    assert blanks == (2,)
    assert duplicates == {"name": [3, 4]}


def test_a_header_with_a_quoted_line_break_is_measured_in_bytes_and_lines() -> None:
    sample = '"first\nname",age\n"é",1\n'.encode()
    dialect = sniff(sample, at_eof=True)
    assert dialect.header == ("first\nname", "age")
    assert (dialect.header_bytes, dialect.header_lines) == (len(b'"first\nname",age\n'), 2)


def test_without_a_header_columns_get_generated_names() -> None:
    dialect = sniff(b"\n\n1,2024-01-01\n2,2024-01-02\n", at_eof=True)
    assert dialect.has_header is False
    assert dialect.names == ("column_1", "column_2")
    assert (dialect.header_bytes, dialect.header_lines) == (2, 2)  # the leading blank lines


def test_forcing_the_header_and_delimiter_wins_over_detection() -> None:
    dialect = sniff(b"1;2\n3;4\n", at_eof=True, delimiter=",", has_header=True)
    assert (dialect.delimiter, dialect.has_header, dialect.names) == (",", True, ("1;2",))


def test_a_first_row_that_does_not_end_in_the_sample_is_an_error() -> None:
    with pytest.raises(ValueError, match="the first row does not end within the first 12 bytes"):
        sniff(b'a,"b\nc,d,e,f', at_eof=False)
