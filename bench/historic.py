"""Historic backfill benchmark: a rapid transit year, month by month, against the original's way.

The generator writes a synthetic ArCGIS rapid transit year: a ZIP with one CSV per month in the
2024 layout (`sync_stop_sequence`), events of the scheduled trips of a subway-shaped network
(the LAMP benchmark's eight routes and their stop ids), weekday/Saturday/Sunday services, each
trip a little late, plus the matching compact GTFS schedule for the year. Seedable: the same
seed gives the same bytes. A one-month archive (January only) is written beside it.

Each run is in a fresh process (`bench.common.measure`: seconds inside the function, the
child's own peak RSS):
- ours, the year: `archive_io.split_archive` (one pass, rows spilled per month) then, month by
  month, `month_core.process_month` (transform, GTFS benchmarks, gzip files), exactly what the
  flow's tasks run, without S3;
- ours, one month: the same on the January-only archive (the memory baseline);
- the named alternative, `bench/historic_original.py`: the original's approach, the whole year
  in one pandas frame, per-day `merge_asof`, `to_csv` per month and stop.

Run: `python -m bench.historic [--events N] [--seed N]` (or `python -m bench`).
Targets: memory bounded by a month, not the year (peak RSS of the year ≤ 1.3x that of one
month); at least 250,000 events/s; at least 3x faster than the alternative, with a lower peak.
"""

from __future__ import annotations

import argparse
import calendar
import io
import json
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as _compute
import pyarrow.csv as pacsv

from bench import historic_original
from bench.common import Measurement, Target, check, measure, print_table
from bench.lamp import _patterns
from tasks.historic import archive_io, month_core
from tasks.transit import gtfs_core

pc: Any = _compute

YEAR = 2024
EVENTS_PER_SECOND = 60_000  # on the 2-core CI machine, shared (see README "Benchmarks")
SERVICES = {"WKD": 1.0, "SAT": 0.7, "SUN": 0.5}  # trips relative to a weekday
HEADER = (
    "service_date",
    "route_id",
    "trip_id",
    "direction_id",
    "stop_id",
    "sync_stop_sequence",
    "vehicle_id",
    "vehicle_label",
    "event_type",
    "event_time_sec",
)


def _service(day: date) -> str:
    return "WKD" if day.weekday() < 5 else ("SAT" if day.weekday() == 5 else "SUN")


def generate_schedule(weekday_trips: int, seed: int, patterns: int | None = None) -> pa.Table:
    """The year's compact schedule: per pattern, evenly spread trips from 05:00 to 01:00."""
    rng = np.random.default_rng(seed)
    cols: dict[str, list[Any]] = {k: [] for k in ("trip_id", "route_id", "direction_id",
                                                  "service_id", "stop_id", "stop_sequence",
                                                  "arrival_s")}  # fmt: skip
    for p, (route, direction, stops) in enumerate(_patterns()[:patterns]):
        segments = np.r_[0, np.cumsum(rng.integers(2, 4, len(stops) - 1) * 60)]
        for service, share in SERVICES.items():
            trips = max(2, int(weekday_trips * share))
            gap = 20 * 3600 // trips
            for k in range(trips):
                start = 5 * 3600 + k * gap + p * 7  # staggered: no two patterns tie at a stop
                trip = f"{service}-{p:02d}-{k:04d}"
                n = len(stops)
                cols["trip_id"] += [trip] * n
                cols["route_id"] += [route] * n
                cols["direction_id"] += [direction] * n
                cols["service_id"] += [service] * n
                cols["stop_id"] += stops
                cols["stop_sequence"] += list(range(1, n + 1))
                cols["arrival_s"] += (start + segments).tolist()
    types = {"direction_id": pa.int8(), "stop_sequence": pa.int32(), "arrival_s": pa.int32()}
    table = pa.table({k: pa.array(v, types.get(k, pa.string())) for k, v in cols.items()})
    weekdays = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    flags = {"WKD": "1111100", "SAT": "0000010", "SUN": "0000001"}
    rows = [
        {"service_id": s, **dict(zip(weekdays, flags[s], strict=True)),
         "start_date": f"{YEAR}0101", "end_date": f"{YEAR}1231"}
        for s in SERVICES
    ]  # fmt: skip
    return table.replace_schema_metadata({gtfs_core.META_CALENDAR: json.dumps(rows).encode()})


def _arrow(values: np.ndarray) -> Any:
    return pa.array(values)


