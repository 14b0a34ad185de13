"""The sample generator: deterministic, shaped like the contract's trips, with every defect."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from tasks.common import dynamo
from tasks.trip_kpis.sample_core import generated_trips, sample_trips

DAYS = [date(2024, 4, 1), date(2024, 4, 2)]


def test_the_same_seed_gives_the_same_trips_and_another_seed_others() -> None:
    assert list(generated_trips(DAYS, 300, seed=5)) == list(generated_trips(DAYS, 300, seed=5))
    assert list(generated_trips(DAYS, 300, seed=5)) != list(generated_trips(DAYS, 300, seed=6))


def test_generated_trips_carry_legacy_items_and_each_defect_in_their_share() -> None:
    trips = list(generated_trips(DAYS, 5_000, seed=1, legacy_share=0.02, defect_share=0.01))
    n = len(trips)
    assert n == 10_000
    assert len({t["trip_id"] for t in trips}) == n
    shares = {
        "legacy": sum("pickup_date" not in t for t in trips) / n,
        "no fare": sum("fare_amount" not in t for t in trips) / n,
        "no estimate": sum("estimated_fare_amount" not in t for t in trips) / n,
        "fare as text": sum(isinstance(t.get("fare_amount"), str) for t in trips) / n,
        "negative fare": sum(
            isinstance(t.get("fare_amount"), Decimal) and t["fare_amount"] < 0 for t in trips
        )
        / n,
        "bad time": sum(t["pickup_datetime"] == "not a time" for t in trips) / n,
    }
    assert 0.015 < shares.pop("legacy") < 0.025
    for name, share in shares.items():
        assert 0.006 < share < 0.014, name


def test_pickup_dates_are_written_in_the_kpi_time_zone() -> None:
    trips = list(generated_trips([date(2024, 4, 1)], 500, seed=3, timezone="America/New_York"))
    current = [t for t in trips if "pickup_date" in t and t["pickup_datetime"] != "not a time"]
    assert {t["pickup_date"] for t in current} == {"2024-04-01"}
    # written in UTC: evening trips in New York are after midnight UTC
    assert {t["pickup_datetime"][:10] for t in current} == {"2024-04-01", "2024-04-02"}


def test_sample_items_are_storable_with_exact_numbers() -> None:
    for item in sample_trips():
        stored = dynamo.serialize(item)
        assert stored["trip_id"] == {"S": item["trip_id"]}
    assert dynamo.serialize({"f": Decimal("0.1")}) == {"f": {"N": "0.1"}}
