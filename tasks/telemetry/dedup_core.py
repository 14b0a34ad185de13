"""Deduplication of (vehicle_id, instant) (pure): exact keys, Bloom filters, key sets.

- **Exact key.** Within a run a key is one uint64: the vehicle's code in the run's vehicle table
  (20 bits) above the instant in ms since 1900 (43 bits, good until 2178).
- **Within a file** (`FileKeys`): the stored keys of the file as sorted runs (8 bytes a key),
  fronted by a file-local Bloom filter so only the few "maybe seen" keys are looked up exactly.
- **Across files** (`DayBloom`): one scalable, blocked Bloom filter per event day, persisted, with
  a deterministic hash (BLAKE2b of the vehicle id, mixed with the instant by SplitMix64), so every
  process computes the same bits. A "maybe seen" is never trusted: it is confirmed against the
  exact key sets of the other files of that day (`KeySet`) before a row is counted as duplicate.
- The filters are blocked: a key sets its 8 bits in one or two 64-bit words, so a test or an
  add touches one or two words. A full segment gets a successor twice its size (a scalable
  Bloom filter).
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tasks.telemetry.contract_core import DAY_MS, MIN_INSTANT_MS

U64 = np.ndarray[Any, np.dtype[np.uint64]]
I64 = np.ndarray[Any, np.dtype[np.int64]]
Bools = np.ndarray[Any, np.dtype[np.bool_]]

MS_BITS = 43
MS_MASK = np.uint64((1 << MS_BITS) - 1)
MIN_SEGMENT_KEYS = 1 << 12
# Runs of exact keys above this size are not merged further (bounds the memory of a merge).
MAX_MERGE_KEYS = 1 << 22
# Keys a Bloom filter locates at once (its probe arrays are ~40 bytes a key).
SLICE_KEYS = 1 << 20
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_SEED2 = np.uint64(0xD1B54A32D192ED03)
_MAGIC = b"TLMB"
_VERSION = 1


def pack(codes: I64, ms: I64) -> U64:
    """Exact keys of (vehicle code, instant in ms): `code << 43 | (ms - 1900-01-01)`."""
    offset = (ms - MIN_INSTANT_MS).astype(np.uint64)
    return np.asarray((codes.astype(np.uint64) << np.uint64(MS_BITS)) | offset, dtype=np.uint64)


def unpack(keys: U64) -> tuple[I64, I64]:
    """(vehicle codes, instants in ms) of packed keys."""
    codes = (keys >> np.uint64(MS_BITS)).astype(np.int64)
    ms = (keys & MS_MASK).astype(np.int64) + MIN_INSTANT_MS
    return codes, ms


def day_of(ms: I64) -> I64:
    """Days since 1970-01-01 (UTC) of instants in ms."""
    return np.floor_divide(ms, DAY_MS)


def _mix(x: U64) -> U64:
    """SplitMix64's finaliser: a bijective, well-spread mix of 64-bit values."""
    with np.errstate(over="ignore"):
        x = x ^ (x >> np.uint64(30))
        x = x * np.uint64(0xBF58476D1CE4E5B9)
        x = x ^ (x >> np.uint64(27))
        x = x * np.uint64(0x94D049BB133111EB)
        return np.asarray(x ^ (x >> np.uint64(31)), dtype=np.uint64)


def key_hashes(vehicle_hashes: U64, ms: I64) -> U64:
    """The 64-bit Bloom hash of each (vehicle, instant): stable across processes and runs."""
    with np.errstate(over="ignore"):
        return _mix(vehicle_hashes ^ (ms.astype(np.uint64) * _GOLDEN))


_PROBE_SEEDS = (np.uint64(0), np.uint64(0x632BE59BD9B4E019))


@dataclass(frozen=True)
class Probes:
    """Where keys live in one segment: per probe, the word index and the bit mask of each key."""

    words: tuple[I64, ...]
    masks: tuple[U64, ...]

    def take(self, rows: I64 | Bools) -> Probes:
        return Probes(tuple(w[rows] for w in self.words), tuple(m[rows] for m in self.masks))


def _probes(hashes: U64, n_words: int, probes: int) -> Probes:
    """`probes` words per key with 8/probes bits set in each (8 bits per key in all)."""
    bits = _mix(hashes ^ _SEED2)
    per_word = 8 // probes
    words, masks = [], []
    for j in range(probes):
        source = hashes if j == 0 else _mix(hashes + _PROBE_SEEDS[j])
        words.append(((source >> np.uint64(32)) % np.uint64(n_words)).astype(np.int64))
        mask = np.zeros(len(hashes), np.uint64)
        for i in range(per_word):
            shift = np.uint64(6 * (j * per_word + i))
            mask |= np.uint64(1) << ((bits >> shift) & np.uint64(63))
        masks.append(mask)
    return Probes(tuple(words), tuple(masks))


