"""The demo zone files, and the zone loader's checks and lookups."""

import json
from pathlib import Path

import numpy as np
import pytest
import shapely

from geo.projection import area_m2
from geo.zones import LANGUAGES, UnknownZoneError, ZoneError, ZoneSet, load_zones

COMMUNITIES = {"xiaohengqin", "xinjiayuan", "lianhua", "fuxiangwan"}

# GEOGRAPHY.md places (lat, lon) → the community and the special zones they must fall in
PLACES = [
    ("Lotus Bridge, Hengqin end", 22.139, 113.552, "lianhua", {"hengqin_port"}),
    ("Hengqin Port", 22.138, 113.550, "lianhua", {"hengqin_port"}),
    ("UM connecting bridge", 22.134, 113.547, "lianhua", {"hengqin_port"}),
    ("University of Macau", 22.127, 113.545, "xiaohengqin", {"university_of_macau"}),
    ("Macau New Neighbourhood", 22.125, 113.538, "xiaohengqin", {"macau_new_neighbourhood"}),
    ("Hou Kong school", 22.128, 113.533, "xiaohengqin", set()),
    ("Xiaohengqin", 22.115, 113.525, "xiaohengqin", set()),
    ("Xinjiayuan", 22.130, 113.520, "xinjiayuan", set()),
    ("Lianhua", 22.140, 113.540, "lianhua", set()),
    ("Fuxiangwan", 22.100, 113.500, "fuxiangwan", set()),
]
OUTSIDE = [
    ("Zhuhai city centre", 22.27, 113.57),
    ("Macau peninsula", 22.195, 113.545),
    ("Taipa", 22.155, 113.56),
]


def feature(zone_id="a", kind="community", coords=None, **props):
    coords = coords or [[113.50, 22.10], [113.51, 22.10], [113.51, 22.11], [113.50, 22.10]]
    properties = {"id": zone_id, "name": dict.fromkeys(LANGUAGES, "A"), "kind": kind, **props}
    return {
        "type": "Feature",
        "properties": properties,
        "geometry": {"type": "Polygon", "coordinates": [coords]},
    }


def write(folder: Path, name: str, *features) -> Path:
    path = folder / name
    path.write_text(json.dumps({"type": "FeatureCollection", "features": list(features)}))
    return path


# -- the shipped demo files ------------------------------------------------------------


def test_demo_zones_load_with_expected_ids_and_kinds(zones):
    kinds = {z.id: z.kind for z in zones}
    assert {k for k, v in kinds.items() if v == "community"} == COMMUNITIES
    assert kinds["macau_new_neighbourhood"] == "housing"
    assert kinds["hengqin_port"] == "port"
    assert kinds["north_shore_works"] == "low_lying"
    assert 3 <= sum(v == "shelter_catchment" for v in kinds.values()) <= 4


def test_demo_zones_are_valid_simple_approximate_and_named(zones):
    for zone in zones:
        assert shapely.is_valid(zone.geometry), zone.id
        assert zone.geometry.geom_type == "Polygon", zone.id
        assert 8 <= len(zone.geometry.exterior.coords) - 1 <= 20, zone.id
        assert set(LANGUAGES) <= set(zone.name), zone.id
        assert zone.approximate and "surveyed" in zone.properties["note"], zone.id
        min_lon, min_lat, max_lon, max_lat = zone.geometry.bounds
        assert 113.46 <= min_lon < max_lon <= 113.57
        assert 22.06 <= min_lat < max_lat <= 22.17


def test_demo_files_follow_rfc7946_ring_orientation(zones_dir):
    for path in zones_dir.glob("*.geojson"):
        for f in json.loads(path.read_text(encoding="utf-8"))["features"]:
            if f["geometry"]["type"] == "Polygon":
                ring = shapely.LinearRing(f["geometry"]["coordinates"][0])
                assert ring.is_ccw, (path.name, f["properties"]["id"])


@pytest.mark.parametrize(("place", "lat", "lon", "community", "special"), PLACES)
def test_geography_places_fall_in_their_zones(zones, place, lat, lon, community, special):
    assert zones.zone_of(lon, lat) == community, place
    found = {z.id for z in zones.containing(lon, lat)}
    assert community in found and special <= found, place


@pytest.mark.parametrize(("place", "lat", "lon"), OUTSIDE)
def test_places_off_the_island_are_in_no_zone(zones, place, lat, lon):
    assert zones.containing(lon, lat) == [], place
    assert zones.zone_of(lon, lat, kinds=None) is None


