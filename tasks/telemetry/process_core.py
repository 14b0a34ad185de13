"""One telemetry file, chunk by chunk (pure): validate → enrich → distance → dedup → outputs.

`FileProcessor.process(block)` turns one block of lines into a `ChunkResult`: the queue messages
of its stored events, its archive objects, its rejected rows (line, code, original text) and its
counts. Everything that needs I/O is injected: `resolve` looks up vehicles the run has not seen
yet (the cache-aside layer) and `CrossFileIndex` is given loaders of the persisted Bloom filters
and key sets. So the same code runs in the flow, in the local CLI and in the benchmark.

Order of decisions for each row (the contract's): the first failing rule gives the reject code;
valid rows are then deduplicated on (vehicle_id, instant): the first occurrence in this file (in
file order) wins over later ones; a key that another file already stored is a duplicate — but
only after the exact key sets of that day confirmed what the Bloom filter suspected.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tasks.telemetry import archive_core
from tasks.telemetry.contract_core import (
    ENGINE_STATUSES,
    FUTURE_TOLERANCE_MS,
    HIGH,
    LOW,
    REASON_INDEX,
    REJECT_CODES,
    REQUIRED_COLUMNS,
    distance_milli_km,
    haversine_km,
)
from tasks.telemetry.csv_core import Block, Header, ParsedBlock, parse_block
from tasks.telemetry.dedup_core import (
    U64,
    DayBloom,
    FileKeys,
    KeySet,
    day_of,
    key_hashes,
    pack,
    unpack,
)
from tasks.telemetry.messages_core import Events, Message, build_messages
from tasks.telemetry.values_core import (
    DYNAMO_MAX_MAGNITUDE,
    Numbers,
    parse_numbers,
    parse_timestamps,
)
from tasks.telemetry.vehicles_core import VehicleTable

IntArray = np.ndarray[Any, np.dtype[np.int64]]
Bools = np.ndarray[Any, np.dtype[np.bool_]]
Reject = tuple[int, str, str]  # (line, reason code, original line)
MISSING = "missing_field"
_STATUS_INDEX = {s: i for i, s in enumerate(ENGINE_STATUSES)}


class CrossFileIndex:
    """Duplicates against other files: per-day Bloom filters, confirmed by exact key sets.

    `load_bloom(day)` returns the persisted filter of a day (None: nothing stored that day);
    `load_keysets(day)` the key sets other files stored for that day. Each is loaded at most
    once per run, and key sets only for days where the filter said "maybe seen".
    """

    def __init__(
        self,
        load_bloom: Callable[[int], DayBloom | None],
        load_keysets: Callable[[int], list[KeySet]],
    ) -> None:
        self._load_bloom = load_bloom
        self._load_keysets = load_keysets
        self.blooms: dict[int, DayBloom | None] = {}
        self.keysets: dict[int, list[KeySet]] = {}
        self.maybe_seen = 0
        self.confirmed = 0

    def bloom(self, day: int) -> DayBloom | None:
        if day not in self.blooms:
            self.blooms[day] = self._load_bloom(day)
        return self.blooms[day]

    def maybe(self, days: IntArray, hashes: U64) -> Bools:
        """Which keys the day's persisted filter says may have been stored already."""
        out = np.zeros(len(days), dtype=bool)
        if not len(days):
            return out
        first, last = int(days.min()), int(days.max())
        for day in [first] if first == last else np.unique(days).tolist():
            bloom = self.bloom(int(day))
            if bloom is not None:
                rows = np.flatnonzero(days == day) if first != last else np.arange(len(days))
                out[rows] = bloom.contains(hashes[rows])
        self.maybe_seen += int(out.sum())
        return out

    def confirm(self, days: IntArray, vehicle_ids: list[str], ms: IntArray) -> Bools:
        """Which keys another file really stored (exact)."""
        out = np.zeros(len(days), dtype=bool)
        for day in np.unique(days).tolist():
            if day not in self.keysets:
                self.keysets[int(day)] = self._load_keysets(int(day))
            rows = np.flatnonzero(days == day)
            ids = [vehicle_ids[i] for i in rows.tolist()]
            for keyset in self.keysets[int(day)]:
                out[rows] |= keyset.contains(ids, ms[rows])
        self.confirmed += int(out.sum())
        return out


def no_cross_file() -> CrossFileIndex:
    """A cross-file index that knows no other file (the local CLI, the benchmark)."""
    return CrossFileIndex(lambda _day: None, lambda _day: [])


