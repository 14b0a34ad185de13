"""Small ArcGIS exports in each source's real layout, and an ArcGIS look-alike that serves them.

Used by the sample-source server (the demo's offline backfills), by the tests (their fixture
builders) and by the benchmark. Layouts, as MBTA publishes them:

- rapid transit: a yearly ZIP of CSVs; 2016–2023 files have `stop_sequence`, 2024 on
  `sync_stop_sequence`; the 2016 archive holds travel-time/headway aggregates instead of
  events; large archives use Deflate64, which Python's zipfile cannot read (`zip_archive(...,
  deflate64=True)` builds one with 7-Zip itself);
- bus: 2020 as quarterly files with the old column spellings (`ServiceDate, Route, ...`), the
  Jul-Sep one starting with a UTF-8 BOM; 2021 on, files inside a
  `MBTA_Bus_Arrival_Departure_Times_{year}/` folder with the new spellings; times are
  `1900-01-0X HH:MM:SS` placeholders, in UTC from the 2024-06 service date on;
- ferry: one CSV of every crossing (ArcGIS Hub export), service dates at UTC midnight.

The ArcGIS look-alike answers `{items}/{id}?f=json` (metadata with `modified`), `{items}/{id}/data`
(the archive), the Hub's export refresh and CSV download, and a GTFS archive index that adds a
small bus + ferry feed for 2024 to the LAMP sample's subway feed. Standard library only, except
`7z` for Deflate64 archives.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from deployments.sample_server import Reply, Route

FIXED_TIME = (2024, 3, 1, 0, 0, 0)  # member timestamps: the same archive bytes on every build
ITEMS_PATH = "/arcgis/sharing/rest/content/items"
HUB_PATH = "/hub"
GTFS_PATH = "/historic/gtfs"
SAMPLE_FEED = "historic-sample-2024"
SAMPLE_MODIFIED = 1_717_000_000_000  # 2024-05-29T16:26:40Z, fixed: a rerun sees no change

RAPID_IDS = {2016: "3e892be850fe4cc4a15d6450de4bd318", 2024: "0711756aa5e1400891e79b984a94b495"}
BUS_IDS = {2020: "4c1293151c6c4a069d49e6b85ee68ea4", 2024: "96c77138c3144906bce93d0257531b6a"}
FERRY_ID = "ae21643bbe60488db8520cc694f882aa"

RAPID_HEADER = (
    "service_date",
    "route_id",
    "trip_id",
    "direction_id",
    "stop_id",
    "stop_sequence",
    "vehicle_id",
    "vehicle_label",
    "event_type",
    "event_time_sec",
)
RAPID_HEADER_2024 = tuple("sync_stop_sequence" if c == "stop_sequence" else c for c in RAPID_HEADER)
AGGREGATES_HEADER = (
    "service_date",
    "from_stop_id",
    "to_stop_id",
    "route_id",
    "direction_id",
    "start_time_sec",
    "end_time_sec",
    "travel_time_sec",
    "benchmark_travel_time_sec",
)
BUS_OLD_HEADER = (
    "ServiceDate",
    "Route",
    "Direction",
    "HalfTripId",
    "Stop",
    "Timepoint",
    "TimepointOrder",
    "PointType",
    "StandardType",
    "Scheduled",
    "Actual",
    "ScheduledHeadway",
    "Headway",
)
BUS_NEW_HEADER = (
    "service_date",
    "route_id",
    "direction_id",
    "half_trip_id",
    "stop_id",
    "time_point_id",
    "time_point_order",
    "point_type",
    "standard_type",
    "scheduled",
    "actual",
    "scheduled_headway",
    "headway",
)
FERRY_HEADER = (
    "service_date",
    "route_id",
    "trip_id",
    "travel_direction",
    "departure_terminal",
    "arrival_terminal",
    "mbta_sched_departure",
    "mbta_sched_arrival",
    "actual_departure",
    "actual_arrival",
    "vessel_time_slot",
    "vessel_name",
    "ObjectId",
)
BUS_QUARTERS_2020 = (
    "Bus Arrival Departure Times Jan-Mar 2020.csv",
    "Bus Arrival Departure Times Apr-June 2020.csv",
    "Bus Arrival Departure Times Jul-Sep 2020.csv",  # the one with a UTF-8 BOM
    "Bus Arrival Departure Times Oct-Dec 2020.csv",
)


class SevenZipMissingError(RuntimeError):
    """Building a Deflate64 archive needs 7-Zip (`7z`), installed by `make venv`."""


# --- files -----------------------------------------------------------------------------------


def csv_bytes(
    header: Sequence[object], rows: Iterable[Sequence[object]], *, bom: bool = False
) -> bytes:
    """A CSV file (CRLF line ends as ArcGIS writes them; empty for None)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(["" if v is None else v for v in row] for row in rows)
    return (b"\xef\xbb\xbf" if bom else b"") + out.getvalue().encode()


