"""A synthetic store for the command-line tests."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from api.settings import Settings
from api.usecases.demo import DEMO_ORDER
from api.usecases.ingest import ingest_files, simulate_scenario

SYNTHETIC_KEY = "api-tests-synthetic-key-0123456789-abcdef"


def synthetic_store(root: Path, *, seed: int, weeks: int = 20, location: str | None = None) -> str:
    """Simulate ``weeks`` of Blackburn with Darwen and ingest it into ``root/engage.gpkg``.

    ``location``: another store to ingest into (e.g. a PostGIS URL).
    """
    # A fixed start: the tests query the window 2025-01-06 .. 2025-05-26.
    simulate_scenario(root / "s", seed=seed, weeks=weeks, start=date(2025, 1, 6))
    location = location or str(root / "engage.gpkg")
    settings = Settings(store=location, quarantine_dir=root / "q")
    for kind, name in DEMO_ORDER:
        ingest_files(location, kind, [root / "s" / name], settings=settings, key=SYNTHETIC_KEY)
    return location
