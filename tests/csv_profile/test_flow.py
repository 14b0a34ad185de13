"""The flows under a real Prefect server against moto: what lands in S3 and DynamoDB."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer

from flows.csv_profile import profile_csv_upload, sweep_uploads
from tasks.csv_profile import storage_io
from tasks.csv_profile.summary_core import summary_json
from tests.csv_profile import expected
from tests.csv_profile.conftest import SAMPLES, CsvStore

pytestmark = pytest.mark.usefixtures("prefect_harness", "quick_flows")


def as_json(item: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB item as the JSON values it was made from (Decimal → int/float)."""

    def undecimal(value: Any) -> Any:
        if isinstance(value, Decimal):
            return int(value) if value == value.to_integral_value() else float(value)
        raise TypeError(value)

    values = {k: TypeDeserializer().deserialize(v) for k, v in item.items()}
    plain: dict[str, Any] = json.loads(json.dumps(values, default=undecimal))
    return plain


def test_an_upload_gets_a_summary_and_an_item_that_agree(csv_store: CsvStore) -> None:
    etag = csv_store.upload("team/dirty.csv", (SAMPLES / "dirty.csv").read_bytes())
    result = profile_csv_upload(key="uploads/team/dirty.csv", etag=etag)
    body = csv_store.summary_bytes("team/dirty.csv")
    assert body is not None
    summary = json.loads(body)
    # deterministic bytes: 2-space indent, keys in the order built, columns in file order
    assert body == summary_json(summary)
    order = ["id", "name", "age", "salary", "join_date", "column_6", "name_2"]
    assert list(summary["schema"]) == order
    assert list(summary["columns"]) == order
    assert expected.strip(summary) == expected.DIRTY
    assert summary["file_name"] == "team/dirty.csv"
    assert summary["summary_key"] == "processed/team/dirty_summary.json"
    assert summary["source"] == {
        "bucket": csv_store.bucket,
        "key": "uploads/team/dirty.csv",
        "etag": etag,
        "size_bytes": 1462,
    }
    item = csv_store.item("team/dirty.csv")
    assert item is not None
    assert item["row_count"] == {"N": "40"}
    assert item["statistics"]["M"]["age"]["M"]["avg"] == {"N": "41.447368"}
    assert as_json(item) == summary
    assert result == {
        "file_name": "team/dirty.csv",
        "status": "success",
        "etag": etag,
        "row_count": 40,
        "columns": 7,
        "ragged_rows": 0,
        "has_issues": True,
        "summary_uri": f"s3://{csv_store.bucket}/processed/team/dirty_summary.json",
        "error_message": None,
    }


def test_reprocessing_the_same_version_gives_identical_bytes_and_item(
    csv_store: CsvStore,
) -> None:
    csv_store.upload("clean.csv", (SAMPLES / "clean.csv").read_bytes())
    profile_csv_upload(key="uploads/clean.csv")
    # Pretend the first run was long ago: a rerun must keep that processing time.
    first = json.loads(csv_store.summary_bytes("clean.csv") or b"")
    first["processed_timestamp"] = "2000-01-01T00:00:00Z"
    storage_io.write_summary.fn(csv_store.bucket, "processed/clean_summary.json", first)
    storage_io.write_metadata_item.fn(csv_store.table, first)
    before = (csv_store.summary_bytes("clean.csv"), csv_store.item("clean.csv"))

    profile_csv_upload(key="uploads/clean.csv")
    assert (csv_store.summary_bytes("clean.csv"), csv_store.item("clean.csv")) == before

    csv_store.upload(
        "clean.csv", (SAMPLES / "clean.csv").read_bytes() + b"6,Fay,40,1,2020-01-01,1,no\n"
    )
    profile_csv_upload(key="uploads/clean.csv")
    changed = json.loads(csv_store.summary_bytes("clean.csv") or b"")
    assert changed["row_count"] == 6
    assert changed["processed_timestamp"] != "2000-01-01T00:00:00Z"  # a new version


