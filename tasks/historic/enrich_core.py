"""GTFS benchmarks of historic events: `scheduled_headway` and `scheduled_tt` (pure, vectorised).

Per service date, from the stop times of the trips running that day (the shared compact
schedule, `gtfs_core.schedule_for_date`), keyed by route, direction and stop:

- `scheduled_headway`: seconds between consecutive scheduled arrivals at the event's
  route/direction/stop; an event takes the headway of the last scheduled arrival at or before
  its time (empty before the day's first).
- `scheduled_tt`: each observed trip is matched to the scheduled trip whose time at the trip's
  first observed event's route/direction/stop is nearest (ties: the earlier); an event's
  `scheduled_tt` is that trip's seconds from its first stop to the event's stop (empty when the
  trip does not serve it).

This is the original's `merge_asof` algorithm, kept so that historic files stay comparable,
done with sorted integer keys instead of string merges, without dropping events whose route,
direction or stop is empty (the original dropped them), and with no helper columns. A day
without a usable schedule leaves both columns empty and is counted under a reason.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as _compute

pc: Any = _compute

_SPAN = 1 << 22  # seconds: ±24 days around midnight, wider than any service day


@dataclass(frozen=True)
class Benchmarks:
    """`scheduled_headway` and `scheduled_tt` per event (NaN = empty), and warnings by reason."""

    scheduled_headway: np.ndarray
    scheduled_tt: np.ndarray
    warnings: dict[str, int]


def _np(values: Any, fill: int = 0) -> np.ndarray:
    return np.asarray(pc.fill_null(values, fill).to_numpy(zero_copy_only=False), dtype=np.int64)


def _codes(left: Any, right: Any) -> tuple[np.ndarray, np.ndarray, int]:
    """Integer codes of two string columns over their shared values (-1 for null)."""
    chunks = [
        c
        for col in (left, right)
        for c in (col.chunks if isinstance(col, pa.ChunkedArray) else [col])
    ]
    values = pc.drop_null(pc.unique(pa.chunked_array(chunks, pa.string())))
    return (
        _np(pc.index_in(left, value_set=values), -1),
        _np(pc.index_in(right, value_set=values), -1),
        len(values),
    )


def benchmarks(
    events: pa.Table, schedules: Mapping[int, pa.Table | str], with_tt: bool = True
) -> Benchmarks:
    """Benchmarks of `events` (columns day, route_id, direction_id, stop_id, trip_id, t, _row).

    `schedules` maps each service day to its stop times, or to the reason it has none
    (`no_gtfs_feed`, `gtfs_feed_unavailable`, `no_scheduled_service`...).
    """
    n = events.num_rows
    headway = np.full(n, np.nan)
    tt = np.full(n, np.nan)
    warnings: Counter[str] = Counter()
    day = _np(events["day"])
    needed = events.select(["route_id", "direction_id", "stop_id", "trip_id", "t", "_row"])
    order = np.argsort(day, kind="stable")
    bounds = np.flatnonzero(np.r_[True, day[order][1:] != day[order][:-1], True])
    for lo, hi in itertools.pairwise(bounds):
        index = order[lo:hi]
        schedule = schedules.get(int(day[index[0]]), "no_gtfs_feed")
        if isinstance(schedule, str):
            warnings[schedule] += len(index)
            continue
        part = needed.take(pa.array(index, pa.int64()))
        h, s, unscheduled = _day(part, schedule, with_tt)
        headway[index] = h
        tt[index] = s
        if unscheduled:
            warnings["route_not_in_gtfs"] += unscheduled
    return Benchmarks(headway, tt, dict(sorted(warnings.items())))


def _day(ev: pa.Table, st: pa.Table, with_tt: bool) -> tuple[np.ndarray, np.ndarray, int]:
    n = ev.num_rows
    headway = np.full(n, np.nan)
    tt = np.full(n, np.nan)
    st = st.filter(pc.is_in(st["route_id"], value_set=pc.unique(ev["route_id"])))
    ev_route, st_route, n_routes = _codes(ev["route_id"], st["route_id"])
    scheduled_routes = np.zeros(n_routes + 1, dtype=bool)
    scheduled_routes[st_route] = True
    unscheduled = int((~scheduled_routes[ev_route] & (ev_route >= 0)).sum())
    if st.num_rows == 0:
        return headway, tt, unscheduled
    ev_stop, st_stop, n_stops = _codes(ev["stop_id"], st["stop_id"])

    def key(route: np.ndarray, direction: np.ndarray, stop: np.ndarray) -> np.ndarray:
        k: np.ndarray = ((route + 1) * 4 + (np.clip(direction, -1, 2) + 1)) * (n_stops + 1)
        out: np.ndarray = k + stop + 1
        return out

    ev_key = key(ev_route, _np(ev["direction_id"], -1), ev_stop)
    # an event lacking route, direction or stop matches nothing (it keeps empty benchmarks)
    ev_ok = (ev_route >= 0) & (ev_stop >= 0) & (_np(ev["direction_id"], -1) >= 0)
    st_key = key(st_route, _np(st["direction_id"], -1), st_stop)
    arrival = _np(st["arrival_s"])
    sorted_rows = np.lexsort((arrival, st_key))
    k, a = st_key[sorted_rows], arrival[sorted_rows]
    same = np.r_[False, k[1:] == k[:-1]]
    gap = np.where(same, a - np.r_[a[:1], a[:-1]], np.nan)

    t = np.clip(_np(ev["t"]), -_SPAN // 2 + 1, _SPAN // 2 - 1)
    comp = k * _SPAN + (a + _SPAN // 2)
    ev_comp = ev_key * _SPAN + (t + _SPAN // 2)
    back = np.searchsorted(comp, ev_comp, side="right") - 1
    back_c = np.clip(back, 0, None)
    back_ok = ev_ok & (back >= 0) & (k[back_c] == ev_key)
    headway = np.where(back_ok, gap[back_c], np.nan)
    if not with_tt:
        return headway, tt, unscheduled

    # scheduled trips: seconds from each trip's first stop
    trip_dict = pc.dictionary_encode(st["trip_id"].combine_chunks())
    trip = _np(trip_dict.indices, -1)
    start = np.full(len(trip_dict.dictionary), np.iinfo(np.int64).max)
    np.minimum.at(start, trip, arrival)
    tt_row = arrival - start[trip]

    # each observed trip's first event (earliest time, then source order)
    obs_dict = pc.dictionary_encode(ev["trip_id"].combine_chunks())
    obs = _np(obs_dict.indices, -1)
    first_order = np.lexsort((_np(ev["_row"]), _np(ev["t"]), obs))
    first_order = first_order[obs[first_order] >= 0]
    firsts = first_order[np.r_[True, obs[first_order][1:] != obs[first_order][:-1]]]
    fk, fc = ev_key[firsts], ev_comp[firsts]
    fwd = np.searchsorted(comp, fc, side="left")
    bk = np.searchsorted(comp, fc, side="right") - 1
    bk_c, fwd_c = np.clip(bk, 0, None), np.clip(fwd, None, len(comp) - 1)
    bk_ok = ev_ok[firsts] & (bk >= 0) & (k[bk_c] == fk)
    fwd_ok = ev_ok[firsts] & (fwd < len(comp)) & (k[fwd_c] == fk)
    big = np.iinfo(np.int64).max
    bk_d = np.where(bk_ok, fc - comp[bk_c], big)
    fwd_d = np.where(fwd_ok, comp[fwd_c] - fc, big)
    chosen = np.where(fwd_d < bk_d, fwd_c, bk_c)
    matched = np.full(int(obs.max()) + 1 if len(obs) else 0, -1, dtype=np.int64)
    matched[obs[firsts]] = np.where(bk_ok | fwd_ok, trip[sorted_rows][chosen], -1)

    # (scheduled trip, key) → the first such stop time of the trip (a loop visits a stop twice)
    n_keys = int(max(st_key.max(), ev_key.max())) + 1
    pair = trip * n_keys + st_key
    by_pair = np.lexsort((_np(st["stop_sequence"]), pair))
    first_pair = by_pair[np.r_[True, pair[by_pair][1:] != pair[by_pair][:-1]]]
    pair_keys = pair[first_pair]
    ev_trip = np.where(obs >= 0, matched[np.clip(obs, 0, None)], -1)
    ev_pair = ev_trip * n_keys + ev_key
    hit = np.clip(np.searchsorted(pair_keys, ev_pair), 0, len(pair_keys) - 1)
    found = ev_ok & (ev_trip >= 0) & (pair_keys[hit] == ev_pair)
    tt = np.where(found, tt_row[first_pair[hit]], np.nan)
    return headway, tt, unscheduled
