"""Records become a stable typed table; bad values are kept and counted; merges never duplicate."""

from __future__ import annotations

import io
import json
from datetime import date, datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tasks.nyc311 import records_core
from tasks.nyc311.records_core import SCHEMA, SchemaError, merge, parse_records

RECORD: dict[str, Any] = {
    "unique_key": "60001234",
    "created_date": "2024-03-15T14:23:00.000",
    "agency": "NYPD",
    "complaint_type": "Noise - Residential",
    "incident_zip": "07302",
    "bbl": "0100160100",
    "council_district": "01",
    "police_precinct": "Precinct 1",
    "status": "Open",
    "x_coordinate_state_plane": "987654",
    "latitude": "40.708266",
    "longitude": "-74.006",
    "location": {"longitude": "-74.006", "latitude": "40.708266", "human_address": "{}"},
}


def _rec(key: str, created: str = "2024-03-15T14:23:00.000", **fields: Any) -> dict[str, Any]:
    return {"unique_key": key, "created_date": created, **fields}


def test_schema_types_are_explicit() -> None:
    types = {f.name: str(f.type) for f in SCHEMA}
    assert {n for n, t in types.items() if t == "timestamp[ms]"} == {
        "created_date",
        "closed_date",
        "due_date",
        "resolution_action_updated_date",
    }
    assert {n for n, t in types.items() if t == "double"} == {
        "latitude",
        "longitude",
        "x_coordinate_state_plane",
        "y_coordinate_state_plane",
    }
    assert {n for n, t in types.items() if t not in {"string", "double", "timestamp[ms]"}} == set()
    assert SCHEMA.names[:2] == ["unique_key", "created_date"]
    assert SCHEMA.names[-3:] == ["location", "extra", "invalid_values"]


def test_a_record_is_typed_and_codes_keep_their_leading_zeros() -> None:
    parsed = parse_records([RECORD])
    row = parsed.table.to_pylist()[0]
    assert parsed.table.schema == SCHEMA
    assert row["created_date"] == datetime(2024, 3, 15, 14, 23)
    assert (row["incident_zip"], row["bbl"], row["council_district"]) == (
        "07302",
        "0100160100",
        "01",
    )
    assert (row["latitude"], row["longitude"], row["x_coordinate_state_plane"]) == (
        40.708266,
        -74.006,
        987654.0,
    )
    assert row["location"] == (
        '{"human_address":"{}","latitude":"40.708266","longitude":"-74.006"}'
    )
    assert row["closed_date"] is None  # omitted by Socrata = null
    assert (row["extra"], row["invalid_values"]) == (None, None)
    assert (parsed.rejects, parsed.invalid_values, parsed.duplicates) == ([], 0, 0)


def test_unknown_new_fields_are_kept_in_extra() -> None:
    parsed = parse_records([_rec("1", new_field="x", another={"a": 1}), _rec("2")])
    assert parsed.table["extra"].to_pylist() == ['{"another":{"a":1},"new_field":"x"}', None]


def test_unparseable_values_are_kept_as_text_and_counted() -> None:
    parsed = parse_records(
        [_rec("1", latitude="north-ish", closed_date="2024-02-30T00:00:00.000"), _rec("2")]
    )
    row = parsed.table.to_pylist()[0]
    assert (row["latitude"], row["closed_date"]) == (None, None)
    assert json.loads(row["invalid_values"]) == {
        "closed_date": "2024-02-30T00:00:00.000",
        "latitude": "north-ish",
    }
    assert parsed.invalid_values == 2
    assert parsed.table["invalid_values"].to_pylist()[1] is None


def test_timestamps_with_a_zone_are_not_floating_and_count_as_invalid() -> None:
    parsed = parse_records([_rec("1", due_date="2024-03-15T14:23:00Z")])
    assert parsed.table["due_date"].to_pylist() == [None]
    assert parsed.table["invalid_values"].to_pylist() == ['{"due_date":"2024-03-15T14:23:00Z"}']


def test_records_that_cannot_be_placed_are_rejected_with_reasons() -> None:
    no_key = {"created_date": "2024-03-15T14:23:00.000"}
    no_date = {"unique_key": "2"}
    bad_date = _rec("3", created="15/03/2024")
    parsed = parse_records([no_key, _rec("1"), no_date, bad_date])
    assert [(r.reason, r.record) for r in parsed.rejects] == [
        ("missing unique_key", no_key),
        ("missing created_date", no_date),
        ("invalid created_date '15/03/2024'", bad_date),
    ]
    assert parsed.table["unique_key"].to_pylist() == ["1"]
    assert records_core.rejects_body(parsed.rejects[:1]) == (
        b'[{"reason":"missing unique_key","record":{"created_date":"2024-03-15T14:23:00.000"}}]\n'
    )


def test_a_key_fetched_twice_keeps_its_newest_version() -> None:
    parsed = parse_records([_rec("1", status="Open"), _rec("2"), _rec("1", status="Closed")])
    assert parsed.table.select(["unique_key", "status"]).to_pylist() == [
        {"unique_key": "2", "status": None},
        {"unique_key": "1", "status": "Closed"},
    ]
    assert parsed.duplicates == 1


