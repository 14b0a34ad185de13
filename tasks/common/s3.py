"""The S3 layer of every pipeline: encrypted puts, skip-unchanged, head/list, conditional writes.

Every put asks for server-side encryption (`s3_sse`), sets a content type, sends `Content-MD5` so
S3 rejects a corrupted body, and stores the body's MD5 as object metadata. Skip-if-unchanged
compares the new body's MD5 with the stored object's ETag (the MD5 for single-part SSE-S3 puts)
or, failing that, with the stored metadata (ETags of SSE-KMS objects are not MD5s).

Conditional writes (`if_match=<etag>` / `if_none_match=True`) are S3's optimistic concurrency:
a put that lost the race raises `ConflictError` (412 PreconditionFailed, 409
ConditionalRequestConflict, or 404 when the object it was conditional on is gone), and the caller
re-reads and tries again. ETags are handled without their quotes everywhere in this project.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from tasks.common import aws
from tasks.common.errors import ConflictError
from tasks.common.settings import Settings, get_settings

if TYPE_CHECKING:
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

CSV = "text/csv; charset=utf-8"
JSON = "application/json"
PARQUET = "application/vnd.apache.parquet"
_MD5_META = "content-md5-hex"
_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})
_CONFLICT = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "412", "409"})


@dataclass(frozen=True)
class ObjectInfo:
    """One stored object version, as HEAD or LIST describe it (`etag` without quotes)."""

    bucket: str
    key: str
    etag: str
    size: int
    last_modified: datetime
    metadata: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


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


def _is_conflict(exc: ClientError) -> bool:
    code = str(exc.response.get("Error", {}).get("Code"))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code in _CONFLICT or status in {409, 412}


def _quoted(etag: str) -> str:
    return f'"{etag.strip(chr(34))}"'


def head(bucket: str, key: str, settings: Settings | None = None) -> ObjectInfo | None:
    """The current version of `s3://bucket/key`, None if there is no such object."""
    try:
        meta = aws.s3(settings).head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if is_missing(exc):
            return None
        raise
    return ObjectInfo(
        bucket=bucket,
        key=key,
        etag=meta["ETag"].strip('"'),
        size=int(meta["ContentLength"]),
        last_modified=meta["LastModified"],
        metadata=dict(meta.get("Metadata") or {}),
    )


def list_objects(
    bucket: str, prefix: str, settings: Settings | None = None
) -> Iterator[ObjectInfo]:
    """Every object under `prefix`, in key order, 1,000 per request (paginated)."""
    pages = aws.s3(settings).get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    for page in pages:
        for obj in page.get("Contents", []):
            yield ObjectInfo(
                bucket=bucket,
                key=obj["Key"],
                etag=obj["ETag"].strip('"'),
                size=int(obj["Size"]),
                last_modified=obj["LastModified"],
            )


def stored_md5(bucket: str, key: str, settings: Settings | None = None) -> str | None:
    """The MD5 recorded for an existing object (metadata, else a plain ETag), None if absent."""
    info = head(bucket, key, settings)
    if info is None:
        return None
    recorded = info.metadata.get(_MD5_META)
    if recorded:
        return recorded
    return info.etag if "-" not in info.etag else None  # multipart ETags are not MD5s


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
    if_none_match: bool = False,
) -> bool:
    """Put `body` at `s3://bucket/key` encrypted; returns False if skipped as unchanged.

    `if_match=<etag>` writes only over that version; `if_none_match=True` only if no object
    exists. Either way a lost race raises `ConflictError` (re-read, then try again).
    """
    s = settings or get_settings()
    digest = md5_hex(body)
    if skip_unchanged and stored_md5(bucket, key, s) == digest:
        return False
    extra: dict[str, Any] = {"ServerSideEncryption": s.s3_sse}
    if s.s3_sse == "aws:kms" and s.s3_kms_key_id:
        extra["SSEKMSKeyId"] = s.s3_kms_key_id
    if if_match is not None:
        extra["IfMatch"] = _quoted(if_match)
    if if_none_match:
        extra["IfNoneMatch"] = "*"
    try:
        aws.s3(s).put_object(
            Bucket=bucket,
            Key=key,
            Body=body,
            ContentType=content_type,
            ContentMD5=base64.b64encode(bytes.fromhex(digest)).decode(),
            Metadata={**(metadata or {}), _MD5_META: digest},
            **extra,
        )
    except ClientError as exc:
        conditional = if_match is not None or if_none_match
        if conditional and (_is_conflict(exc) or (if_match is not None and is_missing(exc))):
            raise ConflictError(f"s3://{bucket}/{key} changed since it was read") from exc
        raise
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


MIN_PART_BYTES = 8 << 20  # S3 parts are at least 5 MiB (but the last); 8 MiB keeps memory low


def put_stream(
    bucket: str,
    key: str,
    chunks: Iterable[bytes],
    *,
    content_type: str,
    settings: Settings | None = None,
    part_bytes: int = MIN_PART_BYTES,
) -> int:
    """Store a stream of bytes of any length at `s3://bucket/key` holding ~`part_bytes` in memory.

    A body smaller than one part is one encrypted put (`put_bytes`); a larger one is a
    multipart upload of encrypted parts. Returns the bytes written. A failed multipart upload
    is not aborted here: the bucket's lifecycle rule removes incomplete uploads (and the role
    needs no `s3:AbortMultipartUpload`); nothing is visible under `key` until it completes.
    """
    if part_bytes < 5 << 20:
        raise ValueError("S3 parts must be at least 5 MiB")
    s = settings or get_settings()
    buffer = bytearray()
    it = iter(chunks)
    for chunk in it:
        buffer += chunk
        if len(buffer) >= part_bytes:
            break
    else:
        put_bytes(bucket, key, bytes(buffer), content_type=content_type, settings=s)
        return len(buffer)
    client = aws.s3(s)
    extra: dict[str, Any] = {"ServerSideEncryption": s.s3_sse}
    if s.s3_sse == "aws:kms" and s.s3_kms_key_id:
        extra["SSEKMSKeyId"] = s.s3_kms_key_id
    upload = client.create_multipart_upload(
        Bucket=bucket, Key=key, ContentType=content_type, **extra
    )
    upload_id = upload["UploadId"]
    parts: list[CompletedPartTypeDef] = []
    total = 0

    def send(body: bytes) -> None:
        nonlocal total
        digest = base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()
        number = len(parts) + 1
        response = client.upload_part(
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            PartNumber=number,
            Body=body,
            ContentMD5=digest,
        )
        parts.append({"PartNumber": number, "ETag": response["ETag"]})
        total += len(body)

    for chunk in it:
        buffer += chunk
        while len(buffer) >= 2 * part_bytes:
            send(bytes(buffer[:part_bytes]))
            del buffer[:part_bytes]
    send(bytes(buffer))  # the last part may be any size (and holds the remainder)
    client.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
    )
    return total


def get_bytes(bucket: str, key: str, settings: Settings | None = None) -> bytes | None:
    """The object's bytes, or None if it does not exist."""
    found = get_with_etag(bucket, key, settings)
    return None if found is None else found[0]


