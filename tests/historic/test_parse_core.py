"""Text → integers, dates and times, as the ArcGIS exports spell them."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from tasks.historic import parse_core


def test_every_date_spelling_of_the_exports_parses() -> None:
    stamps = parse_core.parse_stamps(
        pa.array(
            [
                "2024-02-07",
                "2024/02/07 00:00:00+00",  # ArcGIS Hub CSV
                "2024-06-04T13:08:00Z",
                "1900-01-02 05:08:00.000",  # bus placeholder
                "2/7/2024",
                "2024-02-07 05:00:00-05:00",
            ]
        )
    )
    assert stamps.valid.tolist() == [True] * 6
    assert parse_core.format_times(stamps.naive).to_pylist() == [
        "2024-02-07 00:00:00",
        "2024-02-07 00:00:00",
        "2024-06-04 13:08:00",
        "1900-01-02 05:08:00",
        "2024-02-07 00:00:00",
        "2024-02-07 05:00:00",
    ]
    assert stamps.has_time.tolist() == [False, True, True, True, False, True]
    assert stamps.has_offset.tolist() == [False, True, True, False, False, True]
    assert stamps.offset.tolist() == [0, 0, 0, 0, 0, -18000]


def test_impossible_or_blank_dates_are_not_valid() -> None:
    stamps = parse_core.parse_stamps(
        pa.array(["2023-02-29", "2024-13-01", "2024-01-01 24:00:00", "", None, "yesterday"])
    )
    assert stamps.valid.tolist() == [False] * 6
    assert stamps.day.tolist() == [0] * 6


def test_written_offsets_become_eastern_wall_clock_time() -> None:
    stamps = parse_core.parse_stamps(
        pa.array(["2024-06-04T13:08:00Z", "2024-01-10 13:08:00+00", "2024-01-10 08:08:00"])
    )
    assert parse_core.format_times(parse_core.eastern_wall_clock(stamps)).to_pylist() == [
        "2024-06-04 09:08:00",  # EDT
        "2024-01-10 08:08:00",  # EST
        "2024-01-10 08:08:00",  # no offset: already Eastern
    ]


def test_integers_blank_is_missing_and_text_is_bad() -> None:
    ints = parse_core.parse_ints(pa.array(["1", "07", " 3 ", "2.0", "x", "", None, "1.5"]))
    assert ints.values.tolist() == [1, 7, 3, 2, 0, 0, 0, 0]
    assert ints.valid.tolist() == [True, True, True, True, False, False, False, False]
    assert ints.bad.tolist() == [False, False, False, False, True, False, False, True]
    plain = parse_core.parse_ints(pa.array(["86401", None, "-5"]))
    assert (plain.values.tolist(), plain.valid.tolist(), plain.bad.tolist()) == (
        [86401, 0, -5],
        [True, False, True],
        [False, False, False],
    )


def test_times_past_midnight_stay_on_the_next_calendar_day() -> None:
    assert parse_core.format_times(np.array([19760 * 86400 + 90061])).to_pylist() == [
        "2024-02-08 01:01:01"
    ]
    assert parse_core.format_dates(np.array([19760, 19761])).to_pylist() == [
        "2024-02-07",
        "2024-02-08",
    ]