def test_a_binary_file_is_an_error_item_and_the_flow_still_completes(
    csv_store: CsvStore,
) -> None:
    csv_store.upload("oops.csv", (SAMPLES / "binary.csv").read_bytes())
    state = profile_csv_upload(key="uploads/oops.csv", return_state=True)
    assert state.is_completed()
    result = state.result()
    assert (result["status"], result["row_count"]) == ("error", 0)
    message = "binary content, not CSV text: starts like a gzip file (1f 8b 08 00 …)"
    assert result["error_message"] == message
    summary = json.loads(csv_store.summary_bytes("oops.csv") or b"")
    assert expected.strip(summary) == expected.BINARY
    item = csv_store.item("oops.csv")
    assert item is not None
    assert as_json(item) == summary
    assert item["status"] == {"S": "error"}
    assert item["error_message"] == {"S": message}


def test_an_unreachable_table_fails_the_run_and_writes_nothing(
    csv_store: CsvStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tasks.common import aws

    monkeypatch.setattr(
        storage_io, "existing_record", storage_io.existing_record.with_options(retries=0)
    )
    aws.dynamodb().delete_table(TableName=csv_store.table)
    csv_store.upload("clean.csv", (SAMPLES / "clean.csv").read_bytes())
    state = profile_csv_upload(key="uploads/clean.csv", return_state=True)
    assert state.is_failed()
    assert "ResourceNotFoundException" in str(state.message)
    assert csv_store.keys("processed/") == []


def test_a_crash_between_summary_and_item_is_repaired_by_the_retry(
    csv_store: CsvStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect import task

    @task(name="write_metadata_item")
    def unreachable(table: str, summary: dict[str, Any]) -> bool:
        raise ConnectionError("dynamodb: connection refused")

    working = storage_io.write_metadata_item
    csv_store.upload("clean.csv", (SAMPLES / "clean.csv").read_bytes())
    monkeypatch.setattr(storage_io, "write_metadata_item", unreachable)
    state = profile_csv_upload(key="uploads/clean.csv", return_state=True)
    assert state.is_failed()
    assert csv_store.summary_bytes("clean.csv") is not None  # summary first, then the item
    assert csv_store.item("clean.csv") is None
    monkeypatch.setattr(storage_io, "write_metadata_item", working)
    assert profile_csv_upload(key="uploads/clean.csv")["status"] == "success"  # the retry
    item = csv_store.item("clean.csv")
    assert item is not None
    assert as_json(item) == json.loads(csv_store.summary_bytes("clean.csv") or b"")


def test_a_stale_event_and_a_vanished_object_write_nothing(csv_store: CsvStore) -> None:
    csv_store.upload("clean.csv", (SAMPLES / "clean.csv").read_bytes())
    stale = profile_csv_upload(key="uploads/clean.csv", etag="0123456789abcdef")
    assert stale["status"] == "superseded"
    gone = profile_csv_upload(key="uploads/never-uploaded.csv")
    assert gone == {"file_name": "never-uploaded.csv", "status": "missing"}
    assert csv_store.keys("processed/") == []


def test_a_hostile_key_cannot_write_outside_processed(csv_store: CsvStore) -> None:
    csv_store.upload("../../evil.csv", (SAMPLES / "clean.csv").read_bytes())
    result = profile_csv_upload(key="uploads/../../evil.csv")
    assert result["summary_uri"] == (
        f"s3://{csv_store.bucket}/processed/%2E%2E/%2E%2E/evil_summary.json"
    )
    assert csv_store.keys("processed/") == ["processed/%2E%2E/%2E%2E/evil_summary.json"]


def test_the_sweep_profiles_only_versions_not_yet_recorded(csv_store: CsvStore) -> None:
    csv_store.upload("a.csv", (SAMPLES / "clean.csv").read_bytes())
    profile_csv_upload(key="uploads/a.csv")
    csv_store.upload("b.csv", (SAMPLES / "ragged.csv").read_bytes())  # its event was "lost"
    first = sweep_uploads()
    assert first["by_status"] == {"unchanged": 1, "success": 1}
    again = sweep_uploads()
    assert again["by_status"] == {"unchanged": 2}
    assert csv_store.item("b.csv") is not None


WIDE = 9_000


def wide_csv() -> bytes:
    """9,000 columns v0..v8999 (not in lexical order: v10 sorts before v2) and 3 rows: row r
    holds 10 i + r in column v<i>."""
    header = ",".join(f"v{i}" for i in range(WIDE))
    rows = [",".join(str(10 * i + r) for i in range(WIDE)) for r in (1, 2, 3)]
    return ("\n".join([header, *rows]) + "\n").encode()


def test_a_9000_column_file_gets_a_complete_summary_and_an_item_that_fits(
    csv_store: CsvStore,
) -> None:
    etag = csv_store.upload("wide.csv", wide_csv())
    result = profile_csv_upload(key="uploads/wide.csv", etag=etag)
    assert (result["status"], result["row_count"], result["columns"]) == ("success", 3, WIDE)
    body = csv_store.summary_bytes("wide.csv")
    assert body is not None
    summary = json.loads(body)
    names = [f"v{i}" for i in range(WIDE)]
    assert expected.strip(summary) == {
        "status": "success",
        "row_count": 3,
        "schema": dict.fromkeys(names, "int"),
        "statistics": {
            f"v{i}": {"min": 10 * i + 1, "max": 10 * i + 3, "avg": 10 * i + 2.0, "count": 3}
            for i in range(WIDE)
        },
        "quality_issues": expected.no_issues(3),
        "columns": {f"v{i}": expected.col(i + 1, "int", 3, 3, f"v{i}", int=3) for i in range(WIDE)},
        "file": expected.UTF8_COMMA,
    }
    assert list(summary["schema"]) == names  # the file's order, in the stored JSON too
    assert list(summary["statistics"]) == names

    # the item: written (moto enforces DynamoDB's 400 KB), its largest maps point to the summary
    item = csv_store.item("wide.csv")
    assert item is not None
    plain = as_json(item)
    where = f"s3://{csv_store.bucket}/processed/wide_summary.json"
    assert plain["columns"] == f"{where}#/columns"
    assert plain["statistics"] == f"{where}#/statistics"
    assert (plain["item_truncated"], plain["item_omitted"]) == (True, ["columns", "statistics"])
    assert plain["schema"] == summary["schema"]
    assert {k: v for k, v in plain.items() if not k.startswith("item_")} == {
        **summary,
        "columns": f"{where}#/columns",
        "statistics": f"{where}#/statistics",
    }
    # the sweep sees a recorded version: it is not profiled again
    assert sweep_uploads()["by_status"] == {"unchanged": 1}


def test_uploads_whose_names_differ_in_suffix_case_keep_apart(csv_store: CsvStore) -> None:
    csv_store.upload("x.csv", (SAMPLES / "clean.csv").read_bytes())
    csv_store.upload("x.CSV", (SAMPLES / "ragged.csv").read_bytes())
    lower = profile_csv_upload(key="uploads/x.csv")
    upper = profile_csv_upload(key="uploads/x.CSV")
    assert lower["summary_uri"] == f"s3://{csv_store.bucket}/processed/x_summary.json"
    assert upper["summary_uri"] == f"s3://{csv_store.bucket}/processed/x.CSV_summary.json"
    assert csv_store.keys("processed/") == [
        "processed/x.CSV_summary.json",
        "processed/x_summary.json",
    ]
    for name, rows in (("x.csv", 5), ("x.CSV", 6)):
        item = csv_store.item(name)
        assert item is not None
        assert as_json(item)["row_count"] == rows
        stored = json.loads(csv_store.summary_bytes(name) or b"")
        assert (stored["file_name"], stored["row_count"]) == (name, rows)
    assert sweep_uploads()["by_status"] == {"unchanged": 2}
