"""Pure KPI logic: a trip's date, one skip reason per trip, exact money, the file's bytes."""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tasks.trip_kpis import kpi_core as core
from tasks.trip_kpis.sample_core import (
    ABSENT,
    ANCHOR_TRIPS,
    SAMPLE_DAYS,
    generated_trips,
    sample_trips,
    trip,
)
from tests.trip_kpis.expected import (
    D1,
    D2,
    EMPTY,
    KPI_D1,
    KPI_D2_ALL_TRIPS,
    KPI_D2_INDEX_BEFORE_MIGRATION,
    KPI_EMPTY,
    with_generated_at,
)

UTC_ZONE = ZoneInfo("UTC")
NEW_YORK = ZoneInfo("America/New_York")
AT = datetime(2024, 3, 7, 3, 0, 5, tzinfo=UTC)
D = Decimal


def tally_of(items: Any, zone: ZoneInfo = UTC_ZONE) -> core.Tally:
    tally = core.Tally()
    tally.add(items, zone)
    return tally


def body(tally: core.Tally, day: str) -> bytes:
    return core.kpi_body(core.kpi_document(tally.day(day), "UTC", AT))


def test_the_anchor_days_give_the_hand_computed_files() -> None:
    everything = tally_of(ANCHOR_TRIPS)  # what a scan reads: legacy items included
    indexed = tally_of([t for t in ANCHOR_TRIPS if "pickup_date" in t])  # what the index holds
    stamp = "2024-03-07T03:00:05Z"
    assert body(everything, D1) == with_generated_at(KPI_D1, stamp)
    assert body(indexed, D2) == with_generated_at(KPI_D2_INDEX_BEFORE_MIGRATION, stamp)
    assert body(everything, D2) == with_generated_at(KPI_D2_ALL_TRIPS, stamp)
    assert body(everything, EMPTY) == with_generated_at(KPI_EMPTY, stamp)
    assert everything.unassigned == {core.NO_DATE: 2}
    assert everything.unassigned_examples == ["b05", "b06"]


def test_floats_would_get_the_anchor_days_wrong() -> None:
    # what the seed's pandas float sums and Python's rounding make of the same fares
    assert sum([0.1, 0.2, 10.4, 0.0]) == 10.700000000000001
    assert round((2.00 + 3.35) / 2, 2) == 2.67  # binary 5.35 is a hair below, so 2.675 is too
    assert sum([2.00, 3.35, 1.10, 0.05]) == 6.499999999999999
    assert round(1.625, 2) == 1.62  # an exact half rounds to even
    tally = tally_of(ANCHOR_TRIPS)
    indexed = tally_of([t for t in ANCHOR_TRIPS if "pickup_date" in t])
    d1 = core.kpi_document(tally.day(D1), "UTC", AT)
    before = core.kpi_document(indexed.day(D2), "UTC", AT)
    d2 = core.kpi_document(tally.day(D2), "UTC", AT)
    assert d1["total_fare"] == D("10.70")
    assert before["average_fare"] == D("2.68")
    assert (d2["total_fare"], d2["average_fare"]) == (D("6.50"), D("1.63"))


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        (trip("x", "2024-03-01T10:00:00Z", D("1"), D("1")), None),
        (trip("x", "2024-03-01T10:00:00Z", D("0"), D("0")), None),  # zero counts
        (trip("x", ABSENT, D("1"), D("1")), core.BAD_PICKUP_DATETIME),
        (trip("x", "", D("1"), D("1")), core.BAD_PICKUP_DATETIME),
        (trip("x", D("1709287200"), D("1"), D("1")), core.BAD_PICKUP_DATETIME),  # epoch number
        (trip("x", "03/01/2024 10:00", ABSENT, ABSENT), core.BAD_PICKUP_DATETIME),  # time first
        (trip("x", "2024-03-01T10:00:00Z", ABSENT, ABSENT), core.MISSING_FARE),  # fare next
        (trip("x", "2024-03-01T10:00:00Z", None, "text"), core.MISSING_FARE),
        (trip("x", "2024-03-01T10:00:00Z", D("1"), None), core.MISSING_ESTIMATED_FARE),
        (trip("x", "2024-03-01T10:00:00Z", "1.00", D("-1")), core.INVALID_FARE),  # before sign
        (trip("x", "2024-03-01T10:00:00Z", D("1"), True), core.INVALID_FARE),
        (trip("x", "2024-03-01T10:00:00Z", D("NaN"), D("1")), core.INVALID_FARE),
        (trip("x", "2024-03-01T10:00:00Z", D("-0.01"), D("1")), core.NEGATIVE_FARE),
        (trip("x", "2024-03-01T10:00:00Z", D("1"), D("-5")), core.NEGATIVE_FARE),
    ],
)
def test_each_trip_has_the_first_skip_reason_that_applies(item: Any, reason: str | None) -> None:
    assert core.skip_reason(item, UTC_ZONE) == reason


