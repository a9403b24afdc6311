"""Writing output files whole or not at all.

:func:`atomic_write_text` writes one file through a temporary file created
exclusively (random name, in the target folder, never following a link) and
renamed over the target. :func:`staged` builds a run's several files in a
temporary folder beside them and moves them in only when every one was
built, so a failure leaves the folder as it was.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.replace(tmp, out)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return out


@contextlib.contextmanager
def staged(out_dir: str | Path, names: Iterable[str]) -> Iterator[Path]:
    """A temporary folder to build ``names`` in; on success they replace those in ``out_dir``.

    The temporary folder is made inside ``out_dir`` (same file system, so each
    move is a rename) and removed afterwards whatever happens. A file of
    ``names`` the block did not write is an error, so a half-built run is
    never published.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".engage-", dir=out))
    try:
        yield tmp
        wanted = list(names)
        missing = [n for n in wanted if not (tmp / n).is_file()]
        if missing:
            msg = f"output files {missing} were not built; nothing was written to {out}."
            raise RuntimeError(msg)
        for name in wanted:
            os.replace(tmp / name, out / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