@dataclass
class BloomSegment:
    """One blocked Bloom filter of fixed size: a key sets 8 bits in `probes` 64-bit words, so a
    test or an add touches one or two words."""

    capacity: int
    words: U64
    count: int = 0
    probes: int = 2

    @classmethod
    def sized(cls, capacity: int, bits_per_key: int, probes: int) -> BloomSegment:
        capacity = max(int(capacity), MIN_SEGMENT_KEYS)
        n_words = -(-capacity * bits_per_key // 64)
        return cls(capacity, np.zeros(n_words, np.uint64), 0, probes)

    def locate(self, hashes: U64) -> Probes:
        return _probes(hashes, len(self.words), self.probes)

    def contains(self, hashes: U64, at: Probes | None = None) -> Bools:
        at = at or self.locate(hashes)
        found = np.ones(len(hashes), dtype=bool)
        for words, mask in zip(at.words, at.masks, strict=True):
            found &= (self.words[words] & mask) == mask
        return found

    def add(self, hashes: U64, at: Probes | None = None) -> None:
        at = at or self.locate(hashes)
        for words, mask in zip(at.words, at.masks, strict=True):
            self.words[words] |= mask  # a repeated word keeps only one mask here...
            missed = (self.words[words] & mask) != mask
            if missed.any():  # ...so OR the others in one at a time (few: words rarely repeat)
                np.bitwise_or.at(self.words, words[missed], mask[missed])
        self.count += len(hashes)


@dataclass
class DayBloom:
    """A scalable Bloom filter: segments of growing size; a key may be in any of them.

    The persisted per-day filters use 2 probes and 32 bits per key (measured false-positive
    rate ~3e-5 at capacity); a file's own filter 1 probe and 16 bits (~5e-3: it only narrows an
    exact lookup, so speed matters more there).
    """

    capacity: int
    segments: list[BloomSegment] = field(default_factory=list)
    bits_per_key: int = 32
    probes: int = 2

    @property
    def count(self) -> int:
        return sum(s.count for s in self.segments)

    def contains(self, hashes: U64) -> Bools:
        found = np.zeros(len(hashes), dtype=bool)
        for start in range(0, len(hashes), SLICE_KEYS):  # bounded temporaries
            part = hashes[start : start + SLICE_KEYS]
            for segment in self.segments:
                found[start : start + len(part)] |= segment.contains(part)
        return found

    def add(self, hashes: U64) -> None:
        """Add keys (the caller adds each key once: the count drives segment growth)."""
        start = 0
        while start < len(hashes):
            if not self.segments or self.segments[-1].count >= self.segments[-1].capacity:
                last = self.segments[-1].capacity if self.segments else 0
                need = len(hashes) - start
                size = max(self.capacity, 2 * last, need)
                self.segments.append(BloomSegment.sized(size, self.bits_per_key, self.probes))
            segment = self.segments[-1]
            room = segment.capacity - segment.count
            take = hashes[start : start + min(room, SLICE_KEYS)]  # bounded temporaries
            segment.add(take)
            start += len(take)

    def to_bytes(self) -> bytes:
        parts = [
            _MAGIC,
            struct.pack("<IIII", _VERSION, len(self.segments), self.bits_per_key, self.probes),
        ]
        parts.append(struct.pack("<Q", self.capacity))
        for s in self.segments:
            parts.append(struct.pack("<QQQ", s.capacity, s.count, len(s.words)))
            parts.append(s.words.astype("<u8").tobytes())
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, body: bytes) -> DayBloom:
        if body[:4] != _MAGIC:
            raise ValueError("not a telemetry Bloom filter (bad magic)")
        version, n_segments, bits_per_key, probes = struct.unpack_from("<IIII", body, 4)
        if version != _VERSION:
            raise ValueError(f"unsupported Bloom filter version {version}")
        (capacity,) = struct.unpack_from("<Q", body, 20)
        at = 28
        segments = []
        for _ in range(n_segments):
            seg_capacity, count, n_words = struct.unpack_from("<QQQ", body, at)
            at += 24
            words = np.frombuffer(body, "<u8", n_words, at).astype(np.uint64)
            at += 8 * n_words
            segments.append(BloomSegment(int(seg_capacity), words, int(count), int(probes)))
        if at != len(body):
            raise ValueError("truncated or oversized Bloom filter")
        return cls(int(capacity), segments, int(bits_per_key), int(probes))


