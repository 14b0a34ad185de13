"""Keys built from data values never leave their prefix."""

from __future__ import annotations

import posixpath
import random

import pytest

from tasks.common import keys_core

PREFIX = "Events-lamp/daily-data"
HOSTILE = ["../x", "a/b", "..", ".", "x\x00y", "/abs", "a/../../b", "%2e%2e", "\n", "a\\b", "...."]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_value_stays_one_segment_under_prefix(value: str) -> None:
    key = keys_core.join(PREFIX, keys_core.segment(value), "Year=2024", "events.csv")
    assert key.startswith(PREFIX + "/")
    assert posixpath.normpath(key) == key
    assert key.count("/") == PREFIX.count("/") + 3
    assert "\x00" not in key
    assert "\n" not in key


def test_real_ids_pass_through_unchanged() -> None:
    for value in [
        "70061",
        "Alewife-01",
        "place-sstat",
        "Boat-Long",
        "Red|0|70061",
        "data_2024.csv",
    ]:
        assert keys_core.segment(value) == value


def test_escaping_is_reversible_and_specific() -> None:
    assert keys_core.segment("a/b") == "a%2Fb"
    assert keys_core.segment("..") == "%2E%2E"
    assert keys_core.segment("x\x00y") == "x%00y"
    assert keys_core.segment("100%") == "100%25"


def test_empty_value_is_rejected() -> None:
    with pytest.raises(keys_core.UnsafeKeyError, match="empty key segment"):
        keys_core.segment("")


def test_partition_escapes_its_value() -> None:
    assert keys_core.partition("Month", 2) == "Month=2"
    assert keys_core.partition("Day", "../7") == "Day=..%2F7"


@pytest.mark.parametrize("bad", ["../x", "a//b", "./a", "a/./b", "a\x00b"])
def test_join_rejects_raw_unsafe_segments(bad: str) -> None:
    with pytest.raises(keys_core.UnsafeKeyError):
        keys_core.join(PREFIX, bad)


def test_ensure_under_rejects_sibling_prefix() -> None:
    with pytest.raises(keys_core.UnsafeKeyError, match="not under prefix"):
        keys_core.ensure_under("uploads", "uploads-evil/x.csv")


def test_random_values_never_escape() -> None:
    rng = random.Random(7)
    alphabet = "./\\\x00\x01%aZ9 -_|=~\u00e9\u2603"
    for _ in range(5000):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 8)))
        key = keys_core.join(PREFIX, keys_core.segment(value), "events.csv")
        assert key.startswith(PREFIX + "/")
        assert key.count("/") == PREFIX.count("/") + 2
        assert posixpath.normpath(key) == key


def test_fits_s3_counts_utf8_bytes_up_to_1024() -> None:
    assert keys_core.fits_s3("a" * 1024)
    assert not keys_core.fits_s3("a" * 1025)
    assert not keys_core.fits_s3("é" * 513)  # 1,026 bytes of UTF-8 in 513 characters
    assert keys_core.MAX_KEY_BYTES == 1024