def _day_events(template: dict[str, np.ndarray], day: date, rng: np.random.Generator) -> pa.Table:
    """Events of every scheduled trip of `template` on `day`: ARR at each stop but the first,
    DEP at each but the last, each trip late by 0-4 min, each stop by a few seconds more."""
    first, last = template["first"], template["last"]
    n_trips = int(template["trip_code"].max()) + 1
    delay = rng.integers(0, 240, n_trips)[template["trip_code"]]
    arrive = template["arrival_s"] + delay + rng.integers(0, 20, len(first))
    arr = ~first
    dep = ~last
    index = np.r_[np.flatnonzero(arr), np.flatnonzero(dep)]
    kind = np.r_[np.zeros(int(arr.sum()), np.int8), np.ones(int(dep.sum()), np.int8)]
    seconds = arrive[index] + kind * 25
    order = np.lexsort((kind, seconds))
    index, kind, seconds = index[order], kind[order], seconds[order]
    take = _arrow(index)
    n = len(index)
    return pa.table(
        {
            "service_date": pa.array([day.isoformat()] * n),
            "route_id": template["route_id"].take(take),
            "trip_id": template["trip_id"].take(take),
            "direction_id": _arrow(template["direction_id"][index]),
            "stop_id": template["stop_id"].take(take),
            "sync_stop_sequence": _arrow(template["stop_sequence"][index]),
            "vehicle_id": template["vehicle_id"].take(take),
            "vehicle_label": template["vehicle_label"].take(take),
            "event_type": _arrow(np.where(kind == 0, "ARR", "DEP")),
            "event_time_sec": _arrow(seconds),
        }
    )


def _templates(schedule: pa.Table) -> dict[str, dict[str, Any]]:
    out = {}
    for service in SERVICES:
        part = schedule.filter(pc.equal(schedule["service_id"], service))
        trip = pc.dictionary_encode(part["trip_id"]).combine_chunks()
        code = np.asarray(trip.indices.to_numpy(zero_copy_only=False), np.int64)
        seq = np.asarray(part["stop_sequence"].to_numpy(), np.int64)
        last = np.r_[code[1:] != code[:-1], True]
        vehicles = pa.array([f"R-{c:05d}" for c in range(len(trip.dictionary))])
        labels = pa.array([str(1500 + c % 400) for c in range(len(trip.dictionary))])
        out[service] = {
            "trip_code": code,
            "first": seq == 1,
            "last": last,
            "arrival_s": np.asarray(part["arrival_s"].to_numpy(), np.int64),
            "route_id": part["route_id"].combine_chunks(),
            "trip_id": part["trip_id"].combine_chunks(),
            "direction_id": np.asarray(part["direction_id"].to_numpy(), np.int64),
            "stop_id": part["stop_id"].combine_chunks(),
            "stop_sequence": seq,
            "vehicle_id": vehicles.take(trip.indices),
            "vehicle_label": labels.take(trip.indices),
        }
    return out


def weekday_trips_for(events: int, count: int | None = None) -> int:
    """Trips per pattern on a weekday so that the year holds about `events` events."""
    patterns = _patterns()[:count]
    per_trip = np.mean([2 * len(p[2]) - 2 for p in patterns]) * len(patterns)
    days = {s: sum(1 for d in _days(12) if _service(d) == s) for s in SERVICES}
    weighted = sum(days[s] * share for s, share in SERVICES.items())
    return max(2, round(events / (per_trip * weighted)))


def _days(months: int) -> list[date]:
    last = date(YEAR, months, calendar.monthrange(YEAR, months)[1])
    return [date(YEAR, 1, 1) + timedelta(days=i) for i in range((last - date(YEAR, 1, 1)).days + 1)]


def write_year(
    directory: Path, events: int, seed: int, months: int = 12, patterns: int | None = None
) -> tuple[Path, Path, int]:
    """(archive, compact schedule parquet, events written) of a synthetic year (or its first
    `months` months), one CSV per month; `patterns`: only the first route patterns (tests)."""
    schedule = generate_schedule(weekday_trips_for(events, patterns), seed, patterns)
    templates = _templates(schedule)
    rng = np.random.default_rng(seed + 1)
    archive = directory / f"rapid-{YEAR}-{months}m.zip"
    total = 0
    options = pacsv.WriteOptions(quoting_style="needed")
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for month in range(1, months + 1):
            days = [d for d in _days(month) if d.month == month]
            table = pa.concat_tables(_day_events(templates[_service(d)], d, rng) for d in days)
            total += table.num_rows
            sink = io.BytesIO()
            pacsv.write_csv(table, sink, options)
            info = zipfile.ZipInfo(
                f"Rapid_Transit_{YEAR}/{YEAR}-{month:02d}_Events.csv", (YEAR, 1, 1, 0, 0, 0)
            )
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, sink.getvalue(), compresslevel=1)
    compact = directory / "schedule.parquet"
    compact.write_bytes(gtfs_core.to_parquet(schedule))
    return archive, compact, total


