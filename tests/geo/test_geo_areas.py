"""Validation of uploaded target areas: each bad upload fails with the right message."""

import json

import pytest
from shapely.geometry import MultiPolygon, Polygon

from geo.areas import AreaError, AreaLimits, check_area, parse_area

# ~1.1 km × 1.1 km in Lianhua
SQUARE = [
    [113.535, 22.135],
    [113.545, 22.135],
    [113.545, 22.145],
    [113.535, 22.145],
    [113.535, 22.135],
]


def polygon(*rings):
    return {"type": "Polygon", "coordinates": list(rings)}


def fails(raw, reason, *, match, limits=None):
    with pytest.raises(AreaError, match=match) as info:
        parse_area(raw, **({"limits": limits} if limits else {}))
    assert info.value.reason == reason
    assert isinstance(info.value, ValueError)
    return info.value


def test_accepts_polygon_as_object_text_and_bytes():
    for raw in (polygon(SQUARE), json.dumps(polygon(SQUARE)), json.dumps(polygon(SQUARE)).encode()):
        area = parse_area(raw)
        assert isinstance(area, Polygon) and area.is_valid
        assert area.bounds == (113.535, 22.135, 113.545, 22.145)


def test_accepts_multipolygon_feature_and_feature_collection():
    other = [[113.50, 22.10], [113.51, 22.10], [113.51, 22.11], [113.50, 22.10]]
    multi = {"type": "MultiPolygon", "coordinates": [[SQUARE], [other]]}
    assert isinstance(parse_area(multi), MultiPolygon)
    feature = {"type": "Feature", "properties": {}, "geometry": polygon(SQUARE)}
    assert isinstance(parse_area(feature), Polygon)
    collection = {
        "type": "FeatureCollection",
        "features": [feature, {"type": "Feature", "geometry": polygon(other)}],
    }
    result = parse_area(collection)
    assert isinstance(result, MultiPolygon) and len(result.geoms) == 2


def test_accepts_a_polygon_with_a_hole_and_altitudes():
    hole = [[113.538, 22.138], [113.538, 22.142], [113.542, 22.142], [113.538, 22.138]]
    assert len(parse_area(polygon(SQUARE, hole)).interiors) == 1
    with_z = [[*p, 5.0] for p in SQUARE]
    assert parse_area(polygon(with_z)).area == pytest.approx(0.0001)


def test_rejects_open_ring():
    error = fails(
        polygon(SQUARE[:-1]),
        "ring_not_closed",
        match=r"coordinates\[0\] is not closed: the first position \[113.535, 22.135\] differs from the last \[113.535, 22.145\]",
    )
    assert error.field == "coordinates[0]"


def test_rejects_self_intersecting_bowtie():
    bowtie = [[113.53, 22.13], [113.54, 22.14], [113.54, 22.13], [113.53, 22.14], [113.53, 22.13]]
    error = fails(
        polygon(bowtie),
        "invalid_geometry",
        match=r"not a valid polygon: Self-intersection\[113.535 22.135\]",
    )
    assert error.field == "coordinates"


def test_rejects_a_polygon_in_europe():
    lisbon = [[-9.2, 38.7], [-9.1, 38.7], [-9.1, 38.75], [-9.2, 38.75], [-9.2, 38.7]]
    fails(
        polygon(lisbon),
        "outside_region",
        match=r"outside the operating region \(lon 113.3..113.8, lat 21.9..22.4\); its bounds are lon -9.200000..-9.100000",
    )


def test_rejects_too_big():
    # 0.48° × 0.48° here: ~49.5 km (lon) × ~53.2 km (lat) ≈ 2630 km²
    big = [[113.31, 21.91], [113.79, 21.91], [113.79, 22.39], [113.31, 22.39], [113.31, 21.91]]
    fails(
        polygon(big),
        "too_large",
        match=r"too large: 263\d\.\d km² is more than the maximum 500 km²",
    )
    # a custom limit applies
    fails(polygon(SQUARE), "too_large", match="maximum 1 km²", limits=AreaLimits(max_area_m2=1e6))


def test_rejects_degenerate_sliver():
    sliver = [[113.535, 22.135], [113.545, 22.135], [113.545, 22.1350001], [113.535, 22.135]]
    fails(
        polygon(sliver),
        "degenerate",
        match=r"degenerate: \d+\.\d m² is less than the minimum 100 m²",
    )


