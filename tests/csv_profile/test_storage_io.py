"""I/O tasks (run with `.fn()` against moto) and the summary → DynamoDB item conversion."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from prefect.logging import disable_run_logger

from tasks.common import dynamo
from tasks.csv_profile import storage_io
from tests.csv_profile.conftest import SAMPLES, CsvStore
from tests.csv_profile.options import options


def plain(item: dict[str, Any]) -> dict[str, Any]:
    return {k: TypeDeserializer().deserialize(v) for k, v in item.items()}


def test_item_numbers_are_decimals_parsed_from_the_summary_json() -> None:
    summary = {"file_name": "x.csv", "row_count": 3, "stats": {"avg": 0.1, "max": 1e20}, "ok": None}
    item = storage_io.to_item(summary)
    assert item["row_count"] == {"N": "3"}
    assert item["stats"] == {"M": {"avg": {"N": "0.1"}, "max": {"N": "1E+20"}}}
    assert item["ok"] == {"NULL": True}
    assert plain(item)["stats"]["avg"] == Decimal("0.1")  # not 0.1000000000000000055…


def test_an_item_too_large_for_dynamodb_points_to_the_summary_for_its_largest_parts() -> None:
    summary = {
        "file_name": "wide.csv",
        "summary_key": "processed/wide_summary.json",
        "source": {"bucket": "data", "key": "uploads/wide.csv"},
        "schema": {f"c{i}": "int" for i in range(10)},
        "statistics": {
            f"c{i}": {"min": i, "max": i, "avg": float(i), "count": 1} for i in range(60)
        },
        "quality_issues": {
            "invalid_values": {f"c{i}": {"count": 1, "examples": ["y" * 60]} for i in range(10)}
        },
        "columns": {f"c{i}": {"position": i, "header": "x" * 200} for i in range(100)},
    }
    item = plain(storage_io.to_item(summary, budget=5_000))
    assert item["columns"] == "s3://data/processed/wide_summary.json#/columns"
    assert item["item_truncated"] is True
    assert item["item_omitted"] == ["columns"]  # only as much as needed
    assert item["statistics"] == summary["statistics"]
    assert item["schema"] == summary["schema"]

    small = plain(storage_io.to_item(summary, budget=1_200))
    assert small["item_omitted"] == ["columns", "statistics", "quality_issues/invalid_values"]
    assert small["statistics"] == "s3://data/processed/wide_summary.json#/statistics"
    assert small["quality_issues"]["invalid_values"] == (
        "s3://data/processed/wide_summary.json#/quality_issues/invalid_values"
    )
    assert small["schema"] == summary["schema"]
    assert dynamo.item_size(storage_io.item_doc(summary, budget=1_200)) <= 1_200


def test_an_item_that_fits_is_the_summary_itself() -> None:
    summary = {"file_name": "a.csv", "schema": {"b": "int", "a": "string"}}
    doc = storage_io.item_doc(summary)
    assert doc == summary
    assert list(doc["schema"]) == ["b", "a"]


def test_head_and_profile_read_the_version_that_was_announced(csv_store: CsvStore) -> None:
    etag = csv_store.upload("clean.csv", (SAMPLES / "clean.csv").read_bytes())
    with disable_run_logger():
        upload = storage_io.head_upload.fn(csv_store.bucket, "uploads/clean.csv")
        assert upload is not None
        assert (upload.etag, upload.size_bytes) == (etag, 241)
        profile = storage_io.profile_upload.fn(upload, options())
        assert profile is not None
        assert profile.row_count == 5
        csv_store.upload("clean.csv", b"a,b\n1,2\n")  # replaced: the announced ETag is gone
        assert storage_io.profile_upload.fn(upload, options()) is None
        assert storage_io.head_upload.fn(csv_store.bucket, "uploads/nope.csv") is None


def test_the_metadata_item_is_not_overwritten_by_an_older_upload(csv_store: CsvStore) -> None:
    newer = {"file_name": "a.csv", "upload_timestamp": "2025-01-02T00:00:00Z", "status": "success"}
    older = {**newer, "upload_timestamp": "2025-01-01T00:00:00Z", "status": "error"}
    with disable_run_logger():
        assert storage_io.write_metadata_item.fn(csv_store.table, newer) is True
        assert storage_io.write_metadata_item.fn(csv_store.table, older) is False
        assert storage_io.write_metadata_item.fn(csv_store.table, newer) is True  # same: idempotent
    item = csv_store.item("a.csv")
    assert item is not None
    assert item["status"] == {"S": "success"}


def test_existing_record_returns_plain_json_values(csv_store: CsvStore) -> None:
    summary = {
        "file_name": "a.csv",
        "source": {"etag": "abc", "size_bytes": 5},
        "upload_timestamp": "2025-01-01T00:00:00Z",
        "processed_timestamp": "2025-01-01T00:00:05Z",
        "status": "success",
        "profile_options": {"type_threshold": 0.95, "version": 1},
        "schema": {"x": "int"},
    }
    with disable_run_logger():
        storage_io.write_metadata_item.fn(csv_store.table, summary)
        record = storage_io.existing_record.fn(csv_store.table, "a.csv")
        assert storage_io.existing_record.fn(csv_store.table, "b.csv") is None
    assert record == {k: v for k, v in summary.items() if k not in {"file_name", "schema"}}


def test_list_uploads_finds_csv_objects_in_key_order(csv_store: CsvStore) -> None:
    etag_b = csv_store.upload("b/two.CSV", b"x\n1\n")
    etag_a = csv_store.upload("a.csv", b"x\n2\n")
    csv_store.upload("notes.txt", b"hello")
    with disable_run_logger():
        found = storage_io.list_uploads.fn(csv_store.bucket, "uploads/")
    assert found == [("uploads/a.csv", etag_a), ("uploads/b/two.CSV", etag_b)]