def get_with_etag(
    bucket: str, key: str, settings: Settings | None = None, *, if_match: str | None = None
) -> tuple[bytes, str] | None:
    """`(bytes, etag)` of the current version, None if absent.

    With `if_match`, only that version is read: `ConflictError` if the object has changed.
    """
    response = _get(bucket, key, settings, if_match)
    return None if response is None else (response["Body"].read(), response["ETag"].strip('"'))


def open_stream(
    bucket: str, key: str, settings: Settings | None = None, *, if_match: str | None = None
) -> Iterator[bytes] | None:
    """The object's bytes as 1 MiB chunks, None if absent; pinned to version `if_match`.

    `ConflictError` if that version has been replaced. The body is closed however the
    iteration ends (exhausted, abandoned or interrupted by an error).
    """
    response = _get(bucket, key, settings, if_match)
    return None if response is None else _chunks(response["Body"])


def _get(bucket: str, key: str, settings: Settings | None, if_match: str | None) -> Any:
    extra: dict[str, Any] = {"IfMatch": _quoted(if_match)} if if_match else {}
    try:
        return aws.s3(settings).get_object(Bucket=bucket, Key=key, **extra)
    except ClientError as exc:
        if if_match and _is_conflict(exc):
            raise ConflictError(f"s3://{bucket}/{key} is no longer version {if_match}") from exc
        if is_missing(exc):
            return None
        raise


def _chunks(body: Any) -> Iterator[bytes]:
    try:
        yield from body.iter_chunks(chunk_size=1 << 20)
    finally:
        body.close()


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
