"""A packed R-tree written straight into SQLite's R*Tree shadow tables.

SQLite's ``rtree`` module inserts one entry at a time, descending the tree
and splitting nodes as they fill: for a million points that is most of a
GeoPackage first load. A first load's R-tree starts empty and receives every
point at once, so it can be built the way GDAL builds its own: bulk-loaded by
Sort-Tile-Recursive (Leutenegger, Lopez and Edgington, "STR: a simple and
efficient algorithm for R-tree packing", ICDE 1997), level by level with
numpy, and written as whole nodes.

The layout is the one SQLite's ``ext/rtree/rtree.c`` reads and writes:

* ``<name>_node(nodeno, data)``: node 1 is the root. ``data`` is the node
  size in bytes (fixed when the table was made; read from the root), holding
  the tree's depth as a big-endian 16-bit integer (in the root; 0 elsewhere),
  the number of cells (16-bit), then per cell a big-endian 64-bit id (a
  row's id in a leaf, a child's node number above) and the box's four
  coordinates ``minx, maxx, miny, maxy`` as big-endian 32-bit floats.
* ``<name>_rowid(rowid, nodeno)``: the leaf holding each row.
* ``<name>_parent(nodeno, parentnode)``: the parent of every node but the root.

Coordinates are stored as 32-bit floats rounded outwards as the module
rounds them (``rtreeValueDown`` and ``rtreeValueUp``: a value that does not
convert exactly is nudged by one part in 2**23 away from the box), so a
query finds exactly the rows it finds when the module inserts them.
SQLite's ``rtreecheck()`` accepts the result (tests/geo/store/test_gpkg_rtree.py).
"""

from __future__ import annotations

import math
import sqlite3

import numpy as np
import numpy.typing as npt

from geo.errors import StoreError

_CELL = np.dtype([("id", ">i8"), ("box", ">f4", (4,))])
"""One cell of a two-dimensional R-tree node: 24 bytes."""

_HEADER_BYTES = 4
"""Depth and cell count, 16 bits each, at the start of every node."""

_TOWARDS = 1.0 - 1.0 / 8388608.0
_AWAY = 1.0 + 1.0 / 8388608.0
"""The module's nudges for a double that a float cannot hold exactly."""


def round_down(d: npt.NDArray[np.float64]) -> npt.NDArray[np.float32]:
    """The 32-bit float the rtree module stores for a box's lower bound ``d``."""
    f = d.astype(np.float32)
    high = f.astype(np.float64) > d
    if high.any():
        factor = np.where(d[high] < 0, _AWAY, _TOWARDS)
        f[high] = (d[high] * factor).astype(np.float32)
    return f


def round_up(d: npt.NDArray[np.float64]) -> npt.NDArray[np.float32]:
    """The 32-bit float the rtree module stores for a box's upper bound ``d``."""
    f = d.astype(np.float32)
    low = f.astype(np.float64) < d
    if low.any():
        factor = np.where(d[low] < 0, _TOWARDS, _AWAY)
        f[low] = (d[low] * factor).astype(np.float32)
    return f


def _str_order(boxes: npt.NDArray[np.float32], per_node: int) -> npt.NDArray[np.intp]:
    """Sort-Tile-Recursive order: vertical slices by centre x, each sorted by centre y.

    Each slice holds a whole number of nodes, so cutting the order into runs
    of ``per_node`` never puts two slices in one node.
    """
    n = len(boxes)
    nodes = math.ceil(n / per_node)
    slices = math.ceil(math.sqrt(nodes))
    per_slice = math.ceil(nodes / slices) * per_node
    cx = boxes[:, 0].astype(np.float64) + boxes[:, 1]
    cy = boxes[:, 2].astype(np.float64) + boxes[:, 3]
    by_x = np.argsort(cx, kind="stable")
    slice_of = np.empty(n, dtype=np.int64)
    slice_of[by_x] = np.arange(n) // per_slice
    return np.lexsort((cy, slice_of))


def _node_blobs(
    ids: npt.NDArray[np.int64],
    boxes: npt.NDArray[np.float32],
    per_node: int,
    node_bytes: int,
    depth: int | None,
) -> list[bytes]:
    """Nodes of ``per_node`` consecutive cells (the last may hold fewer), as blobs."""
    n = len(ids)
    count = math.ceil(n / per_node)
    cells = np.zeros(count * per_node, dtype=_CELL)
    cells["id"][:n] = ids
    cells["box"][:n] = boxes
    raw = np.zeros((count, node_bytes), dtype=np.uint8)
    raw[:, _HEADER_BYTES : _HEADER_BYTES + per_node * _CELL.itemsize] = cells.view(
        np.uint8
    ).reshape(count, -1)
    filled = np.full(count, per_node, dtype=">u2")
    filled[-1] = n - (count - 1) * per_node
    raw[:, 2:4] = filled.view(np.uint8).reshape(count, 2)
    if depth is not None:
        raw[0, 0:2] = np.array([depth], dtype=">u2").view(np.uint8)
    return [row.tobytes() for row in raw]


