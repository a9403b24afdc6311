"""Ingest files into the store, and write the synthetic scenario."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from api.settings import Settings
from api.usecases.area import record_area
from api.usecases.store import opened_store
from geo.errors import InputFileError, StoreError
from geo.ingest import IngestReport, ingest_or_refuse, refusal
from geo.pseudonym import check_key
from geo.studyarea import StudyArea, active_study_area
from maps.files import staged


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
    for path in paths:
        if Path(path).is_dir():
            fix = f"Give the files in it, e.g. {path}/*.csv."
            raise InputFileError(str(path), "is a folder, not a file.", fix)
        if not Path(path).is_file():
            raise InputFileError(str(path), "file not found.", "Check the path.")
    key = key or settings.pseudonym_key
    key_bytes = check_key(key) if key else None
    reports: list[IngestReport] = []
    with opened_store(location, init=True, settings=settings, study_area=study_area) as store:
        area = active_study_area()
        for i, path in enumerate(paths):
            try:
                # A refused file (unusable, or --strict with bad rows) is a report of its
                # own; the call goes on to the next file and reports every one.
                report = ingest_or_refuse(
                    store,
                    kind,
                    path,
                    strict=strict,
                    study_area=area,
                    key=key_bytes,
                    quarantine_dir=settings.quarantine_dir,
                    layer=layer,
                    progress=progress,
                )
            except StoreError as exc:  # the store failed: report it and stop
                reports.append(refusal(kind, path, exc))
                reports += [
                    IngestReport(
                        kind, str(p), refused=f"{p}: not ingested: the store failed on {path}."
                    )
                    for p in paths[i + 1 :]
                ]
                break
            store.record_run(
                "ingest",
                {"kind": kind, "file": str(path), "strict": strict},
                report.as_dict(),
            )
            reports.append(report)
            if report.rows_stored and store.meta("study_area") is None:
                # The first ingest that stores rows records the area they were checked against.
                record_area(store, area)
    return reports


SCENARIO_FILES = (
    "episodes.csv",
    "venues.csv",
    "venue_reports.csv",
    "disruptions.csv",
    "truth.json",
)
"""The files ``engage simulate`` writes into its folder."""


def simulate_scenario(
    out: Path,
    *,
    seed: int,
    weeks: int,
    start: date | None = None,
    disruptions: int | None = None,
    placebos: int | None = None,
) -> Any:
    """Write the synthetic Blackburn with Darwen scenario into ``out``.

    The files are written in a temporary folder inside ``out`` and moved in
    together, so a failure leaves ``out`` as it was and no file written
    through a link planted there. ``start``, ``disruptions`` and
    ``placebos`` left as None take :func:`geo.simulate.simulate`'s defaults.
    """
    from dataclasses import replace

    from geo.simulate import simulate

    out = Path(out)
    options: dict[str, Any] = {
        name: value
        for name, value in (("start", start), ("disruptions", disruptions), ("placebos", placebos))
        if value is not None
    }
    with staged(out, SCENARIO_FILES) as tmp:
        files = simulate(tmp, seed=seed, weeks=weeks, **options)
    return replace(
        files,
        out_dir=out,
        episodes=out / "episodes.csv",
        venues=out / "venues.csv",
        venue_reports=out / "venue_reports.csv",
        disruptions=out / "disruptions.csv",
        truth=out / "truth.json",
    )
