"""Validation of ad-hoc target areas uploaded as GeoJSON.

An operator (or another system) may target a broadcast at a drawn area instead of named
zones. The upload is untrusted: :func:`parse_area` checks it step by step — size, JSON,
type, ring structure, coordinates, operating region, validity, area — and raises an
:class:`AreaError` whose message says exactly what is wrong and where, so the API can
return it as a 4xx as is. :func:`polygon_from_coordinates` is the structural part, also
used to load the zone files.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import shapely
from shapely.geometry import MultiPolygon, Polygon

from geo.projection import area_m2

Polygonal = Polygon | MultiPolygon

#: (min_lon, min_lat, max_lon, max_lat) around Hengqin and Macau.
HENGQIN_MACAU_REGION: tuple[float, float, float, float] = (113.3, 21.9, 113.8, 22.4)


class AreaError(ValueError):
    """A target area that cannot be used; ``field`` says where, ``reason`` is a stable code."""

    def __init__(self, message: str, *, field: str, reason: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.reason = reason


@dataclass(frozen=True, slots=True)
class AreaLimits:
    """What an uploaded area may be. The defaults suit one command post's operating region."""

    region: tuple[float, float, float, float] = HENGQIN_MACAU_REGION
    max_area_m2: float = 500e6  # 500 km²: several times Hengqin, far less than a province
    min_area_m2: float = 100.0  # smaller than 10 m × 10 m is a slip of the mouse, not an area
    max_vertices: int = 10_000
    max_bytes: int = 1_000_000


DEFAULT_LIMITS = AreaLimits()


def parse_area(
    raw: str | bytes | Mapping[str, Any], *, limits: AreaLimits = DEFAULT_LIMITS
) -> Polygonal:
    """Return the (Multi)Polygon described by ``raw`` or raise :class:`AreaError`.

    ``raw`` is JSON text or an already-decoded object: a Polygon or MultiPolygon geometry,
    or a Feature / FeatureCollection whose geometries are such (several parts are united).
    """
    obj = _decode(raw, limits=limits)
    budget = _VertexBudget(limits.max_vertices)
    parts = _polygonal_parts(obj, field="", budget=budget)
    geometry = parts[0] if len(parts) == 1 else shapely.union_all(parts)
    if not isinstance(geometry, Polygon | MultiPolygon):  # defensive: a union of polygons is
        raise AreaError(
            f"the parts of the area do not form a polygon (got {geometry.geom_type})",
            field="features",
            reason="invalid_geometry",
        )  # polygonal in GEOS, but the API must never turn this into a 500
    check_area(geometry, limits=limits)
    return geometry


def check_area(geometry: Polygonal, *, limits: AreaLimits = DEFAULT_LIMITS) -> None:
    """Region, size and degeneracy checks for an already built, valid (Multi)Polygon."""
    min_lon, min_lat, max_lon, max_lat = limits.region
    b_min_lon, b_min_lat, b_max_lon, b_max_lat = geometry.bounds
    if b_min_lon < min_lon or b_max_lon > max_lon or b_min_lat < min_lat or b_max_lat > max_lat:
        raise AreaError(
            "the area lies outside the operating region "
            f"(lon {min_lon}..{max_lon}, lat {min_lat}..{max_lat}); its bounds are "
            f"lon {b_min_lon:.6f}..{b_max_lon:.6f}, lat {b_min_lat:.6f}..{b_max_lat:.6f}",
            field="coordinates",
            reason="outside_region",
        )
    area = area_m2(geometry)
    if area < limits.min_area_m2:
        raise AreaError(
            f"the area is degenerate: {area:.1f} m² is less than the minimum "
            f"{limits.min_area_m2:g} m²",
            field="coordinates",
            reason="degenerate",
        )
    if area > limits.max_area_m2:
        raise AreaError(
            f"the area is too large: {area / 1e6:.1f} km² is more than the maximum "
            f"{limits.max_area_m2 / 1e6:g} km²",
            field="coordinates",
            reason="too_large",
        )


