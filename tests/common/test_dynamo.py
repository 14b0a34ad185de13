"""The DynamoDB layer: exact numbers, batch writes that lose nothing, paginated reads, scans."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tasks.common import aws, dynamo
from tasks.common.errors import ConflictError, is_permanent

TABLE = "events"


@pytest.fixture
def table(aws: None) -> str:
    client().create_table(
        TableName=TABLE,
        KeySchema=[
            {"AttributeName": "vehicle_id", "KeyType": "HASH"},
            {"AttributeName": "timestamp", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "vehicle_id", "AttributeType": "S"},
            {"AttributeName": "timestamp", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    return TABLE


def client() -> Any:
    return aws.dynamodb()


def event(vehicle: str, second: int, **extra: Any) -> dict[str, Any]:
    return {"vehicle_id": vehicle, "timestamp": f"2024-05-01T08:00:{second:02d}.000Z", **extra}


KEY = ("vehicle_id", "timestamp")


def test_floats_become_the_decimal_of_their_shortest_repr() -> None:
    assert dynamo.to_dynamo({"a": 0.1, "b": [1.5, 2], "c": True, "d": None}) == {
        "a": Decimal("0.1"),
        "b": [Decimal("1.5"), 2],
        "c": True,
        "d": None,
    }
    assert dynamo.serialize({"x": 0.1 + 0.2}) == {"x": {"N": "0.30000000000000004"}}


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf"), Decimal("NaN")])
def test_non_finite_numbers_are_rejected_with_the_attribute_path(bad: Any) -> None:
    with pytest.raises(dynamo.NonFiniteNumberError, match=r"^meta\.speed: .* not a finite"):
        dynamo.serialize({"meta": {"speed": bad}})
    assert is_permanent(dynamo.NonFiniteNumberError("x"))


def test_batch_write_sends_25_per_request_and_removes_duplicate_keys(table: str) -> None:
    items = [event("v1", i % 60, speed=float(i)) for i in range(60)]
    items.append(event("v1", 52, speed=99.5))  # same key as item 52, in the same batch of 25
    report = dynamo.batch_write(table, items, KEY)
    assert (report.items, report.written, report.duplicates, report.requests) == (61, 60, 1, 3)
    stored = dynamo.get_item(table, {"vehicle_id": "v1", "timestamp": event("v1", 52)["timestamp"]})
    assert stored is not None
    assert stored["speed"] == Decimal("99.5")
    assert dynamo.count_items(table) == 60


class Unprocessed:
    """Fault injection on the real (moto) call: DynamoDB hands back the last `n` items of the
    first `times` requests as unprocessed, as it does under throttling."""

    def __init__(self, n: int, times: int) -> None:
        self.n, self.times = n, times
        self.sent: list[list[Any]] = []

    def install(self) -> None:
        events = client().meta.events
        events.register("provide-client-params.dynamodb.BatchWriteItem", self.before)
        events.register("after-call.dynamodb.BatchWriteItem", self.after)

    def before(self, params: dict[str, Any], **_: Any) -> None:
        self.sent.append(params["RequestItems"][TABLE])

    def after(self, parsed: dict[str, Any], **_: Any) -> None:
        if len(self.sent) <= self.times:
            parsed["UnprocessedItems"] = {TABLE: self.sent[-1][-self.n :]}


def test_unprocessed_items_are_resent_with_growing_jittered_backoff(table: str) -> None:
    fault = Unprocessed(n=5, times=3)
    fault.install()
    sleeps: list[float] = []
    items = [event("v2", i) for i in range(10)]
    backoff = dynamo.Backoff(sleep=sleeps.append, rng=lambda: 1.0)
    report = dynamo.batch_write(table, items, KEY, backoff=backoff)
    assert [len(request) for request in fault.sent] == [10, 5, 5, 5]
    assert (report.written, report.requests, report.resent) == (10, 4, 15)
    assert sleeps == [0.1, 0.2, 0.4]  # base 0.05 * 2**attempt, jitter factor 1.0 here
    assert dynamo.count_items(table) == 10


def test_items_still_unprocessed_after_every_attempt_fail_the_write(table: str) -> None:
    Unprocessed(n=1, times=100).install()
    backoff = dynamo.Backoff(max_attempts=3, sleep=lambda _s: None)
    with pytest.raises(dynamo.BatchWriteError, match="1 item\\(s\\) still unprocessed after 3"):
        dynamo.batch_write(table, [event("v3", 1)], KEY, backoff=backoff)


def test_a_failed_condition_is_a_conflict(table: str) -> None:
    item = event("v4", 1, speed=1)
    dynamo.put_item(table, item, condition="attribute_not_exists(vehicle_id)")
    with pytest.raises(ConflictError, match="condition failed"):
        dynamo.put_item(table, item, condition="attribute_not_exists(vehicle_id)")
    dynamo.put_item(table, {**item, "speed": 2}, condition="speed < :s", values={":s": Decimal(2)})
    assert (dynamo.get_item(table, {k: item[k] for k in KEY}) or {})["speed"] == 2


def test_query_pages_and_counts_what_it_read(table: str) -> None:
    dynamo.batch_write(table, [event("v5", i) for i in range(30)] + [event("v6", 1)], KEY)
    stats = dynamo.ReadStats()
    found = list(
        dynamo.query(
            table,
            key_condition="vehicle_id = :v",
            values={":v": "v5"},
            projection=("timestamp",),
            page_size=7,
            stats=stats,
        )
    )
    assert len(found) == 30
    assert set(found[0]) == {"timestamp"}
    assert (stats.items, stats.pages) == (30, 5)


def test_parallel_scan_segments_partition_the_table_with_a_client_each(table: str) -> None:
    dynamo.batch_write(table, [event(f"v{i}", i % 60) for i in range(200)], KEY)
    seen: list[str] = []
    stats = dynamo.ReadStats()
    for segment in range(4):
        seen += [i["vehicle_id"] for i in dynamo.scan_segment(table, segment, 4, stats=stats)]
    assert sorted(seen) == sorted(f"v{i}" for i in range(200))
    assert stats.items == 200
    clients = {id(aws.client("dynamodb", scope=f"scan-segment-{s}")) for s in range(4)}
    assert len(clients) == 4
    with pytest.raises(ValueError, match=r"segment 4 is not in 0\.\.3"):
        next(dynamo.scan_segment(table, 4, 4))


def test_batch_get_returns_the_items_that_exist(table: str) -> None:
    dynamo.batch_write(table, [event("v7", i, speed=i) for i in range(150)], KEY)
    keys = [{k: event("v7", i % 60)[k] for k in KEY} for i in range(150)]  # with repeats
    keys.append({"vehicle_id": "nope", "timestamp": "x"})
    found = dynamo.batch_get(table, keys, projection=("vehicle_id", "timestamp"))
    assert len(found) == 60
    assert all(set(item) == set(KEY) for item in found)


def test_update_item_sets_attributes_and_a_failed_condition_is_a_conflict(table: str) -> None:
    key = {"vehicle_id": "v8", "timestamp": event("v8", 1)["timestamp"]}
    dynamo.put_item(table, {**key, "speed": Decimal("1.5")})
    dynamo.update_item(
        table,
        key,
        update="SET #z = :z",
        condition="attribute_exists(vehicle_id) AND attribute_not_exists(#z)",
        names={"#z": "zone"},
        values={":z": "north"},
    )
    assert dynamo.get_item(table, key) == {**key, "speed": Decimal("1.5"), "zone": "north"}
    with pytest.raises(ConflictError, match="condition failed"):
        dynamo.update_item(
            table,
            key,
            update="SET #z = :z",
            condition="attribute_not_exists(#z)",
            names={"#z": "zone"},
            values={":z": "south"},
        )
    missing = {"vehicle_id": "nobody", "timestamp": "x"}
    with pytest.raises(ConflictError):
        dynamo.update_item(
            table,
            missing,
            update="SET speed = :s",
            condition="attribute_exists(vehicle_id)",
            values={":s": 1},
        )
    assert dynamo.get_item(table, missing) is None
    assert (dynamo.get_item(table, key) or {})["zone"] == "north"


def test_scan_pages_resume_after_the_last_key_of_a_page(table: str) -> None:
    dynamo.batch_write(table, [event(f"v{i}", i % 60) for i in range(50)], KEY)
    stats = dynamo.ReadStats()
    pages = list(dynamo.scan_pages(table, 0, 2, page_size=7, stats=stats))
    first_segment = [i["vehicle_id"] for p in pages for i in p.items]
    assert all(p.last_key is not None for p in pages[:-1])
    assert pages[-1].last_key is None
    assert stats.items == len(first_segment) == stats.scanned
    # resuming after page 2 reads exactly the rest of the segment
    resumed = dynamo.scan_pages(table, 0, 2, start_key=pages[1].last_key, page_size=7)
    rest = [i["vehicle_id"] for p in resumed for i in p.items]
    assert rest == first_segment[len(pages[0].items) + len(pages[1].items) :]
    second = [i["vehicle_id"] for p in dynamo.scan_pages(table, 1, 2) for i in p.items]
    assert sorted(first_segment + second) == sorted(f"v{i}" for i in range(50))
    assert set(pages[0].last_key or {}) == set(KEY)
    with pytest.raises(ValueError, match=r"segment 2 is not in 0\.\.1"):
        next(dynamo.scan_pages(table, 2, 2))


def test_scan_pages_filter_returns_fewer_items_but_reads_them_all(table: str) -> None:
    items = [event(f"v{i}", i % 60, **({"zone": "n"} if i % 3 else {})) for i in range(30)]
    dynamo.batch_write(table, items, KEY)
    stats = dynamo.ReadStats()
    found = [
        i
        for page in dynamo.scan_pages(
            table,
            0,
            1,
            filter_expression="attribute_not_exists(#z)",
            names={"#z": "zone"},
            projection=("vehicle_id",),
            stats=stats,
        )
        for i in page.items
    ]
    assert sorted(i["vehicle_id"] for i in found) == sorted(f"v{i}" for i in range(0, 30, 3))
    assert (stats.items, stats.scanned) == (10, 30)
