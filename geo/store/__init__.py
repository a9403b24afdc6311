"""Stores behind one protocol: a GeoPackage file (default) or a PostGIS schema.

``open_store`` picks one from a location: a ``postgresql://`` URL opens the
server store, anything else is taken as the path of a ``.gpkg`` file.
"""

from __future__ import annotations

from pathlib import Path

from geo.errors import ValidationError
from geo.store.base import Area, Keep, Store, UpsertResult, Window, Writer

DEFAULT_STORE = "./engage.gpkg"

__all__ = [
    "DEFAULT_STORE",
    "Area",
    "Keep",
    "Store",
    "UpsertResult",
    "Window",
    "Writer",
    "open_store",
]


def open_store(location: str | Path) -> Store:
    """Open (without creating tables) the store at ``location``.

    Parameters
    ----------
    location
        ``postgresql://user@host:port/db`` for PostGIS (schema ``engage``), or a
        path ending in ``.gpkg`` for the embedded store.
    """
    text = str(location)
    if text.startswith(("postgresql://", "postgres://")):
        from geo.store.postgis import PostgisStore

        return PostgisStore(text)
    if not text.endswith(".gpkg"):
        msg = (
            f"store `{text}` is neither a postgresql:// URL nor a .gpkg path. "
            "Pass --store ./engage.gpkg or --store postgresql://user@host/db."
        )
        raise ValidationError(msg)
    from geo.store.gpkg import GpkgStore

    return GpkgStore(Path(text))
