"""Every Lancashire police.uk month in the shared data ingests, every quarantined row explained."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from geo import schemas
from geo.ingest import ingest_file
from geo.store import open_store
from geo.studyarea import StudyArea

EXPLAINED = (
    "no location: data.police.uk publishes some crimes without coordinates",
    "the point is outside the study area (Lancashire)",
    "duplicate Crime ID (first at row",
)


@pytest.mark.slow
def test_all_36_months_of_lancashire(tmp_path: Path, police_uk: Path) -> None:
    files = sorted((police_uk / "full").glob("*-lancashire-street.csv.gz"))
    assert len(files) == 36
    store = open_store(str(tmp_path / "lancs.gpkg"))
    store.init()
    area = StudyArea.parse("lancashire")
    read = quarantined = 0
    reasons: dict[str, int] = {}
    try:
        for path in files:
            report = ingest_file(
                store, "police-uk", path, study_area=area, quarantine_dir=tmp_path / "q"
            )
            raw_rows = len(pd.read_csv(path, usecols=[0]))
            assert report.rows_read == raw_rows, path.name
            read += report.rows_read
            quarantined += report.rows_quarantined
            for reason, n in report.reasons.items():
                reasons[reason] = reasons.get(reason, 0) + n
            if report.quarantine_path:
                q = pd.read_csv(report.quarantine_path, dtype=str)
                unexplained = q[~q["reason"].str.startswith(EXPLAINED)]
                assert unexplained.empty, unexplained.head().to_string()
        stored = store.count(schemas.INCIDENTS)
    finally:
        store.close()
    # Each stored row is a distinct incident; a crime republished in a later
    # month updates its row instead of adding one.
    assert stored <= read - quarantined
    assert stored > 0.9 * read
    # About 5% of rows have no location and a few fall outside the force area.
    no_location = sum(n for r, n in reasons.items() if r.startswith(EXPLAINED[0]))
    assert 0.02 < no_location / read < 0.08