@pytest.mark.parametrize(
    ("item", "zone", "expected"),
    [
        # pickup_date wins, even over a pickup_datetime of another date
        (trip("x", "2024-03-05T10:00:00Z", 1, 1, "2024-03-01"), UTC_ZONE, ("2024-03-01", None)),
        (trip("x", "bad", 1, 1, "2024-03-01"), UTC_ZONE, ("2024-03-01", None)),
        # legacy: the date of pickup_datetime in the KPI zone (no zone = UTC)
        (trip("x", "2024-03-01T23:30:00", 1, 1), UTC_ZONE, ("2024-03-01", None)),
        (trip("x", "2024-03-01T23:30:00-05:00", 1, 1), UTC_ZONE, ("2024-03-02", None)),
        (trip("x", "2024-03-02T03:30:00Z", 1, 1), NEW_YORK, ("2024-03-01", None)),
        (trip("x", "2024-07-02T04:00:00+00:00", 1, 1), NEW_YORK, ("2024-07-02", None)),  # EDT
        (trip("x", "2024-03-02T03:30:00", 1, 1), NEW_YORK, ("2024-03-01", None)),  # naive = UTC
        # unassigned
        (trip("x", "not a time", 1, 1), UTC_ZONE, (None, core.NO_DATE)),
        (trip("x", ABSENT, 1, 1), UTC_ZONE, (None, core.NO_DATE)),
        (
            trip("x", "2024-03-01T10:00:00Z", 1, 1, "2024-13-01"),
            UTC_ZONE,
            (None, "invalid_pickup_date"),
        ),
    ],
)
def test_a_trips_date_is_its_pickup_date_else_its_pickup_time_in_the_kpi_zone(
    item: Any, zone: ZoneInfo, expected: tuple[str | None, str | None]
) -> None:
    assert core.date_of(item, zone) == expected


def test_every_trip_of_a_date_is_counted_or_skipped_and_every_item_is_in_one_place() -> None:
    items = sample_trips()
    tally = tally_of(items)
    assert sorted(tally.days) == [D1, D2, *(d.isoformat() for d in SAMPLE_DAYS)]
    for day in tally.days.values():
        assert day.counted + sum(day.skipped.values()) == day.trips, day.day
        if day.day != D2:  # every defect occurs on every other date
            assert all(day.skipped[r] > 0 for r in core.REASONS), day.day
    assert tally.unassigned == {core.NO_DATE: 4}  # b05, b06 and two generated legacy items
    assert tally.items == len(items) == sum(t.trips for t in tally.days.values()) + 4


def test_tallies_merged_in_any_order_give_the_same_files() -> None:
    items = sample_trips()
    whole = tally_of(items)
    shuffled = items[:]
    random.Random(7).shuffle(shuffled)
    merged = core.Tally()
    for n in range(4):  # like four scan segments, each in pages of 50
        part = core.Tally()
        segment = shuffled[n::4]
        for start in range(0, len(segment), 50):
            part.add(segment[start : start + 50], UTC_ZONE)
        merged.merge(part)
    for day in whole.days:
        assert body(merged, day) == body(whole, day)
    assert merged.unassigned == whole.unassigned
    assert merged.unassigned_examples == whole.unassigned_examples