class FileKeys:
    """The exact set of keys stored so far from one file: sorted runs + a local Bloom filter."""

    def __init__(self, expected_keys: int) -> None:
        self.runs: list[U64] = []
        self.bloom = DayBloom(max(expected_keys, MIN_SEGMENT_KEYS), bits_per_key=16, probes=1)

    def __len__(self) -> int:
        return sum(len(r) for r in self.runs)

    def contains(self, keys: U64, hashes: U64) -> Bools:
        """Which keys are already stored (exact; the Bloom filter only narrows the search)."""
        found = np.zeros(len(keys), dtype=bool)
        maybe = np.flatnonzero(self.bloom.contains(hashes))
        if len(maybe):
            candidates = keys[maybe]
            hit = np.zeros(len(maybe), dtype=bool)
            for run in self.runs:
                pos = np.minimum(np.searchsorted(run, candidates), len(run) - 1)
                hit |= run[pos] == candidates
            found[maybe] = hit
        return found

    def add(self, keys: U64, hashes: U64) -> None:
        """Add new keys (sorted, unique, none already present)."""
        if not len(keys):
            return
        self.bloom.add(hashes)
        self.runs.append(np.asarray(keys, dtype=np.uint64))
        while len(self.runs) >= 2 and len(self.runs[-2]) <= 2 * len(self.runs[-1]):
            if len(self.runs[-2]) + len(self.runs[-1]) > MAX_MERGE_KEYS:
                break
            last = self.runs.pop()
            merged = np.concatenate([self.runs.pop(), last])
            merged.sort(kind="stable")
            self.runs.append(merged)

    def days(self) -> list[int]:
        """The event days of the stored keys, in order."""
        found: set[int] = set()
        for run in self.runs:
            found.update(np.unique(_days_of_keys(run)).tolist())
        return sorted(found)

    def by_day(self) -> Iterator[tuple[int, U64]]:
        """(day, that day's stored keys sorted), one day at a time: only one day's keys are
        copied at once (a file's keys may span a few days)."""
        for day in self.days():
            masks = [_days_of_keys(run) == day for run in self.runs]  # 1 byte a key
            keys = np.empty(sum(int(m.sum()) for m in masks), np.uint64)
            at = 0
            for run, mask in zip(self.runs, masks, strict=True):
                n = int(mask.sum())
                np.compress(mask, run, out=keys[at : at + n])
                at += n
            del masks
            keys.sort()
            yield day, keys


def _days_of_keys(keys: U64) -> I64:
    """Days since 1970-01-01 (UTC) of packed keys, with one temporary array."""
    days = (keys & MS_MASK).view(np.int64)
    days += MIN_INSTANT_MS
    days //= DAY_MS
    return days


# --- key sets: the exact keys one file stored for one day ---------------------------------------


def keyset_bytes(keys: U64, vehicle_ids: list[str]) -> bytes:
    """A file's stored keys of one day (`keys`: sorted, unique) as Parquet: uint64 keys whose
    vehicle codes are renumbered densely, the vehicle ids they index in the file's metadata.

    `keys` is renumbered in place (it is the caller's per-day copy), a slice at a time: a day
    of 10M keys needs no second full-size array.
    """
    code_parts: list[U64] = []
    seen = 0  # distinct codes before the slice
    previous: int | None = None
    for start in range(0, len(keys), SLICE_KEYS):
        part = keys[start : start + SLICE_KEYS]  # a view: updated in place
        high = part >> np.uint64(MS_BITS)  # vehicle codes, sorted (the keys are)
        starts = np.empty(len(high), dtype=bool)
        starts[0] = previous is None or int(high[0]) != previous
        np.not_equal(high[1:], high[:-1], out=starts[1:])
        code_parts.append(high[starts])
        previous = int(high[-1])
        dense = np.cumsum(starts, dtype=np.int64)
        dense += seen - 1  # the dense code of every key (a first key always starts a code)
        seen += len(code_parts[-1])
        part &= MS_MASK
        part |= dense.astype(np.uint64) << np.uint64(MS_BITS)
    codes = np.concatenate(code_parts).astype(np.int64) if code_parts else np.empty(0, np.int64)
    table = pa.table({"key": pa.array(keys, pa.uint64())})
    meta = {b"vehicles": json.dumps([vehicle_ids[c] for c in codes.tolist()]).encode()}
    table = table.replace_schema_metadata(meta)
    out = io.BytesIO()
    pq.write_table(
        table,
        out,
        compression="zstd",
        use_dictionary=False,
        column_encoding={"key": "DELTA_BINARY_PACKED"},
    )
    return out.getvalue()


@dataclass(frozen=True)
class KeySet:
    """Another file's stored keys of one day, with its own vehicle numbering."""

    keys: U64
    vehicles: dict[str, int]

    @classmethod
    def from_bytes(cls, body: bytes) -> KeySet:
        table = pq.read_table(pa.BufferReader(body))
        meta = table.schema.metadata or {}
        ids = json.loads(meta.get(b"vehicles", b"[]"))
        keys = np.sort(table.column("key").to_numpy().astype(np.uint64))
        return cls(keys, {v: i for i, v in enumerate(ids)})

    def contains(self, vehicle_ids: list[str], ms: I64) -> Bools:
        """Which (vehicle id, instant) pairs this key set holds."""
        codes = np.array([self.vehicles.get(v, -1) for v in vehicle_ids], dtype=np.int64)
        found = np.zeros(len(vehicle_ids), dtype=bool)
        known = np.flatnonzero(codes >= 0)
        if len(known) and len(self.keys):
            wanted = pack(codes[known], ms[known])
            pos = np.minimum(np.searchsorted(self.keys, wanted), len(self.keys) - 1)
            found[known] = self.keys[pos] == wanted
        return found
