"""The study area: the place whose points are kept, named three ways.

* local authority codes anywhere in the UK (``E06000008``,
  ``N09000003,N09000007``), from the shipped ONS outlines;
* a shipped name: ``lancashire`` (the 14 authorities of its police force area);
* a polygon file (GeoJSON, GeoPackage as ``file.gpkg`` or ``file.gpkg:layer``,
  any CRS pyproj knows).

The area also decides the metric CRS (:func:`geo.crs.choose_metric_crs`) and
the coordinate sanity box: a study area in the UK takes points in the UK, one
elsewhere takes points near itself.
"""

from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np
import numpy.typing as npt
import shapely
from pyproj import Transformer
from shapely.geometry.base import BaseGeometry

from geo.boundaries import BWD, DEFAULT_TOLERANCE_M, LANCASHIRE, all_districts
from geo.crs import (
    WGS84,
    MetricCrs,
    choose_metric_crs,
    latlng_to_metric,
    metric_crs,
)
from geo.errors import ValidationError

UK_LAT = (49.8, 61.0)
UK_LNG = (-8.7, 2.1)
"""The United Kingdom with its islands, generously, in degrees."""


@dataclass(frozen=True)
class Region:
    """Where plausible points lie, for the coordinate checks: a lat/lng box and its name."""

    name: str
    lat: tuple[float, float] = UK_LAT
    lng: tuple[float, float] = UK_LNG

    def contains(self, lat: npt.ArrayLike, lng: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        la = np.asarray(lat, dtype=np.float64)
        ln = np.asarray(lng, dtype=np.float64)
        return (la >= self.lat[0]) & (la <= self.lat[1]) & (ln >= self.lng[0]) & (ln <= self.lng[1])


GREAT_BRITAIN = Region("Great Britain")
UNITED_KINGDOM = Region("the UK")


@dataclass(frozen=True)
class StudyArea:
    """The area whose points are kept.

    Parameters
    ----------
    codes
        Local authority codes (any in the shipped UK outlines); default
        Blackburn with Darwen. Empty when ``file`` names the area.
    tolerance_m
        A point this close to the outline still counts as inside.
    file, layer
        A polygon file (and GeoPackage layer) that names the area instead.
    wkt
        The polygon itself (WGS84 WKT), as stored with the data, when the
        area came from a file.
    """

    codes: tuple[str, ...] = (BWD,)
    tolerance_m: float = DEFAULT_TOLERANCE_M
    file: str | None = None
    layer: str | None = None
    wkt: str | None = None
    note: str = field(default="", compare=False)

    @classmethod
    def parse(cls, text: str, *, tolerance_m: float = DEFAULT_TOLERANCE_M) -> StudyArea:
        """From ``E06000008``, ``E06000008,E07000120``, ``lancashire`` or a polygon file."""
        raw = text.strip()
        if raw.lower() == "lancashire":
            return cls(LANCASHIRE, tolerance_m)
        path, layer = _split_file(raw)
        if path is not None:
            from geo.areafile import read_polygon

            got = read_polygon(path, layer=layer, what="--study-area", crs=WGS84)
            return cls(
                (),
                tolerance_m,
                str(Path(path).resolve()),
                layer,
                shapely.to_wkt(got.polygon),
                got.note,
            )
        codes = tuple(c.strip().upper() for c in raw.split(",") if c.strip())
        known = all_districts()
        unknown = [c for c in codes if c not in set(known["code"])]
        if not codes or unknown:
            hints = []
            names = known.set_index("code")["name"]
            for c in unknown or [raw]:
                close = nearest_codes(c.upper(), list(known["code"]))
                if close:
                    hints.append(
                        f"`{c}` is not known; the nearest known codes are "
                        + ", ".join(f"{k} ({names[k]})" for k in close)
                    )
            hint = ("; ".join(hints) + ". ") if hints else ""
            msg = (
                f"study area `{text}` names unknown local authorities {unknown or [raw]}. {hint}"
                "Use `lancashire`, codes of the 391 UK authorities of 2016 in "
                "data/boundaries/uk_ltla_2016_bsc.geojson, or, for an authority created since "
                "2016, a polygon file of the area (GeoJSON, or GeoPackage as file.gpkg:layer)."
            )
            raise ValidationError(msg)
        return cls(codes, tolerance_m)

    @classmethod
    def stored(cls, text: str, wkt: str | None, *, tolerance_m: float) -> StudyArea:
        """The study area as a store recorded it (:attr:`spec` and, for a file, its polygon)."""
        if text.startswith("file:"):
            if not wkt:
                msg = f"the store records study area `{text}` without its polygon."
                raise ValidationError(msg)
            path, _, layer = text[len("file:") :].partition("#")
            return cls((), tolerance_m, path, layer or None, wkt)
        return cls.parse(text, tolerance_m=tolerance_m)

    @property
    def spec(self) -> str:
        """The text a store records: codes, ``lancashire``, or ``file:path[#layer]``."""
        if self.file is not None:
            return f"file:{self.file}" + (f"#{self.layer}" if self.layer else "")
        if set(self.codes) == set(LANCASHIRE):
            return "lancashire"
        return ",".join(self.codes)

    def same_as(self, other: StudyArea) -> bool:
        """Whether two study areas are the same place (files compare by polygon)."""
        if (self.file is None) != (other.file is None):
            return False
        if self.file is not None:
            return _digest(self.wkt) == _digest(other.wkt)
        return set(self.codes) == set(other.codes)

    @property
    def label(self) -> str:
        if self.file is not None:
            return Path(self.file).stem + (f" ({self.layer})" if self.layer else "")
        if set(self.codes) == set(LANCASHIRE):
            return "Lancashire"
        names = all_districts().set_index("code")["name"]
        return ", ".join(str(names.get(c, c)) for c in self.codes)

    def outline(self) -> BaseGeometry:
        """The area's outline in WGS84."""
        if self.wkt is not None:
            return _from_wkt(self.wkt)
        return _outline(self.codes)

    @property
    def metric(self) -> MetricCrs:
        """The CRS metric work uses for this area (chosen by :func:`geo.crs.choose_metric_crs`)."""
        c = self.outline().centroid
        return choose_metric_crs(float(c.y), float(c.x), ireland=_on_ireland(self))

    @property
    def region(self) -> Region:
        """Where plausible points lie: Great Britain, the UK, or near the area abroad."""
        grid = self.metric.grid
        if grid == "os":
            return GREAT_BRITAIN
        if grid == "irish" and any(code.startswith("N") for code in self.district_codes):
            return UNITED_KINGDOM
        x0, y0, x1, y1 = self.outline().bounds
        return Region(f"the area around {self.label}", (y0 - 2.0, y1 + 2.0), (x0 - 2.0, x1 + 2.0))

    @property
    def district_codes(self) -> tuple[str, ...]:
        """Local authorities the area covers (for a file: those it overlaps)."""
        if self.file is None:
            return self.codes
        return _overlapping_districts(self.wkt or "")

    def contains(self, lat: npt.ArrayLike, lng: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """Whether each point lies in the area or within ``tolerance_m`` of it."""
        la = np.asarray(lat, dtype=np.float64)
        ln = np.asarray(lng, dtype=np.float64)
        out = np.zeros(la.size, dtype=bool)
        ok = np.isfinite(la) & np.isfinite(ln)
        if ok.any():
            x, y = latlng_to_metric(la[ok], ln[ok])
            area = _buffered(self.outline().wkb, metric_crs().code, self.tolerance_m)
            out[ok] = shapely.intersects_xy(area, x, y)
        return out


def _on_ireland(area: StudyArea) -> bool | None:
    """Whether the area is on the island of Ireland: Northern Irish authorities say yes,
    British ones no; a file away from every UK authority is left to the box test."""
    codes = area.district_codes
    if codes:
        return all(c.startswith("N") for c in codes)
    return None


def _edits(a: str, b: str) -> int:
    """Levenshtein distance (codes are nine characters, so this is cheap)."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def nearest_codes(code: str, known: list[str], n: int = 3) -> list[str]:
    """The known codes fewest edits from ``code`` (at most 3 edits), closest first."""
    scored = sorted(
        (_edits(code, k), -difflib.SequenceMatcher(None, code, k).ratio(), k) for k in known
    )
    return [k for d, _, k in scored[:n] if d <= 3]


def _split_file(text: str) -> tuple[str | None, str | None]:
    """(path, layer) when ``text`` names a polygon file, else (None, None)."""
    from geo.areafile import SUFFIXES

    path, layer = text, None
    if ":" in text and not Path(text).exists():
        head, _, tail = text.rpartition(":")
        if Path(head).suffix.lower() == ".gpkg":
            path, layer = head, tail or None
    if Path(path).suffix.lower() in SUFFIXES or Path(path).exists():
        return path, layer
    return None, None


@cache
def _from_wkt(wkt: str) -> BaseGeometry:
    return shapely.from_wkt(wkt)


def _digest(wkt: str | None) -> str:
    return hashlib.sha256((wkt or "").encode()).hexdigest()


@cache
def _outline(codes: tuple[str, ...]) -> BaseGeometry:
    d = all_districts()
    return shapely.union_all(d[d["code"].isin(codes)].geometry.values)


@cache
def _overlapping_districts(wkt: str) -> tuple[str, ...]:
    d = all_districts()
    poly = _from_wkt(wkt)
    return tuple(d.loc[d.intersects(poly), "code"])


@cache
def _buffered(outline_wkb: bytes, crs: str, tolerance_m: float) -> BaseGeometry:
    t = Transformer.from_crs(WGS84, crs, always_xy=True)
    geom = shapely.transform(
        shapely.from_wkb(outline_wkb), lambda xy: np.column_stack(t.transform(*xy.T))
    )
    if tolerance_m > 0:
        geom = geom.buffer(tolerance_m)
    shapely.prepare(geom)
    return geom


_active: list[StudyArea | None] = [None]


def use_study_area(area: StudyArea | None) -> None:
    """Make ``area`` the study area of this process and its metric CRS the one in use."""
    from geo.crs import BRITISH_NATIONAL_GRID, use_metric_crs

    _active[0] = area
    use_metric_crs(area.metric if area is not None else BRITISH_NATIONAL_GRID)


def active_study_area() -> StudyArea:
    """The study area of the opened store (Blackburn with Darwen before one is opened)."""
    return _active[0] or StudyArea()


def use_boundaries_folder(folder: Path | None) -> None:
    """Read boundary files from ``folder`` (None: the shipped ones) and forget what was
    built from the previous folder (areas, outlines)."""
    from geo.areas import forget_boundaries
    from geo.boundaries import use_boundaries_dir

    use_boundaries_dir(folder)
    forget_boundaries()
    for cached in (_outline, _overlapping_districts):
        cached.cache_clear()
