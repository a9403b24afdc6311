"""Writing output files whole or not at all.

:func:`atomic_write_text` writes one file through a temporary file created
exclusively (random name, in the target folder, never following a link) and
renamed over the target. :func:`staged` builds a run's several files in a
temporary folder beside them and moves them in only when every one was
built, so a failure leaves the folder as it was.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from geo.errors import ValidationError


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
        record_written(out, wanted)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --- what an output may replace ------------------------------------------------------------

MANIFEST = ".engage-outputs.json"
"""A folder's record of the files the product wrote there (so a re-run may replace them)."""
SQLITE_HEADER = b"SQLite format 3\x00"
KINDS = ("csv", "geojson", "gpkg", "text")


class OutputRefused(ValidationError):
    """An output path that would destroy or silently replace something."""


def _same(a: Path, b: Path) -> bool:
    """Whether two paths name one file (through links, or another spelling of the path)."""
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        return False
    return os.path.realpath(a) == os.path.realpath(b)


def store_file(location: str | None) -> Path | None:
    """The file of a GeoPackage store location (None for a server store)."""
    if not location or location.startswith(("postgresql://", "postgres://")):
        return None
    return Path(location)


def file_kind(path: Path) -> str:
    """What an existing file holds: ``store`` (an Engage store), ``gpkg`` (another SQLite
    file), ``geojson`` (JSON) or ``text``."""
    with path.open("rb") as handle:
        head = handle.read(64)
    if head.startswith(SQLITE_HEADER):
        import sqlite3

        try:
            with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
                names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        except sqlite3.Error:
            return "gpkg"
        return "store" if "engage_meta" in names else "gpkg"
    if head.lstrip()[:1] in (b"{", b"["):
        return "geojson"
    return "text"


def check_output_file(out: str | Path, *, kind: str, store: str | None, force: bool) -> Path:
    """Refuse an output file that is the store, a folder, or an existing file of another kind;
    an existing file of the same kind needs ``force``. Returns the path."""
    path = Path(out)
    own = store_file(store)
    if own is not None and _same(path, own):
        msg = f"`--out` {path} is the store itself; write the output to another file."
        raise OutputRefused(msg)
    if path.is_dir():
        msg = f"`--out` {path} is a folder; give a file name, e.g. {path}/out.{kind}."
        raise OutputRefused(msg)
    if path.exists():
        found = file_kind(path)
        expected = {"csv": "text", "geojson": "geojson", "gpkg": "gpkg"}.get(kind, "text")
        if found != expected:
            what = "an Engage store" if found == "store" else f"a {found} file"
            msg = (
                f"`--out` {path} already holds {what}, not a {kind} output; choose another "
                "file name (it is not replaced, even with --force)."
            )
            raise OutputRefused(msg)
        if not force:
            msg = f"`--out` {path} already exists; pass --force to replace it, or another name."
            raise OutputRefused(msg)
    return path


def written_here(folder: Path) -> set[str]:
    """Names of the files the product wrote into ``folder`` (its manifest)."""
    try:
        body = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    files = body.get("files") if isinstance(body, dict) else None
    return {str(f) for f in files} if isinstance(files, list) else set()


def check_output_folder(
    out: str | Path, names: Iterable[str], *, store: str | None, force: bool
) -> Path:
    """Refuse a folder output that would replace files the product did not write there
    (unless ``force``), or the store (always). Returns the folder."""
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        msg = f"`--out` {folder} is a file; give a folder for this command's outputs."
        raise OutputRefused(msg)
    own = store_file(store)
    wanted = list(names)
    if own is not None and any(_same(folder / n, own) for n in wanted):
        msg = f"`--out` {folder} would replace the store {own}; choose another folder."
        raise OutputRefused(msg)
    ours = written_here(folder)
    foreign = [n for n in wanted if (folder / n).exists() and n not in ours]
    if foreign and not force:
        msg = (
            f"`--out` {folder} holds {', '.join(foreign)}, which this product did not write "
            "there; pass --force to replace them, or choose a fresh folder."
        )
        raise OutputRefused(msg)
    return folder


def record_written(folder: Path, names: Iterable[str]) -> None:
    """Add ``names`` to the folder's manifest of files the product wrote."""
    files = sorted(written_here(folder) | set(names))
    atomic_write_text(folder / MANIFEST, json.dumps({"files": files}, indent=1) + "\n")
