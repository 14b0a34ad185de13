"""Trip KPIs, pure: a trip's pickup date, which trips count, exact tallies, the KPI file.

The contract is `shared/spec/trip-kpis.md`; in short:

- **Date.** A trip's date is its `pickup_date` (written by producers in the KPI time zone), else
  the calendar date of its `pickup_datetime` in the KPI time zone (a time without a zone is
  UTC). An item with neither — or with a `pickup_date` that is not a `YYYY-MM-DD` date — is
  *unassigned*: counted once per run in the run report, in no date.
- **Which trips count.** Both fares present and finite numbers ≥ 0 (zero counts). Every other
  trip of the date is skipped under exactly one reason, checked in the order of `REASONS`.
- **Money is exact.** Items come from the DynamoDB layer with numbers as `Decimal`; sums, maxima
  and minima are exact `Decimal`s (an unlimited-precision context: nothing is rounded), averages
  are rounded half-up to the cent from the exact quotient. Money is written as a JSON number
  with at least two decimals (`0.1 + 0.2` → `0.30`, `12.5` → `12.50`, `1.005` stays `1.005`),
  so equal amounts are written alike whatever the order the trips were read in.
- **MAPE** (mean absolute percentage error of the estimate) is over counted trips with a fare
  above 0 (a percentage of 0 is undefined): each trip's `|estimate − fare| / fare` is rounded
  to 40 significant digits, the terms are summed exactly, and the mean × 100 is rounded
  half-up to 2 decimals: the result does not depend on the order of the trips.

Tallies are folded page by page (a DynamoDB page is ≤ 1 MB): each page is classified, grouped
by date and reduced with the C-level `sum`/`max`/`min`, so memory is bounded by the number of
dates, and partial tallies (pages, scan segments) merge exactly in any order. Exact decimal
arithmetic has no vectorised (numpy/Arrow) form; the per-item classification is a few dict
lookups, far below the cost of reading the item.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import (
    MAX_EMAX,
    MAX_PREC,
    MIN_EMIN,
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    InvalidOperation,
    localcontext,
)
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from tasks.common import keys_core

# The skip reasons of the contract, in the order they are checked.
BAD_PICKUP_DATETIME = "bad_pickup_datetime"
MISSING_FARE = "missing_fare"
MISSING_ESTIMATED_FARE = "missing_estimated_fare"
INVALID_FARE = "invalid_fare"
NEGATIVE_FARE = "negative_fare"
REASONS = (BAD_PICKUP_DATETIME, MISSING_FARE, MISSING_ESTIMATED_FARE, INVALID_FARE, NEGATIVE_FARE)

# Why an item has no date (run report only).
NO_DATE = "no_pickup_date_or_datetime"
INVALID_PICKUP_DATE = "invalid_pickup_date"

INDEX_NAME = "pickup_date-index"
KPI_PREFIX = "kpis"
KPI_FILE = "kpi.json"
# What the KPIs read of an item (the index projects exactly these).
ATTRIBUTES = ("trip_id", "pickup_date", "pickup_datetime", "fare_amount", "estimated_fare_amount")
EXAMPLES = 5  # unassigned trip ids kept for the report (the smallest, so any read order agrees)

# Additions, subtractions and comparisons of DynamoDB numbers (≤ 38 digits, 1E-130..1E+126)
# are exact in this context: precision is unbounded, and an inexact result would raise.
EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN, traps=[InvalidOperation])
RATIO = Context(prec=40, rounding=ROUND_HALF_EVEN)
_ZERO = Decimal(0)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

Item = Mapping[str, Any]


# --- dates ----------------------------------------------------------------------------------


def parse_pickup(value: Any, zone: ZoneInfo) -> date | None:
    """The calendar date in `zone` of an ISO-8601 `pickup_datetime` (no zone = UTC); None if
    it is missing, not a string, or not an ISO-8601 date-time."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo("UTC"))
    return moment.astimezone(zone).date()


def valid_date(text: Any) -> str | None:
    """`text` if it is a real `YYYY-MM-DD` date, else None."""
    if not isinstance(text, str) or not _DATE.fullmatch(text):
        return None
    try:
        date.fromisoformat(text)
    except ValueError:
        return None
    return text


