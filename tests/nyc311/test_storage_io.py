"""S3 I/O: checkpoint round trip, month merges that never duplicate or lose a concurrent write."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from prefect.logging import disable_run_logger

from tasks.common import s3
from tasks.common.errors import ConflictError
from tasks.common.state import StaleStateError, StateError
from tasks.nyc311 import records_core, storage_io
from tasks.nyc311.storage_io import merge_partition

from .conftest import PROCESSED, aws_s3, keys_under, read_body

KEY = "processed/year=2024/month=03/data.parquet"


@pytest.fixture(autouse=True)
def _quiet() -> Iterator[None]:
    with disable_run_logger():
        yield


def _rows(*keys: str, status: str = "Open") -> Any:
    records = [
        {"unique_key": k, "created_date": "2024-03-15T14:23:00.000", "status": status} for k in keys
    ]
    return records_core.parse_records(records).table


@pytest.mark.usefixtures("buckets")
def test_checkpoint_round_trip_and_absence() -> None:
    first = storage_io.read_checkpoint.fn(PROCESSED, "pipeline_state/x.json")
    assert (first.doc, first.etag) == (None, None)
    storage_io.write_checkpoint.fn(first, {"version": 2, "cursor": None})
    assert storage_io.read_checkpoint.fn(PROCESSED, "pipeline_state/x.json").doc == {
        "version": 2,
        "cursor": None,
    }
    assert read_body(PROCESSED, "pipeline_state/x.json") == (
        b'{\n  "cursor": null,\n  "version": 2\n}\n'
    )


@pytest.mark.usefixtures("buckets")
def test_a_checkpoint_moved_by_another_run_is_not_overwritten() -> None:
    mine = storage_io.read_checkpoint.fn(PROCESSED, "pipeline_state/x.json")
    other = storage_io.read_checkpoint.fn(PROCESSED, "pipeline_state/x.json")
    storage_io.write_checkpoint.fn(other, {"version": 2, "cursor": "theirs"})
    with pytest.raises(StaleStateError, match="changed by another run"):
        storage_io.write_checkpoint.fn(mine, {"version": 2, "cursor": "mine"})
    assert storage_io.read_checkpoint.fn(PROCESSED, "pipeline_state/x.json").doc == {
        "version": 2,
        "cursor": "theirs",
    }


@pytest.mark.usefixtures("buckets")
def test_a_checkpoint_that_is_not_an_object_is_an_error() -> None:
    aws_s3().put_object(Bucket=PROCESSED, Key="pipeline_state/x.json", Body=b"[1]")
    with pytest.raises(StateError, match="is not a JSON object"):
        storage_io.read_checkpoint.fn(PROCESSED, "pipeline_state/x.json")


@pytest.mark.usefixtures("buckets")
def test_merging_into_a_month_writes_one_file_without_duplicates() -> None:
    first = merge_partition.fn(PROCESSED, KEY, _rows("1", "2"))
    again = merge_partition.fn(PROCESSED, KEY, _rows("2", "3", status="Closed"))
    assert (first.inserted, first.replaced, first.written) == (2, 0, True)
    assert (again.rows, again.inserted, again.replaced, again.written) == (3, 1, 1, True)
    assert keys_under(PROCESSED, "processed/") == [KEY]
    table = records_core.from_parquet(read_body(PROCESSED, KEY))
    assert table.select(["unique_key", "status"]).to_pylist() == [
        {"unique_key": "1", "status": "Open"},
        {"unique_key": "2", "status": "Closed"},
        {"unique_key": "3", "status": "Closed"},
    ]
    head = aws_s3().head_object(Bucket=PROCESSED, Key=KEY)
    assert head["ContentType"] == "application/vnd.apache.parquet"
    assert head["ServerSideEncryption"] == "AES256"


@pytest.mark.usefixtures("buckets")
def test_an_unchanged_month_is_not_rewritten() -> None:
    merge_partition.fn(PROCESSED, KEY, _rows("1", "2"))
    etag = aws_s3().head_object(Bucket=PROCESSED, Key=KEY)["ETag"]
    result = merge_partition.fn(PROCESSED, KEY, _rows("2"))
    assert (result.written, result.inserted, result.replaced) == (False, 0, 1)
    assert aws_s3().head_object(Bucket=PROCESSED, Key=KEY)["ETag"] == etag


@pytest.mark.usefixtures("buckets")
def test_a_concurrent_writer_makes_the_merge_retry_instead_of_losing_its_rows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    merge_partition.fn(PROCESSED, KEY, _rows("1"))
    real_read = s3.get_with_etag

    def read_then_someone_else_writes(bucket: str, key: str) -> Any:
        seen = real_read(bucket, key)
        monkeypatch.setattr(s3, "get_with_etag", real_read)
        merge_partition.fn(PROCESSED, KEY, _rows("2"))  # the other run, between read and put
        return seen

    monkeypatch.setattr(s3, "get_with_etag", read_then_someone_else_writes)
    with pytest.raises(ConflictError, match="changed since it was read"):
        merge_partition.fn(PROCESSED, KEY, _rows("3"))
    merge_partition.fn(PROCESSED, KEY, _rows("3"))  # what the task retry does
    table = records_core.from_parquet(read_body(PROCESSED, KEY))
    assert table["unique_key"].to_pylist() == ["1", "2", "3"]


@pytest.mark.usefixtures("buckets")
def test_two_first_writers_of_a_month_cannot_both_win(monkeypatch: pytest.MonkeyPatch) -> None:
    real_read = s3.get_with_etag

    def read_then_someone_creates(bucket: str, key: str) -> Any:
        seen = real_read(bucket, key)
        monkeypatch.setattr(s3, "get_with_etag", real_read)
        merge_partition.fn(PROCESSED, KEY, _rows("2"))
        return seen

    monkeypatch.setattr(s3, "get_with_etag", read_then_someone_creates)
    with pytest.raises(ConflictError):
        merge_partition.fn(PROCESSED, KEY, _rows("1"))
