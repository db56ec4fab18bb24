"""Polygons in the text form of CAP 1.2 ``<area><polygon>`` elements.

CAP writes a polygon as space-separated ``lat,lon`` pairs (latitude first, unlike
GeoJSON), WGS 84, at least four pairs, the first equal to the last. CAP has no holes: an
area's exterior ring is sent, so a hole's residents are alerted too — for a warning,
erring on the side of more recipients is the safe side.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

from geo.areas import AreaError

_PAIR = re.compile(r"^\s*([+-]?\d+(?:\.\d+)?)\s*,\s*([+-]?\d+(?:\.\d+)?)\s*$")


def cap_polygons(geometry: BaseGeometry, *, decimals: int = 6) -> list[str]:
    """One CAP polygon string per exterior ring (a MultiPolygon gives several)."""
    if isinstance(geometry, Polygon):
        polygons = [geometry]
    elif isinstance(geometry, MultiPolygon):
        polygons = list(geometry.geoms)
    else:
        raise TypeError(f"CAP polygons need a Polygon or MultiPolygon, got {geometry.geom_type}")
    return [_ring_text(p, decimals=decimals) for p in polygons if not p.is_empty]


def outline_polygons(geometries: Sequence[BaseGeometry]) -> list[str]:
    """The CAP polygon of several areas together: their union, or its convex hull when the
    union is in pieces (one polygon: a warning errs on the side of more area); none for none."""
    if not geometries:
        return []
    union = unary_union(geometries)
    if not isinstance(union, Polygon):
        union = union.convex_hull
    return cap_polygons(union)


def polygon_from_cap(text: str) -> Polygon:
    """The Polygon of a CAP ``<polygon>`` value; an :class:`~geo.areas.AreaError` if malformed.

    Only the structure is checked here; pass the result through
    :func:`geo.areas.check_area` for the operating region and size limits.
    """
    pairs = text.split()
    if len(pairs) < 4:
        raise AreaError(
            f"a CAP polygon needs at least 4 lat,lon pairs, got {len(pairs)}",
            field="polygon",
            reason="too_few_positions",
        )
    points: list[tuple[float, float]] = []
    for i, pair in enumerate(pairs):
        match = _PAIR.match(pair)
        if not match:
            raise AreaError(
                f"CAP polygon pair #{i} {pair[:40]!r} is not 'lat,lon'",
                field="polygon",
                reason="bad_coordinate",
            )
        lat, lon = float(match[1]), float(match[2])
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise AreaError(
                f"CAP polygon pair #{i} {pair!r} is out of range (lat −90..90, lon −180..180)",
                field="polygon",
                reason="out_of_bounds",
            )
        points.append((lon, lat))
    if points[0] != points[-1]:
        raise AreaError(
            "CAP polygon is not closed: the first pair differs from the last",
            field="polygon",
            reason="ring_not_closed",
        )
    polygon = Polygon(points)
    if not polygon.is_valid:
        raise AreaError(
            f"CAP polygon is not valid: {shapely.is_valid_reason(polygon)}",
            field="polygon",
            reason="invalid_geometry",
        )
    return polygon


def _ring_text(polygon: Polygon, *, decimals: int) -> str:
    pairs: list[str] = []
    for lon, lat in polygon.exterior.coords:
        pair = f"{_number(lat, decimals)},{_number(lon, decimals)}"
        if not pairs or pairs[-1] != pair:  # rounding can merge neighbouring vertices
            pairs.append(pair)
    if pairs[0] != pairs[-1]:
        pairs.append(pairs[0])
    if len(pairs) < 4:
        raise ValueError(
            f"the polygon collapses to {len(pairs) - 1} distinct points at {decimals} decimals"
        )
    return " ".join(pairs)


def _number(value: float, decimals: int) -> str:
    text = f"{value:.{decimals}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text
