"""The Parquet archive (pure): stored events by event date, Hive-style keys, Snappy Parquet.

Each chunk of a file writes one object per event date it touches:
`events/date=YYYY-MM-DD/<file id>-<chunk>.parquet` in the archive bucket (Snappy). Names are fixed
by (file version, chunk), and the chunk size of a file version is recorded before its first run,
so a rerun overwrites the same objects instead of adding copies. DuckDB reads the layout with
`read_parquet('.../events/*/*.parquet', hive_partitioning = true)`; Athena with the DDL in
`deployments/athena/telemetry.sql` (partition projection on `date`).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tasks.common import keys_core
from tasks.telemetry.contract_core import ARCHIVE_PREFIX, DAY_MS, ENGINE_STATUSES
from tasks.telemetry.values_core import civil_from_days

SCHEMA = pa.schema(
    [  # type: ignore[arg-type]
        pa.field("vehicle_id", pa.string(), nullable=False),
        pa.field("timestamp", pa.timestamp("ms", tz="UTC"), nullable=False),
        pa.field("lat", pa.float64(), nullable=False),
        pa.field("lon", pa.float64(), nullable=False),
        pa.field("speed", pa.float64(), nullable=False),
        pa.field("engine_status", pa.string(), nullable=False),
        pa.field("distance_from_depot_km", pa.float64(), nullable=False),
        pa.field("heading", pa.float64()),
        pa.field("odometer", pa.float64()),
        pa.field("source_key", pa.string(), nullable=False),
        pa.field("source_line", pa.int64(), nullable=False),
    ]
)
_STATUS = pa.array(list(ENGINE_STATUSES), pa.string())


def archive_key(day: str, file_id: str, chunk: int) -> str:
    """`events/date=<day>/<file id>-<chunk>.parquet`."""
    return keys_core.join(
        ARCHIVE_PREFIX, keys_core.partition("date", day), f"{file_id}-{chunk:05d}.parquet"
    )


def day_label(day: int) -> str:
    """`YYYY-MM-DD` of days since 1970-01-01."""
    y, m, d = civil_from_days(np.array([day], np.int64))
    return f"{int(y[0]):04d}-{int(m[0]):02d}-{int(d[0]):02d}"


def events_table(
    *,
    vehicle_ids: pa.Array[Any],
    ms: np.ndarray[Any, Any],
    lat: np.ndarray[Any, Any],
    lon: np.ndarray[Any, Any],
    speed: np.ndarray[Any, Any],
    status: np.ndarray[Any, Any],
    distance_milli: np.ndarray[Any, Any],
    heading: np.ndarray[Any, Any],
    odometer: np.ndarray[Any, Any],
    source_key: str,
    lines: np.ndarray[Any, Any],
) -> pa.Table:
    """The archive rows of stored events (`heading`/`odometer` NaN where absent)."""
    n = len(ms)
    return pa.Table.from_arrays(
        [
            vehicle_ids,
            pa.array(ms, pa.int64()).cast(pa.timestamp("ms", tz="UTC")),
            pa.array(lat, pa.float64()),
            pa.array(lon, pa.float64()),
            pa.array(speed, pa.float64()),
            pc.take(_STATUS, pa.array(status.astype(np.int64))),
            pa.array(distance_milli / 1000.0, pa.float64()),
            pa.array(heading, pa.float64(), mask=np.isnan(heading)),
            pa.array(odometer, pa.float64(), mask=np.isnan(odometer)),
            pa.repeat(pa.scalar(source_key, pa.string()), n),
            pa.array(lines, pa.int64()),
        ],
        schema=SCHEMA,
    )


def split_days(table: pa.Table, ms: np.ndarray[Any, Any]) -> Iterator[tuple[str, pa.Table]]:
    """(`YYYY-MM-DD`, rows of that UTC date) for each date present."""
    days = np.floor_divide(ms, DAY_MS)
    first, last = int(days.min()), int(days.max())
    if first == last:
        yield day_label(first), table
        return
    for day in np.unique(days).tolist():
        rows = np.flatnonzero(days == day)
        yield day_label(int(day)), table.take(pa.array(rows))  # type: ignore[arg-type]


# Dictionary encoding pays for the repetitive strings only (it halves the write time and the
# size compared with dictionary-encoding every column). Snappy rather than zstd: measured on a
# 107k-row chunk, 48 ms vs 76 ms of CPU for 3.1 MB vs 2.0 MB: the flow's CPU (Lambda time) is
# worth more than the archive's bytes (Glacier after 7 days).
_DICTIONARY_COLUMNS = ["vehicle_id", "engine_status", "source_key"]
COMPRESSION = "snappy"


def parquet_bytes(table: pa.Table) -> bytes:
    """Snappy-compressed Parquet, statistics on, one row group."""
    out = io.BytesIO()
    pq.write_table(
        table,
        out,
        compression=COMPRESSION,  # type: ignore[arg-type]
        use_dictionary=_DICTIONARY_COLUMNS,  # type: ignore[arg-type]
        row_group_size=max(table.num_rows, 1),
    )
    return out.getvalue()
