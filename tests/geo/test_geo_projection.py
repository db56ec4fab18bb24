"""Metric operations: buffers, distances and areas in metres."""

import math

import numpy as np
import pytest
from shapely.geometry import LineString, Point, Polygon

from geo.projection import area_m2, buffer_metres, distance_metres, from_utm49n, to_utm49n

LOTUS_BRIDGE = (113.552, 22.139)


def test_buffer_of_1_km_around_a_point_is_a_pi_km2_disc():
    disc = buffer_metres(Point(*LOTUS_BRIDGE), 1000)
    assert disc.geom_type == "Polygon" and disc.is_valid
    assert area_m2(disc) / 1e6 == pytest.approx(math.pi, rel=0.005)
    # every vertex is 1 km from the centre, measured on the ellipsoid
    lons, lats = np.array(disc.exterior.coords).T
    d = distance_metres(
        from_lon=LOTUS_BRIDGE[0], from_lat=LOTUS_BRIDGE[1], to_lon=lons, to_lat=lats
    )
    assert np.allclose(d, 1000, rtol=1e-3)


def test_buffer_of_a_line_and_negative_buffer():
    road = LineString([(113.53, 22.13), (113.54, 22.13)])
    length = distance_metres(from_lon=113.53, from_lat=22.13, to_lon=113.54, to_lat=22.13)
    corridor = buffer_metres(road, 100)
    assert area_m2(corridor) == pytest.approx(200 * length + math.pi * 100**2, rel=0.01)
    square = buffer_metres(Point(*LOTUS_BRIDGE), 500, quad_segs=1)  # a diamond
    assert buffer_metres(square, -1000).is_empty
    assert buffer_metres(Polygon(), 10).is_empty


def test_distance_metres():
    # one degree of latitude at 22° N is ~110.75 km on WGS 84
    assert distance_metres(
        from_lon=113.5, from_lat=21.5, to_lon=113.5, to_lat=22.5
    ) == pytest.approx(110_750, rel=1e-3)
    # Lotus Bridge to Macau peninsula (22.195, 113.545): ~6.2 km
    d = distance_metres(from_lon=113.552, from_lat=22.139, to_lon=113.545, to_lat=22.195)
    assert isinstance(d, float) and 6_000 < d < 6_500
    many = distance_metres(
        from_lon=113.5, from_lat=22.1, to_lon=[113.5, 113.51], to_lat=[22.1, 22.1]
    )
    assert many.shape == (2,) and many[0] == 0 and many[1] == pytest.approx(1032, rel=0.01)


def test_area_m2():
    # 0.01° × 0.01° at 22.14° N: 1.1075 km × 1.0314 km
    cell = Polygon([(113.53, 22.135), (113.54, 22.135), (113.54, 22.145), (113.53, 22.145)])
    assert area_m2(cell) == pytest.approx(1.1075e3 * 1.0314e3, rel=0.005)
    assert area_m2(cell.reverse()) == area_m2(cell)  # orientation does not matter
    assert area_m2(Point(113.5, 22.1)) == 0


def test_utm_round_trip():
    cell = Polygon([(113.53, 22.135), (113.54, 22.135), (113.54, 22.145), (113.53, 22.145)])
    metric = to_utm49n(cell)
    # 2.53° east of the zone's central meridian (111° E): ~261 km east of the 500 km false easting
    assert 755_000 < metric.bounds[0] < 765_000 and 2_440_000 < metric.bounds[1] < 2_460_000
    assert metric.area == pytest.approx(area_m2(cell), rel=0.002)  # UTM scale error is small here
    back = from_utm49n(metric)
    assert np.allclose(np.array(back.exterior.coords), np.array(cell.exterior.coords), atol=1e-9)