def pack(
    conn: sqlite3.Connection,
    rtree: str,
    ids: npt.NDArray[np.int64],
    minx: npt.NDArray[np.float64],
    maxx: npt.NDArray[np.float64],
    miny: npt.NDArray[np.float64],
    maxy: npt.NDArray[np.float64],
) -> None:
    """Fill the empty two-dimensional R-tree ``rtree`` (in ``main``) with these boxes.

    Runs inside the caller's transaction. ``ids`` must be unique.

    Raises
    ------
    StoreError
        The R-tree is not empty, or is not a two-dimensional ``rtree`` table.
    """
    name = rtree.replace('"', '""')
    node_t, rowid_t, parent_t = (f'main."{name}_{part}"' for part in ("node", "rowid", "parent"))
    row = conn.execute(f"SELECT length(data) FROM {node_t} WHERE nodeno = 1").fetchone()
    if row is None:
        msg = f"R-tree {rtree} has no root node; it is not an rtree table"
        raise StoreError(msg)
    node_bytes = int(row[0])
    per_node = (node_bytes - _HEADER_BYTES) // _CELL.itemsize
    if per_node < 2:
        msg = f"R-tree {rtree}: nodes of {node_bytes} bytes hold under two cells"
        raise StoreError(msg)
    if conn.execute(f"SELECT EXISTS (SELECT 1 FROM {rowid_t})").fetchone()[0]:
        msg = f"R-tree {rtree} is not empty; a packed build needs an empty tree"
        raise StoreError(msg)
    if len(ids) == 0:
        return
    # Bottom up: each level's cells in STR order, cut into nodes; the next level's
    # cells are those nodes (by their position in the level), until one node holds all.
    cell_ids = np.asarray(ids, dtype=np.int64)
    boxes = np.column_stack([round_down(minx), round_up(maxx), round_down(miny), round_up(maxy)])
    levels: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]] = []
    while True:
        order = _str_order(boxes, per_node)
        cell_ids, boxes = cell_ids[order], boxes[order]
        levels.append((cell_ids, boxes))
        if len(cell_ids) <= per_node:
            break
        starts = np.arange(0, len(cell_ids), per_node)
        boxes = np.column_stack(
            [
                np.minimum.reduceat(boxes[:, 0], starts),
                np.maximum.reduceat(boxes[:, 1], starts),
                np.minimum.reduceat(boxes[:, 2], starts),
                np.maximum.reduceat(boxes[:, 3], starts),
            ]
        )
        cell_ids = np.arange(len(starts), dtype=np.int64)
    depth = len(levels) - 1
    # Node numbers: the root is 1; below it each level's nodes in turn from 2.
    numbers: list[npt.NDArray[np.int64]] = []
    next_no = 2
    for level, (level_ids, _) in enumerate(levels):
        count = math.ceil(len(level_ids) / per_node)
        if level == depth:
            numbers.append(np.array([1], dtype=np.int64))
        else:
            numbers.append(np.arange(next_no, next_no + count, dtype=np.int64))
            next_no += count
    nodes: list[tuple[int, bytes]] = []
    parents: list[tuple[int, int]] = []
    for level, (level_ids, level_boxes) in enumerate(levels):
        if level > 0:
            level_ids = numbers[level - 1][level_ids]  # positions below -> node numbers
        root_depth = depth if level == depth else None
        blobs = _node_blobs(level_ids, level_boxes, per_node, node_bytes, root_depth)
        nodes.extend(zip(numbers[level].tolist(), blobs, strict=True))
        if level > 0:
            holder = np.repeat(numbers[level], per_node)[: len(level_ids)]
            parents.extend(zip(level_ids.tolist(), holder.tolist(), strict=True))
    leaf_of = np.repeat(numbers[0], per_node)[: len(levels[0][0])]
    conn.executemany(f"INSERT OR REPLACE INTO {node_t} (nodeno, data) VALUES (?, ?)", nodes)
    conn.executemany(f"INSERT INTO {parent_t} (nodeno, parentnode) VALUES (?, ?)", parents)
    conn.executemany(
        f"INSERT INTO {rowid_t} (rowid, nodeno) VALUES (?, ?)",
        zip(levels[0][0].tolist(), leaf_of.tolist(), strict=True),
    )
