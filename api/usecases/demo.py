"""``engage demo``: the synthetic Blackburn with Darwen scenario, stored, counted and packed."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from api.settings import Settings
from api.usecases.ingest import ingest_files, simulate_scenario
from api.usecases.review import ReviewRun, review_disruptions
from api.usecases.tables import Stats, stats
from api.usecases.week import WeeklyResult, weekly
from geo.errors import StoreError
from geo.ingest import IngestReport
from geo.pseudonym import generate_key
from maps.files import record_written
from models.review_areas import ReviewSpec


@dataclass(frozen=True)
class DemoResult:
    """What ``engage demo`` made."""

    scenario_dir: Path
    store: str
    reports: list[IngestReport]
    stats: Stats
    generated_key: bool
    pack: WeeklyResult
    review: ReviewRun


DEMO_OUTPUTS = ("engage.gpkg", "scenario", "quarantine", "pack", "review")
"""What ``engage demo`` writes into its folder."""

DEMO_ORDER = (
    ("venues", "venues.csv"),
    ("venue-reports", "venue_reports.csv"),
    ("disruptions", "disruptions.csv"),
    ("episodes", "episodes.csv"),
)


def demo(out: Path, *, seed: int = 7, weeks: int = 104, settings: Settings) -> DemoResult:
    """Simulate the synthetic scenario, ingest it, count it, and write a pack and a review.

    ``out/pack`` is the weekly pack for the week after the data; ``out/review``
    the partnership review of every planted disruption, as partners see it.

    The scenario is synthetic, so when ``ENGAGE_PSEUDONYM_KEY`` is unset a
    random key is generated for this run only (and never written anywhere).
    """
    out = Path(out)
    scenario = out / "scenario"
    location = str(out / "engage.gpkg")
    # The caller checked that the folder holds nothing of anyone else's (DEMO_OUTPUTS);
    # the demo's own earlier store is replaced by a fresh one.
    if Path(location).exists():
        Path(location).unlink()
    simulate_scenario(scenario, seed=seed, weeks=weeks)
    generated = not settings.pseudonym_key
    key = settings.pseudonym_key or generate_key()
    demo_settings = replace(
        settings,
        store=location,
        study_area="",
        quarantine_dir=out / "quarantine",
        pseudonym_key=key,
        tiles=None,
    )
    reports: list[IngestReport] = []
    for kind, name in DEMO_ORDER:
        reports += ingest_files(location, kind, [scenario / name], settings=demo_settings)
    refused = [r.refused for r in reports if r.refused is not None]
    if refused:  # the demo writes its own files: a refusal is a defect, said plainly
        raise StoreError(f"the demo's own files were refused: {'; '.join(refused)}")
    pack = weekly(location, week=None, out_dir=out / "pack", settings=demo_settings)
    review = review_disruptions(
        location,
        settings=demo_settings,
        out_dir=out / "review",
        spec=ReviewSpec.make(),
        audience="partner",
    )
    record_written(out, DEMO_OUTPUTS)
    return DemoResult(scenario, location, reports, stats(location), generated, pack, review)
