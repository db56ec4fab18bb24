"""Nearest open shelter with room."""

import json
from dataclasses import replace

import numpy as np
import pytest

from geo.projection import distance_metres
from geo.shelters import (
    Shelter,
    ShelterError,
    haversine_m,
    load_shelters,
    nearest_shelter,
    nearest_shelter_indices,
    nearest_shelters,
)

NAMES = {"zh-Hans": "甲", "zh-Hant": "甲", "pt": "A", "en": "A"}
HERE = (113.540, 22.140)


def shelter(shelter_id, lon, lat, *, capacity=100, occupancy=0, is_open=True):
    return Shelter(shelter_id, NAMES, lon, lat, capacity, occupancy, is_open)


@pytest.fixture
def three():
    return [
        shelter("full", 113.541, 22.140, capacity=50, occupancy=50),  # ~100 m, no room
        shelter("closed", 113.542, 22.140, is_open=False),  # ~200 m, closed
        shelter("far", 113.550, 22.140, capacity=10, occupancy=8),  # ~1 km, 2 places left
    ]


def test_nearest_open_with_room_skips_full_and_closed(three):
    match = nearest_shelter(lon=HERE[0], lat=HERE[1], shelters=three)
    assert match is not None and match.shelter.id == "far"
    assert match.distance_m == pytest.approx(1031, rel=0.01)


def test_people_must_fit(three):
    assert nearest_shelter(lon=HERE[0], lat=HERE[1], shelters=three, people=2).shelter.id == "far"
    assert nearest_shelter(lon=HERE[0], lat=HERE[1], shelters=three, people=3) is None


def test_nearest_shelters_are_ordered_and_limited(three):
    opened = [replace(s, is_open=True, occupancy=0) for s in three]
    matches = nearest_shelters(lon=HERE[0], lat=HERE[1], shelters=opened, limit=2)
    assert [m.shelter.id for m in matches] == ["full", "closed"]
    assert matches[0].distance_m < matches[1].distance_m
    assert nearest_shelters(lon=HERE[0], lat=HERE[1], shelters=[], limit=2) == []


def test_room_never_negative():
    assert shelter("over", 0, 0, capacity=10, occupancy=12).room == 0


def test_vectorised_matches_one_by_one(shelters):
    busy = [
        replace(shelters[0], occupancy=shelters[0].capacity),
        replace(shelters[1], is_open=False),
        *shelters[2:],
    ]
    rng = np.random.default_rng(1)
    lons, lats = rng.uniform(113.47, 113.57, 500), rng.uniform(22.07, 22.16, 500)
    index, distance = nearest_shelter_indices(lons, lats, busy)
    for x, y, i, d in zip(lons, lats, index, distance, strict=True):
        match = nearest_shelter(lon=x, lat=y, shelters=busy)
        assert busy[i] is match.shelter and d == pytest.approx(match.distance_m)
    assert not set(index) & {0, 1}
    none_open = [replace(s, is_open=False) for s in shelters]
    index, distance = nearest_shelter_indices(lons[:3], lats[:3], none_open)
    assert list(index) == [-1, -1, -1] and np.isinf(distance).all()


def test_haversine_is_close_to_the_geodesic():
    rng = np.random.default_rng(2)
    lons, lats = rng.uniform(113.3, 113.8, (2, 200)), rng.uniform(21.9, 22.4, (2, 200))
    h = haversine_m(lons[0], lats[0], lons[1], lats[1])
    g = distance_metres(from_lon=lons[0], from_lat=lats[0], to_lon=lons[1], to_lat=lats[1])
    assert np.allclose(h, g, rtol=0.005)


def test_demo_shelters_load_and_lie_in_their_catchments(shelters, zones):
    assert len(shelters) == 5
    for s in shelters:
        assert s.capacity > 0 and s.occupancy == 0 and s.is_open
        assert s.properties["kind"] == "shelter" and s.properties["approximate"] is True
        catchment = s.properties["catchment"]
        assert zones[catchment].kind == "shelter_catchment"
        assert s.id in zones[catchment].properties["shelters"]
        assert catchment in {z.id for z in zones.containing(s.lon, s.lat)}


def test_demo_lianhua_resident_goes_to_lianhua_sports_hall(shelters):
    assert (
        nearest_shelter(lon=113.540, lat=22.140, shelters=shelters).shelter.id
        == "lianhua_sports_hall"
    )


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda p, g: p.pop("id"), "feature #0: missing 'id'"),
        (lambda p, g: p["name"].pop("en"), r"feature #0 \(id 's1'\): 'name' must give"),
        (lambda p, g: p.update(capacity=-1), "'capacity' must be a whole number ≥ 0, got -1"),
        (lambda p, g: p.update(open="yes"), "'open' must be true or false"),
        (lambda p, g: g.update(type="Polygon"), r"geometry must be a Point \[lon, lat\]"),
        (lambda p, g: g.update(coordinates=[200, 22.1]), r"geometry must be a Point \[lon, lat\]"),
    ],
)
def test_load_shelters_errors(tmp_path, change, match):
    props = {"id": "s1", "name": dict(NAMES), "kind": "shelter", "capacity": 10}
    geometry = {"type": "Point", "coordinates": [113.5, 22.1]}
    change(props, geometry)
    path = tmp_path / "shelters.geojson"
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [{"type": "Feature", "properties": props, "geometry": geometry}],
            }
        )
    )
    with pytest.raises(ShelterError, match=match):
        load_shelters(path)


def test_load_shelters_duplicate_ids(tmp_path):
    f = {
        "type": "Feature",
        "properties": {"id": "s1", "name": NAMES, "capacity": 1},
        "geometry": {"type": "Point", "coordinates": [113.5, 22.1]},
    }
    path = tmp_path / "shelters.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [f, f]}))
    with pytest.raises(ShelterError, match="duplicate shelter id 's1'"):
        load_shelters(path)