def test_communities_tile_the_island_without_overlap(zones):
    communities = [z.geometry for z in zones.of_kind("community")]
    for i, a in enumerate(communities):
        for b in communities[i + 1 :]:
            assert shapely.intersection(a, b).area < 1e-12  # shared edges only
    island = shapely.union_all(communities)
    assert island.geom_type == "Polygon" and not island.interiors  # one piece, no gaps
    assert 60e6 < area_m2(island) < 120e6  # Hengqin is ~106 km²; these are rough shapes

    # a uniformly random point in the island's box mostly falls in some community
    rng = np.random.default_rng(7)
    lons, lats = rng.uniform(113.47, 113.57, 20_000), rng.uniform(22.07, 22.16, 20_000)
    ids = zones.zones_of(lons, lats)
    assert np.mean(ids != None) > 0.6  # noqa: E711 — element-wise on an object array


def test_catchments_cover_the_communities(zones):
    island = shapely.union_all([z.geometry for z in zones.of_kind("community")])
    catchments = shapely.union_all([z.geometry for z in zones.of_kind("shelter_catchment")])
    assert shapely.difference(island, catchments).area < 1e-9


def test_special_zones_lie_on_the_island(zones):
    island = shapely.union_all([z.geometry for z in zones.of_kind("community")])
    for zone_id in ("hengqin_port", "macau_new_neighbourhood", "university_of_macau"):
        inside = shapely.intersection(zones[zone_id].geometry, island).area
        assert inside / zones[zone_id].geometry.area > 0.9, zone_id


# -- lookups ---------------------------------------------------------------------------


def test_zones_of_prefers_smallest_zone_when_all_kinds_are_asked(zones):
    lons = np.array([113.538, 113.540, 113.57])
    lats = np.array([22.125, 22.140, 22.27])
    assert list(zones.zones_of(lons, lats)) == ["xiaohengqin", "lianhua", None]
    assert list(zones.zones_of(lons, lats, kinds=None)) == [
        "macau_new_neighbourhood",
        "lianhua",
        None,
    ]
    assert list(zones.zones_of(lons, lats, kinds="housing")) == [
        "macau_new_neighbourhood",
        None,
        None,
    ]
    assert list(zones.zones_of(lons, lats, kinds=["shelter_catchment"])) == [
        "catchment_northeast",
        "catchment_northeast",
        None,
    ]


def test_point_on_a_shared_boundary_gets_a_zone(zones):
    # (113.530, 22.131) is the corner shared by Lianhua, Xinjiayuan and Xiaohengqin
    assert zones.zone_of(113.530, 22.131) in {"lianhua", "xinjiayuan", "xiaohengqin"}
    found = {z.id for z in zones.containing(113.530, 22.131)}
    assert {"lianhua", "xinjiayuan", "xiaohengqin"} <= found


def test_lookup_by_id(zones):
    assert zones["lianhua"].label("zh-Hans") == "莲花社区"
    assert zones["lianhua"].label("pt") == "Comunidade de Lianhua"
    assert zones.get("nowhere") is None
    assert "lianhua" in zones and "nowhere" not in zones
    assert [z.id for z in zones.require(["lianhua", "hengqin_port", "lianhua"])] == [
        "lianhua",
        "hengqin_port",
    ]
    with pytest.raises(UnknownZoneError, match="'nowhere', 'atlantis'") as info:
        zones.geometries(["lianhua", "nowhere", "atlantis"])
    assert info.value.ids == ["nowhere", "atlantis"]
    with pytest.raises(KeyError):
        zones["nowhere"]


# -- loader errors ---------------------------------------------------------------------


def test_shelters_file_is_not_loaded_as_zones(zones):
    assert not any(z.kind == "shelter" for z in zones)


def test_invalid_geometry_names_file_feature_and_problem(tmp_path):
    bowtie = [[113.50, 22.10], [113.51, 22.11], [113.51, 22.10], [113.50, 22.11], [113.50, 22.10]]
    write(tmp_path, "bad.geojson", feature("ok"), feature("bow", coords=bowtie))
    with pytest.raises(ZoneError) as info:
        load_zones(tmp_path)
    message = str(info.value)
    assert "bad.geojson" in message and "feature #1" in message and "'bow'" in message
    assert "Self-intersection" in message
    assert info.value.feature == 1 and info.value.zone_id == "bow"


def test_open_ring_is_reported(tmp_path):
    open_ring = [[113.50, 22.10], [113.51, 22.10], [113.51, 22.11], [113.50, 22.11]]
    write(tmp_path, "z.geojson", feature("open", coords=open_ring))
    with pytest.raises(ZoneError, match=r"z\.geojson: feature #0 \(id 'open'\).*not closed"):
        load_zones(tmp_path)


