"""Ferry trips (ArcGIS Hub export) → the event table (pure, vectorised).

Each row is one crossing: a DEP at `departure_terminal` (`actual_departure`) and an ARR at
`arrival_terminal` (`actual_arrival`); `vehicle_id` is `vessel_time_slot`; "From Boston" → 0,
"To Boston" → 1; terminal and route names become GTFS ids. `scheduled_tt` is the crossing's
scheduled duration (`mbta_sched_arrival − mbta_sched_departure`, a day added when the
departure is before midnight and the arrival after), as the original wrote it.

Defects of the original fixed here:
- `service_date` comes as midnight UTC (`2024-02-07 00:00:00+00`): it is the calendar date as
  written, not that instant in Eastern time (which is the evening before). A `service_date`
  with a time other than midnight and an offset is that instant's Eastern date.
- A row without `trip_id` gets `gen-` + the first 16 hex digits of the SHA-1 of its scheduled
  identity (service date, route, direction, terminals, scheduled times, vessel slot): the same
  row always gets the same id (the original drew a random UUID on every run).
- Each event stands on its own: a row missing its arrival still gives its departure (the
  original dropped both when any of six columns was empty); what is missing is counted.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as _compute

from tasks.historic import parse_core
from tasks.historic.events_core import (
    Transformed,
    event_table,
    first_failures,
    ints_or_null,
    tally,
)

# pyarrow-stubs' overloads reject valid compute calls: compute functions are used untyped here.
pc: Any = _compute

DIRECTIONS = {"from boston": 0, "to boston": 1}
# ArcGIS route names → GTFS route ids.
ROUTES = {
    "F1": "Boat-F1",
    "F2H": "Boat-F1",  # Hingham/Hull via Logan: the F1 in GTFS
    "F3": "Boat-EastBoston",
    "F4": "Boat-F4",
    "F5": "Boat-Lynn",
    "F6": "Boat-F6",
    "F7": "Boat-F7",
    "F8": "Boat-F8",
}
# ArcGIS terminal names → GTFS stop ids (matched without regard to case). The spec's list,
# extended with the names the export has used (matched by hand against MBTA's stop pages).
TERMINALS = {
    "hingham": "Boat-Hingham",
    "boston": "Boat-Long",
    "long wharf n": "Boat-Long",
    "long wharf s": "Boat-Long-South",
    "navy yard": "Boat-Charlestown",
    "lynn": "Boat-Blossom",
    "seaport": "Boat-Fan",
    "aquarium": "Boat-Aquarium",
    "central whf": "Boat-Aquarium",
    "georges": "Boat-George",
    "hull": "Boat-Hull",
    "lewis": "Boat-Lewis",
    "logan": "Boat-Logan",
    "quincy": "Boat-Quincy",
    "rowes": "Boat-Rowes",
    "rowes wharf": "Boat-Rowes",
    "winthrop": "Boat-Winthrop",
}
TRIP_ID_PREFIX = "gen-"
_IDENTITY = (
    "service_date",
    "route_id",
    "travel_direction",
    "departure_terminal",
    "arrival_terminal",
    "mbta_sched_departure",
    "mbta_sched_arrival",
    "vessel_time_slot",
)


def service_days(rows: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """Service dates: the written calendar date at midnight; else the instant's Eastern date."""
    stamps = parse_core.parse_stamps(rows["service_date"])
    at_midnight = ~stamps.has_time | (stamps.second == 0)
    eastern_day = parse_core.eastern_wall_clock(stamps) // parse_core.DAY
    day = np.where(at_midnight | ~stamps.has_offset, stamps.day, eastern_day)
    return day, stamps.valid


def _mapped(
    values: Any,
    mapping: dict[str, str],
    lower: bool,
    kept: np.ndarray,
) -> tuple[Any, dict[str, int]]:
    """Values mapped to GTFS ids, and the kept rows' names neither mapped nor already `Boat-…`
    (kept as written, counted by name)."""
    text = parse_core.blank_to_null(values)
    probe = pc.utf8_lower(text) if lower else text
    index = pc.index_in(probe, value_set=pa.array(list(mapping)))
    mapped = pc.take(pa.array(list(mapping.values()), pa.string()), index)
    unknown = pc.and_(
        pc.and_(pc.is_null(index), pc.is_valid(text)),
        pc.invert(pc.fill_null(pc.starts_with(text, "Boat-"), False)),
    )
    flags = np.asarray(pc.fill_null(unknown, False).to_numpy(zero_copy_only=False), dtype=bool)
    rows = kept[flags[kept]]
    names = text.take(pa.array(rows, pa.int64())).to_pylist()
    return pc.coalesce(mapped, text), tally([str(n) for n in names])


