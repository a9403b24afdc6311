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
from collections.abc import Iterable
from dataclasses import dataclass

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


Chunk = tuple[npt.ArrayLike, npt.ArrayLike, npt.ArrayLike, npt.ArrayLike, npt.ArrayLike]
"""``(ids, minx, maxx, miny, maxy)`` of some entries."""


@dataclass
class _Tree:
    """The shadow tables of one R-tree and its node layout."""

    node: str
    rowid: str
    parent: str
    node_bytes: int
    per_node: int


def _tree(conn: sqlite3.Connection, rtree: str) -> _Tree:
    name = rtree.replace('"', '""')
    node, rowid, parent = (f'main."{name}_{part}"' for part in ("node", "rowid", "parent"))
    row = conn.execute(f"SELECT length(data) FROM {node} WHERE nodeno = 1").fetchone()
    if row is None:
        msg = f"R-tree {rtree} has no root node; it is not an rtree table"
        raise StoreError(msg)
    node_bytes = int(row[0])
    per_node = (node_bytes - _HEADER_BYTES) // _CELL.itemsize
    if per_node < 2:
        msg = f"R-tree {rtree}: nodes of {node_bytes} bytes hold under two cells"
        raise StoreError(msg)
    if conn.execute(f"SELECT EXISTS (SELECT 1 FROM {rowid})").fetchone()[0]:
        msg = f"R-tree {rtree} is not empty; a packed build needs an empty tree"
        raise StoreError(msg)
    return _Tree(node, rowid, parent, node_bytes, per_node)


def _boxes(
    minx: npt.ArrayLike, maxx: npt.ArrayLike, miny: npt.ArrayLike, maxy: npt.ArrayLike
) -> npt.NDArray[np.float32]:
    """Boxes as the module stores them: ``(n, 4)`` float32 ``minx, maxx, miny, maxy``."""
    f64 = np.float64
    return np.column_stack(
        [
            round_down(np.asarray(minx, dtype=f64)),
            round_up(np.asarray(maxx, dtype=f64)),
            round_down(np.asarray(miny, dtype=f64)),
            round_up(np.asarray(maxy, dtype=f64)),
        ]
    )


def _node_boxes(boxes: npt.NDArray[np.float32], per_node: int) -> npt.NDArray[np.float32]:
    """The box of each run of ``per_node`` consecutive boxes."""
    starts = np.arange(0, len(boxes), per_node)
    return np.column_stack(
        [
            np.minimum.reduceat(boxes[:, 0], starts),
            np.maximum.reduceat(boxes[:, 1], starts),
            np.minimum.reduceat(boxes[:, 2], starts),
            np.maximum.reduceat(boxes[:, 3], starts),
        ]
    )


def _write_nodes(
    conn: sqlite3.Connection,
    tree: _Tree,
    numbers: npt.NDArray[np.int64],
    cell_ids: npt.NDArray[np.int64],
    boxes: npt.NDArray[np.float32],
    *,
    depth: int | None,
    leaf: bool,
) -> None:
    """Write nodes ``numbers`` holding runs of ``per_node`` cells, and what points at them."""
    blobs = _node_blobs(cell_ids, boxes, tree.per_node, tree.node_bytes, depth)
    conn.executemany(
        f"INSERT OR REPLACE INTO {tree.node} (nodeno, data) VALUES (?, ?)",
        zip(numbers.tolist(), blobs, strict=True),
    )
    holder = np.repeat(numbers, tree.per_node)[: len(cell_ids)]
    into = f"{tree.rowid} (rowid, nodeno)" if leaf else f"{tree.parent} (nodeno, parentnode)"
    conn.executemany(
        f"INSERT INTO {into} VALUES (?, ?)", zip(cell_ids.tolist(), holder.tolist(), strict=True)
    )


