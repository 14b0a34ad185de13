"""Exact keys, deterministic Bloom filters that grow, key sets of stored keys."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import numpy as np

from tasks.telemetry.dedup_core import (
    DayBloom,
    FileKeys,
    KeySet,
    key_hashes,
    keyset_bytes,
    pack,
    unpack,
)
from tasks.telemetry.vehicles_core import vehicle_hash, vehicle_hashes

MAY_1 = 1_714_521_600_000


def test_keys_pack_and_unpack_exactly() -> None:
    codes = np.array([0, 1, (1 << 20) - 1], np.int64)
    ms = np.array([-2_208_988_800_000, MAY_1, 6_000_000_000_000], np.int64)
    back_codes, back_ms = unpack(pack(codes, ms))
    assert back_codes.tolist() == codes.tolist()
    assert back_ms.tolist() == ms.tolist()


def test_hashes_are_the_same_in_every_process() -> None:
    # Python's hash() is salted per process; a persisted filter needs the same bits everywhere
    here = int(key_hashes(vehicle_hashes(["V00042"]), np.array([MAY_1], np.int64))[0])
    code = (
        "import numpy as np;"
        "from tasks.telemetry.dedup_core import key_hashes;"
        "from tasks.telemetry.vehicles_core import vehicle_hashes;"
        f"print(int(key_hashes(vehicle_hashes(['V00042']), np.array([{MAY_1}], np.int64))[0]))"
    )
    there = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "123"},
    )
    assert int(there.stdout) == here
    assert vehicle_hash("V00042") == 0x1FD81D73A82022A0
    assert here == 0xD6D1D42D58264197


def test_a_filter_has_no_false_negatives_and_few_false_positives() -> None:
    rng = np.random.default_rng(5)
    stored = rng.integers(0, 2**63, 200_000).astype(np.uint64)
    bloom = DayBloom(200_000)
    bloom.add(stored)
    assert bloom.contains(stored).all()
    fresh = rng.integers(0, 2**63, 200_000).astype(np.uint64)
    rate = float(bloom.contains(fresh).mean())
    assert rate < 2e-4  # measured ~3e-5 at capacity: 32 bits per key in two words


def test_a_full_filter_grows_a_segment_instead_of_degrading() -> None:
    rng = np.random.default_rng(6)
    bloom = DayBloom(10_000)
    for _ in range(5):
        bloom.add(rng.integers(0, 2**63, 10_000).astype(np.uint64))
    assert [s.capacity for s in bloom.segments] == [10_000, 20_000, 40_000]
    assert bloom.count == 50_000
    fresh = rng.integers(0, 2**63, 100_000).astype(np.uint64)
    assert float(bloom.contains(fresh).mean()) < 3e-4


def test_a_filter_survives_serialisation() -> None:
    rng = np.random.default_rng(7)
    bloom = DayBloom(5_000)
    keys = rng.integers(0, 2**63, 12_000).astype(np.uint64)
    for part in np.split(keys, 3):
        bloom.add(part)
    again = DayBloom.from_bytes(bloom.to_bytes())
    assert again.capacity == 5_000
    assert [(s.capacity, s.count) for s in again.segments] == [(5_000, 5_000), (10_000, 7_000)]
    probe = rng.integers(0, 2**63, 10_000).astype(np.uint64)
    assert (again.contains(probe) == bloom.contains(probe)).all()
    assert again.contains(keys).all()


def test_file_keys_are_exact_across_many_runs() -> None:
    keys = FileKeys(1_000)
    hashes_of: dict[int, int] = {}
    for start in range(0, 10_000, 700):
        batch = np.arange(start, start + 700, dtype=np.uint64) * np.uint64(7919)
        h = batch * np.uint64(0x9E3779B97F4A7C15)
        hashes_of.update(zip(batch.tolist(), h.tolist(), strict=True))
        keys.add(batch, h)
    assert len(keys) == 10_500
    assert len(keys.runs) < 8  # runs of similar size are merged
    probe = np.array([0, 7919, 7919 * 10_499, 7919 * 10_500, 5], np.uint64)
    h = probe * np.uint64(0x9E3779B97F4A7C15)
    assert keys.contains(probe, h).tolist() == [True, True, True, False, False]


def test_a_key_set_answers_by_vehicle_id_whatever_the_run_codes() -> None:
    codes = np.array([0, 0, 2], np.int64)
    ms = np.array([MAY_1, MAY_1 + 1000, MAY_1], np.int64)
    body = keyset_bytes(np.sort(pack(codes, ms)), ["V1", "V2", "V3"])
    keyset = KeySet.from_bytes(body)
    assert keyset.vehicles == {"V1": 0, "V3": 1}  # only the vehicles it holds, renumbered
    found = keyset.contains(
        ["V1", "V1", "V3", "V2", "V9"], np.array([MAY_1, MAY_1 + 1, MAY_1, MAY_1, MAY_1])
    )
    assert found.tolist() == [True, False, True, False, False]


def test_stored_keys_come_out_one_day_at_a_time_sorted() -> None:
    keys = FileKeys(16)
    may_2 = MAY_1 + 86_400_000
    batches = [  # two runs (not merged: sizes differ), keys of both days in each
        (np.array([3, 1, 0], np.int64), np.array([may_2, MAY_1 + 5, MAY_1], np.int64)),
        (np.array([0], np.int64), np.array([may_2 - 1], np.int64)),
    ]
    for codes, ms in batches:
        packed = np.sort(pack(codes, ms))
        keys.add(packed, packed * np.uint64(0x9E3779B97F4A7C15))
    assert len(keys.runs) == 2
    days = {day: unpack(day_keys) for day, day_keys in keys.by_day()}
    assert sorted(days) == [MAY_1 // 86_400_000, may_2 // 86_400_000]
    first, second = (days[d] for d in sorted(days))
    assert (first[0].tolist(), first[1].tolist()) == (
        [0, 0, 1],
        [MAY_1, may_2 - 1, MAY_1 + 5],
    )
    assert (second[0].tolist(), second[1].tolist()) == ([3], [may_2])


def test_a_key_set_is_the_same_whatever_the_renumbering_slices(monkeypatch: Any) -> None:
    from tasks.telemetry import dedup_core

    codes = np.array([0, 0, 2, 2, 2, 5, 7], np.int64)
    ms = MAY_1 + np.arange(7, dtype=np.int64)
    ids = [f"V{i}" for i in range(8)]
    whole = keyset_bytes(np.sort(pack(codes, ms)), ids)
    monkeypatch.setattr(dedup_core, "SLICE_KEYS", 2)  # slices end inside and between codes
    assert keyset_bytes(np.sort(pack(codes, ms)), ids) == whole
    keyset = KeySet.from_bytes(whole)
    assert keyset.vehicles == {"V0": 0, "V2": 1, "V5": 2, "V7": 3}
    assert unpack(keyset.keys)[0].tolist() == [0, 0, 1, 1, 1, 2, 3]
