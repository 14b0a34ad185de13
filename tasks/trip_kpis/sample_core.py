"""Sample trips (pure, seeded): a hand-checked pair of days and any number of generated ones.

Items are plain DynamoDB items (numbers as `Decimal`, written through `tasks.common.dynamo`).

- `ANCHOR_TRIPS`: 2024-03-01 and 2024-03-02, small enough to compute by hand (the tests do):
  fares whose float sum is off (`0.1 + 0.2`), averages that need half-up rounding (2.675 →
  2.68, 1.625 → 1.63), a zero fare, a time with an offset that moves it to another date, one
  trip for every skip reason, and legacy items without `pickup_date` (two with a date, two
  unassigned).
- `generated_trips`: `per_day` trips per date from a seed, like a taxi service's completed
  trips (~350-byte items), with a fixed share of legacy items and of each defect.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

Item = dict[str, Any]
ANCHOR_DAYS = (date(2024, 3, 1), date(2024, 3, 2))
SAMPLE_DAYS = (date(2024, 3, 3), date(2024, 3, 4), date(2024, 3, 5))
SAMPLE_PER_DAY = 200
SAMPLE_SEED = 2


def trip(
    trip_id: str,
    pickup_datetime: Any,
    fare: Any,
    estimate: Any,
    pickup_date: str | None = None,
    **extra: Any,
) -> Item:
    """One item; `ABSENT` leaves an attribute out, `pickup_date=None` makes a legacy item."""
    item: Item = {"trip_id": trip_id}
    for name, value in (
        ("pickup_date", pickup_date),
        ("pickup_datetime", pickup_datetime),
        ("fare_amount", fare),
        ("estimated_fare_amount", estimate),
    ):
        if value is not ... and not (name == "pickup_date" and value is None):
            item[name] = value
    item.update(extra)
    return item


D = Decimal
ABSENT: Any = ...  # an attribute the item does not have
D1, D2 = (d.isoformat() for d in ANCHOR_DAYS)

ANCHOR_TRIPS: tuple[Item, ...] = (
    # 2024-03-01, counted: 0.1 + 0.2 + 10.4 + 0 = 10.70 (float: 10.700000000000001),
    # average 2.675 → 2.68 half-up (float rounding says 2.67)
    trip("a01", "2024-03-01T08:00:00Z", D("0.1"), D("0.2"), D1),
    trip("a02", "2024-03-01T09:30:00+01:00", D("0.2"), D("0.20"), D1),
    trip("a03", "2024-03-01T23:59:59", D("10.4"), D("10"), D1),  # no zone: UTC
    trip("a04", "2024-03-02T00:30:00+02:00", D("0"), D("3.00"), D1),  # 22:30 UTC on the 1st
    # 2024-03-01, skipped: one per reason, and the order of the checks
    trip("a05", "yesterday at noon", D("9"), D("9"), D1),  # bad_pickup_datetime
    trip("a06", ABSENT, None, ABSENT, D1),  # no time, NULL fare: bad_pickup_datetime first
    trip("a07", "2024-03-01T10:00:00Z", ABSENT, D("5"), D1),  # missing_fare
    trip("a08", "2024-03-01T10:05:00Z", None, D("5"), D1),  # NULL fare: missing_fare
    trip("a09", "2024-03-01T10:10:00Z", D("5"), ABSENT, D1),  # missing_estimated_fare
    trip("a10", "2024-03-01T11:00:00Z", "12.50", D("12.5"), D1),  # invalid_fare (text)
    trip("a11", "2024-03-01T11:30:00Z", D("12"), "n/a", D1),  # invalid_fare (estimate)
    trip("a12", "2024-03-01T12:00:00Z", D("-3"), D("3"), D1),  # negative_fare
    # 2024-03-02: two current trips, two legacy ones with a date, two legacy unassigned.
    # Query before the migration: 2.00 + 3.35 = 5.35, average 2.675 → 2.68;
    # after it (and in a rebuild): + 1.10 + 0.05 = 6.50, average 1.625 → 1.63.
    trip("b01", "2024-03-02T10:00:00Z", D("2.00"), D("2.50"), D2),
    trip("b02", "2024-03-02T11:00:00Z", D("3.35"), D("3"), D2),
    trip("b03", "2024-03-02T11:00:00-05:00", D("1.10"), D("1"), None),  # legacy, 16:00 UTC
    trip("b04", "2024-03-01T23:30:00-05:00", D("0.05"), D("0.05"), None),  # legacy, 04:30 UTC
    trip("b05", "not a time", D("4"), D("4"), None),  # legacy, unassigned
    trip("b06", ABSENT, D("4"), D("4"), None),  # legacy, unassigned
)

_VENDORS = ("CMT", "VTS", "DDS")
_PAYMENTS = ("card", "cash", "app")


def _cents(n: int) -> Decimal:
    return Decimal(n).scaleb(-2)


def generated_trips(
    days: Sequence[date],
    per_day: int,
    seed: int = SAMPLE_SEED,
    timezone: str = "UTC",
    legacy_share: float = 0.02,
    defect_share: float = 0.01,
) -> Iterator[Item]:
    """`per_day` completed trips for each date, deterministic for a seed.

    Pickup times are spread over the date in `timezone` and written in UTC (`...Z`);
    `pickup_date` is written in `timezone`, except for a `legacy_share` of trips. Each of five
    defects (missing fare, missing estimate, fare as text, negative fare, unparseable time)
    hits a `defect_share` of trips. Fares are whole cents; a tenth of them end in .1/.2/.3
    cents' worth of dimes, whose float sums are off.
    """
    rng = random.Random(seed)  # noqa: S311  # sample data, not secrets
    zone, utc = ZoneInfo(timezone), ZoneInfo("UTC")
    for day in days:
        midnight = datetime.combine(day, time(), tzinfo=zone)
        for n in range(per_day):
            pickup = midnight + timedelta(seconds=rng.randrange(86_400))
            fare_cents = (
                rng.choice((10, 20, 30)) if rng.random() < 0.1 else rng.randrange(250, 9_000)
            )
            spread = 300 if fare_cents >= 250 else 5  # estimates are within $3 (5¢ for dimes)
            estimate_cents = max(0, fare_cents + rng.randrange(-spread, spread))
            fare: Any = _cents(fare_cents)
            estimate: Any = _cents(estimate_cents)
            when: Any = pickup.astimezone(utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            roll = rng.random()
            if roll < defect_share:
                fare = ABSENT
            elif roll < 2 * defect_share:
                estimate = ABSENT
            elif roll < 3 * defect_share:
                fare = str(fare)
            elif roll < 4 * defect_share:
                fare = -fare
            elif roll < 5 * defect_share:
                when = "not a time"
            legacy = rng.random() < legacy_share
            minutes = rng.randrange(3, 60)
            yield trip(
                f"{day:%Y%m%d}-{n:06d}",
                when,
                fare,
                estimate,
                None if legacy else day.isoformat(),
                dropoff_datetime=(pickup + timedelta(minutes=minutes)).astimezone(utc).isoformat(),
                vendor_id=rng.choice(_VENDORS),
                passenger_count=rng.randrange(1, 5),
                trip_distance=_cents(rng.randrange(30, 2_500)),
                pickup_zone=f"zone-{rng.randrange(1, 264):03d}",
                dropoff_zone=f"zone-{rng.randrange(1, 264):03d}",
                payment_type=rng.choice(_PAYMENTS),
                tip_amount=_cents(rng.randrange(0, 1_500)),
                driver_id=f"driver-{rng.randrange(1, 5_000):05d}",
            )


def sample_trips(timezone: str = "UTC") -> list[Item]:
    """The demo's and tests' sample: the anchor days and three generated days (5 % legacy
    items, 2 % of each defect)."""
    generated = generated_trips(
        SAMPLE_DAYS, SAMPLE_PER_DAY, timezone=timezone, legacy_share=0.05, defect_share=0.02
    )
    return [*ANCHOR_TRIPS, *generated]
