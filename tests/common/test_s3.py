"""The S3 writer encrypts every put, skips unchanged bodies and reports what it did."""

from __future__ import annotations

from typing import Any

import pytest

from tasks.common import aws, s3
from tasks.common.errors import ConflictError

BUCKET = "test-bucket"


@pytest.fixture
def bucket(aws: None) -> str:
    aws_module().s3().create_bucket(Bucket=BUCKET)
    return BUCKET


def test_put_is_encrypted_typed_and_md5_tagged(bucket: str) -> None:
    assert s3.put_bytes(bucket, "a/b.csv", b"x,y\n1,2\n", content_type=s3.CSV)
    head = aws_module().s3().head_object(Bucket=bucket, Key="a/b.csv")
    assert head["ServerSideEncryption"] == "AES256"
    assert head["ContentType"] == "text/csv; charset=utf-8"
    assert head["Metadata"]["content-md5-hex"] == s3.md5_hex(b"x,y\n1,2\n")
    assert head["ETag"].strip('"') == s3.md5_hex(b"x,y\n1,2\n")


def test_skip_unchanged_compares_md5(bucket: str) -> None:
    assert s3.put_bytes(bucket, "k", b"v1", content_type=s3.CSV, skip_unchanged=True)
    assert not s3.put_bytes(bucket, "k", b"v1", content_type=s3.CSV, skip_unchanged=True)
    assert s3.put_bytes(bucket, "k", b"v2", content_type=s3.CSV, skip_unchanged=True)
    assert s3.get_bytes(bucket, "k") == b"v2"
    # without skip_unchanged the same body is written again
    assert s3.put_bytes(bucket, "k", b"v2", content_type=s3.CSV)


def test_put_many_reports_written_and_unchanged(bucket: str) -> None:
    items = [(f"p/{i}.csv", f"row {i}\n".encode()) for i in range(40)]
    first = s3.put_many(bucket, items, content_type=s3.CSV, skip_unchanged=True, workers=4)
    assert (first.written, first.unchanged) == (40, 0)
    changed = [("p/0.csv", b"new\n"), *items[1:35]]
    second = s3.put_many(bucket, changed, content_type=s3.CSV, skip_unchanged=True)
    assert (second.written, second.unchanged) == (1, 34)
    assert second.written_keys == ("p/0.csv",)


def test_put_many_raises_when_a_put_fails(bucket: str) -> None:
    with pytest.raises(Exception, match="NoSuchBucket"):
        s3.put_many("no-such-bucket", [("k", b"v")], content_type=s3.CSV)


def test_missing_object_reads_as_none(bucket: str) -> None:
    assert s3.get_bytes(bucket, "nope") is None
    assert s3.read_json(bucket, "nope.json") is None
    assert s3.stored_md5(bucket, "nope") is None


def test_json_round_trip_is_deterministic(bucket: str) -> None:
    assert s3.write_json(bucket, "state.json", {"b": 1, "a": "é"})
    assert s3.get_bytes(bucket, "state.json") == b'{\n  "a": "\xc3\xa9",\n  "b": 1\n}\n'
    assert s3.read_json(bucket, "state.json") == {"a": "é", "b": 1}
    assert not s3.write_json(bucket, "state.json", {"a": "é", "b": 1}, skip_unchanged=True)


