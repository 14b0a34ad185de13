"""The S3 writer and reader every pipeline uses: encrypted puts, skip-if-unchanged, JSON state.

Every put asks for server-side encryption (`s3_sse`), sets a content type, sends `Content-MD5` so
S3 rejects a corrupted body, and stores the body's MD5 as object metadata. Skip-if-unchanged
compares the new body's MD5 with the stored object's ETag (the MD5 for single-part SSE-S3 puts)
or, failing that, with the stored metadata (ETags of SSE-KMS objects are not MD5s).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from tasks.common import aws
from tasks.common.settings import Settings, get_settings

CSV = "text/csv; charset=utf-8"
JSON = "application/json"
PARQUET = "application/vnd.apache.parquet"
GZIP_CSV = "application/gzip"
_MD5_META = "content-md5-hex"
_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})


@dataclass(frozen=True)
class WriteReport:
    """What a batch of puts did."""

    written: int = 0
    unchanged: int = 0
    written_keys: tuple[str, ...] = field(default=(), repr=False)

    def __add__(self, other: WriteReport) -> WriteReport:
        return WriteReport(
            self.written + other.written,
            self.unchanged + other.unchanged,
            self.written_keys + other.written_keys,
        )


def md5_hex(body: bytes) -> str:
    """Hex MD5 of `body` (the ETag S3 gives a single-part, non-KMS object)."""
    return hashlib.md5(body, usedforsecurity=False).hexdigest()


def is_missing(exc: ClientError) -> bool:
    """True when a ClientError means "no such object/key"."""
    return str(exc.response.get("Error", {}).get("Code")) in _MISSING


def stored_md5(bucket: str, key: str, settings: Settings | None = None) -> str | None:
    """The MD5 recorded for an existing object (metadata, else a plain ETag), None if absent."""
    try:
        head = aws.s3(settings).head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if is_missing(exc):
            return None
        raise
    recorded = head.get("Metadata", {}).get(_MD5_META)
    if recorded:
        return recorded
    etag = head.get("ETag", "").strip('"')
    return etag if "-" not in etag else None  # multipart ETags are not MD5s


def put_bytes(
    bucket: str,
    key: str,
    body: bytes,
    *,
    content_type: str,
    skip_unchanged: bool = False,
    metadata: Mapping[str, str] | None = None,
    settings: Settings | None = None,
    if_match: str | None = None,
    if_none_match: str | None = None,
) -> bool:
    """Put `body` at `s3://bucket/key` encrypted; returns False if skipped as unchanged.

    `if_match` (an ETag) / `if_none_match="*"` make the put conditional (S3 answers 412
    PreconditionFailed when another writer got there first): optimistic read-modify-write.
    """
    s = settings or get_settings()
    digest = md5_hex(body)
    if skip_unchanged and stored_md5(bucket, key, s) == digest:
        return False
    extra: dict[str, Any] = {"ServerSideEncryption": s.s3_sse}
    if s.s3_sse == "aws:kms" and s.s3_kms_key_id:
        extra["SSEKMSKeyId"] = s.s3_kms_key_id
    if if_match is not None:
        extra["IfMatch"] = if_match
    if if_none_match is not None:
        extra["IfNoneMatch"] = if_none_match
    aws.s3(s).put_object(
        Bucket=bucket,
        Key=key,
        Body=body,
        ContentType=content_type,
        ContentMD5=base64.b64encode(bytes.fromhex(digest)).decode(),
        Metadata={**(metadata or {}), _MD5_META: digest},
        **extra,
    )
    return True


def put_many(
    bucket: str,
    items: Iterable[tuple[str, bytes]],
    *,
    content_type: str,
    skip_unchanged: bool = False,
    settings: Settings | None = None,
    workers: int | None = None,
) -> WriteReport:
    """Put many objects with a bounded thread pool; any failed put raises after the pool drains."""
    s = settings or get_settings()
    pairs = list(items)
    if not pairs:
        return WriteReport()

    def one(pair: tuple[str, bytes]) -> tuple[str, bool]:
        key, body = pair
        return key, put_bytes(
            bucket, key, body, content_type=content_type, skip_unchanged=skip_unchanged, settings=s
        )

    with ThreadPoolExecutor(max_workers=min(workers or s.s3_upload_workers, len(pairs))) as pool:
        results = list(pool.map(one, pairs))
    written = tuple(key for key, did in results if did)
    return WriteReport(len(written), len(results) - len(written), written)


def get_bytes(bucket: str, key: str, settings: Settings | None = None) -> bytes | None:
    """The object's bytes, or None if it does not exist."""
    try:
        response = aws.s3(settings).get_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if is_missing(exc):
            return None
        raise
    return response["Body"].read()


def read_json(bucket: str, key: str, settings: Settings | None = None) -> Any | None:
    """Parse a JSON object stored in S3; None if absent."""
    body = get_bytes(bucket, key, settings)
    return None if body is None else json.loads(body)


def dump_json(value: Any) -> bytes:
    """Deterministic JSON bytes (sorted keys, UTF-8, trailing newline)."""
    return (json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()


def write_json(
    bucket: str,
    key: str,
    value: Any,
    *,
    skip_unchanged: bool = False,
    settings: Settings | None = None,
) -> bool:
    """Store `value` as deterministic JSON; returns False if skipped as unchanged."""
    return put_bytes(
        bucket,
        key,
        dump_json(value),
        content_type=JSON,
        skip_unchanged=skip_unchanged,
        settings=settings,
    )