@dataclass
class ChunkResult:
    """What one block produced."""

    index: int
    first_line: int
    rows: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    messages: list[Message] = field(default_factory=list)
    archive: list[tuple[str, bytes]] = field(default_factory=list)  # (date, parquet bytes)
    rejects: list[Reject] = field(default_factory=list)
    invalid_optional: dict[str, int] = field(default_factory=dict)

    @property
    def reconciles(self) -> bool:
        return self.rows == self.stored + self.duplicates + sum(self.rejected.values())


@dataclass(frozen=True)
class _VehicleView:
    """What building a chunk's outputs reads of the vehicle table (taken when it is decided)."""

    depot_lat: np.ndarray[Any, np.dtype[np.float64]]
    depot_lon: np.ndarray[Any, np.dtype[np.float64]]
    json_ids: pa.Array[Any]
    entries: Sequence[str]
    entry_lengths: IntArray
    id_array: pa.Array[Any]


@dataclass
class Decision:
    """A block after `decide`: its rows' reasons, the rows stored (in key order), and what
    `finish` needs to build its outputs."""

    result: ChunkResult
    parsed: ParsedBlock
    reason: np.ndarray[Any, np.dtype[np.int8]] | None = None
    stored: IntArray | None = None
    columns: tuple[IntArray, IntArray, Numbers, Numbers, Numbers, np.ndarray[Any, Any]] | None = (
        None
    )
    vehicles: _VehicleView | None = None


def _column(parsed: ParsedBlock, name: str) -> pa.Array[Any]:
    if name in parsed.table.column_names:
        column = parsed.table.column(name)
        return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    return pa.array([""] * parsed.readable, pa.string())


def _dictionary(values: pa.Array[Any]) -> tuple[IntArray, pa.Array[Any]]:
    encoded = pc.dictionary_encode(values)
    indices = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)  # type: ignore[attr-defined]
    return indices, encoded.dictionary  # type: ignore[attr-defined]