def zip_archive(members: Mapping[str, bytes], *, deflate64: bool = False) -> bytes:
    """A ZIP of `members` in order; with `deflate64`, built by 7-Zip with Deflate64 compression
    (Python cannot write that method, nor read it back)."""
    if not deflate64:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as zf:
            for name, body in members.items():
                info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                zf.writestr(info, body)
        return out.getvalue()
    tool = shutil.which("7z")
    if tool is None:
        raise SevenZipMissingError("7z is needed to build a Deflate64 ZIP: run `make venv`")
    with tempfile.TemporaryDirectory(prefix="historic-sample-") as tmp:
        root = Path(tmp) / "in"
        stamp = 1_709_251_200  # 2024-03-01T00:00:00Z
        for name, body in members.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(body)
            os.utime(path, (stamp, stamp))
        target = Path(tmp) / "out.zip"
        subprocess.run(
            [tool, "a", "-tzip", "-mm=Deflate64", "-mtc=off", "-bd", str(target), *members],
            cwd=root,
            capture_output=True,
            check=True,
            timeout=120,
        )
        return target.read_bytes()


# --- rapid transit -----------------------------------------------------------------------------


def rapid_events_from_schedule(
    stop_times: Sequence[Mapping[str, Any]], day: date, *, delay_seed: int = 0
) -> list[list[object]]:
    """Events of the scheduled trips `stop_times` (trip_id, route_id, direction_id, stop_id,
    stop_sequence, arrival_s) on `day`: an ARR at each stop but the first, a DEP at each stop but
    the last, a little late (a deterministic delay per trip)."""
    by_trip: dict[str, list[Mapping[str, Any]]] = {}
    for row in stop_times:
        by_trip.setdefault(str(row["trip_id"]), []).append(row)
    events: list[list[object]] = []
    for n, (trip, stops) in enumerate(sorted(by_trip.items())):
        stops = sorted(stops, key=lambda r: int(r["stop_sequence"]))
        delay = (n * 37 + delay_seed) % 150
        vehicle = f"G-{10000 + n}"
        for i, stop in enumerate(stops):
            base = [day.isoformat(), stop["route_id"], trip, stop["direction_id"], stop["stop_id"]]
            base += [stop["stop_sequence"], vehicle, str(1700 + n)]
            arrival = int(stop["arrival_s"]) + delay
            if i > 0:
                events.append([*base, "ARR", arrival])
            if i < len(stops) - 1:
                events.append([*base, "DEP", arrival + 25])
    return events