def test_kms_put_asks_for_the_key(bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIPELINES_S3_SSE", "aws:kms")
    key_id = aws_module().client("kms").create_key()["KeyMetadata"]["KeyId"]
    monkeypatch.setenv("PIPELINES_S3_KMS_KEY_ID", key_id)
    s3.put_bytes(bucket, "kms.csv", b"a\n", content_type=s3.CSV)
    head = aws_module().s3().head_object(Bucket=bucket, Key="kms.csv")
    assert head["ServerSideEncryption"] == "aws:kms"
    # the ETag of a KMS object is not its MD5; skip-unchanged relies on the stored metadata
    assert not s3.put_bytes(bucket, "kms.csv", b"a\n", content_type=s3.CSV, skip_unchanged=True)


def aws_module() -> Any:  # the fixture named `aws` shadows the module inside tests that use it
    return aws


def test_head_and_list_describe_objects_without_quotes(bucket: str) -> None:
    assert s3.head(bucket, "nope") is None
    for i in range(3):
        s3.put_bytes(bucket, f"p/{i}.csv", f"{i}\n".encode(), content_type=s3.CSV)
    s3.put_bytes(bucket, "other/x.csv", b"x\n", content_type=s3.CSV)
    info = s3.head(bucket, "p/1.csv")
    assert info is not None
    assert (info.etag, info.size, info.uri) == (s3.md5_hex(b"1\n"), 2, f"s3://{bucket}/p/1.csv")
    assert info.metadata["content-md5-hex"] == s3.md5_hex(b"1\n")
    listed = list(s3.list_objects(bucket, "p/"))
    assert [o.key for o in listed] == ["p/0.csv", "p/1.csv", "p/2.csv"]
    assert [o.etag for o in listed] == [s3.md5_hex(f"{i}\n".encode()) for i in range(3)]


def test_list_pages_through_more_than_a_thousand_objects(bucket: str) -> None:
    items = [(f"many/{i:05d}", b"") for i in range(1_005)]
    s3.put_many(bucket, items, content_type=s3.CSV)
    assert sum(1 for _ in s3.list_objects(bucket, "many/")) == 1_005


def test_conditional_puts_raise_one_conflict_error(bucket: str) -> None:
    assert s3.put_bytes(bucket, "state.json", b"1", content_type=s3.JSON, if_none_match=True)
    with pytest.raises(ConflictError, match="changed since it was read"):
        s3.put_bytes(bucket, "state.json", b"2", content_type=s3.JSON, if_none_match=True)
    body, etag = s3.get_with_etag(bucket, "state.json") or (b"", "")
    assert (body, etag) == (b"1", s3.md5_hex(b"1"))
    s3.put_bytes(bucket, "state.json", b"2", content_type=s3.JSON, if_match=etag)
    with pytest.raises(ConflictError):  # the version we read is gone
        s3.put_bytes(bucket, "state.json", b"3", content_type=s3.JSON, if_match=etag)
    assert s3.get_bytes(bucket, "state.json") == b"2"


def test_a_pinned_read_of_a_replaced_version_is_a_conflict(bucket: str) -> None:
    s3.put_bytes(bucket, "k", b"v1", content_type=s3.CSV)
    old = s3.md5_hex(b"v1")
    chunks = s3.open_stream(bucket, "k", if_match=old)
    assert chunks is not None
    assert b"".join(chunks) == b"v1"
    s3.put_bytes(bucket, "k", b"v2", content_type=s3.CSV)
    with pytest.raises(ConflictError, match="no longer version"):
        s3.open_stream(bucket, "k", if_match=old)
    with pytest.raises(ConflictError):
        s3.get_with_etag(bucket, "k", if_match=old)
    assert s3.open_stream(bucket, "absent") is None


def test_put_stream_small_body_is_one_put(bucket: str) -> None:
    written = s3.put_stream(bucket, "r/small.csv", [b"a,b\n", b"1,2\n"], content_type=s3.CSV)
    assert written == 8
    assert s3.get_bytes(bucket, "r/small.csv") == b"a,b\n1,2\n"
    head = aws_module().s3().head_object(Bucket=bucket, Key="r/small.csv")
    assert head["ServerSideEncryption"] == "AES256"
    assert "-" not in head["ETag"]  # a plain put, not a multipart upload


def test_put_stream_large_body_is_a_multipart_upload(bucket: str) -> None:
    part = 5 << 20
    chunks = [bytes([65 + i % 26]) * (1 << 20) for i in range(12)]  # 12 MiB in 1 MiB pieces
    written = s3.put_stream(bucket, "r/large.csv", chunks, content_type=s3.CSV, part_bytes=part)
    assert written == 12 << 20
    assert s3.get_bytes(bucket, "r/large.csv") == b"".join(chunks)
    head = aws_module().s3().head_object(Bucket=bucket, Key="r/large.csv")
    assert head["ETag"].strip('"').endswith("-2")  # two parts: 5 MiB and the 7 MiB remainder
    assert head["ServerSideEncryption"] == "AES256"
    assert head["ContentType"] == s3.CSV


def test_put_stream_refuses_parts_s3_would_reject(bucket: str) -> None:
    with pytest.raises(ValueError, match="at least 5 MiB"):
        s3.put_stream(bucket, "r/x.csv", [b"x"], content_type=s3.CSV, part_bytes=1 << 20)
