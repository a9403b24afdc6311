"""Which polygon of a layer holds each point: a grid index of the polygons' boxes.

:func:`geo.areas.assign_points` asks, for up to millions of points, which
polygon of an area layer holds each one (the lowest code where several do).
A spatial-index query per point needs a shapely point per point, and the
index's own per-point work; this index needs neither:

* A regular grid is laid over the layer. Each grid cell lists the polygons
  whose bounding box meets it, in code order (built once per layer, numpy
  only).
* A point's grid cell comes from two divisions; its candidates are the
  cell's list, kept where the point lies in the polygon's bounding box.
* The candidates left are tested with ``shapely.intersects_xy`` on the
  prepared polygons (boundary included), all pairs in one call; the first
  hit of each point in code order is the lowest code holding it.

For many points at once, a second, finer grid of tiles comes first. A tile
that no polygon's box meets holds no point; a tile wholly inside (not
touching the edge of) the lowest-code polygon whose box meets it gives that
polygon to every point in it, untested. Only the points of the other tiles
go through the test above. What each tile gives is found the first time a
point falls in it, and kept with the index.

Exact: a polygon holds a point only if the point lies in its bounding box,
and a point in the box falls in a grid cell the box meets (the cell of a
coordinate is a monotone function of it), so no polygon is missed, and every
candidate is decided by the same GEOS intersects test.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import shapely

MAX_CELLS = 1 << 22
"""Grid cells at most (the cell starts are one int32 each: 16 MiB)."""
ENTRIES_PER_POLYGON = 32
"""Budget of (cell, polygon) entries per polygon; the grid coarsens until it fits."""
CELLS_PER_POLYGON_SIDE = 4
"""Target cell size: the median polygon's longer box side over this."""
CHUNK_POINTS = 1 << 18
"""Points tested per batch (bounds the candidate pairs held at once)."""
TILE_MIN_POINTS = 1024
"""Fewer points than this are tested without tiles."""
POINTS_PER_TILE = 16
"""Tile size: about this many points of the first large call per tile ..."""
TILES_PER_POLYGON_SIDE = 64
"""... and no smaller than the median polygon's longer box side over this."""
_NONE = -1
_TEST = -2


