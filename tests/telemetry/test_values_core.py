"""Numbers and timestamps parsed by the contract's rules, vectorised; formatting of keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest

from tasks.common.time_core import days_from_civil
from tasks.telemetry.values_core import (
    civil_from_days,
    format_instants,
    format_milli,
    parse_numbers,
    parse_timestamps,
)

MAY_1_0815 = 1_714_551_330_000  # 2024-05-01T08:15:30Z


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("2024-05-01T08:15:30Z", MAY_1_0815),
        ("2024-05-01t08:15:30z", MAY_1_0815),
        ("2024-05-01 08:15:30Z", MAY_1_0815),
        ("2024-05-01T04:15:30-04:00", MAY_1_0815),
        ("2024-05-01T10:15:30+0200", MAY_1_0815),
        ("2024-05-01T13:45:30+05:30", MAY_1_0815),
        ("2024-05-01T03:15:30-05", MAY_1_0815),
        ("2024-05-01T08:15:30.5Z", MAY_1_0815 + 500),
        ("2024-05-01T08:15:30,123Z", MAY_1_0815 + 123),
        ("2024-05-01T08:15:30.123456789Z", MAY_1_0815 + 123),  # truncated to the ms
        ("  2024-05-01T08:15:30Z\t", MAY_1_0815),
        ("1714551330", MAY_1_0815),
        ("0", 0),
        ("-86400", -86_400_000),
        ("2024-02-29T00:00:00Z", 1_709_164_800_000),
        ("1900-01-01T00:00:00Z", -2_208_988_800_000),
    ],
)
def test_valid_timestamps_give_the_instant(text: str, ms: int) -> None:
    parsed, valid, empty = parse_timestamps(pa.array([text]))
    assert valid.tolist() == [True]
    assert parsed.tolist() == [ms]
    assert empty.tolist() == [False]


@pytest.mark.parametrize(
    "text",
    [
        "2024-05-01T08:15:30",  # no zone
        "2024-05-01T08:15:30.123",
        "2024-05-01",
        "2023-02-29T00:00:00Z",  # not a leap year
        "2024-04-31T00:00:00Z",
        "2024-13-01T00:00:00Z",
        "2024-05-01T24:00:00Z",
        "2024-05-01T08:60:00Z",
        "2024-05-01T08:15:60Z",
        "2024-05-01T08:15:30+24:00",
        "2024-05-01T08:15:30.Z",
        "2024-05-01T08:15:30.1234567890Z",
        "1899-12-31T23:59:59Z",
        "1714551330.5",
        "17145513300000",
        "May 1 2024",
        "2024/05/01T08:15:30Z",
        "-",
    ],
)
def test_invalid_timestamps_are_invalid(text: str) -> None:
    _parsed, valid, empty = parse_timestamps(pa.array([text]))
    assert valid.tolist() == [False]
    assert empty.tolist() == [False]


def test_empty_timestamps_are_reported_as_empty() -> None:
    _parsed, valid, empty = parse_timestamps(pa.array(["", "  ", "1"]))
    assert empty.tolist() == [True, True, False]
    assert valid.tolist() == [False, False, True]


def test_timestamp_parsing_agrees_with_datetime_on_many_instants() -> None:
    rng = np.random.default_rng(3)
    ms = rng.integers(-2_000_000_000_000, 4_000_000_000_000, 2_000)
    offsets = rng.integers(-14, 15, 2_000) * 60 + rng.choice([0, 30, 45], 2_000)
    texts = []
    for m, off in zip(ms.tolist(), offsets.tolist(), strict=True):
        local = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=m, minutes=off)
        sign = "+" if off >= 0 else "-"
        zone = f"{sign}{abs(off) // 60:02d}:{abs(off) % 60:02d}"
        texts.append(local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{m % 1000:03d}" + zone)
    parsed, valid, _ = parse_timestamps(pa.array(texts))
    assert valid.all()
    assert parsed.tolist() == ms.tolist()


def test_numbers_valid_invalid_and_their_storage_text() -> None:
    texts = [
        "40.7128",
        " -74.0060 ",
        "1e5",
        "+1.5",
        ".5",
        "5.",
        "007.50",
        "-0",
        "1e-400",
        "abc",
        "NaN",
        "inf",
        "1.2.3",
        "--5",
        "-",
        "",
        "1e400",
        "0x10",
        "1_000",
    ]
    numbers = parse_numbers(pa.array(texts))
    valid = numbers.valid.tolist()
    assert valid == [True] * 9 + [False] * 10
    assert numbers.empty.tolist() == [False] * 15 + [True] + [False] * 3
    rows = np.flatnonzero(numbers.valid)
    assert numbers.text(rows).to_pylist() == [
        "40.7128",
        "-74.0060",
        "1e5",
        "+1.5",
        ".5",
        "5.",
        "007.50",
        "-0",
        "0",
    ]
    assert numbers.values[:3].tolist() == [40.7128, -74.006, 100000.0]


def test_civil_dates_round_trip() -> None:
    days = np.arange(-30_000, 90_000, 7, dtype=np.int64)
    y, m, d = civil_from_days(days)
    assert days_from_civil(y, m, d).tolist() == days.tolist()
    assert (int(y[0]), int(m[0]), int(d[0])) == (1887, 11, 12)


def test_instants_are_formatted_as_the_table_sort_key() -> None:
    ms = np.array([MAY_1_0815 + 7, -2_208_988_800_000, 253_402_300_799_999], np.int64)
    assert format_instants(ms).to_pylist() == [
        "2024-05-01T08:15:30.007Z",
        "1900-01-01T00:00:00.000Z",
        "9999-12-31T23:59:59.999Z",
    ]
    assert format_milli(np.array([343_556, 5, 0, 1_000, 20_037_508], np.int64)).to_pylist() == [
        "343.556",
        "0.005",
        "0.000",
        "1.000",
        "20037.508",
    ]
