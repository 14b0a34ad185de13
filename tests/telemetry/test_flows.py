"""The telemetry flows on the local stack (moto server + the template), with Prefect's real engine.

Covers the issue's bar: a file with every reject kind reconciles exactly and its rejects object
holds each row with its code; the same file twice, or again after a crash between the queue
sends and the marker, stores no item twice; a message that fails three times lands in the DLQ
with its error while the rest of its batch is stored; a key the Bloom filter suspects is still
stored unless an exact key set holds it.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from prefect.logging import disable_run_logger

from deployments.lambda_handler import handler
from deployments.pipelines.csv_profile import s3_event
from flows import telemetry as flows
from tasks.common import aws, dynamo, s3
from tasks.common.settings import Settings, get_settings
from tasks.telemetry import plan_core, queue_io, storage_io
from tasks.telemetry.consumer_io import drain_round
from tasks.telemetry.dedup_core import BloomSegment, DayBloom
from tasks.telemetry.messages_core import Events, build_messages
from tasks.telemetry.vehicles_core import VehicleTable
from tests.telemetry import fixtures

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture
def env(stack: list[dict[str, str]], monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """The template's telemetry resources, the fixture metadata, no waiting in the consumer."""
    monkeypatch.setenv("PIPELINES_TELEMETRY_FAILED_VISIBILITY_SECONDS", "0")
    monkeypatch.setenv("PIPELINES_TELEMETRY_RECEIVE_WAIT_SECONDS", "0")
    queue_io.clear_urls()
    s = get_settings()
    s3.put_bytes(
        s.telemetry_raw_bucket,
        s.telemetry_metadata_location,
        fixtures.METADATA_JSON,
        content_type=s3.JSON,
    )
    yield s
    queue_io.clear_urls()


def upload(s: Settings, key: str, body: bytes) -> str:
    s3.put_bytes(s.telemetry_raw_bucket, key, body, content_type=s3.CSV)
    return s3.md5_hex(body)


def stored_keys(s: Settings) -> list[tuple[str, str]]:
    items = dynamo.scan_segment(s.telemetry_table, 0, 1, projection=["vehicle_id", "timestamp"])
    return sorted((i["vehicle_id"], i["timestamp"]) for i in items)


def depth(s: Settings, name: str) -> int:
    return queue_io.depth(queue_io.queue_url(name))


def test_every_reject_kind_reconciles_and_lands_in_the_rejects_object(env: Settings) -> None:
    etag = upload(env, fixtures.KEY, fixtures.BODY)

    summary = flows.telemetry_file(fixtures.KEY)

    assert summary["status"] == "processed"
    assert (summary["rows_in"], summary["stored"], summary["rejected"], summary["duplicates"]) == (
        24,
        7,
        15,
        2,
    )
    assert summary["reconciliation"] == "rows_in 24 = stored 7 + rejected 15 + duplicates 2"
    assert summary["rejected_by_code"] == fixtures.REJECTED_BY_CODE
    assert summary["messages"] == {"high": 1, "low": 1}
    rejects_key = f"rejects/2024/05/01/every-reject.csv/{etag}.csv"
    assert summary["rejects_uri"] == f"s3://{env.telemetry_raw_bucket}/{rejects_key}"
    assert s3.get_bytes(env.telemetry_raw_bucket, rejects_key) == (
        b"line,reason,row\n"
        b'4,missing_field,",2024-05-01T08:16:00Z,40.7,-74.0,10,moving,,,"\n'
        b'5,bad_timestamp,"V1,2024-05-01T08:16:00,40.7,-74.0,10,moving,,,"\n'
        b'6,future_timestamp,"V1,2099-01-01T00:00:00Z,40.7,-74.0,10,moving,,,"\n'
        b'7,lat_out_of_range,"V1,2024-05-01T08:17:00Z,95.1,-74.0,10,moving,,,"\n'
        b'8,lon_out_of_range,"V1,2024-05-01T08:17:00Z,40.7,-190,abc,moving,,,"\n'
        b'9,bad_number,"V1,2024-05-01T08:17:00Z,NaN,-74.0,10,moving,,,"\n'
        b'10,negative_speed,"V1,2024-05-01T08:18:00Z,40.7,-74.0,-3,moving,,,"\n'
        b'11,bad_engine_status,"V1,2024-05-01T08:18:00Z,40.7,-74.0,10,parked,,,"\n'
        b'12,unknown_vehicle,"7,2024-05-01T08:18:00Z,40.7,-74.0,10,moving,,,"\n'
        b'13,over_max_speed,"V2,2024-05-01T08:18:00Z,40.7,-74.0,30,moving,,,"\n'
        b'15,missing_field,"V1,2024-05-01T08:19:00Z,40.71,-74.01"\n'
        b'22,missing_field,"V1,2024-05-01T08:23:00Z,40.75,-73.97,2\xef\xbf\xbd,moving,,,"\n'
        b'23,missing_field,"V1,2024-05-01T08:23:00Z,,-74.0,10,moving,,,"\n'
        b'24,bad_timestamp,"V1,2024-02-30T00:00:00Z,40.7,-74.0,10,moving,,,"\n'
        b'26,unknown_vehicle,"BAD,2024-05-01T08:24:00Z,40.7,-74.0,5,moving,,,"\n'
    )
    marker = s3.read_json(env.telemetry_raw_bucket, summary["marker_uri"].split("/", 3)[3])
    assert marker is not None
    assert marker["reconciliation"] == summary["reconciliation"]
    assert marker["etag"] == etag

    consumed = flows.telemetry_consume()
    assert consumed["items_written"] == 7
    assert consumed["queue_depth"] == {"high": 0, "low": 0, "dlq": 0}
    assert stored_keys(env) == fixtures.STORED_KEYS
    item = dynamo.get_item(
        env.telemetry_table, {"vehicle_id": "007", "timestamp": "2024-05-01T08:15:30.000Z"}
    )
    assert item is not None
    assert (item["lat"], item["speed"], item["make"]) == (
        dynamo.to_dynamo(40.7128),
        dynamo.to_dynamo(52.5),
        "Ford",
    )


