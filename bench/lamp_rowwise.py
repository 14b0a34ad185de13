"""The straightforward row-by-row implementation of the LAMP spec's "Processing" and "Output".

It is both the test oracle (`tests/lamp/test_sample.py` compares every stop file of the real
sample with it) and the benchmark's named alternative (`bench/lamp.py` times it against the
vectorised code on the same parquet + GTFS zip and checks the outputs agree byte for byte).

Written independently of the vectorised code (plain Python over `to_pylist()`, `zoneinfo` and
`statistics`), so the two agree only if both follow the same rules. The choices the spec leaves
open are the documented ones of docs/lamp.md: non-revenue trips dropped before the cut-over
date (spec step 4: 2023-11-30), kept from it on; a DEP
carries the row of the stop it leaves; an origin DEP keeps trip/vehicle values only; ties in
trip matching go to the earlier scheduled time, then the larger trip_id at equal times (the
later trip_id when looking forward is the smaller one); medians and means round half to even.
"""

from __future__ import annotations

import csv
import io
import statistics
import zipfile
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pyarrow.parquet as pq

from tasks.common.time_core import EASTERN
from tasks.lamp.events_core import OUTPUT_COLUMNS

SUBWAY = {"Red", "Orange", "Blue", "Green-B", "Green-C", "Green-D", "Green-E", "Mattapan"}
ALIASES = {
    "Alewife-01": "70061",
    "Alewife-02": "70061",
    "Forest Hills-01": "70001",
    "Forest Hills-02": "70001",
    "Braintree-01": "70105",
    "Braintree-02": "70105",
    "Oak Grove-01": "70036",
    "Oak Grove-02": "70036",
    "Union Square-01": "70503",
    "Union Square-02": "70504",
}
ASHMONT = {str(s) for s in range(70085, 70095)}
BRAINTREE = {str(s) for s in range(70095, 70106)}
# the column order is the contract's; golden files pin it (and every other byte) independently
HEADER = list(OUTPUT_COLUMNS)


def _seconds(text: str) -> int | None:
    parts = text.strip().split(":")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return None
    return int(parts[0]) * 3600 + int(parts[1]) * 60 + int(parts[2])


def schedule(gtfs_zip: bytes, day: date) -> list[dict[str, Any]]:
    """Subway stop times of the trips running on `day`, straight from the zip's text files."""
    zf = zipfile.ZipFile(io.BytesIO(gtfs_zip))

    def rows(name: str) -> list[dict[str, str]]:
        if name not in zf.namelist():
            return []
        return list(csv.DictReader(io.StringIO(zf.read(name).decode("utf-8-sig"))))

    stamp = day.strftime("%Y%m%d")
    weekday = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"][
        day.weekday()
    ]
    active = {
        r["service_id"]
        for r in rows("calendar.txt")
        if r["start_date"] <= stamp <= r["end_date"] and r[weekday] == "1"
    }
    for r in rows("calendar_dates.txt"):
        if r["date"] == stamp:
            (active.add if r["exception_type"] == "1" else active.discard)(r["service_id"])
    trips = {
        r["trip_id"]: r
        for r in rows("trips.txt")
        if r["route_id"] in SUBWAY and r["service_id"] in active
    }
    out: list[dict[str, Any]] = []
    for r in rows("stop_times.txt"):
        trip = trips.get(r["trip_id"])
        if trip is None:
            continue
        t = _seconds(r["arrival_time"])
        if t is None:
            t = _seconds(r["departure_time"])
        if t is None:
            continue
        out.append(
            {
                "trip_id": r["trip_id"],
                "route_id": trip["route_id"],
                "direction_id": int(trip["direction_id"]),
                "stop_id": ALIASES.get(r["stop_id"], r["stop_id"]),
                "stop_sequence": int(r["stop_sequence"]),
                "t": t,
            }
        )
    by_trip: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for st in out:
        by_trip[st["trip_id"]].append(st)
    for stops in by_trip.values():
        stops.sort(key=lambda s: s["stop_sequence"])
        start = min(s["t"] for s in stops)
        names = {s["stop_id"] for s in stops}
        branch = stops[0]["route_id"]
        if branch == "Red":
            a, b = bool(names & ASHMONT), bool(names & BRAINTREE)
            branch = "Red-A" if a and not b else "Red-B" if b and not a else "Red"
        for i, s in enumerate(stops):
            s["tt"] = s["t"] - start
            s["prev"] = stops[i - 1]["stop_id"] if i else None
            s["branch"] = branch
    return out


