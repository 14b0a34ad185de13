"""Checkpoints and run state: small JSON objects in S3 written with conditional puts.

A state object is read together with its ETag and written back only over that version
(`If-Match`), or only if none exists yet (`If-None-Match: *`). Two runs that move the same state
at once cannot silently overwrite each other: the second gets `ConflictError`. Used by LAMP's
per-day ingest state and NYC 311's cursor alike; both are written only after the data they
describe.

- `read` + `write`: a checkpoint read at the start of a run and moved at its end; a conflict
  means another run moved it meanwhile, so this run must not (`StaleStateError`, permanent).
- `update`: a read-modify-write retried on conflict, for state that any run may rewrite
  (a day's ingest state after a re-ingest of that day).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from tasks.common import s3
from tasks.common.errors import ConflictError, PermanentError
from tasks.common.settings import Settings, get_settings

JsonDoc = dict[str, Any]


class StateError(PermanentError):
    """A stored state object is not a JSON object."""


class StaleStateError(PermanentError):
    """The state changed since this run read it: another run moved it (this run must not)."""


@dataclass(frozen=True)
class Versioned:
    """A state document and the ETag of the version it was read from (None: absent)."""

    bucket: str
    key: str
    doc: JsonDoc | None
    etag: str | None

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def read(bucket: str, key: str, settings: Settings | None = None) -> Versioned:
    """The state at `s3://bucket/key` and its version; `doc` None when there is none yet."""
    found = s3.get_with_etag(bucket, key, settings)
    if found is None:
        return Versioned(bucket, key, None, None)
    body, etag = found
    try:
        doc = json.loads(body)
    except ValueError as exc:
        raise StateError(f"s3://{bucket}/{key} is not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise StateError(f"s3://{bucket}/{key} is not a JSON object ({type(doc).__name__})")
    return Versioned(bucket, key, doc, etag)


def read_many(
    bucket: str, keys: Sequence[str], settings: Settings | None = None
) -> dict[str, JsonDoc]:
    """The states that exist among `keys`, read with a bounded pool of parallel GETs."""
    s = settings or get_settings()
    if not keys:
        return {}
    with ThreadPoolExecutor(max_workers=min(s.s3_upload_workers, len(keys))) as pool:
        found = list(pool.map(lambda key: read(bucket, key, s), keys))
    return {v.key: v.doc for v in found if v.doc is not None}


def write(read_from: Versioned, doc: JsonDoc, settings: Settings | None = None) -> None:
    """Replace the version `read_from` with `doc` (create it if it was absent).

    Raises `StaleStateError` when another writer moved the state since it was read.
    """
    body = s3.dump_json(doc)
    try:
        s3.put_bytes(
            read_from.bucket,
            read_from.key,
            body,
            content_type=s3.JSON,
            settings=settings,
            if_match=read_from.etag,
            if_none_match=read_from.etag is None,
        )
    except ConflictError as exc:
        raise StaleStateError(
            f"{read_from.uri} was changed by another run since this run read it "
            f"(version {read_from.etag or 'absent'}); this run's data is written, its state is not"
        ) from exc


def update(
    bucket: str,
    key: str,
    change: Callable[[JsonDoc | None], JsonDoc],
    *,
    attempts: int = 5,
    settings: Settings | None = None,
) -> tuple[JsonDoc, bool]:
    """Read, `change`, write back conditionally; on a lost race read again (up to `attempts`).

    Returns the stored document and whether it was written (False: `change` left it as it was).
    """
    for _ in range(attempts):
        current = read(bucket, key, settings)
        new = change(current.doc)
        if new == current.doc:
            return new, False
        try:
            write(current, new, settings)
        except StaleStateError:
            continue
        return new, True
    raise ConflictError(f"s3://{bucket}/{key}: still changing after {attempts} attempts")
