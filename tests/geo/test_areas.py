"""``geo.areas.assign_points`` against GeoPandas and brute-force shapely distances.

The reference for points inside polygons is a GeoPandas spatial join
(``sjoin(predicate="intersects")``, then the lowest code per point); for
points in no polygon, the distance from the point to every polygon,
computed one pair at a time by shapely.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
import shapely

import geo.areaindex
from geo.areas import assign_points


def sjoin_lowest(layer: gpd.GeoDataFrame, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The lowest code of the polygons meeting each point (boundary included), else None."""
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(x, y), crs=layer.crs)
    joined = gpd.sjoin(points, layer[["code", "geometry"]], predicate="intersects", how="left")
    lowest = joined.groupby(level=0)["code"].min().reindex(points.index)
    return lowest.astype(object).where(lowest.notna(), None).to_numpy(dtype=object)


def same(a: npt.NDArray[np.object_], b: npt.NDArray[np.object_]) -> bool:
    return a.shape == b.shape and all(p == q for p, q in zip(a.tolist(), b.tolist(), strict=True))


def fresh(layer: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The same layer as new geometry objects (nothing cached or prepared)."""
    geoms = shapely.from_wkb(shapely.to_wkb(layer.geometry.to_numpy()))
    return gpd.GeoDataFrame({"code": layer["code"].to_numpy()}, geometry=geoms, crs=layer.crs)


def tiled_layer(rng: np.random.Generator) -> gpd.GeoDataFrame:
    """Unit squares tiling 12 x 10 (shared edges and corners), with overlapping extras:
    boxes, triangles, a box with a hole, multipolygons, an empty and a missing geometry."""
    geoms: list[shapely.Geometry | None] = [
        shapely.box(i, j, i + 1, j + 1) for i in range(12) for j in range(10)
    ]
    for _ in range(20):
        x0, y0 = rng.integers(-2, 12, 2)
        w, h = rng.integers(1, 6, 2)
        geoms.append(shapely.box(x0, y0, x0 + w, y0 + h))
        geoms.append(shapely.Polygon([(x0, y0), (x0 + w, y0), (x0, y0 + h)]))
    geoms.append(shapely.box(3, 3, 9, 8).difference(shapely.box(4, 4, 8, 7)))
    geoms.append(shapely.MultiPolygon([shapely.box(-3, -3, -2, -2), shapely.box(13, 11, 15, 14)]))
    geoms += [shapely.Polygon(), None]
    codes = np.array([f"A{k:03d}" for k in rng.permutation(len(geoms))], dtype=object)
    return gpd.GeoDataFrame({"code": codes}, geometry=gpd.GeoSeries(geoms), crs=27700)


def grid_points(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Points on integer and half-integer places (edges, corners), and random ones."""
    x = rng.integers(-4, 17, n) + rng.choice([0.0, 0.5, 0.25], n)
    y = rng.integers(-4, 16, n) + rng.choice([0.0, 0.5, 0.75], n)
    free = rng.random(n) < 0.3
    x[free] = rng.uniform(-4, 17, free.sum())
    y[free] = rng.uniform(-4, 16, free.sum())
    return x, y


def voronoi_layer(rng: np.random.Generator, n: int) -> gpd.GeoDataFrame:
    """``n`` Voronoi cells tiling a 6 x 5 km box (shared edges at float coordinates)."""
    seeds = shapely.multipoints(np.column_stack([rng.uniform(0, 6000, n), rng.uniform(0, 5000, n)]))
    frame = shapely.box(0, 0, 6000, 5000)
    cells = shapely.intersection(
        shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=frame)), frame
    )
    codes = np.array([f"E{k:05d}" for k in rng.permutation(n)], dtype=object)
    return gpd.GeoDataFrame({"code": codes}, geometry=cells, crs=27700)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_lowest_code_on_shared_edges_equals_sjoin(seed: int) -> None:
    rng = np.random.default_rng(seed)
    layer = tiled_layer(rng)
    x, y = grid_points(rng, 4000)
    got = assign_points(layer, x, y, tolerance_m=0)
    want = sjoin_lowest(layer, x, y)
    assert same(got, want)
    on_edge = (x == np.round(x)) & (y >= 0) & (y <= 10) & (x >= 0) & (x <= 12)
    assert on_edge.sum() > 100  # the shared edges are exercised
    assert 0 < sum(v is None for v in got) < x.size


def test_voronoi_tiling_with_points_on_shared_vertices_equals_sjoin() -> None:
    rng = np.random.default_rng(11)
    layer = voronoi_layer(rng, 400)
    corners = shapely.get_coordinates(layer.geometry.to_numpy())
    x = np.concatenate([rng.uniform(-100, 6100, 20_000), corners[:, 0]])
    y = np.concatenate([rng.uniform(-100, 5100, 20_000), corners[:, 1]])
    got = assign_points(layer, x, y, tolerance_m=0)
    assert same(got, sjoin_lowest(layer, x, y))
    # every vertex is held (by the lowest code of the cells sharing it, as sjoin says)
    assert all(v is not None for v in got[20_000:])


def test_chunks_and_a_coarse_grid_give_the_same_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(5)
    layer = voronoi_layer(rng, 300)
    x, y = rng.uniform(-50, 6050, 30_000), rng.uniform(-50, 5050, 30_000)
    want = sjoin_lowest(layer, x, y)
    assert same(assign_points(fresh(layer), x, y, tolerance_m=0), want)
    monkeypatch.setattr(geo.areaindex, "CHUNK_POINTS", 1000)
    monkeypatch.setattr(geo.areaindex, "ENTRIES_PER_POLYGON", 1)
    monkeypatch.setattr(geo.areaindex, "MAX_CELLS", 64)
    coarse = fresh(layer)
    assert same(assign_points(coarse, x, y, tolerance_m=0), want)