@pytest.mark.parametrize(
    ("drop", "expected"),
    [("id", "missing 'id'"), ("name", "missing 'name'"), ("kind", "missing 'kind'")],
)
def test_missing_properties_are_reported(tmp_path, drop, expected):
    f = feature("zone-1")
    del f["properties"][drop]
    write(tmp_path, "z.geojson", f)
    with pytest.raises(ZoneError, match=rf"z\.geojson: feature #0.*{expected}"):
        load_zones(tmp_path)


def test_name_must_have_every_language(tmp_path):
    f = feature("zone-1")
    del f["properties"]["name"]["pt"]
    write(tmp_path, "z.geojson", f)
    with pytest.raises(ZoneError, match="lacks language.*pt"):
        load_zones(tmp_path)


def test_bad_id_is_reported(tmp_path):
    write(tmp_path, "z.geojson", feature("Lian Hua!"))
    with pytest.raises(ZoneError, match="bad id 'Lian Hua!'"):
        load_zones(tmp_path)


def test_duplicate_ids_across_files_are_reported(tmp_path):
    write(tmp_path, "a.geojson", feature("same"))
    write(tmp_path, "b.geojson", feature("same"))
    with pytest.raises(ZoneError, match=r"b\.geojson: zone 'same': duplicate zone id.*a\.geojson"):
        load_zones(tmp_path)


def test_duplicate_ids_within_a_file_are_reported(tmp_path):
    write(tmp_path, "a.geojson", feature("same"), feature("same"))
    with pytest.raises(ZoneError, match="duplicate zone id"):
        load_zones(tmp_path)


def test_point_geometry_is_not_a_zone(tmp_path):
    f = feature("p")
    f["geometry"] = {"type": "Point", "coordinates": [113.5, 22.1]}
    write(tmp_path, "z.geojson", f)
    with pytest.raises(ZoneError, match="invalid geometry.*Point: expected Polygon"):
        load_zones(tmp_path)


def test_invalid_json_names_the_line(tmp_path):
    (tmp_path / "z.geojson").write_text('{"type": "FeatureCollection",\n "features": [,]}')
    with pytest.raises(ZoneError, match=r"z\.geojson: invalid JSON at line 2"):
        load_zones(tmp_path)


def test_not_a_feature_collection(tmp_path):
    (tmp_path / "z.geojson").write_text(json.dumps(feature("a")))
    with pytest.raises(ZoneError, match="expected a GeoJSON FeatureCollection"):
        load_zones(tmp_path)


def test_missing_folder(tmp_path):
    with pytest.raises(ZoneError, match="zones folder not found"):
        load_zones(tmp_path / "nope")


def test_zone_set_rejects_duplicates_from_code(zones):
    with pytest.raises(ZoneError, match="duplicate"):
        ZoneSet([zones["lianhua"], zones["lianhua"]])


def test_geo_never_imports_the_application():
    import ast

    package = Path(__file__).resolve().parents[2] / "geo"
    for path in package.glob("**/*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in {"emergency", "alerts"}, (path, name)


def test_zone_of_one_point_agrees_with_zones_of_many(zones):
    """zone_of answers one point without arrays (the field report's hot path): the same
    zone as the vectorised zones_of, inside, outside, on overlaps, for every kind filter."""
    rng = np.random.default_rng(18)
    lons = rng.uniform(113.45, 113.62, 3000)
    lats = rng.uniform(22.05, 22.22, 3000)
    for kinds in (None, ("community",), "community"):
        expected = list(zones.zones_of(lons, lats, kinds=kinds))
        assert [
            zones.zone_of(x, y, kinds=kinds) for x, y in zip(lons, lats, strict=True)
        ] == expected
    assert any(expected)


def test_zone_of_asked_again_for_a_point_answers_the_same_for_each_kind_filter(zones):
    """zone_of keeps its last answer (a field report asks twice for its point): the same
    point asked again, with the kind filter changing in between, answers as asked."""
    rng = np.random.default_rng(180)
    lons = rng.uniform(113.45, 113.62, 300)
    lats = rng.uniform(22.05, 22.22, 300)
    any_kind = list(zones.zones_of(lons, lats, kinds=None))
    communities = list(zones.zones_of(lons, lats, kinds=("community",)))
    assert any_kind != communities  # the filter changes some answers
    for i, (x, y) in enumerate(zip(lons, lats, strict=True)):
        for kinds, expected in ((None, any_kind), (None, any_kind), ("community", communities)):
            assert zones.zone_of(x, y, kinds=kinds) == expected[i], (x, y, kinds)
        assert zones.zone_of(x, y, kinds=None) == any_kind[i], (x, y)
