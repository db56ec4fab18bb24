"""Which subscribers are inside a broadcast's target: vectorised point-in-polygon.

Subscribers come as numpy arrays of lon and lat (one entry per subscriber); a target is a
list of zone geometries and/or an ad-hoc area. Nothing here loops per point.

For a few points, each target geometry is prepared once, a numpy bounding-box test keeps
only the points that can be inside it, and ``shapely.intersects_xy`` tests those in C.
For many points a grid over the points does most of the work: an STRtree pairs its cells
with the geometries whose boxes touch them, cells that lie wholly inside a geometry (or
touch none) decide all their points at once, and only points in cells crossed by a
boundary — a few percent — are tested one by one in GEOS.

Points on a boundary count as inside: a resident on the line between two zones is alerted
by both rather than by neither.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from shapely.geometry.base import BaseGeometry

#: From this many points on, the grid is used (below it, its set-up costs more than it saves).
GRID_MIN_POINTS = 4096
_POINTS_PER_CELL = 128  # with ~64 points per cell, classifying cells stays cheap
_MAX_CELLS_PER_SIDE = 256

IntArray = NDArray[np.intp]


def target_mask(
    lons: ArrayLike,
    lats: ArrayLike,
    *,
    geometries: Sequence[BaseGeometry] = (),
    area: BaseGeometry | None = None,
) -> NDArray[np.bool_]:
    """True for each point inside (or on the boundary of) any of ``geometries`` or ``area``."""
    x, y = _coords(lons, lats)
    targets = _targets([*geometries, *([area] if area is not None else [])])
    if x.size < max(GRID_MIN_POINTS, 1) or not targets:
        mask = np.zeros(x.shape[0], dtype=bool)
        for geometry in targets:
            candidates = _in_box(x, y, geometry.bounds)
            todo = candidates[~mask[candidates]]  # a point already in is not tested again
            if todo.size:
                mask[todo] = shapely.intersects_xy(geometry, x[todo], y[todo])
        return mask

    grid = _Grid(x, y, targets)
    mask = grid.cell_any_inside[grid.cell]
    for index, geometry in enumerate(targets):
        todo = grid.unresolved_points(index)
        todo = todo[~mask[todo]]
        if todo.size:
            mask[todo] = shapely.intersects_xy(geometry, x[todo], y[todo])
    return mask


def target_indices(
    lons: ArrayLike,
    lats: ArrayLike,
    *,
    geometries: Sequence[BaseGeometry] = (),
    area: BaseGeometry | None = None,
) -> IntArray:
    """Positions (ascending) of the points inside the target; see :func:`target_mask`."""
    return np.flatnonzero(target_mask(lons, lats, geometries=geometries, area=area))


def assign(lons: ArrayLike, lats: ArrayLike, geometries: Sequence[BaseGeometry]) -> IntArray:
    """For each point the index of the first geometry (in the given order) containing it, or −1.

    Order sets the precedence where geometries overlap; :meth:`geo.zones.ZoneSet.zones_of`
    passes zones smallest first. Empty geometries never match.
    """
    x, y = _coords(lons, lats)
    geometries = list(geometries)
    usable = [i for i, g in enumerate(geometries) if not g.is_empty]
    targets = _private([geometries[i] for i in usable])
    if x.size < max(GRID_MIN_POINTS, 1) or not usable:
        result = np.full(x.shape[0], -1, dtype=np.intp)
        for index, geometry in zip(usable, targets, strict=True):
            candidates = _in_box(x, y, geometry.bounds)
            todo = candidates[result[candidates] < 0]  # earlier geometries take precedence
            if todo.size:
                result[todo[shapely.intersects_xy(geometry, x[todo], y[todo])]] = index
        return result

    grid = _Grid(x, y, targets)
    # cell_first_inside holds positions in ``targets`` (−1: undecided); map them to indices
    to_index = np.array([*usable, -1], dtype=np.intp)
    result = to_index[grid.cell_first_inside[grid.cell]]
    for position, geometry in enumerate(targets):
        todo = grid.unresolved_points(position)
        todo = todo[result[todo] < 0]
        if todo.size:
            result[todo[shapely.intersects_xy(geometry, x[todo], y[todo])]] = usable[position]
    return result


# -- internals -------------------------------------------------------------------------


class _Grid:
    """A grid over the points' extent, its cells classified against the target geometries.

    A cell is *resolved* when its points need no test: it touches no geometry, or (for a
    mask) some geometry contains it entirely, or (for an assignment) the first geometry
    touching it contains it entirely. Cell boxes are padded slightly, so that rounding
    in the cell arithmetic can only make a cell unresolved, never wrongly resolved.
    """

    def __init__(
        self, x: NDArray[np.float64], y: NDArray[np.float64], geometries: list[BaseGeometry]
    ) -> None:
        finite = np.isfinite(x) & np.isfinite(y)
        side = int(np.clip(np.sqrt(x.size / _POINTS_PER_CELL), 1, _MAX_CELLS_PER_SIDE))
        cells = side * side
        if finite.all():
            x0, x1, y0, y1 = x.min(), x.max(), y.min(), y.max()
            fx, fy = x, y
        elif finite.any():
            x0, x1, y0, y1 = x[finite].min(), x[finite].max(), y[finite].min(), y[finite].max()
            fx, fy = np.where(finite, x, x0), np.where(finite, y, y0)  # NaN cannot be cast
        else:
            x0 = x1 = y0 = y1 = 0.0
            fx, fy = np.zeros_like(x), np.zeros_like(y)
        width = max(float(x1 - x0), 1e-9) / side
        height = max(float(y1 - y0), 1e-9) / side
        col = np.minimum(((fx - x0) * (1.0 / width)).astype(np.intp), side - 1)
        row = np.minimum(((fy - y0) * (1.0 / height)).astype(np.intp), side - 1)
        cell = row * side + col
        if not finite.all():
            cell[~finite] = cells  # an extra cell that touches nothing
        self.cell: IntArray = cell

        rows, cols = np.divmod(np.arange(cells), side)
        pad_x, pad_y = 1e-7 * width + 1e-12, 1e-7 * height + 1e-12
        boxes = shapely.box(
            x0 + cols * width - pad_x,
            y0 + rows * height - pad_y,
            x0 + (cols + 1) * width + pad_x,
            y0 + (rows + 1) * height + pad_y,
        )
        tree = shapely.STRtree(geometries)
        pair_cell, pair_geom = tree.query(boxes, predicate="intersects")
        order = np.lexsort((pair_geom, pair_cell))  # by cell, then by precedence
        pair_cell, pair_geom = pair_cell[order], pair_geom[order]
        geometry_array = np.empty(len(geometries), dtype=object)
        geometry_array[:] = geometries
        inside = shapely.contains_properly(geometry_array[pair_geom], boxes[pair_cell])

        # one spare entry at the end for non-finite points
        self.cell_any_inside = np.zeros(cells + 1, dtype=bool)
        self.cell_any_inside[pair_cell[inside]] = True
        self.cell_first_inside = np.full(cells + 1, -1, dtype=np.intp)
        touched, first_pair = np.unique(pair_cell, return_index=True)
        first_ok = inside[first_pair]
        self.cell_first_inside[touched[first_ok]] = pair_geom[first_pair[first_ok]]

        # points in cells that only a per-point test can decide, grouped by cell
        undecided_cell = np.zeros(cells + 1, dtype=bool)
        undecided_cell[touched] = True
        undecided_cell[touched[first_ok]] = False
        points = np.flatnonzero(undecided_cell[cell])
        by_cell = np.argsort(cell[points], kind="stable")
        self._points = points[by_cell]
        self._starts = np.searchsorted(cell[self._points], np.arange(cells + 1))
        self._undecided_cell = undecided_cell
        self._pair_cell, self._pair_geom = pair_cell, pair_geom

    def unresolved_points(self, geometry: int) -> IntArray:
        """Points in the undecided cells that ``geometry`` touches (unsorted)."""
        cells = self._pair_cell[self._pair_geom == geometry]
        cells = cells[self._undecided_cell[cells]]
        lo, hi = self._starts[cells], self._starts[cells + 1]
        counts = hi - lo
        total = int(counts.sum())
        if total == 0:
            return np.empty(0, dtype=np.intp)
        # concatenate the ranges lo[i]:hi[i] without a Python loop per cell
        offsets = np.repeat(lo - (np.cumsum(counts) - counts), counts)
        return self._points[offsets + np.arange(total)]


def _coords(lons: ArrayLike, lats: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    x = np.ascontiguousarray(lons, dtype=np.float64).reshape(-1)
    y = np.ascontiguousarray(lats, dtype=np.float64).reshape(-1)
    if x.shape != y.shape:
        raise ValueError(f"lons and lats differ in length: {x.shape[0]} and {y.shape[0]}")
    return x, y


def _targets(geometries: Sequence[BaseGeometry]) -> list[BaseGeometry]:
    return _private([g for g in geometries if not g.is_empty])


def _private(geometries: Sequence[BaseGeometry]) -> list[BaseGeometry]:
    """Prepared copies of ``geometries`` for this call only.

    GEOS builds a prepared geometry's indexes lazily and without locks, so two threads
    targeting with the same shared zone could race; copying (an exact WKB round trip,
    microseconds for zone-sized polygons) keeps every call's prepared state its own and
    leaves the caller's geometries untouched.
    """
    if not geometries:
        return []
    copies = shapely.from_wkb(shapely.to_wkb(np.array(geometries, dtype=object)))
    shapely.prepare(copies)
    return list(copies)


def _in_box(
    x: NDArray[np.float64], y: NDArray[np.float64], bounds: tuple[float, float, float, float]
) -> IntArray:
    min_x, min_y, max_x, max_y = bounds
    return np.flatnonzero((x >= min_x) & (x <= max_x) & (y >= min_y) & (y <= max_y))
