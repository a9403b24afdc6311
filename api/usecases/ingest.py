"""Ingest files into the store, and write the synthetic scenario."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from api.settings import Settings
from api.usecases.store import opened_store
from geo.boundaries import StudyArea
from geo.ingest import IngestReport, ingest_file
from geo.pseudonym import check_key


def ingest_files(
    location: str,
    kind: str,
    paths: list[Path],
    *,
    settings: Settings,
    strict: bool = False,
    study_area: StudyArea | None = None,
    key: str | None = None,
    layer: str | None = None,
    progress: bool = False,
) -> list[IngestReport]:
    """Ingest each file in its own transaction, recording each as a run.

    ``key`` (default the settings' ``ENGAGE_PSEUDONYM_KEY``) pseudonymises
    person ids; it is checked here and never stored.
    """
    key = key or settings.pseudonym_key
    key_bytes = check_key(key) if key else None
    reports = []
    with opened_store(location) as store:
        for path in paths:
            report = ingest_file(
                store,
                kind,
                path,
                strict=strict,
                study_area=study_area or settings.area(),
                key=key_bytes,
                quarantine_dir=settings.quarantine_dir,
                layer=layer,
                progress=progress,
            )
            store.record_run(
                "ingest",
                {"kind": kind, "file": str(path), "strict": strict},
                report.as_dict(),
            )
            reports.append(report)
    return reports


def simulate_scenario(out: Path, *, seed: int, weeks: int, start: date | None = None) -> Any:
    """Write the synthetic Blackburn with Darwen scenario into ``out``."""
    from geo.simulate import simulate

    if start is None:
        return simulate(out, seed=seed, weeks=weeks)
    return simulate(out, seed=seed, weeks=weeks, start=start)
