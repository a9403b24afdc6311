"""Settings from the environment: the one place that reads ``ENGAGE_*`` variables.

Read when asked (:meth:`Settings.from_env`), never at import; checked once
here and passed on as typed values.

``ENGAGE_STORE``
    Store location: a ``.gpkg`` path or a ``postgresql://`` URL; default ``./engage.gpkg``.
``ENGAGE_STUDY_AREA``
    ``lancashire``, UK local authority codes (comma separated) or a polygon file
    (docs/areas.md). Unset, the store's recorded study area is used, else
    ``E06000008`` (Blackburn with Darwen).
``ENGAGE_AREA_TOLERANCE_M``
    How far outside generalised boundaries a point still counts, in metres
    (0 to 5000); default 250.
``ENGAGE_QUARANTINE_DIR``
    Where quarantine files go; default ``./quarantine``.
``ENGAGE_PSEUDONYM_KEY``
    Secret key for child pseudonyms, never stored or printed; without it the
    ingest of episodes refuses (the synthetic ``engage demo`` makes a one-off key).
``ENGAGE_BOUNDARIES_DIR``
    A folder of boundary files to use instead of the shipped ``data/boundaries``
    (same file names).
``ENGAGE_TILES``
    A tile URL template (``http://host:port/{z}/{x}/{y}.png``, for example a
    force's own tile server) for the web map's background; unset, the map
    needs no network at all.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from geo.boundaries import DEFAULT_TOLERANCE_M
from geo.errors import ValidationError
from geo.store import DEFAULT_STORE
from geo.studyarea import StudyArea, use_boundaries_folder

VARIABLES = (
    "ENGAGE_STORE",
    "ENGAGE_STUDY_AREA",
    "ENGAGE_AREA_TOLERANCE_M",
    "ENGAGE_QUARANTINE_DIR",
    "ENGAGE_PSEUDONYM_KEY",
    "ENGAGE_BOUNDARIES_DIR",
    "ENGAGE_TILES",
)
"""Every variable the product reads (documented above and in the README)."""


@dataclass(frozen=True)
class Settings:
    store: str = DEFAULT_STORE
    study_area: str = ""
    area_tolerance_m: float = DEFAULT_TOLERANCE_M
    quarantine_dir: Path = Path("quarantine")
    pseudonym_key: str | None = field(default=None, repr=False)
    boundaries_dir: Path | None = None
    tiles: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings of :data:`VARIABLES` (``environ`` default ``os.environ``), checked.

        Raises
        ------
        ValidationError
            For a tolerance that is not a distance from 0 to 5000 m, or a
            boundaries folder that does not exist.
        """
        env = os.environ if environ is None else environ
        tol_text = env.get("ENGAGE_AREA_TOLERANCE_M", "")
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
        folder = env.get("ENGAGE_BOUNDARIES_DIR") or None
        if folder is not None and not Path(folder).is_dir():
            msg = (
                f"`ENGAGE_BOUNDARIES_DIR` is {folder!r}, which is not a folder. Point it at the "
                "folder holding bwd_wards_2018.geojson, or unset it to use the shipped boundaries."
            )
            raise ValidationError(msg)
        return cls(
            store=env.get("ENGAGE_STORE") or DEFAULT_STORE,
            study_area=env.get("ENGAGE_STUDY_AREA", ""),
            area_tolerance_m=tol,
            quarantine_dir=Path(env.get("ENGAGE_QUARANTINE_DIR") or "quarantine"),
            pseudonym_key=env.get("ENGAGE_PSEUDONYM_KEY") or None,
            boundaries_dir=Path(folder) if folder else None,
            tiles=env.get("ENGAGE_TILES") or None,
        )

    def apply(self) -> Settings:
        """Make the settings that configure the ``geo`` package take effect (boundaries)."""
        use_boundaries_folder(self.boundaries_dir)
        return self

    def requested_area(self, override: str | None = None) -> StudyArea | None:
        """The study area asked for (``override``, else ``ENGAGE_STUDY_AREA``), None if neither."""
        text = override or self.study_area
        return StudyArea.parse(text, tolerance_m=self.area_tolerance_m) if text else None

    def area(self, override: str | None = None) -> StudyArea:
        """The study area: ``override``, else ``ENGAGE_STUDY_AREA``, else the default."""
        text = override or self.study_area
        if text:
            return StudyArea.parse(text, tolerance_m=self.area_tolerance_m)
        return StudyArea(tolerance_m=self.area_tolerance_m)
