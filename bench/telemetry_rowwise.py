"""The seed's design, row by row: the benchmark's baseline and the tests' oracle.

The seed (`shared/seeds/001_...`) processes the CSV with generators, one row at a time: parse the
row, validate it, look the vehicle up in the metadata cache, compute `distance_from_depot` with
the Haversine formula, check a Bloom filter for duplicates, build the event and its queue
message, and collect the rows for the Parquet archive. This module does exactly that in plain
Python, with the contract's rules (shared/spec/telemetry.md) — the same rules as the vectorised
pipeline, written independently, so the tests can compare the two on the same file: same
stored events, same rejects with the same codes and line numbers, same duplicates.

Unlike the seed, a Bloom-filter hit is confirmed against an exact set before a row is dropped
(the seed's filter silently drops ~0.1% of real events); the filter is a `hashlib`-based one as
in the seed's design, k positions per key.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from tasks.telemetry.contract_core import (
    DISTANCE_DECIMALS,
    EARTH_RADIUS_KM,
    ENGINE_STATUSES,
    FUTURE_TOLERANCE_MS,
    KNOWN_COLUMNS,
    MIN_INSTANT_MS,
    PRIORITY_OF_STATUS,
    REQUIRED_COLUMNS,
)

_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_EPOCH = re.compile(r"-?\d{1,12}")
_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)"
)
_EPOCH_START = datetime(1970, 1, 1, tzinfo=UTC)
MESSAGE_EVENTS = 10  # events per SendMessageBatch in the seed's design


@dataclass
class RowwiseResult:
    """What one file produced."""

    rows_in: int = 0
    stored: list[dict[str, Any]] = field(default_factory=list)
    rejects: list[tuple[int, str, str]] = field(default_factory=list)  # (line, code, text)
    duplicates: int = 0
    messages: dict[str, int] = field(default_factory=lambda: {"high": 0, "low": 0})
    message_bytes: int = 0
    archive_bytes: int = 0
    stored_count: int = 0  # stored events when they are not kept

    @property
    def stored_total(self) -> int:
        return len(self.stored) + self.stored_count

    @property
    def rejected(self) -> Counter[str]:
        return Counter(code for _line, code, _text in self.rejects)


class SeedBloom:
    """A classic Bloom filter over a bytearray with k `hashlib` positions per key."""

    def __init__(self, capacity: int, fp_rate: float = 0.001) -> None:
        self.bits = max(8, int(-capacity * math.log(fp_rate) / math.log(2) ** 2))
        self.k = max(1, round(self.bits / capacity * math.log(2)))
        self.array = bytearray(self.bits // 8 + 1)

    def _positions(self, key: str) -> Iterator[int]:
        digest = hashlib.blake2b(key.encode(), digest_size=16).digest()
        h1 = int.from_bytes(digest[:8], "little")
        h2 = int.from_bytes(digest[8:], "little") | 1
        for i in range(self.k):
            yield (h1 + i * h2) % self.bits

    def add(self, key: str) -> None:
        for p in self._positions(key):
            self.array[p >> 3] |= 1 << (p & 7)

    def __contains__(self, key: str) -> bool:
        return all(self.array[p >> 3] & (1 << (p & 7)) for p in self._positions(key))


def parse_number(text: str) -> float | None:
    """A finite number, or None."""
    text = text.strip()
    if not _NUMBER.fullmatch(text):
        return None
    value = float(text)
    return value if math.isfinite(value) else None


def parse_instant_ms(text: str) -> int | None:
    """ms since the epoch of an ISO-8601-with-zone or epoch-seconds timestamp, or None."""
    text = text.strip()
    if _EPOCH.fullmatch(text):
        ms = int(text) * 1000
        return ms if ms >= MIN_INSTANT_MS else None
    m = _ISO.fullmatch(text)
    if m is None:
        return None
    year, month, day, hour, minute, second, frac, zulu, sign, off_h, off_m = m.groups()
    try:
        local = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second))
    except ValueError:
        return None
    offset = 0
    if not zulu:
        if int(off_h) > 23 or int(off_m or 0) > 59:
            return None
        offset = (int(off_h) * 60 + int(off_m or 0)) * (-1 if sign == "-" else 1)
    moment = local.replace(tzinfo=UTC) - timedelta(minutes=offset)
    ms = (moment - _EPOCH_START) // timedelta(milliseconds=1)
    ms += int((frac or "0")[:3].ljust(3, "0"))
    return ms if ms >= MIN_INSTANT_MS else None


def haversine(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    half_dlat = (p2 - p1) * 0.5
    half_dlon = math.radians(lon2 - lon1) * 0.5
    a = math.sin(half_dlat) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(half_dlon) ** 2
    return 2.0 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(max(a, 0.0), 1.0)))


def timestamp_key(ms: int) -> str:
    moment = _EPOCH_START + timedelta(milliseconds=ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def lines_of(source: bytes | Path) -> Iterator[bytes]:
    """The raw lines of a file or of bytes, streamed (a generator, as the seed reads S3)."""
    if isinstance(source, bytes):
        yield from io.BytesIO(source)
        return
    with source.open("rb") as handle:
        yield from handle


def rows(lines: Iterator[bytes]) -> Iterator[tuple[int, str, list[str] | None]]:
    """(line number, original text, fields or None when unreadable) of every data row."""
    for number, raw in enumerate(lines, start=2):
        raw = raw.rstrip(b"\n").removesuffix(b"\r")
        if not raw:
            continue
        try:
            text = raw.decode("utf-8")
            fields = next(csv.reader([text], strict=True))
        except (UnicodeDecodeError, csv.Error, StopIteration):
            yield number, raw.decode("utf-8", errors="replace"), None
            continue
        yield number, text, fields


def header_of(first: bytes) -> list[str]:
    first = first.removeprefix(b"\xef\xbb\xbf").rstrip(b"\r\n")
    text = first.decode("utf-8", errors="replace")
    return [n.strip() for n in next(csv.reader([text]), [])] if text.strip() else []


def process(
    source: bytes | Path,
    metadata: Mapping[str, Mapping[str, Any]],
    now_ms: int,
    source_key: str = "incoming/file.csv",
    *,
    keep_events: bool = True,
    exact: bool = True,
    expected_rows: int = 1_000_000,
) -> RowwiseResult:
    """Process one file row by row (the seed's design with the contract's rules).

    `exact=False` is the seed as designed: a Bloom-filter hit drops the row without looking
    further (its false positives lose real events); the tests' oracle uses `exact=True`.
    """
    lines = lines_of(source)
    header = header_of(next(lines, b""))
    position: dict[str, int] = {}
    for i, name in enumerate(header):
        if name.lower() in KNOWN_COLUMNS and name.lower() not in position:
            position[name.lower()] = i
    result = RowwiseResult()
    cache: dict[str, Mapping[str, Any] | None] = {}  # the seed's metadata cache, per vehicle
    seen: set[tuple[str, int]] = set()
    bloom = SeedBloom(capacity=max(1000, expected_rows))
    pending: dict[str, list[str]] = {"high": [], "low": []}
    archive: list[dict[str, Any]] = []
    rejects_sink = csv.writer(io.StringIO())

    def flush(priority: str) -> None:
        batch = pending[priority]
        if batch:
            result.messages[priority] += len(batch)
            result.message_bytes += sum(len(m) for m in batch)
            batch.clear()

    for line, text, fields in rows(lines):
        result.rows_in += 1
        if fields is None or len(fields) != len(header):
            result.rejects.append((line, "missing_field", text))
            rejects_sink.writerow((line, "missing_field", text))
            continue
        value = {name: fields[pos] for name, pos in position.items()}
        code, event = _check(value, now_ms, metadata, cache)
        if code:
            result.rejects.append((line, code, text))
            rejects_sink.writerow((line, code, text))
            continue
        key = f"{event['vehicle_id']}|{event['ms']}"
        if key in bloom and (not exact or (event["vehicle_id"], event["ms"]) in seen):
            result.duplicates += 1
            continue
        bloom.add(key)
        if exact:
            seen.add((event["vehicle_id"], event["ms"]))
        event["source_key"] = source_key
        message = json.dumps({k: v for k, v in event.items() if k != "ms"}, default=str)
        priority = PRIORITY_OF_STATUS[event["engine_status"]]
        pending[priority].append(message)
        if len(pending[priority]) == MESSAGE_EVENTS:
            flush(priority)
        archive.append(event)
        if keep_events:
            result.stored.append(event)
        else:
            result.stored_count += 1
        if len(archive) >= 100_000:
            result.archive_bytes += _write_archive(archive)
    flush("high")
    flush("low")
    if archive:
        result.archive_bytes += _write_archive(archive)
    return result


def _check(
    value: dict[str, str],
    now_ms: int,
    metadata: Mapping[str, Mapping[str, Any]],
    cache: dict[str, Mapping[str, Any] | None],
) -> tuple[str | None, dict[str, Any]]:
    """(first failing reject code or None, the enriched event)."""
    if any(not value.get(c, "").strip() for c in REQUIRED_COLUMNS):
        return "missing_field", {}
    ms = parse_instant_ms(value["timestamp"])
    if ms is None:
        return "bad_timestamp", {}
    if ms > now_ms + FUTURE_TOLERANCE_MS:
        return "future_timestamp", {}
    lat, lon, speed = (parse_number(value[c]) for c in ("lat", "lon", "speed"))
    if lat is not None and not -90.0 <= lat <= 90.0:
        return "lat_out_of_range", {}
    if lon is not None and not -180.0 <= lon <= 180.0:
        return "lon_out_of_range", {}
    if lat is None or lon is None or speed is None:
        return "bad_number", {}
    if speed < 0:
        return "negative_speed", {}
    status = value["engine_status"].strip().lower()
    if status not in ENGINE_STATUSES:
        return "bad_engine_status", {}
    vehicle_id = value["vehicle_id"]
    if vehicle_id not in cache:
        cache[vehicle_id] = metadata.get(vehicle_id)
    vehicle = cache[vehicle_id]
    if vehicle is None:
        return "unknown_vehicle", {}
    if speed > float(vehicle["max_speed"]):
        return "over_max_speed", {}
    distance = haversine(lat, lon, float(vehicle["depot_lat"]), float(vehicle["depot_lon"]))
    event: dict[str, Any] = {
        "vehicle_id": vehicle_id,
        "timestamp": timestamp_key(ms),
        "ms": ms,
        "lat": lat,
        "lon": lon,
        "speed": speed,
        "engine_status": status,
        "distance_from_depot_km": round(distance, DISTANCE_DECIMALS),
    }
    for name, low, high in (("heading", 0.0, 360.0), ("odometer", 0.0, math.inf)):
        number = parse_number(value.get(name, ""))
        if number is not None and low <= number <= high:
            event[name] = number
    event.update({k: v for k, v in vehicle.items() if k not in event})
    return None, event


def _write_archive(events: list[dict[str, Any]]) -> int:
    table = pa.Table.from_pylist(
        [
            {
                "vehicle_id": e["vehicle_id"],
                "timestamp": e["ms"],
                "lat": e["lat"],
                "lon": e["lon"],
                "speed": e["speed"],
                "engine_status": e["engine_status"],
                "distance_from_depot_km": e["distance_from_depot_km"],
            }
            for e in events
        ]
    )
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    events.clear()
    return sink.tell()
