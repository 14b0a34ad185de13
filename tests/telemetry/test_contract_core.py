"""Haversine with the contract's Earth radius, checked against known distances."""

from __future__ import annotations

import math

import numpy as np

from tasks.telemetry.contract_core import EARTH_RADIUS_KM, distance_milli_km, haversine_km


def test_one_degree_of_longitude_on_the_equator() -> None:
    # 2πR/360 with the mean radius 6371.0088 km
    distance = haversine_km(np.array([0.0]), np.array([0.0]), 0.0, 1.0)
    assert distance.tolist() == [math.pi * EARTH_RADIUS_KM / 180]
    assert distance_milli_km(distance).tolist() == [111_195]


def test_known_city_pair_jfk_to_lax() -> None:
    # JFK (40.6413, -73.7781) → LAX (33.9416, -118.4085): 3,974.342 km on the mean-radius sphere
    # (great-circle distance published for the pair: 3,974–3,983 km depending on the model)
    distance = haversine_km(np.array([40.6413]), np.array([-73.7781]), 33.9416, -118.4085)
    assert distance_milli_km(distance).tolist() == [3_974_342]


def test_antipodes_and_same_point() -> None:
    distance = haversine_km(
        np.array([0.0, 51.5]),
        np.array([0.0, -0.12]),
        np.array([0.0, 51.5]),
        np.array([180.0, -0.12]),
    )
    assert distance_milli_km(distance).tolist() == [20_015_114, 0]


def test_rounding_is_half_to_even_in_metres() -> None:
    assert distance_milli_km(np.array([0.0005, 0.0015, 1.2344999])).tolist() == [0, 2, 1234]