def polygon_from_coordinates(
    geometry: Any, *, field: str = "geometry", max_vertices: int = 10_000
) -> Polygonal:
    """Build a valid (Multi)Polygon from a GeoJSON geometry object, checking its structure.

    Rings must be closed with at least 4 positions of finite numbers within lon −180..180,
    lat −90..90; the result must be valid in the OGC sense. No region or size checks.
    """
    return _geometry(geometry, field=field, budget=_VertexBudget(max_vertices))


# -- internals -------------------------------------------------------------------------


class _VertexBudget:
    """Counts positions while parsing, so a huge upload fails before shapely sees it."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def take(self, count: int, *, field: str) -> None:
        self.used += count
        if self.used > self.limit:
            raise AreaError(
                f"too many vertices: more than the maximum of {self.limit}",
                field=field,
                reason="too_many_vertices",
            )


def _reject_constant(name: str) -> float:
    raise AreaError(f"invalid JSON: {name} is not a number", field="", reason="invalid_json")


def _decode(raw: str | bytes | Mapping[str, Any], *, limits: AreaLimits) -> Any:
    if isinstance(raw, Mapping):
        return raw
    if not isinstance(raw, str | bytes | bytearray):
        raise AreaError(
            f"expected GeoJSON text or object, got {type(raw).__name__}",
            field="",
            reason="wrong_type",
        )
    size = len(raw.encode("utf-8")) if isinstance(raw, str) else len(raw)
    if size > limits.max_bytes:
        raise AreaError(
            f"the GeoJSON is too large: {size} bytes, the maximum is {limits.max_bytes}",
            field="",
            reason="too_many_bytes",
        )
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except AreaError:
        raise
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise AreaError(f"invalid JSON: {exc}", field="", reason="invalid_json") from exc
    except RecursionError as exc:  # "[[[[…" nested deeper than the parser's stack
        raise AreaError("invalid JSON: nested too deeply", field="", reason="invalid_json") from exc


def _join(field: str, part: str) -> str:
    if not field:
        return part.lstrip(".")
    return f"{field}{part}"


def _type_of(obj: Any, *, field: str) -> str:
    if not isinstance(obj, Mapping):
        raise AreaError(
            f"{field or 'the area'} must be a GeoJSON object, got {_json_type(obj)}",
            field=field,
            reason="wrong_type",
        )
    kind = obj.get("type")
    if not isinstance(kind, str):
        raise AreaError(
            f"{_join(field, '.type')} is missing: expected Polygon, MultiPolygon, "
            "Feature or FeatureCollection",
            field=_join(field, ".type"),
            reason="wrong_type",
        )
    return kind


def _polygonal_parts(obj: Any, *, field: str, budget: _VertexBudget) -> list[Polygonal]:
    kind = _type_of(obj, field=field)
    if kind == "FeatureCollection":
        features = obj.get("features")
        if not isinstance(features, list) or not features:
            raise AreaError(
                f"{_join(field, '.features')} must be a non-empty array of features",
                field=_join(field, ".features"),
                reason="empty" if isinstance(features, list) else "wrong_type",
            )
        parts: list[Polygonal] = []
        for i, feature in enumerate(features):
            sub = _join(field, f".features[{i}]")
            if _type_of(feature, field=sub) != "Feature":
                raise AreaError(
                    f"{sub} must be a Feature, got {feature.get('type')}",
                    field=sub,
                    reason="wrong_type",
                )
            parts.extend(_polygonal_parts(feature, field=sub, budget=budget))
        return parts
    if kind == "Feature":
        sub = _join(field, ".geometry")
        if obj.get("geometry") is None:
            raise AreaError(f"{sub} is missing", field=sub, reason="wrong_type")
        return [_geometry(obj["geometry"], field=sub, budget=budget)]
    return [_geometry(obj, field=field, budget=budget)]


def _geometry(obj: Any, *, field: str, budget: _VertexBudget) -> Polygonal:
    kind = _type_of(obj, field=field)
    coords_field = _join(field, ".coordinates")
    coordinates = obj.get("coordinates")
    if kind == "Polygon":
        rings = _rings(coordinates, field=coords_field, budget=budget)
        geometry: Polygonal = Polygon(rings[0], rings[1:])
    elif kind == "MultiPolygon":
        if not isinstance(coordinates, list) or not coordinates:
            raise AreaError(
                f"{coords_field} must be a non-empty array of polygons",
                field=coords_field,
                reason="wrong_type",
            )
        polygons = []
        for i, polygon in enumerate(coordinates):
            rings = _rings(polygon, field=f"{coords_field}[{i}]", budget=budget)
            polygons.append(Polygon(rings[0], rings[1:]))
        geometry = MultiPolygon(polygons)
    else:
        raise AreaError(
            f"{field or 'the area'} has type {kind}: expected Polygon or MultiPolygon "
            "(or a Feature / FeatureCollection of them)",
            field=_join(field, ".type"),
            reason="wrong_type",
        )
    if not shapely.is_valid(geometry):
        raise AreaError(
            f"{field or 'the area'} is not a valid polygon: {shapely.is_valid_reason(geometry)}",
            field=coords_field,
            reason="invalid_geometry",
        )
    return geometry


def _rings(polygon: Any, *, field: str, budget: _VertexBudget) -> list[list[tuple[float, float]]]:
    if not isinstance(polygon, list) or not polygon:
        raise AreaError(
            f"{field} must be a non-empty array of linear rings", field=field, reason="wrong_type"
        )
    return [_ring(ring, field=f"{field}[{i}]", budget=budget) for i, ring in enumerate(polygon)]


def _ring(ring: Any, *, field: str, budget: _VertexBudget) -> list[tuple[float, float]]:
    if not isinstance(ring, list):
        raise AreaError(
            f"{field} must be an array of positions, got {_json_type(ring)}",
            field=field,
            reason="wrong_type",
        )
    budget.take(len(ring), field=field)
    if len(ring) < 4:
        raise AreaError(
            f"{field} has {len(ring)} positions: a linear ring needs at least 4 "
            "(the first repeated as the last)",
            field=field,
            reason="too_few_positions",
        )
    points = [_position(p, field=f"{field}[{i}]") for i, p in enumerate(ring)]
    if points[0] != points[-1]:
        raise AreaError(
            f"{field} is not closed: the first position {list(points[0])} differs from "
            f"the last {list(points[-1])}",
            field=field,
            reason="ring_not_closed",
        )
    return points


def _position(position: Any, *, field: str) -> tuple[float, float]:
    if (
        not isinstance(position, Sequence)
        or isinstance(position, str)
        or not 2 <= len(position) <= 3
    ):
        raise AreaError(
            f"{field} must be a position [lon, lat], got {_show(position)}",
            field=field,
            reason="bad_coordinate",
        )
    lon, lat = position[0], position[1]
    for value in (lon, lat):
        # bool is an int in Python, but true/false are no coordinates
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise AreaError(
                f"{field} must hold finite numbers, got {_show(position)}",
                field=field,
                reason="bad_coordinate",
            )
    if not -180.0 <= lon <= 180.0 or not -90.0 <= lat <= 90.0:
        raise AreaError(
            f"{field} [{lon}, {lat}] is out of range: longitude must be within −180..180 and "
            "latitude within −90..90 (GeoJSON order is [lon, lat])",
            field=field,
            reason="out_of_bounds",
        )
    return (float(lon), float(lat))


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, Mapping) else type(value).__name__


def _show(value: Any) -> str:
    """A short JSON-ish rendering of a bad value for an error message."""
    try:
        text = json.dumps(value, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