def date_of(item: Item, zone: ZoneInfo) -> tuple[str | None, str | None]:
    """`(date, None)` of a trip, or `(None, why)` when it is unassigned."""
    if "pickup_date" in item and item["pickup_date"] is not None:
        day = valid_date(item["pickup_date"])
        return (day, None) if day else (None, INVALID_PICKUP_DATE)
    when = parse_pickup(item.get("pickup_datetime"), zone)
    return (when.isoformat(), None) if when else (None, NO_DATE)


# --- which trips count ----------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, Decimal) and value.is_finite()


def skip_reason(item: Item, zone: ZoneInfo) -> str | None:
    """The contract's skip reason of a trip, None if it counts."""
    if parse_pickup(item.get("pickup_datetime"), zone) is None:
        return BAD_PICKUP_DATETIME
    fare, estimate = item.get("fare_amount"), item.get("estimated_fare_amount")
    if fare is None:
        return MISSING_FARE
    if estimate is None:
        return MISSING_ESTIMATED_FARE
    if not (_is_number(fare) and _is_number(estimate)):
        return INVALID_FARE
    if fare < 0 or estimate < 0:
        return NEGATIVE_FARE
    return None


# --- tallies --------------------------------------------------------------------------------


def _pick(a: Decimal | None, b: Decimal | None, choose: Any) -> Decimal | None:
    if a is None:
        return b
    if b is None:
        return a
    result: Decimal = choose(a, b)
    return result


@dataclass
class DayTally:
    """Exact aggregates of one date's trips; `trips = counted + sum(skipped)`."""

    day: str
    trips: int = 0
    counted: int = 0
    total: Decimal = _ZERO
    estimated_total: Decimal = _ZERO
    max_fare: Decimal | None = None
    min_fare: Decimal | None = None
    ape_sum: Decimal = _ZERO  # Σ |estimate − fare| / fare over fares > 0 (40 digits each)
    ape_trips: int = 0
    skipped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REASONS, 0))

    def add(self, items: Iterable[Item], zone: ZoneInfo) -> None:
        """Classify and fold trips of this date."""
        fares: list[Decimal] = []
        estimates: list[Decimal] = []
        for item in items:
            self.trips += 1
            reason = skip_reason(item, zone)
            if reason is None:
                fares.append(item["fare_amount"])
                estimates.append(item["estimated_fare_amount"])
            else:
                self.skipped[reason] += 1
        if not fares:
            return
        with localcontext(EXACT):
            self.counted += len(fares)
            self.total += sum(fares, _ZERO)
            self.estimated_total += sum(estimates, _ZERO)
            self.max_fare = _pick(self.max_fare, max(fares), max)
            self.min_fare = _pick(self.min_fare, min(fares), min)
            positive = [(f, e) for f, e in zip(fares, estimates, strict=True) if f > 0]
            terms = [RATIO.divide(abs(e - f), f) for f, e in positive]
            self.ape_sum += sum(terms, _ZERO)
            self.ape_trips += len(terms)

    def merge(self, other: DayTally) -> DayTally:
        """Add another tally of the same date (another page or scan segment)."""
        if other.day != self.day:
            raise ValueError(f"cannot merge the tally of {other.day} into {self.day}")
        with localcontext(EXACT):
            self.trips += other.trips
            self.counted += other.counted
            self.total += other.total
            self.estimated_total += other.estimated_total
            self.max_fare = _pick(self.max_fare, other.max_fare, max)
            self.min_fare = _pick(self.min_fare, other.min_fare, min)
            self.ape_sum += other.ape_sum
            self.ape_trips += other.ape_trips
        for reason, n in other.skipped.items():
            self.skipped[reason] += n
        return self


@dataclass
class Tally:
    """Per-date tallies of what a run read, plus the unassigned items."""

    days: dict[str, DayTally] = field(default_factory=dict)
    unassigned: dict[str, int] = field(default_factory=dict)
    unassigned_examples: list[str] = field(default_factory=list)

    def add(self, items: Iterable[Item], zone: ZoneInfo) -> int:
        """Fold one page of items (any dates); returns how many were read."""
        by_day: dict[str, list[Item]] = {}
        n = 0
        for item in items:
            n += 1
            day, why = date_of(item, zone)
            if day is None:
                self._unassigned(why or NO_DATE, str(item.get("trip_id", "")))
            else:
                by_day.setdefault(day, []).append(item)
        for day, day_items in by_day.items():
            self.day(day).add(day_items, zone)
        return n

    def day(self, day: str) -> DayTally:
        """The tally of `day` (created empty if nothing was read for it)."""
        found = self.days.get(day)
        if found is None:
            found = self.days[day] = DayTally(day)
        return found

    def _unassigned(self, why: str, trip_id: str) -> None:
        self.unassigned[why] = self.unassigned.get(why, 0) + 1
        self.unassigned_examples = sorted({*self.unassigned_examples, trip_id})[:EXAMPLES]

    def merge(self, other: Tally) -> Tally:
        for day, theirs in other.days.items():
            self.day(day).merge(theirs)
        for why, n in other.unassigned.items():
            self.unassigned[why] = self.unassigned.get(why, 0) + n
        merged = {*self.unassigned_examples, *other.unassigned_examples}
        self.unassigned_examples = sorted(merged)[:EXAMPLES]
        return self

    @property
    def items(self) -> int:
        """Every item read: the trips of every date plus the unassigned ones."""
        return sum(t.trips for t in self.days.values()) + sum(self.unassigned.values())


