"""What is inside an ArcGIS archive: which members are events files, and their columns (pure).

A member is judged by its header, never by its name: the 2016 rapid transit archive holds
travel-time/headway aggregates, archives carry read-me files, and bus files changed their column
spellings in 2021. An events file's columns are renamed to one canonical set per source (so
every month's spill file has the same schema); anything else is reported by name with the
reason and skipped.
"""

from __future__ import annotations

import csv
import io
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass, field

from tasks.historic.sources_core import Source

# ZIP compression methods Python's zipfile reads: stored, deflate, bzip2, lzma. Deflate64 (9)
# is the one ArcGIS archives use that it cannot: those members go through 7-Zip.
ZIPFILE_METHODS = frozenset({0, 8, 12, 14})
METHOD_NAMES = {9: "Deflate64", 6: "Implode", 93: "Zstandard", 95: "XZ", 98: "PPMd"}

RAPID_COLUMNS = (
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
RAPID_REQUIRED = frozenset(
    {
        "service_date",
        "route_id",
        "trip_id",
        "direction_id",
        "stop_id",
        "event_type",
        "event_time_sec",
    }
)
# 2024 on: `sync_stop_sequence` replaces `stop_sequence`.
RAPID_RENAMES = {"sync_stop_sequence": "stop_sequence"}
# Columns of the travel-time/headway aggregates (2016) that name them in the skip reason.
AGGREGATE_HINTS = ("travel_time_sec", "headway_time_sec", "dwell_time_sec", "from_stop_id")

BUS_COLUMNS = (
    "service_date",
    "route_id",
    "direction_id",
    "half_trip_id",
    "stop_id",
    "time_point_order",
    "point_type",
    "actual",
)
BUS_REQUIRED = frozenset(BUS_COLUMNS)
# 2020's spellings → 2021's (and `direction`, a spelling seen in between).
BUS_RENAMES = {
    "ServiceDate": "service_date",
    "Route": "route_id",
    "Direction": "direction_id",
    "direction": "direction_id",
    "HalfTripId": "half_trip_id",
    "Stop": "stop_id",
    "Timepoint": "time_point_id",
    "TimepointOrder": "time_point_order",
    "PointType": "point_type",
    "StandardType": "standard_type",
    "Scheduled": "scheduled",
    "Actual": "actual",
    "ScheduledHeadway": "scheduled_headway",
    "Headway": "headway",
}

FERRY_COLUMNS = (
    "service_date",
    "route_id",
    "trip_id",
    "travel_direction",
    "departure_terminal",
    "arrival_terminal",
    "mbta_sched_arrival",
    "mbta_sched_departure",
    "actual_departure",
    "actual_arrival",
    "vessel_time_slot",
)
FERRY_REQUIRED = frozenset(FERRY_COLUMNS)

CANONICAL: dict[Source, tuple[str, ...]] = {
    "rapid": RAPID_COLUMNS,
    "bus": BUS_COLUMNS,
    "ferry": FERRY_COLUMNS,
}


@dataclass(frozen=True)
class FileCheck:
    """The verdict on one member: an events file (with its column mapping) or skipped (why).

    `columns` are the header's names as written (BOM removed); `renames` maps them to the
    canonical names; canonical columns the file lacks are read as empty (`missing`).
    """

    name: str
    events: bool
    reason: str = ""
    columns: tuple[str, ...] = ()
    renames: dict[str, str] = field(default_factory=dict)
    missing: tuple[str, ...] = ()
    had_bom: bool = False


def header_columns(first_bytes: bytes) -> tuple[list[str], bool] | None:
    """The column names of a CSV from its first bytes, and whether it began with a UTF-8 BOM.

    None when the first line is not UTF-8 text (a binary file, an unexpected encoding).
    """
    bom = first_bytes.startswith(b"\xef\xbb\xbf")
    line = first_bytes[3 if bom else 0 :].split(b"\n", 1)[0].rstrip(b"\r")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if "\x00" in text:
        return None
    row = next(csv.reader(io.StringIO(text)), [])
    return [c.strip() for c in row], bom


def unsafe_member(name: str) -> str | None:
    """Why a member name must not be extracted (absolute, `..`, backslashes), or None."""
    if name.startswith(("/", "\\")) or "\\" in name or ":" in name.split("/", 1)[0]:
        return "unsafe member path (absolute or drive)"
    if ".." in posixpath.normpath(name).split("/") or ".." in name.split("/"):
        return "unsafe member path (..)"
    return None


def skip_reason_for_name(name: str) -> str | None:
    """Why a member is not even opened: a folder, macOS metadata, not a .csv file."""
    base = name.rsplit("/", 1)[-1]
    if name.endswith("/"):
        return "folder"
    if name.startswith("__MACOSX/") or base.startswith("._"):
        return "macOS metadata, not data"
    if not base.lower().endswith(".csv"):
        return "not a CSV file"
    return unsafe_member(name)


def check_file(source: Source, name: str, first_bytes: bytes) -> FileCheck:
    """Whether `name` (its first bytes) is an events file of `source`, with its column mapping."""
    parsed = header_columns(first_bytes)
    if parsed is None:
        return FileCheck(name, False, "not UTF-8 CSV text (binary or unexpected encoding)")
    columns, bom = parsed
    renames = {c: _canonical_name(source, c) for c in columns}
    renamed = set(renames.values())
    required = {"rapid": RAPID_REQUIRED, "bus": BUS_REQUIRED, "ferry": FERRY_REQUIRED}[source]
    lacking = sorted(required - renamed)
    if lacking:
        return FileCheck(
            name, False, _not_events_reason(source, columns, lacking), tuple(columns), had_bom=bom
        )
    if source == "rapid" and "stop_sequence" not in renamed:
        return FileCheck(
            name,
            False,
            "not an events file: no stop_sequence or sync_stop_sequence column",
            tuple(columns),
            had_bom=bom,
        )
    duplicates = sorted({v for v in renames.values() if list(renames.values()).count(v) > 1})
    wanted = set(CANONICAL[source])
    if duplicates and set(duplicates) & wanted:
        return FileCheck(
            name,
            False,
            f"ambiguous header: several columns mean {', '.join(duplicates)}",
            tuple(columns),
            had_bom=bom,
        )
    missing = tuple(c for c in CANONICAL[source] if c not in renamed)
    return FileCheck(
        name,
        True,
        columns=tuple(columns),
        renames={c: n for c, n in renames.items() if n in wanted},
        missing=missing,
        had_bom=bom,
    )


def _canonical_name(source: Source, column: str) -> str:
    if source == "rapid":
        return RAPID_RENAMES.get(column, column)
    if source == "bus":
        return BUS_RENAMES.get(column, column)
    return column


def _not_events_reason(source: Source, columns: Sequence[str], lacking: Sequence[str]) -> str:
    shown = ", ".join(columns[:8]) + (", ..." if len(columns) > 8 else "")
    if source == "rapid" and any(h in columns for h in AGGREGATE_HINTS):
        return (
            "not an events file: travel-time/headway aggregates, not ARR/DEP events "
            f"(columns: {shown})"
        )
    return f"not an events file: lacks {', '.join(lacking)} (columns: {shown})"
