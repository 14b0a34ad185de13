"""The file processor: every reject code, dedup within and across files, outputs, chunking."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import numpy as np
import pytest

from bench import telemetry_rowwise
from tasks.telemetry import dedup_core, messages_core, synthetic_core
from tasks.telemetry.dedup_core import DayBloom, KeySet
from tasks.telemetry.local_io import LocalRun, run_local
from tasks.telemetry.process_core import CrossFileIndex
from tasks.telemetry.vehicles_core import vehicle_hash
from tests.telemetry import fixtures

NOW_MS = 1_800_000_000_000  # 2027-01-15: after every event of the fixtures, before 2099


def run(body: bytes, chunk_bytes: int = 1 << 20, **options: Any) -> LocalRun:
    return run_local(
        [body], fixtures.METADATA_JSON, now_ms=NOW_MS, chunk_bytes=chunk_bytes, **options
    )


def items_of(result: LocalRun) -> dict[tuple[str, str], dict[str, Any]]:
    found = {}
    for message in result.messages:
        for item in messages_core.parse_message(message.body).items:
            key = (item["vehicle_id"], item["timestamp"])
            assert key not in found, f"{key} sent twice"
            found[key] = item
    return found


@pytest.mark.parametrize("chunk_bytes", [1 << 20, 150, 40], ids=["one-chunk", "chunks", "tiny"])
def test_every_reject_kind_gets_its_code_line_and_text(chunk_bytes: int) -> None:
    result = run(fixtures.BODY, chunk_bytes)

    rejected = {line: code for line, code, _text in result.rejects}
    assert rejected == fixtures.REJECTED
    assert result.totals.rejected == fixtures.REJECTED_BY_CODE
    assert result.totals.rows == fixtures.ROWS_IN == 24
    assert result.totals.stored == 7
    assert result.totals.duplicates == 2
    assert result.reconciliation == "rows_in 24 = stored 7 + rejected 15 + duplicates 2"
    texts = {line: text for line, _code, text in result.rejects}
    assert texts[8] == "V1,2024-05-01T08:17:00Z,40.7,-190,abc,moving,,,"
    assert texts[15] == "V1,2024-05-01T08:19:00Z,40.71,-74.01"
    assert texts[22] == "V1,2024-05-01T08:23:00Z,40.75,-73.97,2\ufffd,moving,,,"
    assert sorted(items_of(result)) == fixtures.STORED_KEYS
    assert result.ignored_columns == ["driver"]
    assert result.metadata_problems == ["BAD: max_speed is not a number ('fast')"]


def test_stored_items_carry_exact_numbers_metadata_and_optional_fields() -> None:
    items = items_of(run(fixtures.BODY))

    first = items[("007", "2024-05-01T08:15:30.000Z")]
    assert first == {
        "vehicle_id": "007",
        "timestamp": "2024-05-01T08:15:30.000Z",
        "lat": Decimal("40.7128"),
        "lon": Decimal("-74.0060"),
        "speed": Decimal("52.5"),
        "engine_status": "moving",
        "distance_from_depot_km": Decimal("1.510"),  # 1.4233 km north, 0.5058 km east
        "heading": Decimal("90"),
        "odometer": Decimal("12345.6"),
        "source_key": "incoming/local.csv",
        "max_speed": 90,
        "depot_lat": Decimal("40.7"),
        "depot_lon": Decimal("-74.0"),
        "make": "Ford",
        "fleet": "A",
    }
    quoted = items[("V2", "2024-05-01T08:19:00.250Z")]
    assert quoted["engine_status"] == "off"
    assert "heading" not in quoted
    assert "odometer" not in quoted
    assert quoted["tags"] == ["ebike", "brooklyn"]
    assert quoted["active"] is True
    assert items[("V1", "2024-05-01T08:20:00.000Z")]["speed"] == Decimal("10.0")  # `1e1`
    assert items[("V1", "2024-05-01T07:21:00.000Z")]["odometer"] == Decimal("7.25")
    assert items[("V1", "2024-05-01T08:22:00.000Z")]["engine_status"] == "moving"


def test_unusable_optional_values_are_counted() -> None:
    assert run(fixtures.BODY).totals.invalid_optional == {"heading": 1, "odometer": 1}


def test_moving_events_go_to_the_high_queue_the_others_to_the_low_one() -> None:
    result = run(fixtures.BODY)
    by_queue: dict[str, set[str]] = {"high": set(), "low": set()}
    for message in result.messages:
        for item in messages_core.parse_message(message.body).items:
            by_queue[message.priority].add(item["engine_status"])
    assert by_queue == {"high": {"moving"}, "low": {"idle", "off"}}
    assert result.totals.events_sent == {"high": 4, "low": 3}


def test_a_header_without_a_required_column_rejects_every_row() -> None:
    body = b"vehicle_id,timestamp,lat,lon,engine_status\nV1,2024-05-01T08:00:00Z,40.7,-74,moving\n"
    result = run(body)
    assert result.totals.rejected == {"missing_field": 1}
    assert result.totals.stored == 0


def test_empty_and_header_only_files_have_no_rows() -> None:
    assert run(b"").totals.rows == 0
    assert run(b"vehicle_id,timestamp,lat,lon,speed,engine_status\n").totals.rows == 0


def test_retention_sets_expires_at_from_the_event_time() -> None:
    items = items_of(run(fixtures.BODY, retention_days=30))
    item = items[("007", "2024-05-01T08:15:30.000Z")]
    assert item["expires_at"] == 1_714_551_330 + 30 * 86_400


# --- dedup across files ------------------------------------------------------------------------


def cross_from(runs: list[LocalRun], fake_maybe: bool = False) -> CrossFileIndex:
    """A cross-file index over the key sets earlier runs produced (no S3)."""
    keysets: dict[int, list[KeySet]] = {}
    blooms: dict[int, DayBloom] = {}
    for earlier in runs:
        assert earlier.processor is not None
        table = earlier.processor.vehicles
        for day, day_keys in earlier.processor.keys.by_day():
            codes, ms = dedup_core.unpack(day_keys)
            blooms.setdefault(day, DayBloom(10_000)).add(
                dedup_core.key_hashes(table.hashes[codes], ms)
            )
            keysets.setdefault(day, []).append(
                KeySet.from_bytes(dedup_core.keyset_bytes(day_keys, table.ids))
            )
    if fake_maybe:  # a saturated filter: it says "maybe seen" for every key
        full = np.full(4, np.uint64(0xFFFFFFFFFFFFFFFF))
        for day in blooms:
            blooms[day] = DayBloom(16, [dedup_core.BloomSegment(16, full.copy(), 16)])
    return CrossFileIndex(blooms.get, lambda day: keysets.get(day, []))


def test_events_of_an_earlier_file_are_duplicates_whatever_their_spelling() -> None:
    first = run(fixtures.BODY)
    again = (
        fixtures.HEADER
        + b"V1,2024-05-01T08:20:00.000+00:00,40.74,-73.98,10,moving,,,\n"  # stored by `first`
        + b"V1,2024-05-01T10:00:00Z,40.74,-73.98,10,moving,,,\n"  # new
    )
    second = run(again, cross=cross_from([first]), file_id="second")
    assert (second.totals.stored, second.totals.duplicates) == (1, 1)
    assert sorted(items_of(second)) == [("V1", "2024-05-01T10:00:00.000Z")]


def test_a_key_the_bloom_filter_says_maybe_seen_is_stored_unless_confirmed() -> None:
    first = run(fixtures.BODY)
    new_rows = fixtures.HEADER + b"".join(
        f"V1,2024-05-01T09:{m:02d}:00Z,40.74,-73.98,10,moving,,,\n".encode() for m in range(50)
    )
    cross = cross_from([first], fake_maybe=True)
    second = run(new_rows, cross=cross, file_id="second")
    assert cross.maybe_seen == 50  # every key was suspected...
    assert cross.confirmed == 0  # ...none was in the earlier file's key set...
    assert second.totals.stored == 50  # ...so every event is stored
    assert second.totals.duplicates == 0


def test_a_real_false_positive_of_the_filter_is_still_stored() -> None:
    first = run(fixtures.BODY)
    cross = cross_from([first])
    day = 19_844  # 2024-05-01
    bloom = cross.bloom(day)
    assert bloom is not None
    # overfill the day's filter (past its capacity, without growing it) until it answers
    # "maybe seen" for keys that no file stored
    bloom.segments[0].add(np.random.default_rng(1).integers(0, 2**62, 60_000).astype(np.uint64))
    instants = 1_714_561_200_000 + np.arange(400, dtype=np.int64) * 1000  # V1 from 11:00:00
    hashes = dedup_core.key_hashes(np.full(400, vehicle_hash("V1"), np.uint64), instants)
    false_positives = instants[bloom.contains(hashes)][:5]
    assert len(false_positives) == 5
    body = fixtures.HEADER + b"".join(
        f"V1,{ms // 1000},40.74,-73.98,10,moving,,,\n".encode() for ms in false_positives.tolist()
    )

    second = run(body, cross=cross, file_id="second")

    assert cross.maybe_seen == 5  # the filter suspected every row...
    assert cross.confirmed == 0  # ...the exact key set of the earlier file did not hold them...
    assert second.totals.stored == 5  # ...so none is dropped
    assert len(items_of(second)) == 5


def test_duplicates_across_chunks_of_one_file_keep_the_first_row() -> None:
    line = b"V1,2024-05-01T08:00:00Z,40.7,-74.0,%d,moving,,,\n"
    body = fixtures.HEADER + b"".join(line % speed for speed in (10, 11, 12, 13))
    result = run(body, chunk_bytes=60)
    assert result.totals.chunks == 4
    assert (result.totals.stored, result.totals.duplicates) == (1, 3)
    (item,) = items_of(result).values()
    assert item["speed"] == Decimal("10")


# --- the generated files, against the row-by-row implementation (the oracle) -------------------


@pytest.fixture(scope="module")
def generated() -> tuple[synthetic_core.Fleet, bytes, synthetic_core.Expected]:
    fleet = synthetic_core.make_fleet(400, seed=2)
    body, expected = synthetic_core.generate_bytes(fleet, 30, seed=4, block_steps=10)
    return fleet, body, expected


def test_generated_file_matches_its_expectation_and_the_rowwise_oracle(
    generated: tuple[synthetic_core.Fleet, bytes, synthetic_core.Expected],
) -> None:
    fleet, body, expected = generated
    metadata = json.dumps(fleet.document).encode()
    ours = run_local([body], metadata, now_ms=NOW_MS, chunk_bytes=64 << 10)
    oracle = telemetry_rowwise.process(body, fleet.document, NOW_MS, "incoming/local.csv")

    assert ours.totals.rows == expected.rows == oracle.rows_in
    assert ours.totals.stored == expected.stored == len(oracle.stored)
    assert ours.totals.duplicates == expected.duplicates == oracle.duplicates
    assert ours.totals.rejected == expected.rejected == dict(oracle.rejected)
    assert sorted(ours.rejects) == sorted(oracle.rejects)
    assert set(expected.rejected) == set(fixtures.REJECTED_BY_CODE)  # every code present
    items = items_of(ours)
    assert len(items) == expected.stored
    for event in oracle.stored:
        item = items[(event["vehicle_id"], event["timestamp"])]
        for name in ("lat", "lon", "speed", "heading", "odometer"):
            if name in event:
                assert float(item[name]) == event[name], name
        assert item["engine_status"] == event["engine_status"]
        metres = round(event["distance_from_depot_km"] * 1000)
        assert int(item["distance_from_depot_km"] * 1000) == metres
        assert item["fleet"] == event["fleet"]
    high = sum(1 for e in oracle.stored if e["engine_status"] == "moving")
    assert ours.totals.events_sent == {"high": high, "low": expected.stored - high}
    assert high == expected.moving


def test_chunk_size_does_not_change_the_outcome(
    generated: tuple[synthetic_core.Fleet, bytes, synthetic_core.Expected],
) -> None:
    fleet, body, _expected = generated
    metadata = json.dumps(fleet.document).encode()
    small = run_local([body], metadata, now_ms=NOW_MS, chunk_bytes=16 << 10)
    large = run_local([body], metadata, now_ms=NOW_MS, chunk_bytes=32 << 20)
    assert small.totals.chunks > 50
    assert large.totals.chunks == 1
    assert sorted(small.rejects) == sorted(large.rejects)
    assert items_of(small) == items_of(large)


def test_every_message_is_valid_json_within_the_byte_limit(
    generated: tuple[synthetic_core.Fleet, bytes, synthetic_core.Expected],
) -> None:
    fleet, body, expected = generated
    result = run_local(
        [body], json.dumps(fleet.document).encode(), now_ms=NOW_MS, message_bytes=20_000
    )
    assert len(result.messages) > 20
    for message in result.messages:
        assert len(message.body.encode()) <= 20_000
        doc = json.loads(message.body)
        assert len(doc["events"]["timestamp"]) == message.events
        assert set(doc["vehicles"]) == set(doc["events"]["vehicle_id"])
    assert sum(m.events for m in result.messages) == expected.stored
