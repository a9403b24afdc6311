"""The packed R-tree (geo.store.gpkg_rtree) against SQLite's own rtree module."""

from __future__ import annotations

import itertools
import sqlite3

import numpy as np
import pytest

from geo.errors import StoreError
from geo.store.gpkg_rtree import pack, pack_sorted

QUERY = "SELECT id FROM {} WHERE minx <= ? AND maxx >= ? AND miny <= ? AND maxy >= ? ORDER BY id"


def two_trees() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    for name in ("packed", "module"):
        conn.execute(f"CREATE VIRTUAL TABLE {name} USING rtree(id, minx, maxx, miny, maxy)")
    return conn


# Sizes around one node (51 cells with 4 KiB pages), one more level, and a deep tree.
@pytest.mark.parametrize("n", [1, 2, 51, 52, 51 * 51, 51 * 51 + 1, 40_000])
def test_packed_tree_holds_what_the_module_holds_and_passes_its_check(n: int) -> None:
    rng = np.random.default_rng(n)
    conn = two_trees()
    x = rng.uniform(-2.6, -2.3, n)
    y = rng.uniform(53.6, 53.8, n)
    w = rng.uniform(0, 0.01, n) * (rng.random(n) < 0.3)  # some boxes, mostly points
    ids = rng.permutation(np.arange(1, n + 1, dtype=np.int64) * 7)
    pack(conn, "packed", ids, x, x + w, y, y + w)
    conn.executemany(
        "INSERT INTO module VALUES (?, ?, ?, ?, ?)",
        zip(ids.tolist(), x.tolist(), (x + w).tolist(), y.tolist(), (y + w).tolist(), strict=True),
    )
    assert conn.execute("SELECT rtreecheck('packed')").fetchone() == ("ok",)
    # The same rows with the same stored (rounded) coordinates.
    assert (
        conn.execute("SELECT * FROM packed ORDER BY id").fetchall()
        == conn.execute("SELECT * FROM module ORDER BY id").fetchall()
    )
    for _ in range(30):
        x0, y0, size = rng.uniform(-2.6, -2.3), rng.uniform(53.6, 53.8), rng.uniform(0, 0.05)
        box = (x0 + size, x0, y0 + size, y0)
        assert (
            conn.execute(QUERY.format("packed"), box).fetchall()
            == conn.execute(QUERY.format("module"), box).fetchall()
        )
    # The module goes on inserting into and deleting from the packed tree.
    conn.executemany(
        "INSERT INTO packed VALUES (?, -2.5, -2.5, 53.7, 53.7)", [(-i,) for i in range(1, 300)]
    )
    conn.execute("DELETE FROM packed WHERE id % 2 = 0")
    assert conn.execute("SELECT rtreecheck('packed')").fetchone() == ("ok",)


def test_rounding_is_the_modules_for_values_a_float_cannot_hold() -> None:
    conn = two_trees()
    values = np.array([0.1, -0.1, 1e-40, -1e-40, 53.7278481, -2.4918241, 1e30, -1e30, 0.0, 3.0])
    ids = np.arange(1, len(values) + 1, dtype=np.int64)
    pack(conn, "packed", ids, values, values, values, values)
    conn.executemany(
        "INSERT INTO module VALUES (?, ?, ?, ?, ?)",
        [(int(i), v, v, v, v) for i, v in zip(ids, values.tolist(), strict=True)],
    )
    packed = conn.execute("SELECT * FROM packed ORDER BY id").fetchall()
    assert packed == conn.execute("SELECT * FROM module ORDER BY id").fetchall()
    # Outward: each stored box contains its value (but below float32's normal range,
    # where the module's one-part-in-2**23 nudge can round back to the same float).
    normal = np.finfo(np.float32).tiny
    for (_, minx, maxx, _, _), v in zip(packed, values.tolist(), strict=True):
        if v == 0 or abs(v) >= normal:
            assert minx <= v <= maxx


def test_an_empty_input_leaves_the_tree_empty_and_usable() -> None:
    conn = two_trees()
    empty = np.array([], dtype=np.float64)
    pack(conn, "packed", np.array([], dtype=np.int64), empty, empty, empty, empty)
    conn.execute("INSERT INTO packed VALUES (1, 0, 1, 0, 1)")
    assert conn.execute("SELECT rtreecheck('packed')").fetchone() == ("ok",)


def test_a_tree_that_is_not_empty_or_not_an_rtree_is_refused() -> None:
    conn = two_trees()
    conn.execute("INSERT INTO packed VALUES (1, 0, 1, 0, 1)")
    one = np.array([0.5])
    with pytest.raises(StoreError, match="not empty"):
        pack(conn, "packed", np.array([2]), one, one, one, one)
    conn.execute("CREATE TABLE plain_node (nodeno INTEGER PRIMARY KEY, data BLOB)")
    with pytest.raises(StoreError, match="no root node"):
        pack(conn, "plain", np.array([2]), one, one, one, one)


@pytest.mark.parametrize(
    "sizes",
    [
        [3, 30, 19],  # 52 entries: a second leaf is certain only with the last chunk
        [51],  # exactly one node: the root is the leaf
        [10, 41],  # one node from two chunks
        [1_000, 7, 2_600, 51, 1],  # uneven chunks over several levels
    ],
)
def test_chunks_in_a_spatial_order_make_the_same_tree_contents(sizes: list[int]) -> None:
    rng = np.random.default_rng(len(sizes))
    n = sum(sizes)
    x = rng.uniform(-2.6, -2.3, n)
    y = rng.uniform(53.6, 53.8, n)
    order = np.lexsort((y, np.floor(x * 20)))  # columns of points: a spatial order
    ids = np.arange(1, n + 1, dtype=np.int64)[order]
    x, y = x[order], y[order]
    conn = two_trees()
    bounds = np.cumsum([0, *sizes])
    chunks = [(ids[a:b], x[a:b], x[a:b], y[a:b], y[a:b]) for a, b in itertools.pairwise(bounds)]
    assert pack_sorted(conn, "packed", chunks) == n
    conn.executemany(
        "INSERT INTO module VALUES (?, ?, ?, ?, ?)",
        zip(ids.tolist(), x.tolist(), x.tolist(), y.tolist(), y.tolist(), strict=True),
    )
    assert conn.execute("SELECT rtreecheck('packed')").fetchone() == ("ok",)
    depth = conn.execute("SELECT rtreedepth(data) FROM packed_node WHERE nodeno = 1").fetchone()
    assert depth == ((0,) if n <= 51 else (1,) if n <= 51 * 51 else (2,))
    assert (
        conn.execute("SELECT * FROM packed ORDER BY id").fetchall()
        == conn.execute("SELECT * FROM module ORDER BY id").fetchall()
    )
    for _ in range(20):
        x0, y0 = rng.uniform(-2.6, -2.3), rng.uniform(53.6, 53.8)
        box = (x0 + 0.03, x0, y0 + 0.03, y0)
        assert (
            conn.execute(QUERY.format("packed"), box).fetchall()
            == conn.execute(QUERY.format("module"), box).fetchall()
        )