def test_non_text_values_in_text_fields_do_not_break_the_schema() -> None:
    parsed = parse_records([_rec("1", council_district=7, latitude=40.5)])
    row = parsed.table.to_pylist()[0]
    assert (row["council_district"], row["latitude"]) == ("7", 40.5)


def test_merge_unions_by_key_and_the_new_version_wins() -> None:
    stored = parse_records([_rec("1", status="Open"), _rec("2", created="2024-03-01T00:00:00.000")])
    new = parse_records([_rec("1", status="Closed"), _rec("3", created="2024-03-02T00:00:00.000")])
    merged = merge(stored.table, new.table)
    assert (merged.inserted, merged.replaced) == (1, 1)
    assert merged.table.select(["unique_key", "status"]).to_pylist() == [
        {"unique_key": "2", "status": None},
        {"unique_key": "3", "status": None},
        {"unique_key": "1", "status": "Closed"},
    ]


def test_merging_the_same_rows_again_changes_nothing() -> None:
    rows = parse_records([_rec(str(k)) for k in (10, 9, 100)]).table
    once = merge(None, rows)
    twice = merge(once.table, rows)
    assert (twice.inserted, twice.replaced) == (0, 3)
    assert records_core.to_parquet(twice.table) == records_core.to_parquet(once.table)
    # text order of keys within one created_date, as the server orders them
    assert once.table["unique_key"].to_pylist() == ["10", "100", "9"]


def test_a_stored_file_with_foreign_columns_is_not_silently_narrowed() -> None:
    foreign = pa.table({"unique_key": ["1"], "surprise": [1]})
    with pytest.raises(SchemaError, match=r"columns not in the schema: \['surprise'\]"):
        merge(foreign, parse_records([_rec("2")]).table)


def test_an_older_file_missing_a_column_is_filled_with_nulls() -> None:
    older = parse_records([_rec("1")]).table.drop_columns(["extra"])
    merged = merge(older, parse_records([_rec("2")]).table)
    assert merged.table.schema == SCHEMA
    assert merged.table["extra"].to_pylist() == [None, None]


def test_rows_split_by_month_of_created_date() -> None:
    table = parse_records(
        [
            _rec("1", created="2024-02-29T23:59:59.999"),
            _rec("2", created="2024-03-01T00:00:00.000"),
            _rec("3", created="2023-12-31T12:00:00.000"),
        ]
    ).table
    parts = records_core.split_months(table)
    assert [(y, m, t["unique_key"].to_pylist()) for y, m, t in parts] == [
        (2023, 12, ["3"]),
        (2024, 2, ["1"]),
        (2024, 3, ["2"]),
    ]
    assert records_core.split_months(table.slice(0, 0)) == []


def test_parquet_round_trips_with_zone_less_millisecond_timestamps() -> None:
    table = merge(None, parse_records([RECORD]).table).table
    body = records_core.to_parquet(table)
    assert records_core.from_parquet(body).equals(table)
    column = pq.read_metadata(io.BytesIO(body)).schema.column(1)
    assert column.name == "created_date"
    logical = json.loads(column.logical_type.to_json())
    assert (logical["Type"], logical["isAdjustedToUTC"], logical["timeUnit"]) == (
        "Timestamp",
        False,
        "milliseconds",
    )


def test_keys_follow_the_seed_layout() -> None:
    assert records_core.partition_key(2024, 3) == "processed/year=2024/month=03/data.parquet"
    body = records_core.json_body([RECORD])
    key = records_core.dated_key(records_core.RAW_PREFIX, date(2025, 2, 21), "incremental", body)
    assert key.startswith("raw/2025/02/21/incremental-")
    assert key == records_core.dated_key("raw", date(2025, 2, 21), "incremental", body)
    other = records_core.json_body([RECORD, RECORD])
    assert key != records_core.dated_key("raw", date(2025, 2, 21), "incremental", other)


def test_raw_body_is_the_records_as_fetched() -> None:
    records = [{"unique_key": "1", "created_date": "2024-01-01T00:00:00.000", "city": "NYC é"}]
    assert records_core.json_body(records) == (
        '[{"unique_key":"1","created_date":"2024-01-01T00:00:00.000","city":"NYC é"}]\n'.encode()
    )


def test_a_stored_file_with_duplicate_keys_is_repaired_by_the_next_merge() -> None:
    twice = pa.concat_tables([parse_records([_rec("1", status="Old")]).table] * 2)
    newer = parse_records([_rec("1", status="Older"), _rec("1", status="Newest")]).table
    merged = merge(twice, newer)
    assert merged.table.select(["unique_key", "status"]).to_pylist() == [
        {"unique_key": "1", "status": "Newest"}
    ]
    assert (merged.inserted, merged.replaced, len(merged)) == (0, 1, 1)


def test_a_month_is_written_row_group_by_row_group_in_sorted_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(records_core, "ROW_GROUP_ROWS", 2)
    created = [f"2024-03-0{d}T00:00:00.000" for d in (5, 1, 4, 2, 3)]
    merged = merge(None, parse_records([_rec(str(i), c) for i, c in enumerate(created)]).table)
    body = merged.parquet()
    assert pq.read_metadata(io.BytesIO(body)).num_row_groups == 3
    assert records_core.from_parquet(body)["unique_key"].to_pylist() == ["1", "3", "4", "2", "0"]
    assert body == records_core.to_parquet(merged.table)  # same bytes however it is ordered
