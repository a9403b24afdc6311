"""Settings from the environment (prefix ``ENGAGE_``), read when asked, never at import.

``ENGAGE_STORE``
    Store location: a ``.gpkg`` path or a ``postgresql://`` URL; default ``./engage.gpkg``.
``ENGAGE_STUDY_AREA``
    ``lancashire`` or local authority codes, comma separated; default ``E06000008``
    (Blackburn with Darwen).
``ENGAGE_AREA_TOLERANCE_M``
    How far outside generalised boundaries a point still counts, in metres; default 250.
``ENGAGE_QUARANTINE_DIR``
    Where quarantine files go; default ``./quarantine``.
``ENGAGE_PSEUDONYM_KEY``
    Secret key for child pseudonyms, never stored; without it ingest of episodes refuses.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from geo.boundaries import DEFAULT_TOLERANCE_M, StudyArea
from geo.errors import ValidationError
from geo.store import DEFAULT_STORE


@dataclass(frozen=True)
class Settings:
    store: str = DEFAULT_STORE
    study_area: str = ""
    area_tolerance_m: float = DEFAULT_TOLERANCE_M
    quarantine_dir: Path = Path("quarantine")

    @classmethod
    def from_env(cls) -> Settings:
        tol_text = os.environ.get("ENGAGE_AREA_TOLERANCE_M", "")
        try:
            tol = float(tol_text) if tol_text else DEFAULT_TOLERANCE_M
        except ValueError:
            tol = -1.0
        if not 0 <= tol <= 5000:
            msg = (
                f"`ENGAGE_AREA_TOLERANCE_M` must be a distance in metres from 0 to 5000, "
                f"got {tol_text!r}."
            )
            raise ValidationError(msg)
        return cls(
            store=os.environ.get("ENGAGE_STORE") or DEFAULT_STORE,
            study_area=os.environ.get("ENGAGE_STUDY_AREA", ""),
            area_tolerance_m=tol,
            quarantine_dir=Path(os.environ.get("ENGAGE_QUARANTINE_DIR") or "quarantine"),
        )

    def area(self, override: str | None = None) -> StudyArea:
        text = override or self.study_area
        if text:
            return StudyArea.parse(text, tolerance_m=self.area_tolerance_m)
        return StudyArea(tolerance_m=self.area_tolerance_m)
