"""Vectorised targeting must agree with a plain per-point shapely check."""

import numpy as np
import pytest
import shapely
from shapely.geometry import Point, Polygon

from geo import targeting
from geo.projection import buffer_metres
from geo.targeting import assign, target_indices, target_mask


def random_points(n: int, seed: int = 42) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    # a box a little larger than the island, so many points are outside every zone
    return rng.uniform(113.46, 113.58, n), rng.uniform(22.06, 22.17, n)


def brute_force(lons, lats, geometries) -> np.ndarray:
    return np.array(
        [
            any(g.intersects(Point(x, y)) for g in geometries)
            for x, y in zip(lons, lats, strict=True)
        ]
    )


def test_communities_match_per_point_loop_on_20000_points(zones, path):
    lons, lats = random_points(20_000)
    geometries = [z.geometry for z in zones.of_kind("community")]
    mask = target_mask(lons, lats, geometries=geometries)
    expected = brute_force(lons, lats, geometries)
    assert mask.dtype == bool and mask.shape == (20_000,)
    assert 0.3 < expected.mean() < 0.9  # the sample has points both in and out
    np.testing.assert_array_equal(mask, expected)
    np.testing.assert_array_equal(
        target_indices(lons, lats, geometries=geometries), np.flatnonzero(expected)
    )


def test_zones_plus_ad_hoc_area_match_per_point_loop(zones, path):
    lons, lats = random_points(20_000, seed=3)
    port = zones["hengqin_port"].geometry
    area = Polygon(
        [(113.49, 22.08), (113.52, 22.08), (113.52, 22.10), (113.49, 22.10), (113.49, 22.08)]
    )
    mask = target_mask(lons, lats, geometries=[port], area=area)
    np.testing.assert_array_equal(mask, brute_force(lons, lats, [port, area]))
    only_area = target_mask(lons, lats, area=area)
    np.testing.assert_array_equal(only_area, brute_force(lons, lats, [area]))


@pytest.fixture(params=["simple", "grid"])
def path(request, monkeypatch):
    """Run a test through the plain bounding-box path and through the grid path."""
    monkeypatch.setattr(targeting, "GRID_MIN_POINTS", 10**12 if request.param == "simple" else 0)
    return request.param


def discs(count: int, seed: int) -> list:
    rng = np.random.default_rng(seed)
    centres = rng.uniform([113.47, 22.07], [113.57, 22.16], size=(count, 2))
    radii = rng.uniform(100, 900, count)
    return [buffer_metres(Point(x, y), float(r)) for (x, y), r in zip(centres, radii, strict=True)]


def test_many_overlapping_geometries_match_shapely(path):
    geometries = discs(60, seed=11)
    donut = buffer_metres(Point(113.52, 22.12), 3000).difference(
        buffer_metres(Point(113.52, 22.12), 1500)
    )
    pair = shapely.union_all(discs(2, seed=12))
    geometries[10:10] = [donut, pair]  # a hole and a multi-part target, mid-way in the order
    assert len(donut.interiors) == 1
    lons, lats = random_points(20_000, seed=5)
    lons[:3], lats[3:6] = np.nan, np.inf  # never inside anything, and must not upset the grid
    points = shapely.points(lons, lats)
    hits = np.array([shapely.intersects(g, points) for g in geometries])
    assert hits.any(axis=0).sum() > 100 and (hits.sum(axis=0) > 1).sum() > 10  # real overlaps

    np.testing.assert_array_equal(target_mask(lons, lats, geometries=geometries), hits.any(axis=0))
    # the first geometry containing the point wins
    first = np.where(hits.any(axis=0), hits.argmax(axis=0), -1)
    np.testing.assert_array_equal(assign(lons, lats, geometries), first)


def test_grid_is_exact_on_boundaries_and_vertices(zones, path):
    # points exactly on every vertex and edge midpoint of the zones, mixed with random ones
    coords = np.concatenate([np.array(z.geometry.exterior.coords) for z in zones])
    mids = (coords[:-1] + coords[1:]) / 2
    lons, lats = random_points(10_000, seed=21)
    lons = np.concatenate([coords[:, 0], mids[:, 0], lons])
    lats = np.concatenate([coords[:, 1], mids[:, 1], lats])
    geometries = [z.geometry for z in zones]
    expected = brute_force(lons, lats, geometries)
    assert expected[: coords.shape[0]].all()
    np.testing.assert_array_equal(target_mask(lons, lats, geometries=geometries), expected)


