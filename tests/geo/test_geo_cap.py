"""CAP 1.2 polygon strings."""

import re

import pytest
from shapely.geometry import MultiPolygon, Point, Polygon

from geo.areas import AreaError
from geo.cap import cap_polygons, polygon_from_cap

PAIR = re.compile(r"^-?\d+(\.\d{1,6})?,-?\d+(\.\d{1,6})?$")


def test_polygon_becomes_lat_lon_pairs_closed():
    square = Polygon([(113.535, 22.135), (113.545, 22.135), (113.545, 22.145), (113.535, 22.145)])
    assert cap_polygons(square) == [
        "22.135,113.535 22.135,113.545 22.145,113.545 22.145,113.535 22.135,113.535"
    ]


def test_at_most_six_decimals_and_rounding_merges_duplicates():
    p = Polygon(
        [(113.1234567891, 22.1), (113.2, 22.1000000001), (113.2, 22.2), (113.1234567894, 22.2)]
    )
    [text] = cap_polygons(p)
    pairs = text.split()
    assert all(PAIR.match(pair) for pair in pairs)
    assert pairs[0] == pairs[-1] == "22.1,113.123457"
    tiny = Polygon([(0, 0), (1e-8, 0), (1e-8, 1e-8)])
    with pytest.raises(ValueError, match="collapses"):
        cap_polygons(tiny)


def test_multipolygon_gives_one_string_per_part_and_drops_holes(zones):
    shell = [(113.53, 22.13), (113.54, 22.13), (113.54, 22.14), (113.53, 22.14)]
    hole = [(113.533, 22.133), (113.537, 22.133), (113.537, 22.137)]
    multi = MultiPolygon([Polygon(shell, [hole]), zones["lianhua"].geometry])
    texts = cap_polygons(multi)
    assert len(texts) == 2
    assert len(texts[0].split()) == 5  # exterior only
    for text in texts:
        pairs = text.split()
        assert pairs[0] == pairs[-1] and len(pairs) >= 4


def test_every_demo_zone_round_trips(zones):
    for zone in zones:
        [text] = cap_polygons(zone.geometry)
        back = polygon_from_cap(text)
        assert back.equals(zone.geometry), zone.id


def test_only_polygons():
    with pytest.raises(TypeError, match="got Point"):
        cap_polygons(Point(0, 0))


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("22.1,113.5 22.2,113.5 22.1,113.5", "too_few_positions"),
        ("22.1,113.5 22.2,113.5 22.2,113.6 22.15,113.55", "ring_not_closed"),
        ("22.1;113.5 22.2,113.5 22.2,113.6 22.1;113.5", "bad_coordinate"),
        ("113.5,22.1 113.5,22.2 113.6,22.2 113.5,22.1", "out_of_bounds"),  # lon first by mistake
        ("22.13,113.53 22.14,113.54 22.13,113.54 22.14,113.53 22.13,113.53", "invalid_geometry"),
    ],
)
def test_polygon_from_cap_errors(text, reason):
    with pytest.raises(AreaError) as info:
        polygon_from_cap(text)
    assert info.value.reason == reason and info.value.field == "polygon"
