"""311 records → a typed Arrow table with a stable schema; month partitions merged by unique_key.

Pure: records and tables in, tables, bytes and keys out. The schema is explicit and never inferred:
- the four dates are `timestamp[ms]` without zone (Socrata's floating NYC-local timestamps);
- coordinates (`latitude`, `longitude`, `x/y_coordinate_state_plane`) are float64 parsed from
  the strings Socrata sends;
- every other field stays text, codes included: `unique_key`, `incident_zip` and `bbl` keep
  leading zeros, `council_district`, `police_precinct` (`Precinct 84`) and `community_board`
  (`01 MANHATTAN`) are labels, not quantities;
- `location` (an object on the API) is stored as compact JSON text with sorted keys;
- fields the API adds later go to `extra` (JSON text of the unknown fields), never dropped;
- a value that does not parse is not silently nulled: the typed column is null and the original
  text is kept in `invalid_values` (JSON text `{field: text}`), and the run counts it;
- a record without `unique_key` or with a missing/invalid `created_date` cannot be placed in a
  partition: it is rejected with a reason (see `Reject`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Final, cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tasks.common import keys_core

TIMESTAMP_TYPE = pa.timestamp("ms")
TIMESTAMP_FIELDS = ("created_date", "closed_date", "due_date", "resolution_action_updated_date")
FLOAT_FIELDS = ("x_coordinate_state_plane", "y_coordinate_state_plane", "latitude", "longitude")
# Source fields in the dataset's column order; all but the typed ones above are text.
SOURCE_FIELDS = (
    "unique_key", "created_date", "closed_date", "agency", "agency_name", "complaint_type",
    "descriptor", "descriptor_2", "location_type", "incident_zip", "incident_address",
    "street_name", "cross_street_1", "cross_street_2", "intersection_street_1",
    "intersection_street_2", "address_type", "city", "landmark", "facility_type", "status",
    "due_date", "resolution_description", "resolution_action_updated_date", "community_board",
    "council_district", "police_precinct", "bbl", "borough", "x_coordinate_state_plane",
    "y_coordinate_state_plane", "open_data_channel_type", "park_facility_name", "park_borough",
    "vehicle_type", "taxi_company_borough", "taxi_pick_up_location", "bridge_highway_name",
    "bridge_highway_direction", "road_ramp", "bridge_highway_segment", "latitude", "longitude",
    "location",
)  # fmt: skip
EXTRA = "extra"
INVALID = "invalid_values"


def _field_type(name: str) -> pa.DataType:
    if name in TIMESTAMP_FIELDS:
        return TIMESTAMP_TYPE
    if name in FLOAT_FIELDS:
        return pa.float64()
    return pa.string()


SCHEMA = pa.schema(
    [pa.field(name, _field_type(name)) for name in SOURCE_FIELDS]
    + [pa.field(EXTRA, pa.string()), pa.field(INVALID, pa.string())]
)
_KNOWN = frozenset(SOURCE_FIELDS)
# Socrata's floating timestamp text; anything else (a zone suffix included) is invalid.
_TIMESTAMP_PATTERN = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?"
PARQUET_COMPRESSION: Final = "zstd"
ROW_GROUP_ROWS = 32_768  # rows sorted and encoded at a time: bounds the memory of a month rewrite

RAW_PREFIX = "raw"
PROCESSED_PREFIX = "processed"
REJECTS_PREFIX = "processed/_rejects"  # `_` prefix: never read as part of the Athena table
PARTITION_FILE = "data.parquet"


class SchemaError(ValueError):
    """A stored partition does not fit the schema (it would lose columns if rewritten)."""


@dataclass(frozen=True)
class Reject:
    """A record that cannot enter the processed table, and why."""

    reason: str
    record: Mapping[str, Any]

    def as_dict(self) -> dict[str, Any]:
        """JSON form of the rejects file."""
        return {"reason": self.reason, "record": dict(self.record)}


@dataclass(frozen=True)
class Parsed:
    """A batch of records as a typed table, plus what did not fit."""

    table: pa.Table
    rejects: list[Reject]
    invalid_values: int
    duplicates: int


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


_TEXT_STRUCT = pa.struct([(name, pa.string()) for name in SOURCE_FIELDS if name != "location"])


def _text_columns(records: Sequence[Mapping[str, Any]]) -> dict[str, pa.Array[Any]]:
    """Every source field as a string array (one C pass; JSON text for non-text values)."""
    try:
        array = pa.array(records, type=_TEXT_STRUCT)
    except (pa.ArrowTypeError, pa.ArrowInvalid):  # a number or object where text was expected
        array = pa.array(
            [
                {k: v if v is None or type(v) is str else _json(v) for k, v in r.items()}
                for r in records
            ],
            type=_TEXT_STRUCT,
        )
    struct = cast(pa.StructArray, array)
    columns = {field.name: struct.field(field.name) for field in _TEXT_STRUCT}
    locations = [r.get("location") for r in records]
    columns["location"] = pa.array(
        [v if v is None or type(v) is str else _json(v) for v in locations], type=pa.string()
    )
    return columns


def _parse_timestamps(texts: pa.Array[Any]) -> tuple[pa.Array[Any], np.ndarray[Any, Any]]:
    series = pd.Series(texts.to_pandas(), dtype="string")
    well_formed = series.str.fullmatch(_TIMESTAMP_PATTERN).fillna(False).astype(bool)
    parsed = pd.to_datetime(series.where(well_formed), format="ISO8601", errors="coerce")
    invalid = (series.notna() & parsed.isna()).to_numpy(dtype=bool)
    array = pa.Array.from_pandas(parsed.astype("datetime64[ms]")).cast(TIMESTAMP_TYPE)
    return array, invalid


def _parse_floats(texts: pa.Array[Any]) -> tuple[pa.Array[Any], np.ndarray[Any, Any]]:
    series = pd.Series(texts.to_pandas(), dtype="string")
    parsed = pd.to_numeric(series, errors="coerce").astype("Float64")
    invalid = (series.notna() & parsed.isna()).to_numpy(dtype=bool)
    values = parsed.to_numpy(dtype="float64", na_value=np.nan)
    return pa.array(values, type=pa.float64(), from_pandas=True), invalid


def _extras(records: Sequence[Mapping[str, Any]]) -> list[str | None]:
    unknown = sorted(set().union(*(r.keys() for r in records)) - _KNOWN)
    if not unknown:
        return [None] * len(records)
    found = [{k: r[k] for k in unknown if k in r} for r in records]
    return [_json(extra) if extra else None for extra in found]


def _reason(record: Mapping[str, Any]) -> str:
    if not record.get("unique_key"):
        return "missing unique_key"
    if record.get("created_date") is None:
        return "missing created_date"
    return f"invalid created_date {record['created_date']!r}"


def parse_records(records: Sequence[Mapping[str, Any]]) -> Parsed:
    """Records as fetched (text values, nulls omitted) → the typed table (one row per key).

    Rows keep the fetch order; a unique_key fetched twice keeps its last (newest) version.
    """
    texts = _text_columns(records)
    columns: dict[str, pa.Array[Any]] = dict(texts)
    invalid: dict[str, np.ndarray[Any, Any]] = {}
    for name in TIMESTAMP_FIELDS:
        columns[name], invalid[name] = _parse_timestamps(texts[name])
    for name in FLOAT_FIELDS:
        columns[name], invalid[name] = _parse_floats(texts[name])
    columns[EXTRA] = pa.array(_extras(records), type=pa.string())

    keys_ = pd.Series(texts["unique_key"].to_pandas(), dtype="string")
    missing_key = (keys_.isna() | (keys_ == "")).to_numpy(dtype=bool)
    rejected = missing_key | texts["created_date"].is_null().to_numpy(zero_copy_only=False)
    rejected |= invalid.pop("created_date")
    rejects = [Reject(_reason(records[i]), records[i]) for i in map(int, np.flatnonzero(rejected))]

    # duplicates are counted among rows that are not rejected (a reject never hides a good row)
    good_keys = keys_.where(pd.Series(~rejected, index=keys_.index))
    duplicated = good_keys.duplicated(keep="last").to_numpy(dtype=bool) & ~rejected
    keep = ~(rejected | duplicated)

    notes: list[str | None] = [None] * len(records)
    bad_rows = np.zeros(len(records), dtype=bool)
    for mask in invalid.values():
        bad_rows |= mask & keep
    for i in map(int, np.flatnonzero(bad_rows)):
        notes[i] = _json({k: texts[k][i].as_py() for k, m in invalid.items() if m[i]})
    columns[INVALID] = pa.array(notes, type=pa.string())
    invalid_count = int(sum(int((mask & keep).sum()) for mask in invalid.values()))

    table = pa.table(columns, schema=SCHEMA).filter(pa.array(keep))
    return Parsed(table, rejects, invalid_count, int(duplicated.sum()))


def conform(table: pa.Table) -> pa.Table:
    """`table` in the schema's column order and types (missing columns as nulls)."""
    unknown = sorted(set(table.column_names) - set(SCHEMA.names))
    if unknown:
        raise SchemaError(f"stored partition has columns not in the schema: {unknown}")
    arrays = [
        table[f.name].cast(f.type) if f.name in table.column_names else pa.nulls(len(table), f.type)
        for f in SCHEMA
    ]
    return pa.Table.from_arrays(arrays, schema=SCHEMA)