def generated_trip_ids(rows: pa.Table, index: np.ndarray) -> list[str]:
    """Deterministic trip ids for `rows[index]` (see the module docstring)."""
    columns = [rows[c].take(pa.array(index, pa.int64())).to_pylist() for c in _IDENTITY]
    ids = []
    for values in zip(*columns, strict=True):
        text = "\x1f".join("" if v is None else str(v).strip() for v in values)
        ids.append(
            TRIP_ID_PREFIX + hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:16]
        )
    return ids


def transform(rows: pa.Table, routes: tuple[str, ...] | None = None) -> Transformed:
    """A month of ferry rows (canonical text columns) → events; `routes` (GTFS ids) limits them."""
    n = rows.num_rows
    day, day_ok = service_days(rows)
    route = parse_core.blank_to_null(rows["route_id"])
    direction_codes = pc.index_in(
        pc.utf8_lower(parse_core.blank_to_null(rows["travel_direction"])),
        value_set=pa.array(list(DIRECTIONS)),
    )
    direction = np.asarray(pc.fill_null(direction_codes, -1).to_numpy(zero_copy_only=False))
    all_rows = np.arange(n)
    route, _ = _mapped(rows["route_id"], ROUTES, False, all_rows[:0])
    excluded = parse_core.outside(route, routes)
    keep, rejected = first_failures(
        [
            ("_excluded", excluded),
            ("bad_service_date", ~day_ok),
            ("missing_route_id", ~parse_core.present(rows["route_id"])),
            ("unknown_direction", direction < 0),
        ],
        n,
    )
    excluded_count = rejected.pop("_excluded", 0)
    kept = np.flatnonzero(keep)
    route, unmapped_routes = _mapped(rows["route_id"], ROUTES, False, kept)

    trip = parse_core.blank_to_null(rows["trip_id"])
    has_trip = np.asarray(pc.is_valid(trip).to_numpy(zero_copy_only=False), dtype=bool)
    missing_trip = kept[~has_trip[kept]]
    trip_ids = np.asarray(trip.to_numpy(zero_copy_only=False), dtype=object)
    if len(missing_trip):
        trip_ids[missing_trip] = generated_trip_ids(rows, missing_trip)

    sched_dep = parse_core.parse_stamps(rows["mbta_sched_departure"])
    sched_arr = parse_core.parse_stamps(rows["mbta_sched_arrival"])
    duration = parse_core.eastern_wall_clock(sched_arr) - parse_core.eastern_wall_clock(sched_dep)
    duration = np.where(duration < 0, duration + parse_core.DAY, duration)
    tt_ok = sched_dep.valid & sched_arr.valid & sched_dep.has_time & sched_arr.has_time

    stops: dict[str, Any] = {}
    unmapped_stops: dict[str, int] = {}
    for column in ("departure_terminal", "arrival_terminal"):
        stops[column], names = _mapped(rows[column], TERMINALS, True, kept)
        for name, count in names.items():
            unmapped_stops[name] = unmapped_stops.get(name, 0) + count

    parts = []
    missing: dict[str, int] = {}
    for event_type, stop_column, time_column, label in (
        ("DEP", "departure_terminal", "actual_departure", "departure"),
        ("ARR", "arrival_terminal", "actual_arrival", "arrival"),
    ):
        stamps = parse_core.parse_stamps(rows[time_column])
        local = parse_core.eastern_wall_clock(stamps)
        has_stop = np.asarray(
            pc.is_valid(stops[stop_column]).to_numpy(zero_copy_only=False), dtype=bool
        )
        ok = stamps.valid & stamps.has_time
        gives = kept[has_stop[kept] & ok[kept]]
        lacking = kept[~(has_stop[kept] & ok[kept])]
        if len(lacking):
            no_stop = int((~has_stop[lacking]).sum())
            no_time = len(lacking) - no_stop
            if no_stop:
                missing[f"{label}_without_terminal"] = no_stop
            if no_time:
                missing[f"{label}_without_actual_time"] = no_time
        take = pa.array(gives, pa.int64())
        parts.append(
            event_table(
                {
                    "day": day[gives],
                    "route_id": route.take(take),
                    "trip_id": pa.array(trip_ids[gives], pa.string()),
                    "direction_id": direction[gives],
                    "stop_id": stops[stop_column].take(take),
                    "vehicle_id": parse_core.blank_to_null(rows["vessel_time_slot"]).take(take),
                    "event_type": pa.array([event_type] * len(gives), pa.string()),
                    "t": local[gives] - day[gives].astype(np.int64) * parse_core.DAY,
                    "scheduled_tt": ints_or_null(duration[gives], tt_ok[gives]),
                    "_row": gives,
                }
            )
        )
    notes = {"generated_trip_ids": len(missing_trip)} if len(missing_trip) else {}
    notes.update({f"unmapped_route {k}": v for k, v in unmapped_routes.items()})
    notes.update({f"unmapped_terminal {k}": v for k, v in sorted(unmapped_stops.items())})
    return Transformed(
        pa.concat_tables(parts),
        n,
        rejected,
        int(excluded_count),
        dict(sorted(missing.items())),
        notes,
    )
