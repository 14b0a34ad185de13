"""Local mode: the same summary JSON for a file on disk, via the same streaming path (no AWS)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tasks.csv_profile.options_io import options_from_settings
from tasks.csv_profile.profile_core import ProfileOptions, profile_or_error
from tasks.csv_profile.summary_core import build_summary, iso_utc

READ_CHUNK = 1 << 20


def file_chunks(path: Path, size: int = READ_CHUNK, digest: Any = None) -> Iterator[bytes]:
    """The file's bytes in `size` chunks (fed to `digest.update` too, when given)."""
    with path.open("rb") as handle:
        while chunk := handle.read(size):
            if digest is not None:
                digest.update(chunk)
            yield chunk


def profile_file(
    path: Path, options: ProfileOptions | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """The summary document of a local CSV file.

    `file_name` is the path as given; `source.etag` is the file's MD5 (what S3 reports for a
    single-part upload); `upload_timestamp` is the file's modification time; there is no
    summary key, since nothing is stored.
    """
    opts = options or options_from_settings()
    digest = hashlib.md5(usedforsecurity=False)
    chunks = file_chunks(path, digest=digest)
    profile = profile_or_error(chunks, opts)
    for _ in chunks:  # an unreadable file stops the profiler early; the digest needs it all
        pass
    stat = path.stat()
    return build_summary(
        profile,
        file_name=str(path),
        summary_key=None,
        source={
            "bucket": None,
            "key": str(path),
            "etag": digest.hexdigest(),
            "size_bytes": stat.st_size,
        },
        upload_timestamp=iso_utc(datetime.fromtimestamp(stat.st_mtime, UTC)),
        processed_timestamp=iso_utc(now or datetime.now(UTC)),
        options=opts,
    )
