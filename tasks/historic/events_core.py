"""The event table every source's transform produces, and how its rows reconcile (pure).

One row per ARR/DEP event. `day` is the service date (days since 1970-01-01) and `t` the event's
Eastern wall-clock time in seconds after that date's midnight (it may pass 24 h); the CSV's
`event_time` is `day * 86400 + t`, written without an offset. `_row` is the event's source row
in the month's input (file order, then line order): the last tie-breaker of the output order,
so the same input always gives the same bytes.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

_FIELDS: list[pa.Field[Any]] = [
    pa.field("day", pa.int32()),
    pa.field("route_id", pa.string()),
    pa.field("trip_id", pa.string()),
    pa.field("direction_id", pa.int64()),
    pa.field("stop_id", pa.string()),
    pa.field("stop_sequence", pa.int64()),
    pa.field("vehicle_id", pa.string()),
    pa.field("vehicle_label", pa.string()),
    pa.field("event_type", pa.string()),
    pa.field("t", pa.int64()),
    pa.field("scheduled_tt", pa.int64()),
    pa.field("vehicle_consist", pa.string()),
    pa.field("_row", pa.int64()),
]
EVENT_SCHEMA = pa.schema(_FIELDS)


@dataclass(frozen=True)
class Transformed:
    """A month's rows as events, and what happened to every row.

    `source_rows = rows_kept + sum(rows_rejected) + rows_excluded_by_route`. `notes` count
    facts worth knowing that lose nothing (generated ferry trip ids, unmapped ferry names).
    """

    events: pa.Table
    source_rows: int
    rows_rejected: dict[str, int]
    rows_excluded_by_route: int = 0
    events_missing: dict[str, int] = field(default_factory=dict)
    notes: dict[str, int] = field(default_factory=dict)

    @property
    def rows_kept(self) -> int:
        return self.source_rows - sum(self.rows_rejected.values()) - self.rows_excluded_by_route


def ints_or_null(values: np.ndarray, valid: np.ndarray) -> pa.Array[Any]:
    """int64 values with nulls where not valid."""
    out: pa.Array[Any] = pa.array(
        np.where(valid, values, 0).astype(np.int64), pa.int64(), mask=~np.asarray(valid, bool)
    )
    return out


def null_strings(n: int) -> pa.Array[Any]:
    out: pa.Array[Any] = pa.nulls(n, pa.string())
    return out


def null_ints(n: int) -> pa.Array[Any]:
    out: pa.Array[Any] = pa.nulls(n, pa.int64())
    return out


def event_table(columns: dict[str, Any]) -> pa.Table:
    """The event table from its columns (those not given are all null)."""
    n = len(columns["day"])
    arrays = []
    for f in EVENT_SCHEMA:
        value = columns.get(f.name)
        if value is None:
            arrays.append(pa.nulls(n, f.type))
        elif isinstance(value, pa.Array | pa.ChunkedArray):
            arrays.append(value.cast(f.type))
        else:
            arrays.append(pa.array(value, f.type))
    return pa.Table.from_arrays(arrays, schema=EVENT_SCHEMA)


def first_failures(
    checks: list[tuple[str, np.ndarray]], n: int
) -> tuple[np.ndarray, dict[str, int]]:
    """Rows passing every check, and the count of rows failing under the first failed check."""
    keep = np.ones(n, dtype=bool)
    counts: dict[str, int] = {}
    for reason, failed in checks:
        hit = keep & failed
        if hit.any():
            counts[reason] = int(hit.sum())
        keep &= ~hit
    return keep, counts


def tally(labels: list[str]) -> dict[str, int]:
    """Counts of labels, sorted by label."""
    return dict(sorted(Counter(labels).items()))