def subset_stop_times(
    gtfs_zip: bytes, routes: Sequence[str], trips_per_route: int
) -> list[dict[str, Any]]:
    """The first `trips_per_route` trips of each route of a GTFS zip, with their stop times."""
    with zipfile.ZipFile(io.BytesIO(gtfs_zip)) as zf:
        trips = list(csv.DictReader(io.TextIOWrapper(zf.open("trips.txt"), "utf-8-sig")))
        chosen: dict[str, dict[str, str]] = {}
        for route in routes:
            for trip in sorted(
                (t for t in trips if t["route_id"] == route), key=lambda t: t["trip_id"]
            )[:trips_per_route]:
                chosen[trip["trip_id"]] = trip
        rows = []
        for st in csv.DictReader(io.TextIOWrapper(zf.open("stop_times.txt"), "utf-8-sig")):
            of = chosen.get(st["trip_id"])
            if of is None:
                continue
            h, m, s = (int(x) for x in (st["arrival_time"] or st["departure_time"]).split(":"))
            rows.append(
                {
                    "trip_id": st["trip_id"],
                    "route_id": of["route_id"],
                    "direction_id": int(of["direction_id"]),
                    "stop_id": st["stop_id"],
                    "stop_sequence": int(st["stop_sequence"]),
                    "arrival_s": h * 3600 + m * 60 + s,
                }
            )
    return rows


def aggregates_csv() -> bytes:
    """A 2016-style travel-time file: aggregates between stop pairs, not events."""
    rows = [
        ["2016-01-04", "70061", "70063", "Red", 0, 19800, 19920, 120, 118],
        ["2016-01-04", "70063", "70065", "Red", 0, 19950, 20070, 120, 121],
    ]
    return csv_bytes(AGGREGATES_HEADER, rows)


# --- bus -------------------------------------------------------------------------------------


def bus_rows(
    day: date,
    route: str,
    trips: Sequence[tuple[str, str, str]],
    stops: Sequence[str],
    *,
    utc: bool = False,
) -> list[list[object]]:
    """Timepoint rows of bus trips `(half_trip_id, direction, first HH:MM)` over `stops`, 6 min
    apart, each a minute late (times as `1900-01-0X` placeholders; `utc`: shifted to UTC)."""
    rows: list[list[object]] = []
    shift = 4 * 3600 if utc else 0  # EDT is UTC-4 (the sample's UTC-era dates are in summer)
    for half_trip, direction, first in trips:
        h, m = (int(x) for x in first.split(":"))
        for i, stop in enumerate(stops):
            kind = "Startpoint" if i == 0 else ("Endpoint" if i == len(stops) - 1 else "Midpoint")
            scheduled = h * 3600 + m * 60 + i * 360 + shift
            actual = scheduled + 60 + (7 if i % 2 else 0)
            rows.append(
                [
                    day.isoformat(),
                    route,
                    direction,
                    half_trip,
                    stop,
                    f"tp{stop}",
                    i + 1,
                    kind,
                    "Schedule",
                    _placeholder(scheduled),
                    _placeholder(actual),
                    None,
                    None,
                ]
            )
    return rows


def _placeholder(seconds: int) -> str:
    days, rest = divmod(seconds, 86_400)
    return f"1900-01-{days + 1:02d} {rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"


def bus_archive_2020(quarters: Mapping[int, list[list[object]]]) -> bytes:
    """2020's layout: quarterly files at the top, old spellings, a BOM on Jul-Sep."""
    members = {
        BUS_QUARTERS_2020[q - 1]: csv_bytes(BUS_OLD_HEADER, rows, bom=q == 3)
        for q, rows in sorted(quarters.items())
    }
    return zip_archive(members)


def bus_archive(
    year: int, months: Mapping[int, list[list[object]]], extra: Mapping[str, bytes] | None = None
) -> bytes:
    """2021-on layout: monthly files in `MBTA_Bus_Arrival_Departure_Times_{year}/`."""
    folder = f"MBTA_Bus_Arrival_Departure_Times_{year}/"
    members = {
        f"{folder}MBTA-Bus-Arrival-Departure-Times_{year}-{m:02d}.csv": csv_bytes(
            BUS_NEW_HEADER, rows
        )
        for m, rows in sorted(months.items())
    }
    return zip_archive({**members, **(extra or {})})


# --- ferry -----------------------------------------------------------------------------------


