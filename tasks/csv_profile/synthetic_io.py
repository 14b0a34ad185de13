"""Seeded synthetic CSVs with injected bad values and their exact expected counts.

Used by the demo (the "large" sample), the tests and bench/csv_profile.py. Five columns like the
peers' benchmark file: `id` (int), `name` (8 names), `amount` (float, 2 decimals), `age` (int),
`signup_date` (ISO date). Injected, at `bad_rate` each: `N/A` in amount (missing), `abc` in age
(invalid int), `not a date` in signup_date (invalid date). Rows are built with Arrow kernels and
written a million at a time, so a 1 GB file takes seconds and little memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

HEADER = b"id,name,amount,age,signup_date\n"
NAMES = ("alice", "bob", "carol", "dave", "eve", "frank", "grace", "heidi")
BYTES_PER_ROW = 33  # measured average, to size a file in bytes
_EPOCH_2020 = 18262  # days from 1970-01-01 to 2020-01-01


@dataclass
class Injected:
    """Exact counts of what a synthetic file holds."""

    rows: int = 0
    amount_missing: int = 0
    age_invalid: int = 0
    date_invalid: int = 0
    bytes: int = 0
    extra: dict[str, int] = field(default_factory=dict)


def _chunk(start: int, n: int, rng: np.random.Generator, bad_rate: float) -> tuple[bytes, Injected]:
    ids = pc.cast(pa.array(np.arange(start + 1, start + n + 1)), pa.string())
    names = pa.array(np.array(NAMES)[rng.integers(0, len(NAMES), n)])
    cents = rng.integers(0, 1_000_000, n)
    amount = pc.cast(pa.array(cents / 100.0), pa.string())
    age = pc.cast(pa.array(rng.integers(18, 90, n)), pa.string())
    days = pa.array(_EPOCH_2020 + rng.integers(0, 1500, n), type=pa.int32())
    dates = pc.cast(pc.cast(days, pa.date32()), pa.string())
    bad_amount = rng.random(n) < bad_rate
    bad_age = rng.random(n) < bad_rate
    bad_date = rng.random(n) < bad_rate
    amount = pc.if_else(pa.array(bad_amount), "N/A", amount)
    age = pc.if_else(pa.array(bad_age), "abc", age)
    dates = pc.if_else(pa.array(bad_date), "not a date", dates)
    rows = pc.binary_join_element_wise(ids, names, amount, age, dates, ",")
    lines = pc.binary_join_element_wise(rows, pa.scalar(""), "\n")
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)
    data = lines.buffers()[2].to_pybytes()[offsets[0] : offsets[len(lines)]]
    counts = Injected(n, int(bad_amount.sum()), int(bad_age.sum()), int(bad_date.sum()), len(data))
    return data, counts


def write_csv(
    path: Path, rows: int, seed: int = 4, bad_rate: float = 0.001, chunk_rows: int = 1_000_000
) -> Injected:
    """Write `rows` synthetic rows (plus the header) to `path`; returns the exact counts."""
    rng = np.random.default_rng(seed)
    total = Injected(bytes=len(HEADER))
    with path.open("wb") as out:
        out.write(HEADER)
        for start in range(0, rows, chunk_rows):
            data, counts = _chunk(start, min(chunk_rows, rows - start), rng, bad_rate)
            out.write(data)
            total.rows += counts.rows
            total.amount_missing += counts.amount_missing
            total.age_invalid += counts.age_invalid
            total.date_invalid += counts.date_invalid
            total.bytes += counts.bytes
    return total
