"""Vehicle metadata (pure): records of `metadata_api.json`, a run's vehicle table, a TTL cache.

- A metadata document is a JSON object `vehicle_id → record`; a record needs the numbers
  `max_speed` (km/h), `depot_lat`, `depot_lon`, and may carry any other field (`make`, `model`,
  `fleet`...), which is copied into the stored item unchanged. A record that lacks a required
  number (or has a non-finite one) is invalid: its vehicle is treated as unknown and the run
  report names it.
- Records travel (cache values, queue messages) as compact JSON text, one per vehicle.
- `VehicleTable` holds the vehicles one run has resolved, as numpy columns indexed by a small
  integer code (the code also packs into the exact dedup key), plus a stable 64-bit hash of each
  id (BLAKE2b: the same in every process, which a persisted Bloom filter needs).
- `TtlCache` is the in-process cache used when no Redis is configured; its clock is an argument.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tasks.telemetry.contract_core import METADATA_REQUIRED

MAX_VEHICLES = 1 << 20  # codes per run; the exact dedup key packs a code in 20 bits
_PLAIN_ID = re.compile(r"[A-Za-z0-9 ._:/+=@-]*")  # ids that need no JSON escaping


class MetadataError(ValueError):
    """The metadata document is not a JSON object of vehicle records."""


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a finite number")


def record_text(vehicle_id: str, record: Any) -> tuple[str | None, str | None]:
    """(compact JSON of a valid record, None) or (None, why it is invalid)."""
    if not isinstance(record, dict):
        return None, f"{vehicle_id}: record is not an object"
    for name in METADATA_REQUIRED:
        value = record.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None, f"{vehicle_id}: {name} is not a number ({value!r})"
        if not math.isfinite(value):
            return None, f"{vehicle_id}: {name} is not finite"
    try:
        text = json.dumps(record, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except ValueError as exc:
        return None, f"{vehicle_id}: {exc}"
    return text, None


def parse_document(body: bytes) -> tuple[dict[str, str], list[str]]:
    """Valid records of a metadata document as JSON text by vehicle id, and the problems found.

    Raises `MetadataError` when the document is not a JSON object at all.
    """
    try:
        doc = json.loads(body, parse_constant=_reject_constant)
    except ValueError as exc:
        raise MetadataError(f"vehicle metadata is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise MetadataError(
            f"vehicle metadata must be a JSON object of vehicle records, not {type(doc).__name__}"
        )
    records: dict[str, str] = {}
    problems: list[str] = []
    for vehicle_id, record in doc.items():
        text, problem = record_text(str(vehicle_id), record)
        if text is not None:
            records[str(vehicle_id)] = text
        elif problem:
            problems.append(problem)
    return records, problems


def vehicle_hash(vehicle_id: str) -> int:
    """A stable 64-bit hash of a vehicle id (BLAKE2b-64 of its UTF-8 bytes)."""
    digest = hashlib.blake2b(vehicle_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def vehicle_hashes(vehicle_ids: Iterable[str]) -> np.ndarray[Any, np.dtype[np.uint64]]:
    """`vehicle_hash` of each id."""
    return np.array([vehicle_hash(v) for v in vehicle_ids], dtype=np.uint64)


class VehicleTable:
    """The vehicles a run has resolved, as columns indexed by code (0, 1, ...)."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.codes: dict[str, int] = {}
        self.texts: list[str] = []
        self.entries: list[str] = []  # `"<id>":<record>`, the vehicle's part of a message
        self._quoted: list[str] = []
        self._entry_lengths: np.ndarray[Any, np.dtype[np.int64]] | None = None
        self._id_array: pa.Array[Any] | None = None
        self._json_ids: pa.Array[Any] | None = None
        self._numbers: list[tuple[float, float, float]] = []
        self._hashes: list[int] = []
        self._arrays: tuple[np.ndarray[Any, Any], ...] | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def add(self, records: Mapping[str, str]) -> None:
        """Add vehicles from their record texts (already known ids are kept as they are)."""
        new = [(v, t) for v, t in records.items() if v not in self.codes]
        if not new:
            return
        if len(self.ids) + len(new) > MAX_VEHICLES:
            raise ValueError(f"more than {MAX_VEHICLES:,} distinct vehicles in one run")
        parsed = json.loads("[" + ",".join(t for _v, t in new) + "]")  # one parse for all
        for (vehicle_id, text), record in zip(new, parsed, strict=True):
            self.codes[vehicle_id] = len(self.ids)
            self.ids.append(vehicle_id)
            self.texts.append(text)
            quoted = (
                f'"{vehicle_id}"' if _PLAIN_ID.fullmatch(vehicle_id) else json.dumps(vehicle_id)
            )
            self._quoted.append(quoted[1:-1])
            self.entries.append(f"{quoted}:{text}")
            self._numbers.append(tuple(float(record[k]) for k in METADATA_REQUIRED))  # type: ignore[arg-type]
            self._hashes.append(vehicle_hash(vehicle_id))
        self._arrays = None
        self._json_ids = None

    def _columns(self) -> tuple[np.ndarray[Any, Any], ...]:
        if self._arrays is None:
            numbers = np.array(self._numbers, dtype=np.float64).reshape(-1, 3)
            self._arrays = (
                numbers[:, 0].copy(),
                numbers[:, 1].copy(),
                numbers[:, 2].copy(),
                np.array(self._hashes, dtype=np.uint64),
            )
        return self._arrays

    @property
    def max_speed(self) -> np.ndarray[Any, np.dtype[np.float64]]:
        return self._columns()[0]

    @property
    def depot_lat(self) -> np.ndarray[Any, np.dtype[np.float64]]:
        return self._columns()[1]

    @property
    def depot_lon(self) -> np.ndarray[Any, np.dtype[np.float64]]:
        return self._columns()[2]

    @property
    def hashes(self) -> np.ndarray[Any, np.dtype[np.uint64]]:
        return self._columns()[3]

    def lookup(
        self, vehicle_ids: Sequence[str] | pa.Array[Any]
    ) -> np.ndarray[Any, np.dtype[np.int64]]:
        """The code of each id, -1 for vehicles not in the table (exact text match)."""
        if not self.ids or not len(vehicle_ids):
            return np.full(len(vehicle_ids), -1, np.int64)
        found = pc.index_in(pa.array(vehicle_ids, pa.string()), value_set=self.id_array())
        return np.asarray(pc.fill_null(found, -1).to_numpy(zero_copy_only=False), np.int64)  # type: ignore[attr-defined, type-var]

    @property
    def entry_lengths(self) -> np.ndarray[Any, np.dtype[np.int64]]:
        """Length of each vehicle's `vehicles` member in a message (index = code)."""
        if self._entry_lengths is None or len(self._entry_lengths) != len(self.entries):
            self._entry_lengths = np.array([len(e) for e in self.entries], np.int64)
        return self._entry_lengths

    def json_ids(self) -> pa.Array[Any]:
        """Each id JSON-escaped, without its quotes (index = code)."""
        if self._json_ids is None:
            self._json_ids = pa.array(self._quoted, pa.string())
        return self._json_ids

    def id_array(self) -> pa.Array[Any]:
        """The ids as an Arrow array (index = code)."""
        if self._id_array is None or len(self._id_array) != len(self.ids):
            self._id_array = pa.array(self.ids, pa.string())
        return self._id_array


class TtlCache:
    """A thread-safe in-process key → text cache with a time to live per entry."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._entries: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def get_many(self, keys: Iterable[str]) -> dict[str, str]:
        """The live entries among `keys` (expired ones are dropped)."""
        now = self._clock()
        found: dict[str, str] = {}
        with self._lock:
            for key in keys:
                entry = self._entries.get(key)
                if entry is None:
                    continue
                if entry[0] <= now:
                    del self._entries[key]
                else:
                    found[key] = entry[1]
        return found

    def set_many(self, values: Mapping[str, str], ttl_seconds: float) -> None:
        """Store `values`, each living `ttl_seconds` from now."""
        expires = self._clock() + ttl_seconds
        with self._lock:
            for key, value in values.items():
                self._entries[key] = (expires, value)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


@dataclass
class ResolveStats:
    """Cache-aside counters of a run: lookups are distinct vehicles asked of the cache."""

    lookups: int = 0
    hits: int = 0
    source_loads: int = 0
    unknown: int = 0
    cache_errors: int = 0

    @property
    def hit_rate(self) -> float:
        return self.hits / self.lookups if self.lookups else 0.0