def ferry_row(
    day: date,
    route: str,
    trip: str | None,
    direction: str,
    departs: str,
    arrives: str,
    scheduled: tuple[str, str],
    actual: tuple[str | None, str | None],
    slot: str,
) -> list[object]:
    """One crossing as the Hub exports it: service date at UTC midnight, scheduled times in UTC
    (`+00`), actual times as Eastern wall clock without offset."""
    stamp = day.strftime("%Y/%m/%d")
    return [
        f"{stamp} 00:00:00+00",
        route,
        trip,
        direction,
        departs,
        arrives,
        scheduled[0],
        scheduled[1],
        actual[0],
        actual[1],
        slot,
        "Vessel",
        None,
    ]


def ferry_csv(rows: Sequence[list[object]]) -> bytes:
    numbered = [[*r[:-1], i + 1] for i, r in enumerate(rows)]
    return csv_bytes(FERRY_HEADER, numbered)


# --- a small bus + ferry GTFS feed for 2024 --------------------------------------------------

BUS_STOPS = ("110", "67", "72", "75")
FERRY_TERMINALS = ("Boat-Long", "Boat-Hingham")


def sample_gtfs_zip() -> bytes:
    """Bus route 1 (every 30 min, 06:00–21:30, both ways) and ferry Boat-F1 (four crossings
    each way), weekdays and weekends of 2024."""
    files: dict[str, list[list[object]]] = {
        "routes.txt": [["route_id", "route_type"], ["1", 3], ["Boat-F1", 4]],
        "calendar.txt": [
            [
                "service_id",
                "monday",
                "tuesday",
                "wednesday",
                "thursday",
                "friday",
                "saturday",
                "sunday",
                "start_date",
                "end_date",
            ],
            ["WKD", 1, 1, 1, 1, 1, 0, 0, "20240101", "20241231"],
            ["WKE", 0, 0, 0, 0, 0, 1, 1, "20240101", "20241231"],
        ],
        "trips.txt": [["route_id", "service_id", "trip_id", "direction_id"]],
        "stop_times.txt": [
            ["trip_id", "arrival_time", "departure_time", "stop_id", "stop_sequence"]
        ],
    }
    for service in ("WKD", "WKE"):
        for direction in (0, 1):
            stops = BUS_STOPS if direction == 0 else BUS_STOPS[::-1]
            for k in range(32):
                trip = f"bus1-{service}-{direction}-{k:02d}"
                files["trips.txt"].append(["1", service, trip, direction])
                start = 6 * 3600 + k * 1800
                for i, stop in enumerate(stops):
                    at = _gtfs_time(start + i * 360)
                    files["stop_times.txt"].append([trip, at, at, stop, i + 1])
            terminals = FERRY_TERMINALS if direction == 0 else FERRY_TERMINALS[::-1]
            for k, start in enumerate((7 * 3600, 10 * 3600, 14 * 3600, 18 * 3600)):
                trip = f"ferry-{service}-{direction}-{k}"
                files["trips.txt"].append(["Boat-F1", service, trip, direction])
                files["stop_times.txt"].append(
                    [trip, _gtfs_time(start), _gtfs_time(start), terminals[0], 1]
                )
                end = _gtfs_time(start + 35 * 60)
                files["stop_times.txt"].append([trip, end, end, terminals[1], 2])
    return zip_archive({name: csv_bytes(rows[0], rows[1:]) for name, rows in files.items()})


