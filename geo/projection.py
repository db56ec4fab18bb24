"""Metric operations on WGS 84 geometries: buffers in metres, distances, areas.

Shapely works in the units of its coordinates, which for us are degrees; a degree of
longitude is ~103 km at Hengqin but a degree of latitude ~111 km, so nothing metric may be
done on raw lon/lat. Areas and distances here are geodesic (pyproj.Geod on the WGS 84
ellipsoid); buffers are drawn in an azimuthal equidistant projection centred on the shape,
which keeps distances from the centre true wherever the shape is. UTM zone 49N, the
standard metric grid for Hengqin and Macau, is offered for callers that want planar maths.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from pyproj import CRS, Geod, Transformer
from shapely.geometry.base import BaseGeometry

WGS84 = "EPSG:4326"
UTM_49N = "EPSG:32649"

_GEOD = Geod(ellps="WGS84")


def area_m2(geometry: BaseGeometry) -> float:
    """Geodesic area in square metres of a lon/lat (Multi)Polygon; 0 for other types."""
    area, _perimeter = _GEOD.geometry_area_perimeter(geometry)
    return abs(area)  # the sign only tells the ring orientation


def distance_metres(
    *,
    from_lon: float | ArrayLike,
    from_lat: float | ArrayLike,
    to_lon: float | ArrayLike,
    to_lat: float | ArrayLike,
) -> float | NDArray[np.float64]:
    """Geodesic distance(s) in metres; scalars give a float, arrays broadcast element-wise.

    Keyword-only because swapping lon and lat is the classic silent bug.
    """
    lon1, lat1, lon2, lat2 = np.broadcast_arrays(
        *(np.asarray(v, dtype=np.float64) for v in (from_lon, from_lat, to_lon, to_lat))
    )
    _az12, _az21, dist = _GEOD.inv(lon1, lat1, lon2, lat2)
    dist = np.asarray(dist, dtype=np.float64)
    return float(dist) if dist.ndim == 0 else dist


def buffer_metres(geometry: BaseGeometry, metres: float, *, quad_segs: int = 16) -> BaseGeometry:
    """``geometry`` grown (or, for a negative distance, shrunk) by ``metres``, in lon/lat.

    A buffer of 1 km around a point is a ~3.14 km² disc. Works for any geometry type.
    """
    if geometry.is_empty:
        return geometry
    centre = geometry.centroid
    to_local, to_wgs84 = _aeqd(round(centre.x, 4), round(centre.y, 4))
    local = _transform(geometry, to_local)
    grown = shapely.buffer(local, metres, quad_segs=quad_segs)
    return _transform(grown, to_wgs84)


def to_utm49n(geometry: BaseGeometry) -> BaseGeometry:
    """A lon/lat geometry in UTM zone 49N metres (EPSG:32649)."""
    return _transform(geometry, _transformer(WGS84, UTM_49N))


def from_utm49n(geometry: BaseGeometry) -> BaseGeometry:
    """A UTM zone 49N geometry back in lon/lat (WGS 84)."""
    return _transform(geometry, _transformer(UTM_49N, WGS84))


def _transform(geometry: BaseGeometry, transformer: Transformer) -> BaseGeometry:
    # one vectorised call over all coordinates, instead of shapely.ops.transform's per-part calls
    def project(coords: NDArray[np.float64]) -> NDArray[np.float64]:
        x, y = transformer.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geometry, project)


@lru_cache(maxsize=16)
def _transformer(source: str, target: str) -> Transformer:
    return Transformer.from_crs(source, target, always_xy=True)


@lru_cache(maxsize=256)  # centres are rounded to ~10 m, so nearby shapes share a projection
def _aeqd(lon: float, lat: float) -> tuple[Transformer, Transformer]:
    local = CRS.from_proj4(f"+proj=aeqd +lat_0={lat} +lon_0={lon} +datum=WGS84 +units=m +no_defs")
    return (
        Transformer.from_crs(WGS84, local, always_xy=True),
        Transformer.from_crs(local, WGS84, always_xy=True),
    )
