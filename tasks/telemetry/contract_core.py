"""The fixed telemetry contract (shared/spec/telemetry.md) as constants, plus Haversine (pure).

Every other module of the pipeline reads its column names, reject codes, engine statuses, Earth
radius and storage layout from here, so the contract is written down once.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np

REQUIRED_COLUMNS: Final = ("vehicle_id", "timestamp", "lat", "lon", "speed", "engine_status")
OPTIONAL_COLUMNS: Final = ("heading", "odometer")
KNOWN_COLUMNS: Final = REQUIRED_COLUMNS + OPTIONAL_COLUMNS

# One reject code per rejected row: the first rule that fails, in this order.
REJECT_CODES: Final = (
    "missing_field",
    "bad_timestamp",
    "future_timestamp",
    "lat_out_of_range",
    "lon_out_of_range",
    "bad_number",
    "negative_speed",
    "bad_engine_status",
    "unknown_vehicle",
    "over_max_speed",
)
# reason code → its small integer (0 = valid) in the per-row reason arrays
REASON_INDEX: Final = {code: i + 1 for i, code in enumerate(REJECT_CODES)}

ENGINE_STATUSES: Final = ("moving", "idle", "off")
# `moving` events go to the high-priority queue; `idle` and `off` to the low one.
HIGH, LOW = "high", "low"
PRIORITY_OF_STATUS: Final = {"moving": HIGH, "idle": LOW, "off": LOW}

# Mean Earth radius (IUGG), km: the one radius of every distance the pipeline stores.
EARTH_RADIUS_KM: Final = 6371.0088
DISTANCE_DECIMALS: Final = 3
# An event more than this after the processing time is `future_timestamp`.
FUTURE_TOLERANCE_MS: Final = 5 * 60 * 1000
# Instants before 1900 are `bad_timestamp` (no GPS); it also bounds the exact dedup key.
MIN_INSTANT_MS: Final = -2_208_988_800_000  # 1900-01-01T00:00:00Z
DAY_MS: Final = 86_400_000

# Metadata fields every vehicle record must have (numbers); the rest are carried unchanged.
METADATA_REQUIRED: Final = ("max_speed", "depot_lat", "depot_lon")
# Attributes of a stored event; a metadata field with one of these names is not copied.
EVENT_ATTRIBUTES: Final = (
    "vehicle_id",
    "timestamp",
    "lat",
    "lon",
    "speed",
    "engine_status",
    "distance_from_depot_km",
    "heading",
    "odometer",
    "source_key",
    "expires_at",
)
TABLE_KEYS: Final = ("vehicle_id", "timestamp")

# Raw bucket layout (see docs/telemetry.md): input, rejects and the pipeline's own state.
INCOMING_PREFIX: Final = "incoming/"
REJECTS_PREFIX: Final = "rejects"
STATE_PREFIX: Final = "state"
# Archive bucket layout: Hive-style partitions by event date (UTC).
ARCHIVE_PREFIX: Final = "events"


def haversine_km(
    lat1: np.ndarray[Any, np.dtype[np.float64]] | float,
    lon1: np.ndarray[Any, np.dtype[np.float64]] | float,
    lat2: np.ndarray[Any, np.dtype[np.float64]] | float,
    lon2: np.ndarray[Any, np.dtype[np.float64]] | float,
) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Great-circle distance in km between points in degrees (element-wise, `EARTH_RADIUS_KM`)."""
    p1 = np.radians(lat1)
    p2 = np.radians(lat2)
    half_dlat = (p2 - p1) * 0.5
    half_dlon = np.radians(np.subtract(lon2, lon1)) * 0.5
    a = np.sin(half_dlat) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(half_dlon) ** 2
    return np.asarray(2.0 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))))


def distance_milli_km(
    distance_km: np.ndarray[Any, np.dtype[np.float64]],
) -> np.ndarray[Any, np.dtype[np.int64]]:
    """Distances rounded to 3 decimals, as integer metres (round half to even of km × 1000)."""
    return np.rint(distance_km * 1000.0).astype(np.int64)