class FileProcessor:
    """Processes the blocks of one file in order; holds the file's exact dedup keys."""

    def __init__(
        self,
        header: Header,
        *,
        source_key: str,
        file_id: str,
        now_ms: int,
        vehicles: VehicleTable,
        resolve: Callable[[Sequence[str]], None],
        cross: CrossFileIndex,
        expected_rows: int,
        message_bytes: int,
        retention_days: int | None = None,
    ) -> None:
        self.header = header
        self.source_key = source_key
        self.file_id = file_id
        self.now_ms = now_ms
        self.vehicles = vehicles
        self.resolve = resolve
        self.cross = cross
        self.message_bytes = message_bytes
        self.retention_days = retention_days
        self.keys = FileKeys(expected_rows)
        self.unknown: set[str] = set()
        self.missing_columns = header.missing(REQUIRED_COLUMNS)

    def process(self, block: Block) -> ChunkResult:
        """One block, start to end (the outputs of `results`, one block at a time)."""
        return self.finish(self.decide(block))

    def results(self, blocks: Iterable[Block]) -> Iterator[ChunkResult]:
        """Every block's result, in order. While the outputs of one block are built (messages,
        archive, rejects: `finish`, on a second thread) the next block is parsed, validated
        and deduplicated (`decide`, which holds the file's state, on this thread): most of
        both is numpy and Arrow work that releases the GIL, so two cores overlap them."""
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="telemetry-outputs") as pool:
            pending: Future[ChunkResult] | None = None
            for block in blocks:
                decided = self.decide(block)
                if pending is not None:
                    yield pending.result()
                pending = pool.submit(self.finish, decided)
            if pending is not None:
                yield pending.result()

    def decide(self, block: Block) -> Decision:
        """Parse, validate, resolve vehicles and deduplicate a block (in file order)."""
        parsed = parse_block(block, self.header)
        decision = Decision(ChunkResult(block.index, block.first_line, rows=parsed.rows), parsed)
        if parsed.readable:
            self._rows(decision)
        # what `finish` reads of the vehicle table, as it is now (the table grows afterwards)
        vehicles = self.vehicles
        decision.vehicles = _VehicleView(
            depot_lat=vehicles.depot_lat,
            depot_lon=vehicles.depot_lon,
            json_ids=vehicles.json_ids(),
            entries=vehicles.entries,
            entry_lengths=vehicles.entry_lengths,
            id_array=vehicles.id_array(),
        )
        return decision

    def finish(self, decision: Decision) -> ChunkResult:
        """The outputs of a decided block: rejects, messages, archive objects."""
        result, parsed = decision.result, decision.parsed
        for line, text in parsed.malformed:
            result.rejects.append((line, MISSING, text))
        reason = decision.reason
        if reason is not None:
            rejected_rows = np.flatnonzero(reason > 0)
            if len(rejected_rows):
                texts = parsed.text(rejected_rows)
                lines = parsed.lines[rejected_rows].tolist()
                codes = reason[rejected_rows].tolist()
                result.rejects.extend(
                    (line, REJECT_CODES[c - 1], text)
                    for line, c, text in zip(lines, codes, texts, strict=True)
                )
        if decision.stored is not None and len(decision.stored):
            self._outputs(decision)
        result.rejected = _count(result.rejects)
        result.rejects.sort()
        return result

    def _rows(self, decision: Decision) -> None:
        parsed, result = decision.parsed, decision.result
        n = parsed.readable
        reason = np.zeros(n, np.int8)

        def fail(mask: Bools, code: str) -> None:
            reason[(reason == 0) & mask] = REASON_INDEX[code]

        vid_index, vid_dict_array = _dictionary(_column(parsed, "vehicle_id"))
        vid_dict: list[str] = vid_dict_array.to_pylist()  # type: ignore[assignment]
        st_index, st_dict_array = _dictionary(_column(parsed, "engine_status"))
        st_dict: list[str] = st_dict_array.to_pylist()  # type: ignore[assignment]
        ms, ts_ok, ts_empty = parse_timestamps(_column(parsed, "timestamp"))
        lat = parse_numbers(_column(parsed, "lat"))
        lon = parse_numbers(_column(parsed, "lon"))
        speed = parse_numbers(_column(parsed, "speed"))

        vid_blank = np.array([not v.strip() for v in vid_dict] or [True], dtype=bool)[vid_index]
        st_code = np.array(
            [_STATUS_INDEX.get(s.strip().lower(), -1) for s in st_dict] or [-1], dtype=np.int8
        )[st_index]
        st_blank = np.array([not s.strip() for s in st_dict] or [True], dtype=bool)[st_index]
        missing = vid_blank | ts_empty | lat.empty | lon.empty | speed.empty | st_blank
        if self.missing_columns:
            missing[:] = True
        fail(missing, "missing_field")
        fail(~ts_ok, "bad_timestamp")
        fail(ms > self.now_ms + FUTURE_TOLERANCE_MS, "future_timestamp")
        with np.errstate(invalid="ignore"):
            fail(lat.valid & (np.abs(lat.values) > 90.0), "lat_out_of_range")
            fail(lon.valid & (np.abs(lon.values) > 180.0), "lon_out_of_range")
            fail(~(lat.valid & lon.valid & speed.valid), "bad_number")
            fail(speed.values < 0.0, "negative_speed")
        fail(st_code < 0, "bad_engine_status")

        # vehicles: resolve the ids of rows still valid that this run has not looked up yet
        candidates = np.flatnonzero(np.bincount(vid_index[reason == 0], minlength=len(vid_dict)))
        wanted = [vid_dict[i] for i in candidates.tolist()]
        new = [v for v in wanted if v not in self.vehicles.codes and v not in self.unknown]
        if new:
            self.resolve(new)
            self.unknown.update(v for v in new if v not in self.vehicles.codes)
        dict_codes = self.vehicles.lookup(vid_dict_array)
        code = dict_codes[vid_index] if len(vid_dict) else np.full(n, -1, np.int64)
        fail(code < 0, "unknown_vehicle")
        known = np.maximum(code, 0)
        max_speed = self.vehicles.max_speed[known] if len(self.vehicles) else np.zeros(n)
        with np.errstate(invalid="ignore"):
            fail(speed.values > max_speed, "over_max_speed")

        valid = np.flatnonzero(reason == 0)
        stored = self._dedup(valid, code, ms)
        result.duplicates = len(valid) - len(stored)
        result.stored = len(stored)
        decision.reason = reason
        decision.stored = stored
        decision.columns = (code, ms, lat, lon, speed, st_code)

    def _dedup(self, valid: IntArray, code: IntArray, ms: IntArray) -> IntArray:
        """Rows (of `valid`) that are the first occurrence of their key, in key order
        (vehicle code, then instant): the order of the queue messages and the archive."""
        if not len(valid):
            return valid
        unique, first = np.unique(pack(code[valid], ms[valid]), return_index=True)
        unique_codes, unique_ms = unpack(unique)
        unique_hashes = key_hashes(self.vehicles.hashes[unique_codes], unique_ms)
        new = ~self.keys.contains(unique, unique_hashes)
        candidates = np.flatnonzero(new)
        if len(candidates):
            days = day_of(unique_ms[candidates])
            maybe = self.cross.maybe(days, unique_hashes[candidates])
            if maybe.any():
                suspects = candidates[maybe]
                ids = [self.vehicles.ids[c] for c in unique_codes[suspects].tolist()]
                seen = self.cross.confirm(day_of(unique_ms[suspects]), ids, unique_ms[suspects])
                new[suspects[seen]] = False
        self.keys.add(unique[new], unique_hashes[new])
        return valid[first[new]]

    def _outputs(self, decision: Decision) -> None:
        parsed, result = decision.parsed, decision.result
        assert decision.columns is not None
        assert decision.stored is not None
        assert decision.vehicles is not None
        code, ms, lat, lon, speed, status = decision.columns
        heading, odometer = self._optional(parsed, result)
        order = decision.stored  # already in (vehicle code, instant) order
        c, t = code[order], ms[order]
        vehicles = decision.vehicles
        distance = distance_milli_km(
            haversine_km(
                lat.values[order],
                lon.values[order],
                vehicles.depot_lat[c],
                vehicles.depot_lon[c],
            )
        )
        expires = (
            np.floor_divide(t, 1000) + self.retention_days * 86_400 if self.retention_days else None
        )
        high = status[order] == _STATUS_INDEX["moving"]
        for priority, mask in ((HIGH, high), (LOW, ~high)):
            pick = np.flatnonzero(mask)
            if not len(pick):
                continue
            src = order[pick]
            events = Events(
                codes=c[pick],
                ms=t[pick],
                lat=lat.text(src),
                lon=lon.text(src),
                speed=speed.text(src),
                status=status[src].astype(np.int8),
                distance_milli=distance[pick],
                heading=_optional_text(heading, src),
                odometer=_optional_text(odometer, src),
                expires_at=None if expires is None else expires[pick],
            )
            result.messages += build_messages(
                events,
                priority=priority,
                batch_prefix=f"{self.file_id}-{result.index:05d}",
                source_key=self.source_key,
                vehicle_json=vehicles.json_ids,
                vehicle_entries=vehicles.entries,
                entry_lengths=vehicles.entry_lengths,
                max_bytes=self.message_bytes,
                with_expiry=expires is not None,
            )
        table = archive_core.events_table(
            vehicle_ids=pc.take(vehicles.id_array, pa.array(c)),  # type: ignore[arg-type]
            ms=t,
            lat=lat.values[order],
            lon=lon.values[order],
            speed=speed.values[order],
            status=status[order],
            distance_milli=distance,
            heading=_optional_values(heading, order),
            odometer=_optional_values(odometer, order),
            source_key=self.source_key,
            lines=parsed.lines[order],
        )
        for day, part in archive_core.split_days(table, t):
            result.archive.append((day, archive_core.parquet_bytes(part)))

    def _optional(
        self, parsed: ParsedBlock, result: ChunkResult
    ) -> tuple[tuple[Numbers, Bools] | None, tuple[Numbers, Bools] | None]:
        """heading (0..360) and odometer (≥ 0), with which rows hold a usable value."""
        found: list[tuple[Numbers, Bools] | None] = []
        for name, low, high in (("heading", 0.0, 360.0), ("odometer", 0.0, DYNAMO_MAX_MAGNITUDE)):
            if name not in parsed.table.column_names:
                found.append(None)
                continue
            numbers = parse_numbers(_column(parsed, name))
            with np.errstate(invalid="ignore"):
                usable = numbers.valid & (numbers.values >= low) & (numbers.values <= high)
            invalid = int((~usable & ~numbers.empty).sum())
            if invalid:
                result.invalid_optional[name] = invalid
            found.append((numbers, usable))
        return found[0], found[1]


def _optional_text(column: tuple[Numbers, Bools] | None, rows: IntArray) -> pa.Array[Any]:
    if column is None:
        return pa.nulls(len(rows), pa.string())
    numbers, usable = column
    keep = usable[rows]
    if keep.all():
        return numbers.text(rows)
    out = pa.nulls(len(rows), pa.string())
    if keep.any():
        out = pc.replace_with_mask(out, pa.array(keep), numbers.text(rows[keep]))
    return out


def _optional_values(column: tuple[Numbers, Bools] | None, rows: IntArray) -> np.ndarray[Any, Any]:
    if column is None:
        return np.full(len(rows), np.nan)
    numbers, usable = column
    return np.where(usable[rows], numbers.values[rows], np.nan)


def _count(rejects: list[Reject]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for _line, code, _text in rejects:
        counts[code] = counts.get(code, 0) + 1
    return {code: counts[code] for code in REJECT_CODES if code in counts}