def _gtfs_time(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


# --- the demo's items ------------------------------------------------------------------------


@dataclass
class SampleItem:
    """An ArcGIS item the look-alike serves: its metadata and (built on first request) file."""

    item_id: str
    name: str
    build: Callable[[], bytes]
    modified: int = SAMPLE_MODIFIED
    _body: bytes | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def body(self) -> bytes:
        with self._lock:
            if self._body is None:
                self._body = self.build()
            return self._body

    def metadata(self) -> dict[str, Any]:
        return {
            "id": self.item_id,
            "name": self.name,
            "title": self.name.rsplit(".", 1)[0],
            "type": "CSV Collection" if self.name.endswith(".zip") else "CSV",
            "modified": self.modified,
            "size": len(self.body()),
        }


def demo_rapid_2024(gtfs_zip: bytes) -> bytes:
    """Rapid transit 2024 (Deflate64): 2024-02-07 events of 3 trips per subway route, from the
    LAMP sample's real GTFS subset, plus a read-me that is not data."""
    stop_times = subset_stop_times(
        gtfs_zip, ("Red", "Orange", "Blue", "Green-E", "Mattapan"), trips_per_route=3
    )
    events = rapid_events_from_schedule(stop_times, date(2024, 2, 7))
    folder = "MBTA_Rapid_Transit_Arrival_Departure_Times_2024/"
    return zip_archive(
        {
            f"{folder}README.txt": b"Rapid transit arrival and departure times, 2024.\r\n",
            f"{folder}2024-02_Rapid_Transit_Events.csv": csv_bytes(RAPID_HEADER_2024, events),
        },
        deflate64=True,
    )


def demo_bus_2024() -> bytes:
    """Bus 2024: route 01 in March (Eastern times) and June (UTC times), and route 28."""
    out, back = [("900001", "Outbound", "07:00")], [("900002", "Inbound", "08:30")]
    march = bus_rows(date(2024, 3, 5), "01", out, BUS_STOPS)
    march += bus_rows(date(2024, 3, 5), "01", back, BUS_STOPS[::-1])
    march += bus_rows(date(2024, 3, 5), "28", [("928001", "Inbound", "09:00")], ("1", "2"))
    june = bus_rows(date(2024, 6, 4), "01", out, BUS_STOPS, utc=True)
    june += bus_rows(date(2024, 6, 4), "01", back, BUS_STOPS[::-1], utc=True)
    return bus_archive(2024, {3: march, 6: june})


def demo_ferry() -> bytes:
    """Ferry F1 crossings in May and June 2024 (one without a trip id)."""
    rows = []
    for day in (date(2024, 5, 6), date(2024, 6, 3)):
        stamp = day.strftime("%Y/%m/%d")
        rows.append(
            ferry_row(day, "F1", f"F1-{day:%m%d}-1", "To Boston", "Hingham", "Boston",
                      (f"{stamp} 11:00:00+00", f"{stamp} 11:35:00+00"),
                      (f"{stamp} 07:02:00", f"{stamp} 07:39:00"), "F1-A")
        )  # fmt: skip
        rows.append(
            ferry_row(day, "F1", None, "From Boston", "Long Wharf N", "Hingham",
                      (f"{stamp} 18:00:00+00", f"{stamp} 18:35:00+00"),
                      (f"{stamp} 14:01:00", f"{stamp} 14:37:00"), "F1-B")
        )  # fmt: skip
    return ferry_csv(rows)


def demo_items(data_dir: Path) -> dict[str, SampleItem]:
    """The items the demo's backfills read, by item id."""
    subset = data_dir / "lamp" / "gtfs-20240207-subset.zip"
    items = [
        SampleItem(
            RAPID_IDS[2024],
            "MBTA_Rapid_Transit_2024.zip",
            lambda: demo_rapid_2024(subset.read_bytes()),
        ),
        SampleItem(
            RAPID_IDS[2016],
            "MBTA_Rapid_Transit_2016.zip",
            lambda: zip_archive({"HRTravelTimesQ1_16.csv": aggregates_csv()}),
        ),
        SampleItem(BUS_IDS[2024], "MBTA_Bus_Arrival_Departure_Times_2024.zip", demo_bus_2024),
        SampleItem(FERRY_ID, "MBTA_Ferry_Trips.csv", demo_ferry),
    ]
    return {i.item_id: i for i in items}


# --- the look-alike's routes -----------------------------------------------------------------


def arcgis_routes(
    items: Mapping[str, SampleItem],
    gtfs_feeds: Callable[[str], str],
    gtfs_zips: Mapping[str, Callable[[], bytes]],
    export_states: list[str] | None = None,
) -> list[Route]:
    """Routes imitating ArcGIS Online items, ArcGIS Hub's ferry export and a GTFS archive.

    Args:
        items: the items served, by id (their metadata and files).
        gtfs_feeds: base URL → the text of `archived_feeds.txt`.
        gtfs_zips: file name → GTFS zip bytes, served under `/historic/gtfs/`.
        export_states: statuses the ferry export refresh answers in turn (last one repeats);
            default always "Completed".
    """
    from deployments.sample_server import Reply, Route, not_found

    states = list(export_states or ["Completed"])

    def item(m: re.Match[str], query: dict[str, list[str]], _base: str) -> Reply:
        found = items.get(m["id"])
        if query.get("f") != ["json"]:
            return Reply(400, b"expected f=json", "text/plain")
        if found is None:  # ArcGIS answers 200 with an error object
            error = {"error": {"code": 400, "message": "Item does not exist or is inaccessible."}}
            return _json(error)
        return _json(found.metadata())

    def data(m: re.Match[str], _q: dict[str, list[str]], _base: str) -> Reply:
        found = items.get(m["id"])
        if found is None:
            return not_found(f"item {m['id']}")
        return Reply(200, found.body(), "application/octet-stream")

    def refresh(m: re.Match[str], _q: dict[str, list[str]], _base: str) -> Reply:
        if m["id"] not in items:
            return not_found(f"item {m['id']}")
        status = states.pop(0) if len(states) > 1 else states[0]
        return _json({"status": status, "recordCount": None})

    def export(m: re.Match[str], query: dict[str, list[str]], _base: str) -> Reply:
        found = items.get(m["id"])
        if found is None or query.get("format") != ["csv"]:
            return not_found(f"dataset {m['id']}_0 as csv")
        return Reply(200, found.body(), "text/csv")

    def feeds(_m: re.Match[str], _q: dict[str, list[str]], base: str) -> Reply:
        return Reply(200, gtfs_feeds(base).encode(), "text/plain")

    def gtfs(m: re.Match[str], _q: dict[str, list[str]], _base: str) -> Reply:
        build = gtfs_zips.get(m["name"])
        return not_found(m["name"]) if build is None else Reply(200, build(), "application/zip")

    item_id = r"(?P<id>[0-9a-f]{32})"
    items_at, hub = re.escape(ITEMS_PATH), re.escape(HUB_PATH)
    return [
        Route(re.compile(f"{items_at}/{item_id}"), item),
        Route(re.compile(f"{items_at}/{item_id}/data"), data),
        Route(re.compile(f"{hub}/api/download/v1/items/{item_id}/csv"), refresh),
        Route(re.compile(f"{hub}/api/v3/datasets/{item_id}_0/downloads/data"), export),
        Route(re.compile(re.escape(GTFS_PATH) + r"/archived_feeds\.txt"), feeds),
        Route(re.compile(re.escape(GTFS_PATH) + r"/(?P<name>[A-Za-z0-9._-]+\.zip)"), gtfs),
    ]


def _json(value: Any) -> Reply:
    from deployments.sample_server import Reply

    return Reply(200, json.dumps(value).encode(), "application/json")


def demo_feeds(data_dir: Path) -> Callable[[str], str]:
    """`archived_feeds.txt`: the LAMP sample's subway feed (served by LAMP's sample route), then
    the bus + ferry feed for 2024 (the first covering feed wins, so 2024-02-07 keeps the subset)."""

    def text(base: str) -> str:
        rows = list(
            csv.DictReader(io.StringIO((data_dir / "lamp" / "archived_feeds.txt").read_text()))
        )
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["feed_start_date", "feed_end_date", "feed_version", "archive_url"])
        for row in rows:
            url = (
                row["archive_url"]
                if "://" in row["archive_url"]
                else f"{base}/gtfs/{row['archive_url']}"
            )
            writer.writerow(
                [row["feed_start_date"], row["feed_end_date"], row["feed_version"], url]
            )
        writer.writerow(
            ["20240101", "20241231", SAMPLE_FEED, f"{base}{GTFS_PATH}/{SAMPLE_FEED}.zip"]
        )
        return out.getvalue()

    return text
