"""Seeded fleet telemetry (pure): vehicle metadata and realistic GPS CSV files with known faults.

Used by the tests, the demo and the benchmark. A fleet has depots around New York City; each
vehicle (van, box truck, cargo bike) starts at its depot and drives a random walk with plausible
speeds for its type, switching between `off`, `idle` and `moving`. Events are every
`interval_s` seconds per vehicle, in time order across the fleet, with the timestamp written in
the forms the contract allows (`Z`, an offset, fractional seconds, epoch seconds).

A share `bad_share` of rows is made bad, one reject code each in turn (every code present in a
file of 20+ rows, plus unreadable rows with the wrong number of fields), and a share `dup_share`
are later copies of earlier valid rows, sometimes with another spelling of the same instant. The
generator returns the exact expected outcome (`Expected`), so tests assert literal counts.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tasks.telemetry.contract_core import REJECT_CODES
from tasks.telemetry.values_core import format_instants

HEADER = ("vehicle_id", "timestamp", "lat", "lon", "speed", "engine_status", "heading", "odometer")
START_MS = 1_714_521_600_000  # 2024-05-01T00:00:00Z
FUTURE_MS = 4_070_908_800_000  # 2099-01-01: always after the processing time
# (type, max speed km/h, cruising speed km/h, makes)
TYPES = (
    ("van", 110.0, 45.0, ("Ford Transit", "Mercedes Sprinter", "Ram ProMaster")),
    ("box_truck", 90.0, 38.0, ("Isuzu NPR", "Hino 195")),
    ("cargo_bike", 25.0, 16.0, ("Urban Arrow", "Tern GSD")),
)
DEPOTS = (
    ("Bronx", 40.8296, -73.8740),
    ("Brooklyn Navy Yard", 40.7003, -73.9700),
    ("Long Island City", 40.7447, -73.9485),
    ("Red Hook", 40.6734, -74.0120),
    ("Hunts Point", 40.8094, -73.8803),
    ("Newark", 40.7357, -74.1724),
    ("Jersey City", 40.7178, -74.0431),
    ("Staten Island", 40.5795, -74.1502),
    ("Jamaica", 40.7027, -73.7890),
    ("Harlem", 40.8116, -73.9465),
)
# the unreadable-row fault (wrong field count) is rejected as missing_field too
FAULTS = (*REJECT_CODES, "ragged")


@dataclass(frozen=True)
class Fleet:
    """Vehicle metadata: `document` is what `metadata_api.json` holds."""

    ids: np.ndarray[Any, Any]
    max_speed: np.ndarray[Any, Any]
    cruise: np.ndarray[Any, Any]
    depot_lat: np.ndarray[Any, Any]
    depot_lon: np.ndarray[Any, Any]
    document: dict[str, dict[str, Any]]


def make_fleet(vehicles: int, seed: int = 1) -> Fleet:
    """A fleet of `vehicles` vehicles (`V00001`...), each with a type, depot and make."""
    rng = np.random.default_rng(seed)
    kind = rng.choice(len(TYPES), size=vehicles, p=[0.6, 0.25, 0.15])
    depot = rng.integers(0, len(DEPOTS), vehicles)
    ids = np.array([f"V{i:05d}" for i in range(1, vehicles + 1)])
    doc: dict[str, dict[str, Any]] = {}
    for i, vehicle_id in enumerate(ids.tolist()):
        name, max_speed, _cruise, makes = TYPES[int(kind[i])]
        d_name, d_lat, d_lon = DEPOTS[int(depot[i])]
        doc[vehicle_id] = {
            "max_speed": max_speed,
            "depot_lat": d_lat,
            "depot_lon": d_lon,
            "type": name,
            "make": makes[i % len(makes)],
            "fleet": f"{d_name} {'AB'[i % 2]}",
            "year": 2018 + i % 7,
        }
    return Fleet(
        ids=ids,
        max_speed=np.array([TYPES[k][1] for k in kind]),
        cruise=np.array([TYPES[k][2] for k in kind]),
        depot_lat=np.array([DEPOTS[d][1] for d in depot]),
        depot_lon=np.array([DEPOTS[d][2] for d in depot]),
        document=doc,
    )


@dataclass
class Expected:
    """The exact outcome of processing a generated file (alone, the first time)."""

    rows: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    moving: int = 0  # stored events with engine_status moving (the high queue)

    @property
    def reconciles(self) -> bool:
        return self.rows == self.stored + self.duplicates + sum(self.rejected.values())


@dataclass
class _State:
    lat: np.ndarray[Any, Any]
    lon: np.ndarray[Any, Any]
    heading: np.ndarray[Any, Any]
    status: np.ndarray[Any, Any]  # 0 moving, 1 idle, 2 off
    odometer: np.ndarray[Any, Any]


_STATUS = np.array(["moving", "idle", "off"])
# Markov chain of engine status per step (rows: from moving, idle, off)
_TRANSITIONS = np.array([[0.92, 0.07, 0.01], [0.35, 0.55, 0.10], [0.10, 0.05, 0.85]])


def generate(
    fleet: Fleet,
    steps: int,
    *,
    seed: int = 7,
    start_ms: int = START_MS,
    interval_s: int = 30,
    bad_share: float = 0.03,
    dup_share: float = 0.02,
    block_steps: int = 50,
) -> tuple[Iterator[bytes], Expected]:
    """CSV bytes (header first, then blocks of `block_steps` time steps) and the expectation.

    The expectation is complete only once the iterator is exhausted.
    """
    expected = Expected()
    return _blocks(
        fleet, steps, seed, start_ms, interval_s, bad_share, dup_share, block_steps, expected
    ), expected


def generate_bytes(fleet: Fleet, steps: int, **options: Any) -> tuple[bytes, Expected]:
    """The whole file in memory (tests and the demo)."""
    chunks, expected = generate(fleet, steps, **options)
    return b"".join(chunks), expected


def _blocks(
    fleet: Fleet,
    steps: int,
    seed: int,
    start_ms: int,
    interval_s: int,
    bad_share: float,
    dup_share: float,
    block_steps: int,
    expected: Expected,
) -> Iterator[bytes]:
    rng = np.random.default_rng(seed)
    n = len(fleet.ids)
    state = _State(
        lat=fleet.depot_lat.copy(),
        lon=fleet.depot_lon.copy(),
        heading=rng.uniform(0, 360, n),
        status=np.full(n, 2),
        odometer=np.round(rng.uniform(1_000, 90_000, n), 1),
    )
    jitter = rng.integers(0, interval_s * 1000, n)  # each vehicle reports at its own offset
    yield (",".join(HEADER) + "\n").encode()
    fault_turn = 0
    for first in range(0, steps, block_steps):
        count = min(block_steps, steps - first)
        table, moving = _step_block(fleet, state, rng, first, count, start_ms, interval_s, jitter)
        rows = table.num_rows
        # duplicates: copies of valid rows of this block, appended after it
        n_dup = int(rng.binomial(rows, dup_share)) if rows > 1 else 0
        n_bad = int(rng.binomial(rows, bad_share)) if rows > 1 else 0
        chosen = rng.choice(rows, size=min(rows, n_bad + n_dup), replace=False)
        bad_rows, dup_sources = chosen[:n_bad], np.sort(chosen[n_bad:])
        faults: dict[int, str] = {}
        for row in bad_rows.tolist():
            fault = FAULTS[fault_turn % len(FAULTS)]
            fault_turn += 1
            faults[row] = fault
        lines = _render(table, faults, fleet)
        dup_lines = [_respell(lines[row], rng) for row in dup_sources.tolist()]
        for fault in faults.values():
            code = "missing_field" if fault == "ragged" else fault
            expected.rejected[code] = expected.rejected.get(code, 0) + 1
        good = np.ones(rows, dtype=bool)
        good[bad_rows] = False
        expected.stored += int(good.sum())
        expected.moving += int((moving & good).sum())
        expected.duplicates += len(dup_lines)
        expected.rows += rows + len(dup_lines)
        yield ("\n".join(lines + dup_lines) + "\n").encode()


def _step_block(
    fleet: Fleet,
    state: _State,
    rng: np.random.Generator,
    first: int,
    count: int,
    start_ms: int,
    interval_s: int,
    jitter: np.ndarray[Any, Any],
) -> tuple[pa.Table, np.ndarray[Any, Any]]:
    """`count` time steps of every vehicle: a table of CSV text columns, and `moving`."""
    n = len(fleet.ids)
    parts: dict[str, list[Any]] = {
        k: [] for k in ("lat", "lon", "speed", "status", "heading", "odometer", "ms", "vehicle")
    }
    for step in range(first, first + count):
        u = rng.random(n)
        cumulative = np.cumsum(_TRANSITIONS[state.status], axis=1)
        state.status = (u[:, None] > cumulative).sum(axis=1).clip(0, 2)
        moving = state.status == 0
        speed = np.where(
            moving,
            np.clip(rng.normal(fleet.cruise, fleet.cruise * 0.35), 3.0, fleet.max_speed * 0.97),
            0.0,
        )
        state.heading = (state.heading + rng.normal(0, 25, n) * moving) % 360
        km = speed * interval_s / 3600.0
        rad = np.radians(state.heading)
        state.lat = state.lat + km * np.cos(rad) / 111.2
        state.lon = state.lon + km * np.sin(rad) / (111.2 * np.cos(np.radians(state.lat)))
        state.odometer = state.odometer + km
        parts["lat"].append(np.round(state.lat, 6))
        parts["lon"].append(np.round(state.lon, 6))
        parts["speed"].append(np.round(speed, 1))
        parts["status"].append(state.status.copy())
        parts["heading"].append(np.round(state.heading, 1))
        parts["odometer"].append(np.round(state.odometer, 1))
        parts["ms"].append(start_ms + step * interval_s * 1000 + jitter)
        parts["vehicle"].append(np.arange(n))
    cat = {k: np.concatenate(v) for k, v in parts.items()}
    order = np.argsort(cat["ms"], kind="stable")
    cat = {k: v[order] for k, v in cat.items()}
    stamps = pc.utf8_replace_slice(format_instants(cat["ms"]), 19, 23, "")  # whole seconds + Z
    stamps = pc.if_else(pa.array(cat["ms"] % 1000 != 0), format_instants(cat["ms"]), stamps)
    table = pa.table(
        {
            "vehicle_id": pa.array(fleet.ids[cat["vehicle"]]),
            "timestamp": stamps,
            "lat": pc.cast(pa.array(cat["lat"]), pa.string()),
            "lon": pc.cast(pa.array(cat["lon"]), pa.string()),
            "speed": pc.cast(pa.array(cat["speed"]), pa.string()),
            "engine_status": pa.array(_STATUS[cat["status"]]),
            "heading": pc.cast(pa.array(cat["heading"]), pa.string()),
            "odometer": pc.cast(pa.array(cat["odometer"]), pa.string()),
        }
    )
    table = _vary_spellings(table, cat["ms"], rng)
    return table, cat["status"] == 0


def _vary_spellings(
    table: pa.Table, ms: np.ndarray[Any, Any], rng: np.random.Generator
) -> pa.Table:
    """Write some timestamps with an offset, some as epoch seconds (same instants)."""
    n = table.num_rows
    kind = rng.random(n)
    stamps = table.column("timestamp").to_pylist()
    for i in np.flatnonzero(kind < 0.10).tolist():
        stamps[i] = _with_offset(int(ms[i]), -4)
    for i in np.flatnonzero((kind >= 0.10) & (kind < 0.15) & (ms % 1000 == 0)).tolist():
        stamps[i] = str(int(ms[i]) // 1000)
    return table.set_column(1, "timestamp", pa.array(stamps, pa.string()))


def _with_offset(ms: int, hours: int) -> str:
    local = format_instants(np.array([ms + hours * 3_600_000], np.int64))[0].as_py()
    body = local[:19] if ms % 1000 == 0 else local[:23]
    return f"{body}{'-' if hours < 0 else '+'}{abs(hours):02d}:00"


def _render(table: pa.Table, faults: dict[int, str], fleet: Fleet) -> list[str]:
    """The CSV lines of a block, with the chosen rows broken."""
    joined = pc.binary_join_element_wise(*(table.column(h) for h in HEADER), ",")  # type: ignore[call-overload]
    lines: list[str] = joined.to_pylist()
    for row, fault in faults.items():
        lines[row] = ",".join(_break(lines[row].split(","), fault, fleet))
    return lines


def _break(row: list[str], fault: str, fleet: Fleet) -> list[str]:
    """One row made to fail exactly `fault` (and no earlier rule)."""
    row = list(row)
    vehicle = row[0]
    index = int(vehicle[1:]) - 1 if vehicle.startswith("V") else 0
    if fault == "missing_field":
        row[4] = ""
    elif fault == "bad_timestamp":
        row[1] = row[1][:19] if not row[1].isdigit() else "2024-13-01T00:00:00Z"
    elif fault == "future_timestamp":
        row[1] = "2099-01-01T00:00:00Z"
    elif fault == "lat_out_of_range":
        row[2] = "95.5"
    elif fault == "lon_out_of_range":
        row[3] = "-190.25"
    elif fault == "bad_number":
        row[4] = "fast"
    elif fault == "negative_speed":
        row[4] = "-5.0"
    elif fault == "bad_engine_status":
        row[5] = "parked"
    elif fault == "unknown_vehicle":
        row[0] = "GHOST-1"
    elif fault == "over_max_speed":
        row[4] = f"{float(fleet.max_speed[index]) + 15.5:.1f}"
    elif fault == "ragged":
        row = row[:5]
    return row


def _respell(line: str, rng: np.random.Generator) -> str:
    """A later copy of a valid row: the same instant, maybe spelt differently."""
    values = line.split(",")
    stamp = values[1]
    if rng.random() < 0.5 and stamp.endswith("Z") and len(stamp) == 20:
        values[1] = stamp[:19] + "+00:00"
    return ",".join(values)


def priority_counts(expected: Expected) -> dict[str, int]:
    """Stored events per queue."""
    return {"high": expected.moving, "low": expected.stored - expected.moving}