def test_clustered_and_identical_points(zones, path):
    lianhua = zones["lianhua"].geometry
    same = np.full(5000, 113.540), np.full(5000, 22.140)
    assert target_mask(*same, geometries=[lianhua]).all()
    assert list(assign(*same, [zones["fuxiangwan"].geometry, lianhua])) == [1] * 5000
    line = np.linspace(113.46, 113.58, 5000), np.full(5000, 22.14)  # no height at all
    expected = brute_force(*line, [lianhua])
    np.testing.assert_array_equal(target_mask(*line, geometries=[lianhua]), expected)


def test_assign_matches_per_point_loop(zones, path):
    lons, lats = random_points(20_000, seed=9)
    ordered = sorted(zones, key=lambda z: z.geometry.area)
    index = assign(lons, lats, [z.geometry for z in ordered])
    expected = []
    for x, y in zip(lons, lats, strict=True):
        p = Point(x, y)
        expected.append(next((i for i, z in enumerate(ordered) if z.geometry.intersects(p)), -1))
    np.testing.assert_array_equal(index, expected)


def test_zones_of_matches_per_point_loop(zones):
    lons, lats = random_points(5_000, seed=13)
    communities = zones.of_kind("community")
    expected = [
        next((z.id for z in communities if z.geometry.intersects(Point(x, y))), None)
        for x, y in zip(lons, lats, strict=True)
    ]
    assert list(zones.zones_of(lons, lats)) == expected


def test_boundary_points_are_targeted_by_both_neighbours(zones):
    corner = (np.array([113.530]), np.array([22.131]))  # shared by three communities
    for zone_id in ("lianhua", "xinjiayuan", "xiaohengqin"):
        assert target_mask(*corner, geometries=[zones[zone_id].geometry])[0], zone_id


def test_edge_cases(zones, path):
    lianhua = zones["lianhua"].geometry
    assert target_mask([], [], geometries=[lianhua]).shape == (0,)
    assert not target_mask([113.54], [22.14]).any()  # no target: nobody
    nan_and_inf = target_mask(
        [np.nan, np.inf, 113.54], [22.14, 22.14, np.nan], geometries=[lianhua]
    )
    assert not nan_and_inf.any()
    assert target_mask([113.54], [22.14], geometries=[Polygon()], area=lianhua)[0]
    with pytest.raises(ValueError, match="differ in length"):
        target_mask([1.0, 2.0], [1.0], geometries=[lianhua])
    assert list(assign([113.54, 0.0], [22.14, 0.0], [])) == [-1, -1]


def test_shared_geometries_are_left_unprepared(zones, path):
    lons, lats = random_points(5_000, seed=17)
    area = Polygon([(113.49, 22.08), (113.52, 22.08), (113.52, 22.10), (113.49, 22.08)])
    target_mask(lons, lats, geometries=[zones["lianhua"].geometry], area=area)
    zones.zones_of(lons, lats)
    zones.containing(113.54, 22.14)
    for lon, lat in zip(lons[:50], lats[:50], strict=True):
        zones.zone_of(lon, lat, kinds=None)
    assert not shapely.is_prepared(area)
    assert not any(shapely.is_prepared(z.geometry) for z in zones)


def test_concurrent_targeting_from_threads_agrees(zones):
    from concurrent.futures import ThreadPoolExecutor

    lons, lats = random_points(200_000, seed=19)
    geometries = [z.geometry for z in zones]
    expected_mask = target_mask(lons, lats, geometries=geometries)
    expected_ids = zones.zones_of(lons, lats, kinds=None)

    def work(i: int) -> bool:
        if i % 2:
            return bool(
                np.array_equal(target_mask(lons, lats, geometries=geometries), expected_mask)
            )
        return bool(np.array_equal(zones.zones_of(lons, lats, kinds=None), expected_ids))

    with ThreadPoolExecutor(4) as pool:
        assert all(pool.map(work, range(16)))
