"""Gazetteers: named public places that tell a patrol where a target is.

A gazetteer is a set of points with a name (a street, a named place), kept in
the store as reference features of family ``"gazetteer"`` (columns ``code``,
``name``, ``type``, WGS84 point). Three kinds of file give one:

- **OS Open Names** CSV (kind ``os_open_names``): Ordnance Survey's open
  gazetteer of Great Britain. The product's data files have **no header
  row**; the column order is the one of the header file shipped beside them
  (``Doc/OS_Open_Names_Header.csv``, OS Open Names technical specification),
  :data:`geo.gazetteerfiles.OS_OPEN_NAMES_COLUMNS`, also written out in public readers of the
  product. A file with that header row is read the same way (the header is
  detected). ``ID`` is the code, ``NAME1`` the name, ``LOCAL_TYPE`` the type,
  ``GEOMETRY_X``/``GEOMETRY_Y`` the point in British National Grid metres.
  Its ``Postcode`` entries are left out: a unit postcode covers a handful of
  homes, and a target is never named by one.
- **data.police.uk** street-crime CSV (kind ``police.uk``): each crime's
  published, anonymised map point ("snap point") and its ``Location`` text
  ("On or near Whalley Range"). Distinct points are kept; code is the
  point's ``"lat,lng"`` to 6 decimals, name the text without "On or near "
  (:func:`snap_points`; ingest keeps them too).
- **any point file** (kind ``file``): GeoJSON or GeoPackage in any CRS, or CSV
  with ``lat``/``lng`` or ``easting``/``northing``, and a name column
  (``name_field``, else the first of :data:`geo.gazetteerfiles.NAME_FIELDS`).

Police.uk names such as "Supermarket" or "Parking Area" are places, not
streets; they are kept, since they help find the spot. Which name a target
gets is simply the nearest (:mod:`models.near`).

Everything is vectorised: OS Open Names for Great Britain is about three
million rows, read in chunks with only the five columns used.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely

from geo.crs import (
    latlng_to_metric,
)

FAMILY = "gazetteer"
POLICE_UK = "police.uk"
OS_OPEN_NAMES = "os_open_names"
FILE = "file"
FORMATS = (OS_OPEN_NAMES, POLICE_UK, FILE)
POLICE_UK_TYPE = "police.uk snap point"
DEFAULT_MARGIN_M = 500.0
"""Places this far outside the study area are still kept: a target near the edge
(the area's tolerance, 250 m by default, plus the 150 m search) finds its street."""


PLACE_COLUMNS = ("code", "name", "type", "lat", "lng")
"""Columns of a place frame (before it becomes features)."""

_PREFIX = re.compile(r"^\s*on\s+or\s+near\b\s*", re.IGNORECASE)


def tidy_names(text: pd.Series) -> pd.Series:
    """Place names as printed: no "On or near " prefix, runs of whitespace as one space,
    and the possessive police.uk capitalises ("Queen'S Park Road") in lower case."""
    out = text.fillna("").astype(str).str.replace(_PREFIX, "", regex=True)
    out = out.str.replace(r"(?<=\w)'S\b", "'s", regex=True)
    return out.str.replace(r"\s+", " ", regex=True).str.strip()


def point_codes(lat: npt.ArrayLike, lng: npt.ArrayLike) -> npt.NDArray[np.str_]:
    """The code of each point: ``"lat,lng"`` rounded to 6 decimals (about 0.1 m)."""
    la = np.round(np.asarray(lat, dtype=np.float64), 6) + 0.0  # no "-0.000000"
    ln = np.round(np.asarray(lng, dtype=np.float64), 6) + 0.0
    return np.char.add(np.char.add(np.char.mod("%.6f", la), ","), np.char.mod("%.6f", ln))


def snap_points(lat: npt.ArrayLike, lng: npt.ArrayLike, location: pd.Series) -> pd.DataFrame:
    """Distinct (point, name) pairs of police.uk rows, with how often each was published.

    Rows without a finite point or with an empty name are left out. Columns
    ``code``, ``name``, ``lat``, ``lng`` (the rounded point) and ``n``; combine
    the counts of several chunks or files with :func:`choose_snap_names`.
    """
    la = np.asarray(lat, dtype=np.float64)
    ln = np.asarray(lng, dtype=np.float64)
    names = tidy_names(pd.Series(np.asarray(location, dtype=object)))
    ok = np.isfinite(la) & np.isfinite(ln) & (names != "").to_numpy()
    frame = pd.DataFrame({"code": point_codes(la[ok], ln[ok]), "name": names.to_numpy()[ok]})
    counted = frame.groupby(["code", "name"], sort=False).size().rename("n").reset_index()
    return counted


def choose_snap_names(counts: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """One place per snap point: the name published most often there (ties: alphabetical).

    ``counts`` are frames of :func:`snap_points`. Returns :data:`PLACE_COLUMNS`
    sorted by code, type ``police.uk snap point``.
    """
    frames = [c for c in counts if len(c)]
    if not frames:
        return empty_places()
    every = pd.concat(frames, ignore_index=True)
    total = every.groupby(["code", "name"], sort=False)["n"].sum().reset_index()
    total = total.sort_values(["code", "n", "name"], ascending=[True, False, True], kind="stable")
    best = total.drop_duplicates("code", keep="first").reset_index(drop=True)
    parts = best["code"].str.split(",", n=1, expand=True)
    return pd.DataFrame(
        {
            "code": best["code"].astype(str),
            "name": best["name"].astype(str),
            "type": POLICE_UK_TYPE,
            "lat": parts[0].astype(float),
            "lng": parts[1].astype(float),
        }
    )


def empty_places() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "code": pd.Series(dtype=object),
            "name": pd.Series(dtype=object),
            "type": pd.Series(dtype=object),
            "lat": pd.Series(dtype=float),
            "lng": pd.Series(dtype=float),
        }
    )


