"""Shelters and the nearest one that is open and has room.

A shelter is a point with a capacity; its occupancy and open flag change during a storm
and are kept by the application, which hands the current :class:`Shelter` values in.
Distances are great-circle (haversine on the mean Earth radius, within ~0.5 % of the
geodesic), computed with numpy for all shelters — or all people × shelters — at once.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

EARTH_RADIUS_M = 6_371_008.8  # mean radius (IUGG)
_LANGUAGES = ("zh-Hans", "zh-Hant", "pt", "en")
_CHUNK = 65_536  # rows per block when many points meet many shelters, to bound memory


class ShelterError(ValueError):
    """A shelters file or feature that cannot be used."""


@dataclass(frozen=True, slots=True, eq=False)
class Shelter:
    id: str
    name: Mapping[str, str]
    lon: float
    lat: float
    capacity: int
    occupancy: int = 0
    is_open: bool = True
    properties: Mapping[str, Any] = field(default_factory=dict)

    @property
    def room(self) -> int:
        """Places left (never negative, even when over-full)."""
        return max(self.capacity - self.occupancy, 0)

    def can_take(self, people: int = 1) -> bool:
        return self.is_open and self.room >= people


@dataclass(frozen=True, slots=True)
class ShelterMatch:
    shelter: Shelter
    distance_m: float


def haversine_m(
    lon1: ArrayLike, lat1: ArrayLike, lon2: ArrayLike, lat2: ArrayLike
) -> NDArray[np.float64]:
    """Great-circle distance in metres, element-wise with numpy broadcasting (lon, lat order)."""
    lon1, lat1, lon2, lat2 = (
        np.radians(np.asarray(v, dtype=np.float64)) for v in (lon1, lat1, lon2, lat2)
    )
    a = (
        np.sin((lat2 - lat1) / 2) ** 2
        + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    )
    distance: NDArray[np.float64] = 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))
    return distance


def nearest_shelters(
    *, lon: float, lat: float, shelters: Sequence[Shelter], people: int = 1, limit: int = 3
) -> list[ShelterMatch]:
    """Up to ``limit`` open shelters with room for ``people``, nearest first."""
    available = [s for s in shelters if s.can_take(people)]
    if not available:
        return []
    distances = haversine_m(
        lon, lat, np.array([s.lon for s in available]), np.array([s.lat for s in available])
    )
    order = np.argsort(distances, kind="stable")[:limit]
    return [ShelterMatch(available[i], float(distances[i])) for i in order]


def nearest_shelter(
    *, lon: float, lat: float, shelters: Sequence[Shelter], people: int = 1
) -> ShelterMatch | None:
    """The nearest open shelter with room for ``people``, or None when there is none."""
    matches = nearest_shelters(lon=lon, lat=lat, shelters=shelters, people=people, limit=1)
    return matches[0] if matches else None


def nearest_shelter_indices(
    lons: ArrayLike, lats: ArrayLike, shelters: Sequence[Shelter], *, people: int = 1
) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
    """For many points: index into ``shelters`` of the nearest available one, and its distance.

    −1 and ``inf`` where no shelter is available. Each point is judged on the shelters'
    current room; places taken by earlier points in the same call are not deducted.
    """
    x = np.asarray(lons, dtype=np.float64).reshape(-1)
    y = np.asarray(lats, dtype=np.float64).reshape(-1)
    index = np.full(x.shape[0], -1, dtype=np.intp)
    distance = np.full(x.shape[0], np.inf)
    available = np.flatnonzero([s.can_take(people) for s in shelters])
    if available.size == 0 or x.size == 0:
        return index, distance
    s_lon = np.array([shelters[int(i)].lon for i in available])
    s_lat = np.array([shelters[int(i)].lat for i in available])
    for start in range(0, x.shape[0], _CHUNK):
        block = slice(start, start + _CHUNK)
        d = haversine_m(x[block, None], y[block, None], s_lon[None, :], s_lat[None, :])
        best = np.argmin(d, axis=1)
        index[block] = available[best]
        distance[block] = d[np.arange(best.shape[0]), best]
    return index, distance


def load_shelters(path: str | Path) -> list[Shelter]:
    """Shelters from a GeoJSON FeatureCollection of Points (``config/zones/shelters.geojson``).

    Each feature needs ``id``, ``name`` (zh-Hans, zh-Hant, pt, en) and ``capacity``;
    ``occupancy`` (default 0) and ``open`` (default true) are optional.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ShelterError(f"{path}: cannot read shelters: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("features"), list):
        raise ShelterError(f"{path}: expected a GeoJSON FeatureCollection")
    shelters = [_shelter(f, where=f"{path}: feature #{i}") for i, f in enumerate(data["features"])]
    seen: set[str] = set()
    for shelter in shelters:
        if shelter.id in seen:
            raise ShelterError(f"{path}: duplicate shelter id {shelter.id!r}")
        seen.add(shelter.id)
    return shelters


def _shelter(feature: Any, *, where: str) -> Shelter:
    if not isinstance(feature, dict) or not isinstance(feature.get("properties"), dict):
        raise ShelterError(f"{where}: expected a Feature with properties")
    props = feature["properties"]
    shelter_id = props.get("id")
    if not isinstance(shelter_id, str) or not shelter_id:
        raise ShelterError(f"{where}: missing 'id'")
    where = f"{where} (id {shelter_id!r})"
    name = props.get("name")
    if not isinstance(name, dict) or any(not name.get(lang) for lang in _LANGUAGES):
        raise ShelterError(f"{where}: 'name' must give {', '.join(_LANGUAGES)}")
    geometry = feature.get("geometry") or {}
    coords = geometry.get("coordinates") if isinstance(geometry, dict) else None
    if (
        not isinstance(geometry, dict)
        or geometry.get("type") != "Point"
        or not isinstance(coords, list)
        or len(coords) < 2
        or not all(
            isinstance(c, int | float) and not isinstance(c, bool) and math.isfinite(c)
            for c in coords[:2]
        )
        or not (-180 <= coords[0] <= 180 and -90 <= coords[1] <= 90)
    ):
        raise ShelterError(f"{where}: geometry must be a Point [lon, lat]")
    capacity, occupancy = props.get("capacity"), props.get("occupancy", 0)
    for label, value in (("capacity", capacity), ("occupancy", occupancy)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ShelterError(f"{where}: '{label}' must be a whole number ≥ 0, got {value!r}")
    is_open = props.get("open", True)
    if not isinstance(is_open, bool):
        raise ShelterError(f"{where}: 'open' must be true or false")
    extra = {
        k: v for k, v in props.items() if k not in ("id", "name", "capacity", "occupancy", "open")
    }
    return Shelter(
        id=shelter_id,
        name=MappingProxyType(dict(name)),
        lon=float(coords[0]),
        lat=float(coords[1]),
        capacity=capacity,
        occupancy=occupancy,
        is_open=is_open,
        properties=MappingProxyType(extra),
    )
