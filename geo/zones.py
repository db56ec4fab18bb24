"""Named zones (communities, the port, shelter catchments, …) loaded from GeoJSON files.

:func:`load_zones` reads every ``*.geojson`` FeatureCollection in a folder (by default
skipping ``shelters.geojson``, which holds points, see :mod:`geo.shelters`) into
:class:`Zone` objects and a :class:`ZoneSet`; anything wrong stops the load with a
:class:`ZoneError` naming the file, the feature and the problem, so a bad edit to the
zone files is caught at start-up rather than when a typhoon alert is being targeted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from shapely.geometry import MultiPolygon, Polygon

from geo import targeting
from geo.areas import AreaError, polygon_from_coordinates
from geo.projection import area_m2

#: The languages every zone name must be given in.
LANGUAGES: tuple[str, ...] = ("zh-Hans", "zh-Hant", "pt", "en")
#: Files in the zones folder that are not zones.
SHELTERS_FILE = "shelters.geojson"
COMMUNITY = "community"

_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class ZoneError(ValueError):
    """A zone file or feature that cannot be used, or an unknown zone id."""

    def __init__(
        self,
        problem: str,
        *,
        file: str | Path | None = None,
        feature: int | None = None,
        zone_id: str | None = None,
    ) -> None:
        where = []
        if file is not None:
            where.append(str(file))
        if feature is not None:
            where.append(f"feature #{feature}" + (f" (id {zone_id!r})" if zone_id else ""))
        elif zone_id:
            where.append(f"zone {zone_id!r}")
        super().__init__(": ".join([*where, problem]))
        self.problem = problem
        self.file = file
        self.feature = feature
        self.zone_id = zone_id


class UnknownZoneError(ZoneError, KeyError):
    """Zone ids that are not in the set (a KeyError too, for ``zones[id]``)."""

    def __init__(self, ids: Sequence[str]) -> None:
        super().__init__(f"unknown zone id(s): {', '.join(repr(i) for i in ids)}")
        self.ids = list(ids)

    def __str__(self) -> str:  # KeyError would otherwise quote the whole message
        return self.problem


@dataclass(frozen=True, slots=True, eq=False)  # identity equality: geometries are large
class Zone:
    """One named area. ``geometry`` is a valid lon/lat Polygon or MultiPolygon.

    Zones are shared between threads: leave ``geometry`` unprepared (``shapely.prepare``
    and the ``*_xy`` predicates prepare in place, which GEOS does not make thread-safe);
    :mod:`geo.targeting` works on private prepared copies.
    """

    id: str
    name: Mapping[str, str]
    kind: str
    geometry: Polygon | MultiPolygon
    properties: Mapping[str, Any] = field(default_factory=dict)
    source: Path | None = None

    def label(self, language: str = "en") -> str:
        """The name in ``language``, falling back to English, then the id."""
        return self.name.get(language) or self.name.get("en") or self.id

    @property
    def approximate(self) -> bool:
        return bool(self.properties.get("approximate", False))


_Asked = tuple[float, float, tuple[str, ...] | None]


class ZoneSet:
    """An immutable collection of zones with unique ids, looked up by id or by location."""

    def __init__(self, zones: Iterable[Zone]) -> None:
        by_id: dict[str, Zone] = {}
        for zone in zones:
            if zone.id in by_id:
                first = by_id[zone.id].source
                raise ZoneError(
                    f"duplicate zone id (also defined in {first})"
                    if first
                    else "duplicate zone id",
                    file=zone.source,
                    zone_id=zone.id,
                )
            by_id[zone.id] = zone
        self._by_id = MappingProxyType(by_id)
        # zone_of's last question and answer: a field report asks for its point's zone, then
        # its hazard (movement, trip) for the same point's (issue 18)
        self._last_asked: tuple[_Asked, str | None] | None = None

    # -- lookup by id --------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[Zone]:
        return iter(self._by_id.values())

    def __contains__(self, zone_id: object) -> bool:
        return zone_id in self._by_id

    def __getitem__(self, zone_id: str) -> Zone:
        try:
            return self._by_id[zone_id]
        except KeyError:
            raise UnknownZoneError([zone_id]) from None

    def get(self, zone_id: str) -> Zone | None:
        return self._by_id.get(zone_id)

    @property
    def ids(self) -> list[str]:
        return list(self._by_id)

    def of_kind(self, *kinds: str) -> list[Zone]:
        return [z for z in self._by_id.values() if z.kind in kinds]

    def require(self, zone_ids: Iterable[str]) -> list[Zone]:
        """The zones for ``zone_ids``, or an :class:`UnknownZoneError` naming every unknown one."""
        ids = list(dict.fromkeys(zone_ids))  # keep order, drop repeats
        unknown = [i for i in ids if i not in self._by_id]
        if unknown:
            raise UnknownZoneError(unknown)
        return [self._by_id[i] for i in ids]

    def geometries(self, zone_ids: Iterable[str]) -> list[Polygon | MultiPolygon]:
        """Geometries for :func:`geo.targeting.target_mask`, checked like :meth:`require`."""
        return [z.geometry for z in self.require(zone_ids)]

    # -- lookup by location --------------------------------------------------------------

    def containing(self, lon: float, lat: float) -> list[Zone]:
        """Every zone that contains (or has on its boundary) the point, smallest first."""
        zones = self._smallest_first
        # plain (unprepared) predicates: they leave the shared geometries as they are
        hits = shapely.intersects([z.geometry for z in zones], shapely.Point(lon, lat))
        return [zone for zone, hit in zip(zones, hits, strict=True) if hit]

    def zone_of(
        self, lon: float, lat: float, *, kinds: Sequence[str] | None = (COMMUNITY,)
    ) -> str | None:
        """The id of the zone a point belongs to, or None; see :meth:`zones_of` (the same
        answer, for one point: no arrays, no prepared copies, each zone's box checked first)."""
        if isinstance(kinds, str):
            kinds = (kinds,)
        x, y = float(lon), float(lat)
        asked = (x, y, None if kinds is None else tuple(kinds))
        last = self._last_asked  # one tuple, replaced whole: threads may share it
        if last is not None and last[0] == asked:
            return last[1]
        found = self._zone_of(x, y, kinds)
        self._last_asked = (asked, found)
        return found

    def _zone_of(self, x: float, y: float, kinds: Sequence[str] | None) -> str | None:
        point: shapely.Point | None = None
        for zone, (min_x, min_y, max_x, max_y) in self._boxes_smallest_first:
            if kinds is not None and zone.kind not in kinds:
                continue
            if not (min_x <= x <= max_x and min_y <= y <= max_y):
                continue
            # plain (unprepared) predicate: it leaves the shared geometry as it is
            # (intersects_xy would prepare it in place, which threads must not share)
            point = point or shapely.Point(x, y)
            if shapely.intersects(zone.geometry, point):
                return zone.id
        return None

    def zones_of(
        self, lons: ArrayLike, lats: ArrayLike, *, kinds: Sequence[str] | None = (COMMUNITY,)
    ) -> NDArray[np.object_]:
        """The zone id of each point (None outside all), vectorised; for storing subscribers.

        By default only communities, which partition the island, so each resident has one
        home community; ``kinds=None`` considers every zone. Where zones overlap the
        smallest wins, being the most specific. Targeting a broadcast should not rely on
        these ids but test the zones' geometries (:func:`geo.targeting.target_mask`).
        """
        if isinstance(kinds, str):  # kinds="community" must not match by substring
            kinds = (kinds,)
        candidates = [z for z in self._smallest_first if kinds is None or z.kind in kinds]
        index = targeting.assign(lons, lats, [z.geometry for z in candidates])
        ids = np.array([z.id for z in candidates] + [None], dtype=object)
        return ids[index]  # index −1 picks the trailing None

    @cached_property
    def _boxes_smallest_first(self) -> list[tuple[Zone, tuple[float, float, float, float]]]:
        # an empty geometry's bounds are NaN: no point is ever inside its box
        return [(z, tuple(z.geometry.bounds)) for z in self._smallest_first]  # type: ignore[misc]

    @cached_property
    def _smallest_first(self) -> list[Zone]:
        return sorted(self._by_id.values(), key=lambda z: (area_m2(z.geometry), z.id))


def load_zones(directory: str | Path, *, skip: Iterable[str] = (SHELTERS_FILE,)) -> ZoneSet:
    """Load every ``*.geojson`` file in ``directory`` (sorted by name) into a :class:`ZoneSet`."""
    folder = Path(directory)
    if not folder.is_dir():
        raise ZoneError("zones folder not found", file=folder)
    skipped = set(skip)
    zones: list[Zone] = []
    for path in sorted(folder.glob("*.geojson")):
        if path.name not in skipped:
            zones.extend(load_zone_file(path))
    return ZoneSet(zones)


def load_zone_file(path: str | Path) -> list[Zone]:
    """The zones of one GeoJSON FeatureCollection file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ZoneError(
            f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}", file=path
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ZoneError(f"cannot read the file: {exc}", file=path) from exc
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise ZoneError("expected a GeoJSON FeatureCollection", file=path)
    features = data.get("features")
    if not isinstance(features, list):
        raise ZoneError("'features' must be an array", file=path)
    zones = [zone_from_feature(f, file=path, index=i) for i, f in enumerate(features)]
    ZoneSet(zones)  # duplicate ids within the file
    return zones


def zone_from_feature(
    feature: Any, *, file: str | Path | None = None, index: int | None = None
) -> Zone:
    """One :class:`Zone` from a GeoJSON Feature, checked."""

    def fail(problem: str, zone_id: str | None = None) -> ZoneError:
        return ZoneError(problem, file=file, feature=index, zone_id=zone_id)

    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        return_type = feature.get("type") if isinstance(feature, dict) else type(feature).__name__
        raise fail(f"expected a Feature, got {return_type}")
    props = feature.get("properties")
    if not isinstance(props, dict):
        raise fail("missing 'properties'")

    zone_id = props.get("id", feature.get("id"))
    if zone_id is None:
        raise fail("missing 'id' in properties")
    if not isinstance(zone_id, str) or not _ID.match(zone_id):
        raise fail(f"bad id {zone_id!r}: use a lowercase slug of a-z, 0-9, '_' or '-'")

    name = props.get("name")
    if name is None:
        raise fail("missing 'name' in properties", zone_id)
    if not isinstance(name, dict):
        raise fail(f"'name' must be an object with {', '.join(LANGUAGES)}", zone_id)
    missing = [
        lang for lang in LANGUAGES if not isinstance(name.get(lang), str) or not name[lang].strip()
    ]
    if missing:
        raise fail(f"'name' lacks language(s) {', '.join(missing)}", zone_id)

    kind = props.get("kind")
    if kind is None:
        raise fail("missing 'kind' in properties", zone_id)
    if not isinstance(kind, str) or not _ID.match(kind):
        raise fail(f"bad kind {kind!r}: use a lowercase word such as 'community'", zone_id)

    raw_geometry = feature.get("geometry")
    if raw_geometry is None:
        raise fail("missing geometry", zone_id)
    try:
        geometry = polygon_from_coordinates(raw_geometry, field="geometry", max_vertices=1_000_000)
    except AreaError as exc:
        raise fail(f"invalid geometry: {exc.message}", zone_id) from exc

    extra = {k: v for k, v in props.items() if k not in ("id", "name", "kind")}
    return Zone(
        id=zone_id,
        name=MappingProxyType({lang: name[lang] for lang in name}),
        kind=kind,
        geometry=geometry,
        properties=MappingProxyType(extra),
        source=Path(file) if file is not None else None,
    )
