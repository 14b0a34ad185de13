"""Value classes, statistics and distinct counts of one column, block by block."""

from __future__ import annotations

import pyarrow as pa
import pytest

from tasks.csv_profile.profile_core import column_stats, infer_type
from tasks.csv_profile.values_core import (
    ColumnCounts,
    ColumnProfiler,
    ColumnRules,
    DistinctSketch,
    hash_strings,
)
from tests.csv_profile.options import options

MIXED = [
    "1", "-2", "+3", " 42 ",  # ints (trimmed)
    "007",  # a code
    "1.5", "-.5", "5.", "1e-3", "12345678901234567890",  # floats (19 digits: not an int)
    "2024-02-29", "1/5/2024",  # dates (2024 is a leap year)
    "2024-03-01T10:00:00Z", "2024-03-01 10:00",  # datetimes
    "TRUE", "no",  # bools
    "1e999", "2023-02-29", "abc",  # text: not finite, no such day, a word
    "NA", "",  # missing
]  # fmt: skip


NULL_TOKENS = options().null_tokens


def classes(c: ColumnCounts) -> dict[str, int]:
    return {"rows": c.rows, "missing": c.missing, **c.classes()}


def profile(values: list[str], *blocks: int, rules: ColumnRules | None = None) -> ColumnCounts:
    profiler = ColumnProfiler(rules or ColumnRules(null_tokens=NULL_TOKENS))
    array = pa.array(values, type=pa.string())
    start = 0
    for size in [*blocks, len(values)]:
        if start < len(values):
            profiler.add(array.slice(start, size))
            start += size
    return profiler.counts


def test_every_value_lands_in_exactly_one_documented_class() -> None:
    c = profile(MIXED)
    assert classes(c) == {
        "rows": 21,
        "missing": 2,
        "int": 4,
        "code": 1,
        "float": 5,
        "date": 2,
        "datetime": 2,
        "bool": 2,
        "text": 3,
    }


def test_dictionary_and_plain_paths_count_the_same() -> None:
    plain = profile(MIXED)  # 21 values: below the dictionary threshold
    repeated = profile(MIXED * 10)  # 210 values: dictionary-encoded
    assert classes(repeated) == {k: 10 * v for k, v in classes(plain).items()}
    assert repeated.int_stats.total == 10 * plain.int_stats.total
    assert repeated.examples == plain.examples


def test_leading_zero_codes_make_a_string_column_and_are_never_invalid() -> None:
    c = profile(["02134", "10001", "94105", "60601"])
    assert (c.ints, c.codes) == (3, 1)
    assert infer_type(c, 0.95) == "string"
    assert c.valid("string") == 4


def test_one_leading_zero_code_makes_a_digit_column_an_identifier() -> None:
    c = profile([str(n) for n in range(100, 200)] + ["0042"])
    assert (c.ints, c.codes) == (100, 1)
    assert infer_type(c, 0.95) == "string"  # 101 digit strings, one with a leading zero
    c = profile([str(n) for n in range(100, 200)] + ["0042"] + ["x"] * 10)
    assert infer_type(c, 0.95) == "string"  # (100 + 1) / 111 < 0.95: text anyway


def test_ints_count_as_floats_and_statistics_merge_exactly() -> None:
    c = profile(["1", "2", "3.5", "-4"])
    assert infer_type(c, 0.95) == "float"
    assert column_stats("float", c) == {"min": -4.0, "max": 3.5, "avg": 0.625, "count": 4}


def test_int_sums_stay_exact_beyond_int64() -> None:
    big = "999999999999999999"  # 18 digits, the largest int the rule accepts
    c = profile([big] * 20, 7)
    assert c.int_stats.total == 20 * 999999999999999999
    assert column_stats("int", c) == {
        "min": 999999999999999999,
        "max": 999999999999999999,
        "avg": 1e18,
        "count": 20,
    }
    assert profile([big] * 200).int_stats.total == 200 * 999999999999999999  # dictionary path


def test_dates_are_real_calendar_days_in_the_documented_layouts() -> None:
    c = profile(["2024-02-29", "2024/12/31", "12/31/2023", "1/2/2024", "2023-02-29", "2024-13-01",
                 "31/12/2023", "2024-1-5", "20240105"])  # fmt: skip
    assert c.dates == 4
    assert column_stats("date", c) == {"min": "2023-12-31", "max": "2024-12-31", "count": 4}


def test_datetimes_with_zones_are_compared_in_utc() -> None:
    c = profile(["2024-03-01T10:00:00+02:00", "2024-03-01T09:00:00.5Z", "2024-03-01T25:00:00"])
    assert (c.datetimes, c.zoned) == (2, True)
    assert column_stats("datetime", c) == {
        "min": "2024-03-01T08:00:00Z",
        "max": "2024-03-01T09:00:00.500000Z",
        "count": 2,
    }


def test_examples_are_the_first_distinct_bad_values_in_file_order() -> None:
    values = ["1", "x", "2", "x", "y", "3", "z", "w", "v", "u", "t"]
    c = profile(values, 3, 3)
    assert c.examples["int"] == ["x", "y", "z", "w", "v"]


def test_custom_null_tokens_replace_the_defaults() -> None:
    c = profile(["", "NA", "?", "1"], rules=ColumnRules(null_tokens=("?",)))
    assert (c.missing, c.ints, c.present) == (1, 1, 3)


def test_decimal_commas_are_numbers_only_when_the_file_uses_them() -> None:
    assert profile(["3,50", "1,2"]).floats == 0
    c = profile(["3,50", "1,2"], rules=ColumnRules(null_tokens=NULL_TOKENS, decimal_comma=True))
    assert c.floats == 2
    assert column_stats("float", c) == {"min": 1.2, "max": 3.5, "avg": 2.35, "count": 2}


def test_the_string_hash_is_pinned_and_independent_of_array_offsets() -> None:
    # Pinned: a different hash would change distinct estimates (and summary bytes) of big files.
    values = ["", "a", "hello", "seventeen bytes!!", "x" * 30]
    expected = [0x33FE8BD4F9C57863, 0xC55CB0205A68155C, 0x5B4514C5D6D92649,
                0xC27B7B2C74EFDD86, 0xDE60F646CFA2A8F3]  # fmt: skip
    assert [int(h) for h in hash_strings(pa.array(values))] == expected
    shifted = pa.array(["zz", *values]).slice(1)
    assert [int(h) for h in hash_strings(shifted)] == expected


def test_distinct_is_exact_up_to_k_then_an_estimate() -> None:
    sketch = DistinctSketch(k=64)
    sketch.add(pa.array([str(i % 50) for i in range(1000)]))
    assert sketch.estimate() == (50, True)
    for start in range(0, 20_000, 5_000):
        sketch.add(pa.array([f"id-{i}" for i in range(start, start + 5_000)]))
    estimate, exact = sketch.estimate()
    assert not exact
    assert estimate == pytest.approx(20_050, rel=0.3)  # k = 64: standard error ~13 %
