"""Vehicle metadata records, the run's vehicle table and the in-process TTL cache."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tasks.telemetry.vehicles_core import (
    MetadataError,
    TtlCache,
    VehicleTable,
    parse_document,
)


def test_valid_records_are_kept_as_text_and_invalid_ones_named() -> None:
    doc = {
        "V1": {"max_speed": 90, "depot_lat": 40.7, "depot_lon": -74.0, "make": "Ford"},
        "V2": {"max_speed": "90", "depot_lat": 40.7, "depot_lon": -74.0},
        "V3": {"depot_lat": 40.7, "depot_lon": -74.0},
        "V4": ["not", "a", "record"],
        "V5": {"max_speed": True, "depot_lat": 40.7, "depot_lon": -74.0},
    }
    records, problems = parse_document(json.dumps(doc).encode())
    assert records == {"V1": '{"depot_lat":40.7,"depot_lon":-74.0,"make":"Ford","max_speed":90}'}
    assert problems == [
        "V2: max_speed is not a number ('90')",
        "V3: max_speed is not a number (None)",
        "V4: record is not an object",
        "V5: max_speed is not a number (True)",
    ]


def test_non_finite_numbers_make_a_record_invalid() -> None:
    body = b'{"V1": {"max_speed": NaN, "depot_lat": 1, "depot_lon": 2}}'
    with pytest.raises(MetadataError, match="not valid JSON"):
        parse_document(body)


def test_a_document_that_is_not_an_object_is_an_error() -> None:
    with pytest.raises(MetadataError, match="must be a JSON object of vehicle records, not list"):
        parse_document(b"[]")


def test_the_vehicle_table_gives_codes_and_columns() -> None:
    table = VehicleTable()
    table.add({"V1": '{"max_speed":90,"depot_lat":40.7,"depot_lon":-74.0}'})
    table.add({"V2": '{"max_speed":25.5,"depot_lat":40.8,"depot_lon":-73.9}', "V1": "{}"})
    assert table.lookup(["V2", "V1", "v1", " V1"]).tolist() == [1, 0, -1, -1]
    assert table.max_speed.tolist() == [90.0, 25.5]
    assert table.depot_lat.tolist() == [40.7, 40.8]
    assert table.hashes.dtype == np.uint64
    assert len(set(table.hashes.tolist())) == 2
    assert table.entries[1] == '"V2":{"max_speed":25.5,"depot_lat":40.8,"depot_lon":-73.9}'


def test_ttl_cache_entries_expire() -> None:
    now = [1000.0]
    cache = TtlCache(lambda: now[0])
    cache.set_many({"a": "1", "b": "2"}, ttl_seconds=3600)
    now[0] += 3599
    assert cache.get_many(["a", "b", "c"]) == {"a": "1", "b": "2"}
    now[0] += 1
    assert cache.get_many(["a"]) == {}