@dataclass(frozen=True)
class Merged:
    """A month partition after a merge: its rows (unsorted) and the order to write them in."""

    rows: pa.Table
    order: pa.Array[Any]  # row indices of `rows` to keep, in (created_date, unique_key) order
    inserted: int
    replaced: int

    def __len__(self) -> int:
        return len(self.order)

    @property
    def table(self) -> pa.Table:
        """The merged month, materialised (sorted)."""
        return self.rows.take(self.order)

    def parquet(self) -> bytes:
        """The merged month as Parquet, sorted slice by slice (one row group in memory)."""
        return to_parquet(self.rows, self.order)


def merge(existing: pa.Table | None, new: pa.Table) -> Merged:
    """Union a stored partition with new rows: one row per unique_key, the new version wins.

    Stored rows whose key comes again are left out (the new key set is small), the others are
    kept in `(created_date, unique_key)` order (text order of keys, as the server orders them),
    so the same content always gives the same file. Only the sort keys are copied: the month is
    written by taking one row group at a time (see `Merged.parquet`).
    """
    new = _newest_per_key(conform(new))
    old = _newest_per_key(conform(existing)) if existing is not None else SCHEMA.empty_table()
    again = pc.is_in(old["unique_key"], value_set=new["unique_key"]).to_numpy(zero_copy_only=False)
    replaced = int(np.count_nonzero(again))
    rows = pa.concat_tables([old, new])
    kept_rows = np.flatnonzero(np.concatenate([~again, np.ones(len(new), dtype=bool)]))
    kept = pa.array(kept_rows, type=pa.int64())
    sort_keys = rows.select(["created_date", "unique_key"]).take(kept_rows)
    order = kept.take(
        pc.sort_indices(
            sort_keys, sort_keys=[("created_date", "ascending"), ("unique_key", "ascending")]
        )
    )
    return Merged(rows, order, inserted=len(new) - replaced, replaced=replaced)