def as_features(places: pd.DataFrame) -> gpd.GeoDataFrame:
    """A place frame as the store's feature frame: ``code``, ``name``, ``type``, WGS84 points."""
    return gpd.GeoDataFrame(
        {
            "code": places["code"].astype(str).to_numpy(),
            "name": places["name"].astype(object).to_numpy(),
            "type": places["type"].astype(object).to_numpy(),
        },
        geometry=gpd.points_from_xy(places["lng"], places["lat"]),
        crs="EPSG:4326",
    )


def places_xy(features: gpd.GeoDataFrame | pd.DataFrame) -> pd.DataFrame:
    """Stored gazetteer features as ``name``, ``x``, ``y`` (metres in :func:`geo.crs.metric_crs`).

    Accepts the store's feature frame (point ``geometry``, WGS84) or a frame
    with ``lat``/``lng``. Rows without a name are left out.
    """
    if "geometry" in features.columns:
        geoms = np.asarray(features.geometry.values, dtype=object)
        lng, lat = shapely.get_x(geoms), shapely.get_y(geoms)
    else:
        lat = features["lat"].to_numpy(dtype=np.float64)
        lng = features["lng"].to_numpy(dtype=np.float64)
    names = features["name"].fillna("").astype(str).to_numpy()
    keep = (names != "") & np.isfinite(lat) & np.isfinite(lng)
    x, y = latlng_to_metric(lat[keep], lng[keep])
    return pd.DataFrame({"name": names[keep], "x": x, "y": y})


# --- reading a gazetteer file --------------------------------------------------------------


SHIPPED_DIR = Path(__file__).resolve().parents[1] / "data" / "gazetteer"
SHIPPED_BWD = SHIPPED_DIR / "bwd_policeuk.csv"
"""Blackburn with Darwen's police.uk snap points (scripts/build_gazetteer.py)."""


def shipped_places(path: Path = SHIPPED_BWD) -> gpd.GeoDataFrame:
    """The shipped gazetteer (``code``, ``name``, ``lat``, ``lng``) as feature rows."""
    frame = pd.read_csv(path, dtype={"code": str, "name": str}, keep_default_na=False)
    frame["type"] = POLICE_UK_TYPE
    return as_features(frame)