class AreaIndex:
    """The polygons of one layer, indexed for point-in-polygon lookups.

    ``geoms`` are the layer's geometries (prepared here, in place); ``rank``
    gives each polygon's place in code order (ties keep layer order).
    Polygons that are missing or empty hold no point.
    """

    def __init__(self, geoms: npt.NDArray[np.object_], rank: npt.NDArray[np.int64]) -> None:
        self.geoms = geoms
        shapely.prepare(geoms)
        bounds = shapely.bounds(geoms)
        usable = np.flatnonzero(np.isfinite(bounds).all(axis=1))
        self.x0s, self.y0s, self.x1s, self.y1s = (bounds[:, i].copy() for i in range(4))
        self.nx = self.ny = 0
        self.ox = self.oy = 0.0
        self.size = 1.0
        self.starts = np.zeros(1, dtype=np.int32)
        self.entries = np.zeros(0, dtype=np.int64)
        self.rank = rank
        self.side = 0.0
        self.tile = 0.0
        self.tile_keys = np.zeros(0, dtype=np.int64)
        self.tile_polys = np.zeros(0, dtype=np.int64)
        self._tree: shapely.STRtree | None = None
        if usable.size:
            self._build(usable[np.argsort(rank[usable], kind="stable")])

    def _build(self, polys: npt.NDArray[np.int64]) -> None:
        """The grid over ``polys`` (given in code order)."""
        x0, y0, x1, y1 = self.x0s[polys], self.y0s[polys], self.x1s[polys], self.y1s[polys]
        self.ox, self.oy = float(x0.min()), float(y0.min())
        width = max(float(x1.max()) - self.ox, 0.0)
        height = max(float(y1.max()) - self.oy, 0.0)
        self.side = float(np.median(np.maximum(x1 - x0, y1 - y0)))
        side = self.side / CELLS_PER_POLYGON_SIDE
        size = max(side, max(width, height) / MAX_CELLS)
        if not size > 0:  # every box a point, or all at one place
            size = 1.0
        budget = max(ENTRIES_PER_POLYGON * polys.size, 1 << 16)
        while True:
            nx = int((width / size) // 1) + 1
            ny = int((height / size) // 1) + 1
            ix0, ix1 = self._cell(x0, self.ox, size), self._cell(x1, self.ox, size)
            iy0, iy1 = self._cell(y0, self.oy, size), self._cell(y1, self.oy, size)
            counts = (ix1 - ix0 + 1) * (iy1 - iy0 + 1)
            if nx * ny <= MAX_CELLS and int(counts.sum()) <= budget:
                break
            size *= 2.0
        self.nx, self.ny, self.size = nx, ny, size
        total = int(counts.sum())
        first = np.cumsum(counts) - counts
        local = np.arange(total, dtype=np.int64) - np.repeat(first, counts)
        across = np.repeat(ix1 - ix0 + 1, counts)
        cells = (np.repeat(iy0, counts) + local // across) * nx + np.repeat(ix0, counts)
        cells += local % across
        order = np.argsort(cells, kind="stable")  # stable: code order within a cell
        self.entries = np.repeat(polys, counts)[order]
        self.starts = np.zeros(nx * ny + 1, dtype=np.int32)
        np.cumsum(np.bincount(cells, minlength=nx * ny), out=self.starts[1:])

    @staticmethod
    def _cell(v: npt.NDArray[np.float64], origin: float, size: float) -> npt.NDArray[np.int64]:
        return np.floor((v - origin) / size).astype(np.int64)

    def holding(
        self, x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.int64]:
        """Position (in the layer) of the lowest-code polygon holding each point, else -1.

        ``x`` and ``y`` must be finite. The points are tested in grid-cell
        order, so that nearby points meet the same few polygons one after the
        other (several times faster than in input order: the polygons stay in
        the CPU's caches).
        """
        out = np.full(x.size, -1, dtype=np.int64)
        if self.entries.size == 0:
            return out
        todo = self._tiles(x, y, out)
        fx = np.floor((x[todo] - self.ox) / self.size)
        fy = np.floor((y[todo] - self.oy) / self.size)
        keep = (fx >= 0) & (fx < self.nx) & (fy >= 0) & (fy < self.ny)
        inside = todo[keep]
        cell = fy[keep].astype(np.int64) * self.nx + fx[keep].astype(np.int64)
        order = np.argsort(cell, kind="stable")
        inside, cell = inside[order], cell[order]
        for lo in range(0, inside.size, CHUNK_POINTS):
            idx = inside[lo : lo + CHUNK_POINTS]
            found, poly = self._holding(idx, cell[lo : lo + CHUNK_POINTS], x, y)
            out[found] = poly
        return out

    def _tiles(
        self, x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], out: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.int64]:
        """Answer the points of tiles that decide them (into ``out``); the positions left."""
        every = np.arange(x.size, dtype=np.int64)
        if x.size < TILE_MIN_POINTS and not self.tile:
            return every
        if not self.tile:
            area = max(float(np.ptp(x)) * float(np.ptp(y)), 0.0)
            by_points = float(np.sqrt(area * POINTS_PER_TILE / x.size))
            self.tile = max(by_points, self.side / TILES_PER_POLYGON_SIDE, self.size / 64)
        tx = np.floor((x - self.ox) / self.tile)
        ty = np.floor((y - self.oy) / self.tile)
        near = (np.abs(tx) < 1 << 30) & (np.abs(ty) < 1 << 30)
        if not near.all():
            return every
        key = (tx.astype(np.int64) << 32) + (ty.astype(np.int64) + (1 << 31))
        keys, inverse = np.unique(key, return_inverse=True)
        at: npt.NDArray[np.int64] = np.asarray(np.searchsorted(self.tile_keys, keys), np.int64)
        known = at < self.tile_keys.size
        known[known] = self.tile_keys[at[known]] == keys[known]
        if not known.all():
            self._learn(keys[~known])
            at = np.asarray(np.searchsorted(self.tile_keys, keys), np.int64)
        poly = self.tile_polys[at][inverse]
        decided = poly != _TEST
        out[decided] = np.where(poly[decided] >= 0, poly[decided], -1)
        return every[~decided]

    def _learn(self, keys: npt.NDArray[np.int64]) -> None:
        """What each new tile gives: a polygon, none (:data:`_NONE`), or a test (:data:`_TEST`).

        The tile's box is widened by a margin so that a point whose tile was
        found by rounded division lies inside it.
        """
        tx = (keys >> 32).astype(np.float64)
        ty = ((keys & 0xFFFFFFFF) - (1 << 31)).astype(np.float64)
        scale = max(abs(self.ox), abs(self.oy), self.tile, 1.0)
        margin = max(self.tile * 1e-6, scale * 1e-9)
        x0 = self.ox + tx * self.tile - margin
        y0 = self.oy + ty * self.tile - margin
        boxes = shapely.box(x0, y0, x0 + self.tile + 2 * margin, y0 + self.tile + 2 * margin)
        if self._tree is None:
            self._tree = shapely.STRtree(self.geoms)
        box_at, poly = self._tree.query(boxes)
        polys = np.full(keys.size, _NONE, dtype=np.int64)
        if box_at.size:
            # The lowest-code polygon whose box meets each tile.
            order = np.lexsort((self.rank[poly], box_at))
            first = np.r_[True, box_at[order][1:] != box_at[order][:-1]]
            tiles, lowest = box_at[order][first], poly[order][first]
            whole = shapely.contains_properly(self.geoms[lowest], boxes[tiles])
            polys[tiles] = np.where(whole, lowest, _TEST)
        merged = np.concatenate([self.tile_keys, keys])
        order = np.argsort(merged, kind="stable")
        self.tile_keys = merged[order]
        self.tile_polys = np.concatenate([self.tile_polys, polys])[order]

    def _holding(
        self,
        idx: npt.NDArray[np.int64],
        cell: npt.NDArray[np.int64],
        x: npt.NDArray[np.float64],
        y: npt.NDArray[np.float64],
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Points ``idx`` (in cells ``cell``) that a polygon holds, and the lowest-code one."""
        start = self.starts[cell]
        counts = self.starts[cell + 1] - start
        total = int(counts.sum())
        # Every (point, candidate) pair: each point's pairs together, in code order.
        pt = np.repeat(idx, counts)
        at = np.arange(total, dtype=np.int64) + np.repeat(
            start - (np.cumsum(counts) - counts), counts
        )
        poly = self.entries[at]
        px, py = x[pt], y[pt]
        boxed = np.flatnonzero(
            (px >= self.x0s[poly])
            & (px <= self.x1s[poly])
            & (py >= self.y0s[poly])
            & (py <= self.y1s[poly])
        )
        pt, poly = pt[boxed], poly[boxed]
        hit = np.flatnonzero(shapely.intersects_xy(self.geoms[poly], px[boxed], py[boxed]))
        hp = pt[hit]
        first = np.ones(hp.size, dtype=bool)
        first[1:] = hp[1:] != hp[:-1]
        return hp[first], poly[hit[first]]