def _newest_per_key(table: pa.Table) -> pa.Table:
    """`table` with one row per unique_key (the last one), unchanged when keys are unique."""
    if len(pc.unique(table["unique_key"])) == len(table):
        return table
    rows = table.append_column("__row", pa.array(np.arange(len(table), dtype=np.int64)))
    last = rows.group_by("unique_key", use_threads=False).aggregate([("__row", "max")])
    return table.take(pa.array(np.sort(last["__row_max"].to_numpy())))


def split_months(table: pa.Table) -> list[tuple[int, int, pa.Table]]:
    """`(year, month, rows)` per month of `created_date`, in calendar order."""
    if len(table) == 0:
        return []
    created = table["created_date"]
    year_month = pc.add(pc.multiply(pc.year(created), 100), pc.month(created))
    values = sorted(int(v) for v in pc.unique(year_month).to_pylist() if v is not None)
    return [
        (value // 100, value % 100, table.filter(pc.equal(year_month, pa.scalar(value))))
        for value in values
    ]


def to_parquet(table: pa.Table, order: pa.Array[Any] | None = None) -> bytes:
    """Deterministic Parquet bytes (zstd, statistics): `table`'s rows, or those `order` lists.

    Rows are written one row group at a time, so a reordering never copies the whole table.
    """
    table = conform(table)
    count = len(table) if order is None else len(order)
    sink = pa.BufferOutputStream()
    with pq.ParquetWriter(
        sink, SCHEMA, compression=PARQUET_COMPRESSION, write_statistics=True
    ) as writer:
        for start in range(0, max(count, 1), ROW_GROUP_ROWS):
            if order is None:
                part = table.slice(start, ROW_GROUP_ROWS)
            else:
                part = table.take(order[start : start + ROW_GROUP_ROWS])
            writer.write_table(part, row_group_size=ROW_GROUP_ROWS)
    return bytes(sink.getvalue().to_pybytes())


def from_parquet(body: bytes) -> pa.Table:
    """A stored partition, conformed to the schema."""
    return conform(pq.read_table(pa.BufferReader(body)))


# --- objects and keys ---------------------------------------------------------------------


def partition_key(year: int, month: int) -> str:
    """`processed/year=YYYY/month=MM/data.parquet` (one file per month)."""
    return keys_core.join(
        PROCESSED_PREFIX,
        keys_core.partition("year", f"{year:04d}"),
        keys_core.partition("month", f"{month:02d}"),
        PARTITION_FILE,
    )


def json_body(value: Any) -> bytes:
    """Compact JSON bytes (records keep their field order, as fetched)."""
    return (json.dumps(value, separators=(",", ":"), ensure_ascii=False) + "\n").encode()


def dated_key(prefix: str, day: date, mode: str, body: bytes) -> str:
    """`<prefix>/YYYY/MM/DD/<mode>-<md5 of body, 16 hex>.json`.

    Named by content: a re-run that fetched the same records writes the same object again (skipped
    as unchanged), and a run that fetched different records never overwrites another's file.
    """
    digest = hashlib.md5(body, usedforsecurity=False).hexdigest()[:16]
    return keys_core.join(
        prefix,
        f"{day.year:04d}",
        f"{day.month:02d}",
        f"{day.day:02d}",
        keys_core.segment(f"{mode}-{digest}.json"),
    )


def rejects_body(rejects: Sequence[Reject]) -> bytes:
    """The rejects file: `[{"reason": ..., "record": {...}}, ...]`."""
    return json_body([r.as_dict() for r in rejects])