def test_nearest_polygon_within_tolerance_as_brute_force_distances() -> None:
    rng = np.random.default_rng(7)
    # islands with gaps between them, so many points are in none
    centres = rng.uniform(0, 5000, (60, 2))
    geoms = shapely.buffer(shapely.points(centres), rng.uniform(50, 250, 60), quad_segs=4)
    codes = np.array([f"N{k:02d}" for k in rng.permutation(60)], dtype=object)
    layer = gpd.GeoDataFrame({"code": codes}, geometry=geoms, crs=27700)
    x, y = rng.uniform(-300, 5300, 5000), rng.uniform(-300, 5300, 5000)
    tolerance = 120.0
    got = assign_points(layer, x, y, tolerance_m=tolerance)
    inside = sjoin_lowest(layer, x, y)
    points = shapely.points(x, y)
    dist = shapely.distance(points[:, None], geoms[None, :])  # every point to every polygon
    nearest = dist.min(axis=1)
    # the data leave no point near the tolerance, or equally near two polygons
    assert not np.any(np.abs(nearest - tolerance) < 1e-6)
    two = np.sort(dist, axis=1)[:, :2]
    outside = nearest > 0
    assert np.all(two[outside, 1] - two[outside, 0] > 1e-6)
    want = np.array(
        [
            inside[i]
            if inside[i] is not None
            else (codes[int(np.argmin(dist[i]))] if nearest[i] <= tolerance else None)
            for i in range(x.size)
        ],
        dtype=object,
    )
    assert same(got, want)
    snapped = (nearest > 0) & (nearest <= tolerance)
    assert snapped.sum() > 50 and (nearest > tolerance).sum() > 50
    # without a tolerance the same points are left out
    exact = assign_points(layer, x, y, tolerance_m=0)
    assert same(exact, inside)
    assert all(v is None for v in exact[snapped])


def test_duplicates_order_and_non_finite_points() -> None:
    rng = np.random.default_rng(3)
    layer = voronoi_layer(rng, 50)
    x, y = rng.uniform(-400, 6400, 500), rng.uniform(-400, 5400, 500)
    once = assign_points(layer, x, y, tolerance_m=250)
    pick = rng.integers(0, 500, 3000)  # every point many times, in another order
    assert same(assign_points(layer, x[pick], y[pick], tolerance_m=250), once[pick])
    xx = np.concatenate([x, [np.nan, 10.0, np.inf]])
    yy = np.concatenate([y, [10.0, np.nan, 10.0]])
    got = assign_points(layer, xx, yy, tolerance_m=250)
    assert same(got[:500], once)
    assert got[500:].tolist() == [None, None, None]


def test_layer_cache_follows_the_codes_and_the_frame() -> None:
    rng = np.random.default_rng(9)
    layer = voronoi_layer(rng, 40)
    x, y = rng.uniform(0, 6000, 2000), rng.uniform(0, 5000, 2000)
    first = assign_points(layer, x, y, tolerance_m=0)
    layer["code"] = layer["code"].to_numpy()[::-1]  # the same frame, codes moved in place
    assert same(assign_points(layer, x, y, tolerance_m=0), sjoin_lowest(layer, x, y))
    other = layer.iloc[::2].reset_index(drop=True)
    assert same(assign_points(other, x, y, tolerance_m=0), sjoin_lowest(other, x, y))
    assert not same(first, assign_points(layer, x, y, tolerance_m=0))


def test_layers_with_nothing_to_hold_a_point() -> None:
    x, y = np.array([1.0, 2.0]), np.array([1.0, 2.0])
    empty = gpd.GeoDataFrame(
        {"code": ["a", "b"]}, geometry=gpd.GeoSeries([shapely.Polygon(), None]), crs=27700
    )
    assert assign_points(empty, x, y, tolerance_m=250).tolist() == [None, None]
    none = gpd.GeoDataFrame({"code": []}, geometry=gpd.GeoSeries([]), crs=27700)
    assert assign_points(none, x, y, tolerance_m=250).tolist() == [None, None]
    one = gpd.GeoDataFrame({"code": ["z"]}, geometry=[shapely.box(0, 0, 1, 1)], crs=27700)
    assert assign_points(one, x, y, tolerance_m=0).tolist() == ["z", None]
    assert assign_points(one, x, y, tolerance_m=2).tolist() == ["z", "z"]
    assert assign_points(one, np.empty(0), np.empty(0)).tolist() == []
    assert pd.isna(pd.Series(assign_points(one, x, y, tolerance_m=1))).tolist() == [False, True]


def test_a_point_equally_near_two_areas_takes_the_lowest_code() -> None:
    # Two squares share the edge x = 0; (0, -10) is 10 m from both, (-50, -10) nearer "B".
    layer = gpd.GeoDataFrame(
        {"code": ["B", "A"]},
        geometry=[shapely.box(-100, 0, 0, 100), shapely.box(0, 0, 100, 100)],
        crs=27700,
    )
    got = assign_points(layer, np.array([0.0, -50.0]), np.array([-10.0, -10.0]), tolerance_m=50)
    assert got.tolist() == ["A", "B"]