def test_the_archive_is_hive_partitioned_parquet_duckdb_reads(env: Settings, tmp_path: Any) -> None:
    upload(env, fixtures.KEY, fixtures.BODY)
    flows.telemetry_file(fixtures.KEY)
    listed = list(s3.list_objects(env.telemetry_archive_bucket, "events/"))
    assert [o.key.split("/")[1] for o in listed] == ["date=2024-05-01"]
    for obj in listed:  # DuckDB over the same layout, locally
        path = tmp_path / obj.key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(s3.get_bytes(env.telemetry_archive_bucket, obj.key) or b"")
    files = f"{tmp_path}/events/*/*.parquet"
    relation = duckdb.sql(
        "SELECT vehicle_id, strftime(timestamp AT TIME ZONE 'UTC', '%H:%M:%S.%g') AS t, speed, "
        "heading, source_line, date::VARCHAR FROM read_parquet($files, hive_partitioning = true) "
        "ORDER BY vehicle_id, t",
        params={"files": files},
    )
    assert relation is not None
    rows = relation.fetchall()
    assert rows == [
        ("007", "08:15:30.000", 52.5, 90.0, 2, "2024-05-01"),
        ("V1", "07:21:00.000", 15.0, None, 20, "2024-05-01"),
        ("V1", "08:15:30.000", 0.0, None, 3, "2024-05-01"),
        ("V1", "08:20:00.000", 10.0, 45.5, 19, "2024-05-01"),
        ("V1", "08:22:00.000", 20.0, None, 21, "2024-05-01"),
        ("V2", "08:19:00.000", 25.0, None, 25, "2024-05-01"),
        ("V2", "08:19:00.250", 12.5, None, 16, "2024-05-01"),
    ]
    meta = pq.read_metadata(io.BytesIO(path.read_bytes()))
    assert meta.row_group(0).column(0).compression == "SNAPPY"