# --- the KPI file ---------------------------------------------------------------------------


def round_half_up(value: Fraction, places: int = 2) -> Decimal:
    """`value` (≥ 0) rounded half-up to `places` decimals, exactly."""
    if value < 0:
        raise ValueError(f"{value} is negative")
    scaled = math.floor(value * 10**places + Fraction(1, 2))
    return Decimal(scaled).scaleb(-places)


def money(value: Decimal) -> Decimal:
    """An exact amount with at least two decimals and no other trailing zeros."""
    with localcontext(EXACT):
        normal = value.normalize()
        exponent = normal.as_tuple().exponent
        if isinstance(exponent, int) and exponent > -2:
            return normal.quantize(Decimal("0.01"))
        return normal


def kpi_document(tally: DayTally, timezone: str, generated_at: datetime) -> dict[str, Any]:
    """The KPI file of one date, its keys in a fixed order (see docs/trip_kpis.md)."""
    counted = tally.counted
    has = counted > 0
    average = round_half_up(Fraction(tally.total) / counted) if has else None
    with localcontext(EXACT):
        difference = tally.estimated_total - tally.total
    mape = (
        round_half_up(Fraction(tally.ape_sum) * 100 / tally.ape_trips) if tally.ape_trips else None
    )
    return {
        "date": tally.day,
        "timezone": timezone,
        "trip_count": counted,
        "total_fare": money(tally.total) if has else None,
        "average_fare": average,
        "max_fare": money(tally.max_fare) if tally.max_fare is not None else None,
        "min_fare": money(tally.min_fare) if tally.min_fare is not None else None,
        "total_estimated_fare": money(tally.estimated_total) if has else None,
        "estimated_minus_actual": money(difference) if has else None,
        "mape_percent": mape,
        "mape_trip_count": tally.ape_trips,
        "trips_read": tally.trips,
        "skipped": dict(tally.skipped),
        "generated_at": generated_at.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def render(value: Any, level: int = 0) -> str:
    """JSON text of a KPI document: keys in document order, 2-space indent, `Decimal`s as
    exact JSON numbers; a float is refused (it is how `0.30000000000000004` gets in)."""
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        pad = "  " * (level + 1)
        members = [f"{pad}{json.dumps(str(k))}: {render(v, level + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(members) + "\n" + "  " * level + "}"
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} is not a finite number")
        return format(value, "f")
    if value is None or isinstance(value, bool | int | str):
        return json.dumps(value, ensure_ascii=False)
    raise TypeError(f"cannot write a {type(value).__name__} into a KPI file")


def kpi_body(doc: Mapping[str, Any]) -> bytes:
    """The bytes of a KPI file (UTF-8, trailing newline)."""
    return (render(doc) + "\n").encode()


def same_content(stored: bytes | None, doc: Mapping[str, Any]) -> bool:
    """Whether `stored` is `doc` except for `generated_at`: a rerun on unchanged data keeps
    the stored file, byte for byte, with the time it was first generated."""
    if stored is None:
        return False
    try:
        previous = json.loads(stored)
    except ValueError:
        return False
    if not isinstance(previous, dict) or not isinstance(previous.get("generated_at"), str):
        return False
    return kpi_body({**doc, "generated_at": previous["generated_at"]}) == stored


def kpi_key(day: str) -> str:
    """`kpis/date=YYYY-MM-DD/kpi.json` (the value escaped: it cannot leave `kpis/`)."""
    return keys_core.join(KPI_PREFIX, keys_core.partition("date", day), KPI_FILE)