def pack_sorted(
    conn: sqlite3.Connection,
    rtree: str,
    chunks: Iterable[Chunk],
) -> int:
    """Fill the empty two-dimensional R-tree ``rtree`` (in ``main``) from ordered chunks.

    Each chunk is ``(ids, minx, maxx, miny, maxy)``. The entries arrive in the
    order the leaves are cut (runs of as many as a node holds), so that order
    should keep neighbours together (a space-filling curve, say); then only
    one chunk and one box per leaf are held at a time, whatever the number of
    entries. The levels above the leaves are packed by :func:`_str_order`.
    Runs inside the caller's transaction; ``ids`` must be unique. Returns the
    number of entries.

    Raises
    ------
    StoreError
        The R-tree is not empty, or is not a two-dimensional ``rtree`` table.
    """
    tree = _tree(conn, rtree)
    m = tree.per_node
    held_ids = np.empty(0, dtype=np.int64)
    held = np.empty((0, 4), dtype=np.float32)
    leaf_boxes: list[npt.NDArray[np.float32]] = []
    next_no = 2  # node 1 is the root
    total = 0
    for ids, minx, maxx, miny, maxy in chunks:
        held_ids = np.concatenate([held_ids, np.asarray(ids, dtype=np.int64)])
        held = np.concatenate([held, _boxes(minx, maxx, miny, maxy)])
        # Keep one entry more than a node holds until a second leaf is certain:
        # a tree of one node has its leaf as the root.
        full = (len(held_ids) - 1) // m if next_no > 2 or len(held_ids) > m else 0
        if full:
            cut = full * m
            numbers = np.arange(next_no, next_no + full, dtype=np.int64)
            _write_nodes(conn, tree, numbers, held_ids[:cut], held[:cut], depth=None, leaf=True)
            leaf_boxes.append(_node_boxes(held[:cut], m))
            next_no += full
            total += cut
            held_ids, held = held_ids[cut:], held[cut:]
    total += len(held_ids)
    if total == 0:
        return 0
    if next_no == 2 and len(held_ids) <= m:
        root = np.array([1], dtype=np.int64)
        _write_nodes(conn, tree, root, held_ids, held, depth=0, leaf=True)
        return total
    if len(held_ids):
        count = math.ceil(len(held_ids) / m)
        numbers = np.arange(next_no, next_no + count, dtype=np.int64)
        _write_nodes(conn, tree, numbers, held_ids, held, depth=None, leaf=True)
        leaf_boxes.append(_node_boxes(held, m))
        next_no += count
    # The levels above: each level's nodes in STR order, cut into parents, until
    # one node (the root) holds them all.
    children = np.arange(2, next_no, dtype=np.int64)
    boxes = np.concatenate(leaf_boxes)
    depth = 1
    while True:
        order = _str_order(boxes, m)
        children, boxes = children[order], boxes[order]
        if len(children) <= m:
            root = np.array([1], dtype=np.int64)
            _write_nodes(conn, tree, root, children, boxes, depth=depth, leaf=False)
            return total
        count = math.ceil(len(children) / m)
        numbers = np.arange(next_no, next_no + count, dtype=np.int64)
        _write_nodes(conn, tree, numbers, children, boxes, depth=None, leaf=False)
        next_no += count
        children, boxes = numbers, _node_boxes(boxes, m)
        depth += 1


def pack(
    conn: sqlite3.Connection,
    rtree: str,
    ids: npt.ArrayLike,
    minx: npt.ArrayLike,
    maxx: npt.ArrayLike,
    miny: npt.ArrayLike,
    maxy: npt.ArrayLike,
) -> int:
    """Fill the empty R-tree ``rtree`` with these boxes, all in memory, packed by STR.

    As :func:`pack_sorted`, the leaves cut from the boxes in :func:`_str_order`.
    """
    tree = _tree(conn, rtree)
    ids = np.asarray(ids, dtype=np.int64)
    if len(ids) == 0:
        return 0
    order = _str_order(_boxes(minx, maxx, miny, maxy), tree.per_node)
    cols = [np.asarray(c, dtype=np.float64)[order] for c in (minx, maxx, miny, maxy)]
    return pack_sorted(conn, rtree, [(ids[order], cols[0], cols[1], cols[2], cols[3])])