def test_the_same_file_twice_and_a_rerun_after_a_crash_store_each_item_once(
    env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    upload(env, fixtures.KEY, fixtures.BODY)
    assert flows.telemetry_file(fixtures.KEY)["status"] == "processed"
    assert flows.telemetry_file(fixtures.KEY)["status"] == "already_processed"
    assert depth(env, env.telemetry_high_queue) + depth(env, env.telemetry_low_queue) == 2

    # a second file crashes after its messages are sent, before its marker is written
    key = "incoming/2024/05/02/crash.csv"
    body = fixtures.HEADER + b"".join(
        f"V1,2024-05-02T09:{m:02d}:00Z,40.74,-73.98,{m},moving,,,\n".encode() for m in range(30)
    )
    upload(env, key, body)

    def boom(*_args: Any, **_kwargs: Any) -> str:
        raise RuntimeError("the container died")

    original = flows.mark_processed  # type: ignore[attr-defined]
    monkeypatch.setattr(flows, "mark_processed", boom)
    state = flows.telemetry_file(key, return_state=True)
    assert state.is_failed()
    assert depth(env, env.telemetry_high_queue) == 2  # the file's message is on its way
    monkeypatch.setattr(flows, "mark_processed", original)

    rerun = flows.telemetry_file(key)
    assert (rerun["status"], rerun["stored"], rerun["duplicates"]) == ("processed", 30, 0)
    again = flows.telemetry_file(fixtures.KEY, force=True)
    assert (again["stored"], again["duplicates"]) == (7, 2)

    consumed = flows.telemetry_consume()
    assert consumed["received"] == {"high": 4, "low": 2}  # every message, some twice...
    keys = stored_keys(env)
    assert len(keys) == len(set(keys)) == 37  # ...and each item once
    assert dynamo.count_items(env.telemetry_table) == 37


def test_a_maybe_seen_key_is_stored_unless_another_file_holds_it(
    env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    upload(env, fixtures.KEY, fixtures.BODY)
    flows.telemetry_file(fixtures.KEY)
    overlap = (
        fixtures.HEADER
        + b"007,2024-05-01T08:15:30.000+00:00,40.7128,-74.0060,52.5,moving,,,\n"  # in file 1
        + b"V1,2024-05-01T12:00:00Z,40.74,-73.98,10,moving,,,\n"  # new
    )
    upload(env, "incoming/2024/05/01/b.csv", overlap)
    second = flows.telemetry_file("incoming/2024/05/01/b.csv")
    assert (second["stored"], second["duplicates"]) == (1, 1)
    assert second["metrics"]["confirmed_duplicates_other_files"] == 1

    # a filter that suspects every key (a false positive for all): only exact hits are dropped
    full = DayBloom(16, [BloomSegment(16, np.full(4, np.uint64(2**64 - 1)), 16)])
    monkeypatch.setattr(storage_io, "load_bloom", lambda *_a, **_k: full)
    fresh = (
        fixtures.HEADER
        + b"".join(
            f"V2,2024-05-01T13:{m:02d}:00Z,40.74,-73.98,5,idle,,,\n".encode() for m in range(20)
        )
        + b"V1,2024-05-01T12:00:00.000Z,40.74,-73.98,10,moving,,,\n"
    )  # in file b
    upload(env, "incoming/2024/05/01/c.csv", fresh)
    third = flows.telemetry_file("incoming/2024/05/01/c.csv")
    assert third["metrics"]["bloom_maybe_seen"] == 21
    assert third["metrics"]["confirmed_duplicates_other_files"] == 1
    assert (third["stored"], third["duplicates"]) == (20, 1)


def poison_message(s: Settings) -> str:
    """A real message of 5 events whose third event has a lat that is not a number."""
    table = VehicleTable()
    table.add({"V1": json.dumps(fixtures.METADATA["V1"])})
    events = Events(
        codes=np.zeros(5, np.int64),
        ms=1_714_521_600_000 + np.arange(5, dtype=np.int64) * 1000,
        lat=pa.array(["40.7"] * 5),
        lon=pa.array(["-74.0"] * 5),
        speed=pa.array(["10"] * 5),
        status=np.zeros(5, np.int8),
        distance_milli=np.full(5, 12, np.int64),
        heading=pa.nulls(5, pa.string()),
        odometer=pa.nulls(5, pa.string()),
    )
    (message,) = build_messages(
        events,
        priority="high",
        batch_prefix="poison-00000",
        source_key="incoming/x.csv",
        vehicle_json=table.json_ids(),
        vehicle_entries=table.entries,
        entry_lengths=table.entry_lengths,
        max_bytes=100_000,
        with_expiry=False,
    )
    doc = json.loads(message.body)
    doc["events"]["lat"][2] = "north"
    queue_io.send_body(
        queue_io.queue_url(s.telemetry_high_queue), json.dumps(doc), message.batch, 5
    )
    return message.batch


def test_a_message_failing_three_times_goes_to_the_dlq_with_its_error(env: Settings) -> None:
    batch = poison_message(env)

    consumed = flows.telemetry_consume()

    assert consumed["failed"] == 3  # received and failed three times, then dead-lettered
    assert consumed["queue_depth"] == {"high": 0, "low": 0, "dlq": 1}
    assert len(stored_keys(env)) == 4  # the rest of its batch is stored
    listed = flows.telemetry_dlq()["messages"]
    assert [(m["batch"], m["source_key"], m["events"], m["error"]) for m in listed] == [
        (batch, "incoming/x.csv", 5, "event 2: lat 'north' is not a number")
    ]
    assert depth(env, env.telemetry_dlq) == 1  # listing leaves it there

    redriven = flows.telemetry_dlq(action="redrive", batches=[batch])
    assert redriven["redriven"] == 1
    assert depth(env, env.telemetry_dlq) == 0
    assert depth(env, env.telemetry_high_queue) == 1
    deleted = flows.telemetry_dlq(action="delete", batches=["nothing-like-it"])
    assert deleted["messages"] == []


def test_the_consumer_drains_the_high_queue_first(env: Settings) -> None:
    body = fixtures.HEADER + b"".join(
        f"V1,2024-05-01T09:{m:02d}:00Z,40.74,-73.98,5,{'moving' if m % 2 else 'idle'},,,\n".encode()
        for m in range(60)
    )
    upload(env, fixtures.KEY, body)
    flows.telemetry_file(fixtures.KEY)
    high_before = depth(env, env.telemetry_high_queue)
    assert high_before == depth(env, env.telemetry_low_queue) == 1
    with disable_run_logger():
        stats = drain_round.fn(1, 10, 0)
    assert stats.order == ["high", "low"]
    assert stats.received == {"high": 1, "low": 1}
    assert stats.deleted == 2
    assert stats.items_written == 60


def test_the_lambda_route_and_the_sweep_share_the_marker(env: Settings) -> None:
    etag = upload(env, fixtures.KEY, fixtures.BODY)
    missed = "incoming/2024/05/01/missed.CSV"
    upload(env, missed, fixtures.HEADER + b"V1,2024-05-01T10:00:00Z,40.7,-74.0,1,off,,,\n")
    upload(env, "incoming/2024/05/01/notes.txt", b"not telemetry")
    event = s3_event(env.telemetry_raw_bucket, fixtures.KEY, etag, len(fixtures.BODY))
    (record,) = handler(event)["records"]
    assert (record["flow"], record["state"]) == ("telemetry-file", "Completed")
    assert record["result"]["stored"] == 7

    sweep = flows.telemetry_sweep()
    assert sweep["files"] == 2
    assert sweep["by_status"] == {"processed": 1}
    assert sweep["already_processed"] == 1
    assert flows.telemetry_sweep()["by_status"] == {}
    (again,) = handler(event)["records"]
    assert again["result"]["status"] == "already_processed"


def test_a_replaced_or_missing_object_is_left_alone(env: Settings) -> None:
    upload(env, fixtures.KEY, fixtures.BODY)
    stale = flows.telemetry_file(fixtures.KEY, etag="0" * 32)
    assert stale["status"] == "superseded"
    assert flows.telemetry_file("incoming/nothing.csv")["status"] == "missing"
    with pytest.raises(ValueError, match="not a telemetry file"):
        flows.telemetry_file("uploads/x.csv")


def test_a_file_that_does_not_reconcile_fails_before_sending_and_has_no_marker(
    env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tasks.telemetry.process_core import FileProcessor

    original = FileProcessor.finish

    def lose_a_reject(self: FileProcessor, decision: Any) -> Any:
        result = original(self, decision)
        result.rejected["bad_number"] -= 1  # a bug that loses a row
        return result

    monkeypatch.setattr(FileProcessor, "finish", lose_a_reject)
    upload(env, fixtures.KEY, fixtures.BODY)
    state = flows.telemetry_file(fixtures.KEY, return_state=True)
    assert state.is_failed()
    assert "24 rows != 7 stored + 14 rejected + 2 duplicates" in str(state.message)
    fid = plan_core.file_id(fixtures.KEY, s3.md5_hex(fixtures.BODY))
    assert s3.head(env.telemetry_raw_bucket, plan_core.marker_key(fid)) is None
    assert depth(env, env.telemetry_high_queue) == 0
    assert aws is not None