def day_start(day: date) -> int:
    noon_utc = datetime.combine(day, time(12), tzinfo=EASTERN).astimezone(UTC)
    return int((noon_utc - timedelta(hours=12)).timestamp())


NON_REVENUE_CUTOVER = date(2023, 11, 30)


def events(
    parquet: bytes, gtfs_zip: bytes, day: date, non_revenue_cutover: date = NON_REVENUE_CUTOVER
) -> list[dict[str, Any]]:
    """The day's events as dicts (output columns + epoch), before sorting."""
    stamp = day.year * 10000 + day.month * 100 + day.day
    drop_non_revenue = day < non_revenue_cutover
    rows = []
    for i, r in enumerate(pq.read_table(io.BytesIO(parquet)).to_pylist()):
        if r["route_id"] not in SUBWAY:
            continue
        if drop_non_revenue and (r["trip_id"] or "").startswith("NONREV-"):
            continue
        if r["service_date"] != stamp or None in (r["trip_id"], r["stop_id"], r["stop_sequence"]):
            continue
        r = dict(r, _row=i, stop_id=ALIASES.get(r["stop_id"], r["stop_id"]))
        r["direction_id"] = None if r["direction_id"] is None else int(r["direction_id"])
        rows.append(r)
    trips: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        key = (r["service_date"], r["route_id"], r["trip_id"], r["vehicle_id"], r["direction_id"])
        trips[key].append(r)

    def event(r: dict[str, Any], kind: str, epoch: int, trip: tuple[Any, ...]) -> dict[str, Any]:
        return {
            "route_id": r["route_id"],
            "trip_id": r["trip_id"],
            "direction_id": r["direction_id"],
            "stop_id": r["stop_id"],
            "stop_sequence": r["stop_sequence"],
            "vehicle_id": r["vehicle_id"],
            "vehicle_label": r["vehicle_label"],
            "event_type": kind,
            "epoch": epoch,
            "travel_time_seconds": r["travel_time_seconds"],
            "dwell_time_seconds": r["dwell_time_seconds"],
            "headway_seconds": r["headway_trunk_seconds"],
            "headway_branch_seconds": r["headway_branch_seconds"],
            "scheduled_headway": r["scheduled_headway_trunk"],
            "scheduled_headway_branch": r["scheduled_headway_branch"],
            "vehicle_consist": r["vehicle_consist"],
            "_trip": trip,
            "_row": r["_row"],
        }

    out: list[dict[str, Any]] = []
    pending: list[tuple[dict[str, Any], tuple[Any, ...]]] = []
    for trip, trip_rows in trips.items():
        for r in trip_rows:
            if r["stop_timestamp"] is not None:
                out.append(event(r, "ARR", r["stop_timestamp"], trip))
            if r["move_timestamp"] is None:
                continue
            earlier = [p for p in trip_rows if p["stop_sequence"] < r["stop_sequence"]]
            if not earlier:
                pending.append((r, trip))
                continue
            best = max(p["stop_sequence"] for p in earlier)
            prev = [p for p in earlier if p["stop_sequence"] == best][-1]
            out.append(event(prev, "DEP", r["move_timestamp"], trip))

    sched = schedule(gtfs_zip, day)
    by_place: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for s in sched:
        by_place[(s["route_id"], s["direction_id"], s["stop_id"], s["branch"])].append(s)
    of_trip: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for e in out:
        of_trip[e["_trip"]].append(e)
    start = day_start(day)
    matched: dict[tuple[Any, ...], str | None] = {}
    for trip, trip_rows in trips.items():
        mine = of_trip[trip]
        if not mine:
            matched[trip] = None
            continue
        first = min(mine, key=lambda e: (e["epoch"], e["event_type"] == "DEP", e["_row"]))
        names = {r["stop_id"] for r in trip_rows}
        branch = trip[1]
        if branch == "Red":
            a, b = bool(names & ASHMONT), bool(names & BRAINTREE)
            branch = "Red-A" if a and not b else "Red-B" if b and not a else "Red"
            if branch == "Red":
                for name in ("Red-A", "Red-B"):
                    if any(r["branch_route_id"] == name for r in trip_rows):
                        branch = name
                        break
        t = first["epoch"] - start
        direction = -1 if first["direction_id"] is None else first["direction_id"]
        candidates = by_place[(first["route_id"], direction, first["stop_id"], branch)]
        back = [s for s in candidates if s["t"] <= t]
        fwd = [s for s in candidates if s["t"] >= t]
        before = max(back, key=lambda s: (s["t"], s["trip_id"])) if back else None
        after = min(fwd, key=lambda s: (s["t"], s["trip_id"])) if fwd else None
        if before is not None and (after is None or t - before["t"] <= after["t"] - t):
            matched[trip] = before["trip_id"]
        else:
            matched[trip] = after["trip_id"] if after is not None else None

    at: dict[tuple[str, str], dict[str, Any]] = {}
    for s in sched:
        at.setdefault((s["trip_id"], s["stop_id"]), s)
    for r, trip in pending:
        sched_trip = matched[trip]
        here = at.get((sched_trip, r["stop_id"])) if sched_trip else None
        if here is None or here["prev"] is None:
            continue
        e = event(r, "DEP", r["move_timestamp"], trip)
        for name in (
            "stop_sequence",
            "travel_time_seconds",
            "dwell_time_seconds",
            "headway_seconds",
            "headway_branch_seconds",
            "scheduled_headway",
            "scheduled_headway_branch",
        ):
            e[name] = None
        e["stop_id"] = here["prev"]
        out.append(e)

    medians: dict[tuple[Any, ...], list[int]] = defaultdict(list)
    for s in sched:
        medians[(s["route_id"], s["direction_id"], s["stop_id"], s["t"] // 1800)].append(s["tt"])
    for e in out:
        sched_trip = matched[e["_trip"]]
        here = at.get((sched_trip, e["stop_id"])) if sched_trip else None
        if here is not None:
            e["scheduled_tt"] = here["tt"]
            continue
        window = (e["epoch"] - start) // 1800
        direction = -1 if e["direction_id"] is None else e["direction_id"]
        values = medians.get((e["route_id"], direction, e["stop_id"], window))
        e["scheduled_tt"] = round(statistics.median(values)) if values else None

    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for e in out:
        window = (e["epoch"] - start) // 1800
        groups[(e["route_id"], e["direction_id"], e["stop_id"], window)].append(e)
    for members in groups.values():
        values = [m["scheduled_headway"] for m in members if m["scheduled_headway"] is not None]
        smoothed = None
        if values:
            smoothed = int(round(sum(values) / len(values) / 10) * 10)
        for m in members:
            m["scheduled_headway"] = smoothed
    return out


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = str(value)
    if any(ch in text for ch in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def render(all_events: list[dict[str, Any]], day: date) -> dict[str, bytes]:
    """Per-stop CSV bytes, as the spec's Output section describes them."""
    by_stop: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in all_events:
        by_stop[e["stop_id"]].append(e)
    files = {}
    for stop, stop_events in by_stop.items():
        stop_events.sort(
            key=lambda e: (
                e["epoch"],
                e["event_type"] == "DEP",
                e["trip_id"],
                -1 if e["stop_sequence"] is None else e["stop_sequence"],
                e["vehicle_id"] or "",
                e["_row"],
            )
        )
        lines = [",".join(HEADER)]
        for e in stop_events:
            local = datetime.fromtimestamp(e["epoch"], EASTERN)
            stamp = local.isoformat(sep=" ")
            values = {**e, "service_date": day.isoformat(), "event_time": stamp}
            lines.append(",".join(_cell(values[name]) for name in HEADER))
        files[stop] = ("\n".join(lines) + "\n").encode()
    return files