def test_equal_amounts_are_written_alike_whatever_their_stored_form() -> None:
    a = tally_of([trip("1", "2024-03-01T01:00:00Z", D("12.5"), D("1"), D1)])
    b = tally_of([trip("1", "2024-03-01T01:00:00Z", D("12.500"), D("1.0"), D1)])
    assert body(a, D1) == body(b, D1)
    assert b'"max_fare": 12.50,' in body(b, D1)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (D("0"), "0.00"),
        (D("12.5"), "12.50"),
        (D("1E+2"), "100.00"),
        (D("1.005"), "1.005"),
        (D("1.0050"), "1.005"),
        (D("-2.7"), "-2.70"),
        (D("123456789012345678901234567890.12"), "123456789012345678901234567890.12"),
    ],
)
def test_money_is_exact_with_at_least_two_decimals(value: Decimal, text: str) -> None:
    assert format(core.money(value), "f") == text


def test_sums_of_far_apart_magnitudes_are_exact() -> None:
    items = [
        trip("1", "2024-03-01T01:00:00Z", D("1E+30"), D("1E+30"), D1),
        trip("2", "2024-03-01T02:00:00Z", D("0.01"), D("0.01"), D1),
    ]
    doc = core.kpi_document(tally_of(items).day(D1), "UTC", AT)
    assert format(doc["total_fare"], "f") == "1000000000000000000000000000000.01"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Fraction(2675, 1000), "2.68"),
        (Fraction(1625, 1000), "1.63"),
        (Fraction(2674999, 1000000), "2.67"),
        (Fraction(1, 3), "0.33"),
        (Fraction(2, 3), "0.67"),
        (Fraction(0), "0.00"),
    ],
)
def test_rounding_is_half_up_on_the_exact_value(value: Fraction, expected: str) -> None:
    assert format(core.round_half_up(value), "f") == expected


def test_mape_is_the_exact_mean_rounded_half_up() -> None:
    items = list(generated_trips([date(2024, 4, 1)], 500, seed=11))
    doc = core.kpi_document(tally_of(items).day("2024-04-01"), "UTC", AT)
    counted = [
        (Fraction(t["fare_amount"]), Fraction(t["estimated_fare_amount"]))
        for t in items
        if core.date_of(t, UTC_ZONE)[0] == "2024-04-01" and core.skip_reason(t, UTC_ZONE) is None
    ]
    terms = [abs(e - f) / f for f, e in counted if f > 0]
    assert doc["mape_trip_count"] == len(terms) > 400
    assert doc["mape_percent"] == core.round_half_up(sum(terms, Fraction(0)) * 100 / len(terms))
    assert Fraction(doc["total_fare"]) == sum((f for f, _ in counted), Fraction(0))


def test_the_file_refuses_floats_and_keeps_its_key_order() -> None:
    doc = core.kpi_document(tally_of(ANCHOR_TRIPS).day(D1), "UTC", AT)
    assert list(json.loads(core.kpi_body(doc))) == list(doc)
    with pytest.raises(TypeError, match="cannot write a float"):
        core.kpi_body({**doc, "total_fare": 0.1 + 0.2})


def test_same_content_ignores_only_generated_at() -> None:
    doc = core.kpi_document(tally_of(ANCHOR_TRIPS).day(D1), "UTC", AT)
    stored = core.kpi_body(doc)
    later = {**doc, "generated_at": "2024-03-08T03:00:00Z"}
    assert core.same_content(stored, later)
    assert not core.same_content(stored, {**later, "trip_count": 5})
    assert not core.same_content(None, doc)
    assert not core.same_content(b"not json", doc)
    assert not core.same_content(b"[1]", doc)
    assert not core.same_content(stored.replace(b"  ", b" "), later)  # bytes, not just values


def test_kpi_key_is_a_hive_date_partition_that_cannot_escape() -> None:
    assert core.kpi_key("2024-03-01") == "kpis/date=2024-03-01/kpi.json"
    assert core.kpi_key("../x") == "kpis/date=..%2Fx/kpi.json"


def test_merging_tallies_of_different_dates_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot merge the tally of 2024-03-02"):
        core.DayTally("2024-03-01").merge(core.DayTally("2024-03-02"))
