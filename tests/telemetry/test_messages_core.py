"""Queue messages: byte limits, SQS batch limits, parsing back to exact items, poison."""

from __future__ import annotations

import json
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pytest

from tasks.telemetry.messages_core import (
    Events,
    Message,
    PoisonMessageError,
    build_messages,
    parse_message,
    send_groups,
)
from tasks.telemetry.vehicles_core import VehicleTable

MAY_1 = 1_714_521_600_000


def table(n: int) -> VehicleTable:
    vehicles = VehicleTable()
    vehicles.add(
        {
            f"V{i}": json.dumps(
                {
                    "max_speed": 90,
                    "depot_lat": 40.7,
                    "depot_lon": -74.0,
                    "name": f"truck \u00e9 {i}",
                }
            )
            for i in range(n)
        }
    )
    return vehicles


def events(codes: list[int], status: int = 0, expires: bool = False) -> Events:
    n = len(codes)
    return Events(
        codes=np.array(codes, np.int64),
        ms=MAY_1 + np.arange(n, dtype=np.int64) * 1000,
        lat=pa.array(["40.7128"] * n),
        lon=pa.array(["-74.0060"] * n),
        speed=pa.array(["52.5"] * n),
        status=np.full(n, status, np.int8),
        distance_milli=np.full(n, 1_510, np.int64),
        heading=pa.array(["90"] + [None] * (n - 1), pa.string()),
        odometer=pa.nulls(n, pa.string()),
        expires_at=MAY_1 // 1000 + np.arange(n) if expires else None,
    )


def build(
    ev: Events, vehicles: VehicleTable, max_bytes: int = 100_000, **kw: object
) -> list[Message]:
    return build_messages(
        ev,
        priority=str(kw.get("priority", "high")),
        batch_prefix="f1-00003",
        source_key="incoming/2024/05/01/a.csv",
        vehicle_json=vehicles.json_ids(),
        vehicle_entries=vehicles.entries,
        entry_lengths=vehicles.entry_lengths,
        max_bytes=max_bytes,
        with_expiry=ev.expires_at is not None,
    )


def test_one_message_reads_back_as_exact_items() -> None:
    vehicles = table(2)
    (message,) = build(events([0, 0, 1]), vehicles)
    assert message.batch == "f1-00003-h00000"
    assert message.events == 3
    parsed = parse_message(message.body)
    assert parsed.errors == []
    assert parsed.items[0] == {
        "vehicle_id": "V0",
        "timestamp": "2024-05-01T00:00:00.000Z",
        "lat": Decimal("40.7128"),
        "lon": Decimal("-74.0060"),
        "speed": Decimal("52.5"),
        "engine_status": "moving",
        "distance_from_depot_km": Decimal("1.510"),
        "heading": Decimal("90"),
        "source_key": "incoming/2024/05/01/a.csv",
        "max_speed": 90,
        "depot_lat": Decimal("40.7"),
        "depot_lon": Decimal("-74.0"),
        "name": "truck \u00e9 0",
    }
    assert [i["timestamp"] for i in parsed.items] == [
        "2024-05-01T00:00:00.000Z",
        "2024-05-01T00:00:01.000Z",
        "2024-05-01T00:00:02.000Z",
    ]
    assert message.body.isascii()  # ids and records are \\u-escaped: bytes == characters


def test_expires_at_is_a_field_only_with_a_retention() -> None:
    vehicles = table(1)
    (with_ttl,) = build(events([0, 0], expires=True), vehicles)
    (without,) = build(events([0, 0]), vehicles)
    assert [i["expires_at"] for i in parse_message(with_ttl.body).items] == [
        1_714_521_600,
        1_714_521_601,
    ]
    assert "expires_at" not in json.loads(without.body)["events"]
    assert "expires_at" not in parse_message(without.body).items[0]


@pytest.mark.parametrize("max_bytes", [4_096, 9_000, 50_000])
def test_messages_stay_under_the_limit_and_carry_their_vehicles(max_bytes: int) -> None:
    vehicles = table(300)
    codes = np.repeat(np.arange(300), 7).tolist()
    messages = build(events(codes), vehicles, max_bytes)
    assert len(messages) > 1
    total = 0
    for message in messages:
        assert len(message.body) <= max_bytes
        doc = json.loads(message.body)
        assert set(doc["vehicles"]) == set(doc["events"]["vehicle_id"])
        assert {len(column) for column in doc["events"].values()} == {message.events}
        total += message.events
    assert total == 2_100
    assert len({m.batch for m in messages}) == len(messages)


def test_an_event_too_big_for_any_message_is_refused() -> None:
    vehicles = VehicleTable()
    vehicles.add(
        {"V": json.dumps({"max_speed": 1, "depot_lat": 0, "depot_lon": 0, "x": "y" * 5000})}
    )
    with pytest.raises(PoisonMessageError, match="more than the message limit of 4096"):
        build(events([0]), vehicles, 4_096)


def test_send_groups_respect_ten_entries_and_the_batch_bytes() -> None:
    messages = [Message(f"b{i}", "high", "x" * 300, 1) for i in range(25)]
    assert [len(g) for g in send_groups(messages, 1_000_000)] == [10, 10, 5]
    assert [len(g) for g in send_groups(messages, 1_000)] == [3] * 8 + [1]


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("not json", "body is not JSON"),
        ('{"v":2}', "not a version-1 telemetry message"),
        ('{"v":1,"batch":"b","priority":"high","events":"oops"}', "message lacks 'source_key'"),
        (
            '{"v":1,"batch":"b","priority":"high","source_key":"k","vehicles":{},'
            '"events":{"vehicle_id":[]}}',
            "malformed",
        ),
    ],
)
def test_malformed_bodies_are_poison(body: str, error: str) -> None:
    with pytest.raises(PoisonMessageError, match=error):
        parse_message(body)


def test_bad_events_are_reported_and_the_others_kept() -> None:
    vehicles = table(1)
    (message,) = build(events([0, 0, 0, 0]), vehicles)
    doc = json.loads(message.body)
    columns = doc["events"]
    columns["lat"][1] = "north"
    columns["engine_status"][2] = "idle"  # does not belong in the high queue
    columns["vehicle_id"][3] = "V9"  # a vehicle without a record
    parsed = parse_message(json.dumps(doc))
    assert [i["timestamp"] for i in parsed.items] == ["2024-05-01T00:00:00.000Z"]
    assert parsed.errors == [
        "event 1: lat 'north' is not a number",
        "event 2: engine_status 'idle' does not belong in the high queue",
        "event 3: vehicle 'V9' has no metadata record in the message",
    ]


def test_columns_of_different_lengths_are_poison() -> None:
    (message,) = build(events([0, 0]), table(1))
    doc = json.loads(message.body)
    doc["events"]["speed"].append("1")
    with pytest.raises(PoisonMessageError, match="event columns are malformed"):
        parse_message(json.dumps(doc))
