"""A telemetry file with every reject kind, and its literal expected outcome line by line."""

from __future__ import annotations

import json

METADATA = {
    "007": {"max_speed": 90, "depot_lat": 40.7, "depot_lon": -74.0, "make": "Ford", "fleet": "A"},
    "V1": {"max_speed": 110.0, "depot_lat": 40.7128, "depot_lon": -74.006, "model": "Transit"},
    "V2": {
        "max_speed": 25,
        "depot_lat": 40.75,
        "depot_lon": -73.99,
        "type": "cargo_bike",
        "tags": ["ebike", "brooklyn"],
        "active": True,
    },
    "BAD": {"max_speed": "fast", "depot_lat": 40.7, "depot_lon": -74.0},  # invalid record
}
METADATA_JSON = json.dumps(METADATA).encode()

HEADER = b"\xef\xbb\xbfvehicle_id,timestamp,lat,lon,speed,engine_status,heading,odometer,driver\n"
LINES: list[tuple[bytes, str]] = [  # (line, expected outcome) from line 2 on
    (b"007,2024-05-01T08:15:30Z,40.7128,-74.0060,52.5,moving,90,12345.6,alice", "stored"),
    (b"V1,2024-05-01T04:15:30-04:00,40.73,-73.99,0,IDLE,,,bob", "stored"),
    (b",2024-05-01T08:16:00Z,40.7,-74.0,10,moving,,,", "missing_field"),
    (b"V1,2024-05-01T08:16:00,40.7,-74.0,10,moving,,,", "bad_timestamp"),
    (b"V1,2099-01-01T00:00:00Z,40.7,-74.0,10,moving,,,", "future_timestamp"),
    (b"V1,2024-05-01T08:17:00Z,95.1,-74.0,10,moving,,,", "lat_out_of_range"),
    (b"V1,2024-05-01T08:17:00Z,40.7,-190,abc,moving,,,", "lon_out_of_range"),
    (b"V1,2024-05-01T08:17:00Z,NaN,-74.0,10,moving,,,", "bad_number"),
    (b"V1,2024-05-01T08:18:00Z,40.7,-74.0,-3,moving,,,", "negative_speed"),
    (b"V1,2024-05-01T08:18:00Z,40.7,-74.0,10,parked,,,", "bad_engine_status"),
    (b"7,2024-05-01T08:18:00Z,40.7,-74.0,10,moving,,,", "unknown_vehicle"),
    (b"V2,2024-05-01T08:18:00Z,40.7,-74.0,30,moving,,,", "over_max_speed"),
    (b"007,1714551330,40.7128,-74.006,50,moving,,,", "duplicate"),  # line 2, epoch spelling
    (b"V1,2024-05-01T08:19:00Z,40.71,-74.01", "missing_field"),  # 4 fields, not 9
    (
        b'"V2","2024-05-01T08:19:00.250Z","40.72","-74.02","12.5","off","400","-5","carol"',
        "stored",
    ),
    (b"", "blank"),
    (b"V2,2024-05-01T08:19:00.2501Z,40.73,-74.03,12,off,,,", "duplicate"),  # same ms as above
    (b"V1,2024-05-01T08:20:00Z,40.74,-73.98,1e1,moving,45.5,,", "stored"),
    (b"V1,2024-05-01T08:21:00+0100,40.745,-73.985,15,off,,7.25,", "stored"),
    (b"V1, 2024-05-01T08:22:00Z ,40.75,-73.97,20,Moving ,,,", "stored"),
    (b"V1,2024-05-01T08:23:00Z,40.75,-73.97,2\xff,moving,,,", "missing_field"),  # not UTF-8
    (b"V1,2024-05-01T08:23:00Z,,-74.0,10,moving,,,", "missing_field"),
    (b"V1,2024-02-30T00:00:00Z,40.7,-74.0,10,moving,,,", "bad_timestamp"),
    (b"V2,2024-05-01T08:19:00Z,40.7,-74.0,25,moving,,,", "stored"),  # exactly max_speed
    (b"BAD,2024-05-01T08:24:00Z,40.7,-74.0,5,moving,,,", "unknown_vehicle"),  # invalid record
]
BODY = HEADER + b"".join(line + b"\n" for line, _ in LINES)
KEY = "incoming/2024/05/01/every-reject.csv"

# line number → outcome (the header is line 1)
OUTCOMES = {n: outcome for n, (_, outcome) in enumerate(LINES, start=2) if outcome != "blank"}
ROWS_IN = len(OUTCOMES)
STORED_LINES = sorted(n for n, o in OUTCOMES.items() if o == "stored")
DUPLICATE_LINES = sorted(n for n, o in OUTCOMES.items() if o == "duplicate")
REJECTED = {n: o for n, o in OUTCOMES.items() if o not in {"stored", "duplicate"}}
REJECTED_BY_CODE = {
    "missing_field": 4,
    "bad_timestamp": 2,
    "future_timestamp": 1,
    "lat_out_of_range": 1,
    "lon_out_of_range": 1,
    "bad_number": 1,
    "negative_speed": 1,
    "bad_engine_status": 1,
    "unknown_vehicle": 2,
    "over_max_speed": 1,
}
# the stored items, as DynamoDB holds them (numbers exact, metadata carried)
STORED_KEYS = [
    ("007", "2024-05-01T08:15:30.000Z"),
    ("V1", "2024-05-01T07:21:00.000Z"),
    ("V1", "2024-05-01T08:15:30.000Z"),
    ("V1", "2024-05-01T08:20:00.000Z"),
    ("V1", "2024-05-01T08:22:00.000Z"),
    ("V2", "2024-05-01T08:19:00.000Z"),
    ("V2", "2024-05-01T08:19:00.250Z"),
]
