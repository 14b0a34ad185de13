"""Storage keys built from data values, which can never leave their prefix (pure).

A data value (a stop id, a file name, a route) becomes one key *segment*: characters outside
`[A-Za-z0-9._-]` and a few harmless ones are percent-encoded (`/` → `%2F`, NUL → `%00`, `%` →
`%25`), and a segment made only of dots is encoded whole, so `..` cannot climb. Real ids
(`70061`, `Alewife-01`, `place-sstat`) pass through unchanged, so consumer paths stay as they are.
"""

from __future__ import annotations

import posixpath
import re
from urllib.parse import quote

# Characters kept verbatim besides ASCII letters and digits: `=` for Hive partitions,
# `|` for the ferry output layout; everything else is percent-encoded.
_SAFE = "-_.~=|+,@"
_CONTROL = re.compile("[\x00-\x1f\x7f]")
# S3's limit on a key: 1,024 bytes of UTF-8.
MAX_KEY_BYTES = 1024


class UnsafeKeyError(ValueError):
    """A key or key segment could not be built safely."""


def segment(value: object) -> str:
    """One key segment from a data value (escaped so it cannot contain `/` or be `.`/`..`)."""
    text = str(value)
    if text == "":
        raise UnsafeKeyError("empty key segment (a data value is missing)")
    encoded = quote(text, safe=_SAFE)
    if set(encoded) == {"."}:
        encoded = encoded.replace(".", "%2E")
    return encoded


def partition(name: str, value: object) -> str:
    """A Hive-style partition segment `name=value` (value escaped)."""
    return f"{segment(name)}={segment(value)}"


def join(prefix: str, *segments: str) -> str:
    """`prefix/seg1/seg2...`; segments must come from `segment()`/`partition()` or be literals.

    Raises `UnsafeKeyError` if the result would not normalise to a key under `prefix`.
    """
    base = prefix.strip("/")
    if not base or ".." in base.split("/"):
        raise UnsafeKeyError(f"invalid key prefix {prefix!r}")
    key = "/".join([base, *segments])
    ensure_under(base, key)
    return key


def fits_s3(key: str) -> bool:
    """True when `key` is short enough for S3 (at most `MAX_KEY_BYTES` bytes of UTF-8)."""
    return len(key.encode("utf-8")) <= MAX_KEY_BYTES


def ensure_under(prefix: str, key: str) -> str:
    """Return `key` if it is a clean key strictly below `prefix`, else raise `UnsafeKeyError`."""
    base = prefix.strip("/")
    if _CONTROL.search(key):
        raise UnsafeKeyError(f"control character in key {key!r}")
    parts = key.split("/")
    if "" in parts or "." in parts or ".." in parts:
        raise UnsafeKeyError(f"key {key!r} has an empty, '.' or '..' segment")
    if posixpath.normpath(key) != key or not key.startswith(base + "/"):
        raise UnsafeKeyError(f"key {key!r} is not under prefix {base + '/'!r}")
    return key