def test_rejects_too_many_vertices():
    import math

    ring = [
        [
            113.54 + 0.01 * math.cos(t / 20_000 * 2 * math.pi),
            22.14 + 0.01 * math.sin(t / 20_000 * 2 * math.pi),
        ]
        for t in range(20_000)
    ]
    ring.append(ring[0])
    fails(
        polygon(ring),
        "too_many_vertices",
        match="too many vertices: more than the maximum of 10000",
    )
    # the count runs over all rings and parts
    fails(
        polygon(SQUARE, SQUARE),
        "too_many_vertices",
        match="maximum of 8",
        limits=AreaLimits(max_vertices=8),
    )


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        (
            {"type": "Point", "coordinates": [113.54, 22.14]},
            "has type Point: expected Polygon or MultiPolygon",
        ),
        (
            {"type": "LineString", "coordinates": [[113.54, 22.14], [113.55, 22.15]]},
            "has type LineString",
        ),
        ({"type": "GeometryCollection", "geometries": []}, "has type GeometryCollection"),
        (
            {"coordinates": [SQUARE]},
            r"type is missing: expected Polygon, MultiPolygon, Feature or FeatureCollection",
        ),
        ([SQUARE], "must be a GeoJSON object, got array"),
        (
            {"type": "Polygon", "coordinates": "none"},
            "coordinates must be a non-empty array of linear rings",
        ),
        ({"type": "Feature", "geometry": None}, "geometry is missing"),
        (
            {"type": "FeatureCollection", "features": [polygon(SQUARE)]},
            r"features\[0\] must be a Feature, got Polygon",
        ),
    ],
)
def test_rejects_wrong_types(raw, match):
    fails(json.dumps(raw), "wrong_type", match=match)


def test_rejects_empty_feature_collection():
    fails(
        {"type": "FeatureCollection", "features": []}, "empty", match="non-empty array of features"
    )


def test_rejects_too_few_positions():
    fails(
        polygon(SQUARE[:2] + SQUARE[:1]),
        "too_few_positions",
        match=r"coordinates\[0\] has 3 positions: a linear ring needs at least 4",
    )


@pytest.mark.parametrize(
    ("bad", "reason", "match"),
    [
        (
            [22.14, 113.54],
            "out_of_bounds",
            r"\[22.14, 113.54\] is out of range.*GeoJSON order is \[lon, lat\]",
        ),
        ([181.0, 22.1], "out_of_bounds", "out of range"),
        (["113.54", 22.14], "bad_coordinate", "must hold finite numbers"),
        ([True, 22.14], "bad_coordinate", "must hold finite numbers"),
        ([113.54], "bad_coordinate", r"must be a position \[lon, lat\]"),
        ("113.54,22.14", "bad_coordinate", r"must be a position \[lon, lat\]"),
    ],
)
def test_rejects_bad_positions(bad, reason, match):
    ring = [SQUARE[0], bad, *SQUARE[2:]]
    error = fails(polygon(ring), reason, match=match)
    assert error.field == "coordinates[0][1]"


def test_rejects_nan_and_infinity_in_json_text():
    text = json.dumps(polygon(SQUARE)).replace("113.545", "NaN", 1)
    fails(text, "invalid_json", match="NaN is not a number")
    text = json.dumps(polygon(SQUARE)).replace("113.545", "Infinity", 1)
    fails(text, "invalid_json", match="Infinity is not a number")
    fails(
        polygon([SQUARE[0], [float("nan"), 22.1], *SQUARE[2:]]),
        "bad_coordinate",
        match="finite numbers",
    )


def test_rejects_invalid_json_oversize_and_deep_nesting():
    fails('{"type": "Polygon", ', "invalid_json", match="invalid JSON: Expecting")
    fails(b"\xff\xfe{", "invalid_json", match="invalid JSON")
    fails(
        " " * 2_000_000, "too_many_bytes", match="too large: 2000000 bytes, the maximum is 1000000"
    )
    fails("[" * 100_000 + "]" * 100_000, "invalid_json", match="nested too deeply")
    fails(12, "wrong_type", match="expected GeoJSON text or object, got int")


def test_multipolygon_part_errors_name_the_part():
    bowtie = [[113.53, 22.13], [113.54, 22.14], [113.54, 22.13], [113.53, 22.14], [113.53, 22.13]]
    fails(
        {"type": "MultiPolygon", "coordinates": [[SQUARE], [bowtie[:-1]]]},
        "ring_not_closed",
        match=r"coordinates\[1\]\[0\] is not closed",
    )


def test_feature_collection_errors_name_the_feature():
    bad = {"type": "Feature", "geometry": polygon(SQUARE[:-1])}
    ok = {"type": "Feature", "geometry": polygon(SQUARE)}
    error = fails(
        {"type": "FeatureCollection", "features": [ok, bad]},
        "ring_not_closed",
        match=r"^features\[1\]\.geometry\.coordinates\[0\] is not closed",
    )
    assert error.field == "features[1].geometry.coordinates[0]"


def test_check_area_with_custom_region():
    square = Polygon(SQUARE)
    check_area(square)
    with pytest.raises(AreaError, match="outside the operating region") as info:
        check_area(square, limits=AreaLimits(region=(0.0, 0.0, 1.0, 1.0)))
    assert info.value.reason == "outside_region"
