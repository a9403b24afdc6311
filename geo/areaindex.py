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
        if usable.size:
            self._build(usable[np.argsort(rank[usable], kind="stable")])

    def _build(self, polys: npt.NDArray[np.int64]) -> None:
        """The grid over ``polys`` (given in code order)."""
        x0, y0, x1, y1 = self.x0s[polys], self.y0s[polys], self.x1s[polys], self.y1s[polys]
        self.ox, self.oy = float(x0.min()), float(y0.min())
        width = max(float(x1.max()) - self.ox, 0.0)
        height = max(float(y1.max()) - self.oy, 0.0)
        side = float(np.median(np.maximum(x1 - x0, y1 - y0))) / CELLS_PER_POLYGON_SIDE
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
        fx = np.floor((x - self.ox) / self.size)
        fy = np.floor((y - self.oy) / self.size)
        inside = np.flatnonzero((fx >= 0) & (fx < self.nx) & (fy >= 0) & (fy < self.ny))
        cell = fy[inside].astype(np.int64) * self.nx + fx[inside].astype(np.int64)
        order = np.argsort(cell, kind="stable")
        inside, cell = inside[order], cell[order]
        for lo in range(0, inside.size, CHUNK_POINTS):
            idx = inside[lo : lo + CHUNK_POINTS]
            found, poly = self._holding(idx, cell[lo : lo + CHUNK_POINTS], x, y)
            out[found] = poly
        return out

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
