"""Quarantine files: one per input file, whole or not at all.

Each input file's bad cells go to ``<quarantine dir>/<file name>.<8 hex>.quarantine.csv``
with columns ``file, row, column, value, reason``. The 8 hex digits are the
start of the SHA-256 of the input's full path, so two files of one name in two
folders never share a quarantine file, and the same file always gets the same
one (an ingest of it replaces the last one's). Lines are written to a temporary
file of this run alone, created exclusively beside the target, and renamed into
place when the file's ingest ends, so concurrent ingests never interleave
their lines and a reader never sees half a file.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import IO

import pandas as pd

from geo.checks import QUARANTINE_COLUMNS

SHOWN_CHARS = 200
"""Characters of a value (or reason) the quarantine file shows before it gives the length."""


def quarantine_path(quarantine_dir: Path, path: Path) -> Path:
    """Where the quarantine of input ``path`` goes: stable, and unique to its full path."""
    full = str(Path(path).resolve())
    digest = hashlib.sha256(full.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    return Path(quarantine_dir) / f"{Path(path).name}.{digest}.quarantine.csv"


def shown(cells: pd.Series) -> pd.Series:
    """Cells as the quarantine file shows them.

    A NUL character becomes ``\\x00``; a cell over :data:`SHOWN_CHARS` characters
    is cut there and followed by its length.
    """
    raw = cells.astype(str)
    text = raw.str.replace("\x00", "\\x00", regex=False)
    long = text.str.len() > SHOWN_CHARS
    if long.any():
        counts = raw[long].str.len().map("{:,}".format)
        text[long] = text[long].str.slice(0, SHOWN_CHARS) + "… (" + counts + " characters)"
    return text


class QuarantineFile:
    """The quarantine of one input file, written a chunk at a time.

    Nothing touches the disk until the first bad row. :meth:`commit` renames
    the lines into place (or removes an earlier ingest's quarantine of the
    same file when there were none); :meth:`discard` drops them.
    """

    def __init__(self, quarantine_dir: Path, path: Path) -> None:
        self.source = str(Path(path).resolve())
        self.path = quarantine_path(quarantine_dir, path)
        self._tmp: Path | None = None
        self._handle: IO[str] | None = None

    @property
    def written(self) -> bool:
        """Whether any line was written."""
        return self._tmp is not None

    def write(self, frame: pd.DataFrame) -> None:
        """Append problem lines (:data:`geo.checks.QUARANTINE_COLUMNS`; ``file`` is set here)."""
        from geo.export import neutralise_formulas

        safe = frame[QUARANTINE_COLUMNS].copy()
        safe["file"] = self.source
        for c in ("value", "reason"):
            safe[c] = shown(safe[c])
        for c in ("value", "reason", "column", "file"):
            safe[c] = neutralise_formulas(safe[c].astype(str))
        header = self._handle is None
        if self._handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(
                dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".part"
            )
            self._tmp = Path(name)
            self._handle = os.fdopen(fd, "w", encoding="utf-8", newline="")
        safe.to_csv(self._handle, header=header, index=False)

    def commit(self) -> str | None:
        """Put the lines in place; returns the quarantine file's path, None when clean."""
        if self._handle is None or self._tmp is None:
            self.path.unlink(missing_ok=True)
            return None
        self._handle.close()
        self._handle = None
        os.replace(self._tmp, self.path)
        self._tmp = None
        return str(self.path)

    def discard(self) -> None:
        """Drop lines not committed (safe to call after :meth:`commit`)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
            self._tmp = None
