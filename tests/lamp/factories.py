"""Small LAMP files and schedules built in tests (every column explicit where it matters)."""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from tasks.common.time_core import EASTERN
from tasks.lamp import events_core

DAY = date(2024, 2, 7)

LAMP_TYPES: dict[str, pa.DataType] = {f.name: f.type for f in events_core.LAMP_SOURCE_SCHEMA}


def at(hhmmss: str, day: date = DAY) -> int:
    """Epoch seconds of an Eastern wall-clock time on `day`."""
    h, m, s = (int(x) for x in hhmmss.split(":"))
    return int(datetime(day.year, day.month, day.day, h, m, s, tzinfo=EASTERN).timestamp())


def lamp_row(**values: Any) -> dict[str, Any]:
    """One LAMP row: Orange trip T1 on vehicle V1 by default, nulls elsewhere."""
    row: dict[str, Any] = dict.fromkeys(LAMP_TYPES)
    row.update(
        service_date=20240207,
        route_id="Orange",
        trip_id="T1",
        vehicle_id="V1",
        vehicle_label="1400",
        direction_id=False,
    )
    row.update(values)
    return row


def lamp_parquet(rows: list[dict[str, Any]], drop: tuple[str, ...] = ()) -> bytes:
    """Parquet bytes of `rows` in the LAMP schema (columns in `drop` left out)."""
    table = pa.table(
        {name: pa.array([r[name] for r in rows], kind) for name, kind in LAMP_TYPES.items()}
    )
    table = table.drop_columns(list(drop))
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def stop_times(trips: list[tuple[str, str, int, list[tuple[str, int]]]]) -> pa.Table:
    """A day's schedule: (trip_id, route_id, direction_id, [(stop_id, GTFS seconds), ...])."""
    rows: dict[str, list[Any]] = {
        "trip_id": [],
        "route_id": [],
        "direction_id": [],
        "stop_id": [],
        "stop_sequence": [],
        "arrival_s": [],
    }
    for trip_id, route, direction, stops in trips:
        for seq, (stop, seconds) in enumerate(stops, start=1):
            rows["trip_id"].append(trip_id)
            rows["route_id"].append(route)
            rows["direction_id"].append(direction)
            rows["stop_id"].append(stop)
            rows["stop_sequence"].append(seq)
            rows["arrival_s"].append(seconds)
    return pa.table(rows)


def seconds(hhmmss: str) -> int:
    """GTFS seconds of `HH:MM:SS` (no DST on the test day)."""
    h, m, s = (int(x) for x in hhmmss.split(":"))
    return h * 3600 + m * 60 + s


def events_for(
    rows: list[dict[str, Any]], schedule: pa.Table, day: date = DAY
) -> events_core.Events:
    """Run reading, row preparation and event building on `rows`."""
    table = events_core.read_lamp_parquet(lamp_parquet(rows))
    prepared = events_core.prepare_rows(table, day)
    return events_core.build_events(prepared, events_core.prepare_schedule(schedule), day)


def gtfs_zip(files: dict[str, str]) -> bytes:
    """A zip of GTFS text files."""
    sink = io.BytesIO()
    with zipfile.ZipFile(sink, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return sink.getvalue()
