"""Keys met before in one first load, found from whole chunks (no code per row).

A first load writes each key's first row straight into the empty table and
sets aside the rows of keys met again, so that the table's key never sees a
duplicate; the stores then resolve those by their keep rule.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MAX_RUN_KEYS = 1 << 21
"""Most hashes in one sorted run (16 MiB); past it, runs are kept side by side."""


class SeenKeys:
    """64-bit hashes of the keys met so far in one load, as sorted runs (vectorised).

    :meth:`add` tells which keys of a chunk were met before, in earlier
    chunks or earlier in the same chunk. A hash collision only makes a new
    key look met before, which sends it the staged way: never a wrong result.
    """

    def __init__(self) -> None:
        self._runs: list[np.ndarray] = []

    def add(self, keys: np.ndarray) -> np.ndarray:
        """Record ``keys``; a mask of those met before (the first of each new key is False)."""
        hashes = pd.util.hash_array(np.asarray(keys, dtype=object), categorize=False)
        order = np.argsort(hashes, kind="stable")
        ordered = hashes[order]
        again = np.zeros(len(hashes), dtype=bool)
        again[order[1:][ordered[1:] == ordered[:-1]]] = True
        for run in self._runs:
            at = np.searchsorted(run, hashes).clip(max=len(run) - 1)
            again |= run[at] == hashes
        new = np.unique(hashes[~again])
        if len(new):
            self._runs.append(new)
        # Merge runs of like size, so a lookup stays a few binary searches, but
        # never beyond MAX_RUN_KEYS: a merge copies its runs, and the largest
        # merge of an unbounded load would briefly hold every hash twice.
        while (
            len(self._runs) > 1
            and len(self._runs[-2]) <= 2 * len(self._runs[-1])
            and len(self._runs[-2]) + len(self._runs[-1]) <= MAX_RUN_KEYS
        ):
            last = self._runs.pop()
            self._runs[-1] = np.sort(np.concatenate([self._runs[-1], last]))
        return again