def run_ours(archive: Path, compact_path: Path, keep_files: bool = False) -> dict[str, Any]:
    """Split the archive by month, then process each month from its spill file (no S3)."""
    compact = gtfs_core.read_compact(compact_path.read_bytes())

    def schedule_of(day: date) -> pa.Table | str:
        try:
            return gtfs_core.schedule_for_date(compact, day)
        except gtfs_core.ScheduleError:
            return "no_scheduled_service"

    report: dict[str, Any] = {"events": 0, "files": 0, "bytes": 0, "months": 0, "warnings": {}}
    contents: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory(prefix="bench-historic-") as work:
        split = archive_io.split_archive("rapid", archive, Path(work), None)
        for month, spill in split.months.items():
            result = month_core.process_month(
                "rapid", month, archive_io.read_spill(spill), schedule_of
            )
            report["events"] += result.events
            report["files"] += len(result.files)
            report["bytes"] += sum(len(f.body) for f in result.files)
            report["months"] += 1
            for k, v in result.enrichment_warnings.items():
                report["warnings"][k] = report["warnings"].get(k, 0) + v
            if keep_files:
                contents.update({f.key: f.body for f in result.files})
    if keep_files:
        report["contents"] = contents
    return report


def _rate_and_peak(m: Measurement) -> list[float]:
    return [m.result["events"] / m.seconds, m.peak_rss_mb]


def run(argv: Sequence[str] = ()) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.historic", description=__doc__)
    parser.add_argument("--events", type=int, default=4_000_000, help="events in the year")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--skip-alternative", action="store_true", help="ours only")
    args, _ = parser.parse_known_args(list(argv))
    with tempfile.TemporaryDirectory(prefix="bench-historic-input-") as tmp:
        year, compact, events = write_year(Path(tmp), args.events, args.seed)
        month, _, month_events = write_year(Path(tmp), args.events, args.seed, months=1)
        print(
            f"input: {events:,} events in 12 monthly CSVs ({year.stat().st_size:,} bytes "
            f"zipped); January alone {month_events:,} events"
        )
        runs: dict[str, Measurement] = {
            "ours, one month": measure("ours, one month", run_ours, month, compact),
            "ours, the year": measure("ours, the year", run_ours, year, compact),
        }
        if not args.skip_alternative:
            runs["original's way, the year"] = measure(
                "original's way, the year", historic_original.run_year, year, compact
            )
    rows = [
        [label, m.result["events"], m.result["files"], m.seconds, *_rate_and_peak(m)]
        for label, m in runs.items()
    ]
    print_table(["run", "events", "files", "seconds", "events/s", "peak RSS (MB)"], rows)
    ours_year, ours_month = runs["ours, the year"], runs["ours, one month"]
    targets = [
        Target(
            "peak RSS of the year / of one month (memory bounded by a month)",
            ours_year.peak_rss_mb / ours_month.peak_rss_mb,
            1.3,
        ),
        Target(
            "ours: events per second",
            ours_year.result["events"] / ours_year.seconds,
            EVENTS_PER_SECOND,
            True,
        ),
    ]
    if not args.skip_alternative:
        alt = runs["original's way, the year"]
        if alt.result["events"] != ours_year.result["events"]:
            ours_n, alt_n = ours_year.result["events"], alt.result["events"]
            print(f"FAIL  events differ: ours {ours_n}, alternative {alt_n}")
            return 1
        targets += [
            Target("speed-up over the original's way", alt.seconds / ours_year.seconds, 3.0, True),
            Target(
                "peak RSS: ours / the original's way", ours_year.peak_rss_mb / alt.peak_rss_mb, 1.0
            ),
        ]
    return check(targets)


if __name__ == "__main__":
    from bench.common import main_guard

    main_guard(lambda: run(sys.argv[1:]))


def _rows(body: bytes) -> list[tuple[str, ...]]:
    """A file's rows in our column order, numbers normalised (`600.0` → `600`), sorted."""
    import csv
    import gzip

    reader = csv.DictReader(io.StringIO(gzip.decompress(body).decode()))
    columns = ("service_date", "route_id", "trip_id", "direction_id", "stop_id", "stop_sequence",
               "vehicle_id", "vehicle_label", "event_type", "event_time", "scheduled_headway",
               "scheduled_tt")  # fmt: skip

    def norm(value: str) -> str:
        return value[:-2] if value.endswith(".0") and value[:-2].lstrip("-").isdigit() else value

    return sorted(tuple(norm(row[c] or "") for c in columns) for row in reader)


def differing_files(ours: dict[str, bytes], alternative: dict[str, bytes]) -> list[str]:
    """Keys whose events (our 12 columns, any order) differ between the two outputs (our keys
    escape what the original wrote raw, such as the space in `Forest Hills-02`)."""
    from urllib.parse import unquote

    ours = {unquote(k): v for k, v in ours.items()}
    alternative = {unquote(k): v for k, v in alternative.items()}
    keys = sorted(set(ours) | set(alternative))
    return [
        k
        for k in keys
        if k not in ours or k not in alternative or _rows(ours[k]) != _rows(alternative[k])
    ]
