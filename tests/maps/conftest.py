"""Hand-made inputs for the map, pack and export tests.

The shapes match what the weekly-pack service passes: a hotspot frame (one
row per H3 cell), a ranked target frame, DBSCAN hulls, venues, the pack's
wards and a ``meta`` dict. Hostile text sits in every text column that comes
from data.
"""

from __future__ import annotations

import io
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import pytest
import shapely
from matplotlib.image import imsave

from geo.boundaries import wards
from geo.crs import bng_to_grid_reference, latlng_to_bng
from maps.disclosure import AUDIENCES, Audience, cells_view, summary_view, targets_view

HOSTILE = "<script>alert(1)</script>"
FORMULA = '=HYPERLINK("http://x")'
TEMPLATE_JS = "${alert(2)}`"
HOSTILE_IMG = '<img src=x onerror="alert(3)">'
ODD_WARD = 'St Mary\'s & "Old" Town'
MARKING = "OFFICIAL-SENSITIVE"


def make_area(
    codes: tuple[str, ...] = ("E05011511",), *, odd_name: bool = True
) -> gpd.GeoDataFrame:
    """Real ward outlines; the first ward renamed with ``&`` and quotes."""
    w = wards()
    area = w[w["code"].isin(codes)].reset_index(drop=True).copy()
    if odd_name:
        area.loc[0, "name"] = ODD_WARD
    return area


def make_hotspots(
    area: gpd.GeoDataFrame, *, n_cells: int = 200, res: int = 9, seed: int = 7
) -> pd.DataFrame:
    """``n_cells`` cells around the centre of each ward, scores falling with distance."""
    rng = np.random.default_rng(seed)
    per = n_cells // len(area)
    rows: list[pd.DataFrame] = []
    for i, geom in enumerate(area.geometry):
        pt = geom.representative_point()
        centre = h3.latlng_to_cell(pt.y, pt.x, res)
        k = 1
        while len(h3.grid_disk(centre, k)) < per:
            k += 1
        ring = sorted(h3.grid_disk(centre, k), key=lambda c: (h3.grid_distance(centre, c), c))
        cells = ring[: per if i < len(area) - 1 else n_cells - per * (len(area) - 1)]
        dist = np.array([h3.grid_distance(centre, c) for c in cells], dtype=float)
        latlng = np.array([h3.cell_to_latlng(c) for c in cells])
        score = 50.0 * np.exp(-dist / 3.0) * rng.uniform(0.6, 1.0, len(cells))
        n = rng.integers(1, 30, len(cells))
        rows.append(
            pd.DataFrame(
                {
                    "h3": np.array([h3.str_to_int(c) for c in cells], dtype=np.int64),
                    "lat": latlng[:, 0],
                    "lng": latlng[:, 1],
                    "score": score,
                    "n": n,
                    "n_children": np.minimum(n, rng.integers(1, 12, len(cells))),
                    "cluster": np.where(dist <= 2, i, -1),
                }
            )
        )
    out = pd.concat(rows, ignore_index=True)
    # Neighbouring wards' disks overlap: keep one row per cell, the hotter.
    out = out.sort_values("score", ascending=False).drop_duplicates("h3")
    return out.reset_index(drop=True)


def make_targets(
    hotspots: pd.DataFrame, area: gpd.GeoDataFrame, *, n: int = 10, seed: int = 3
) -> pd.DataFrame:
    """The ``n`` hottest cells as ranked targets, hostile text included."""
    rng = np.random.default_rng(seed)
    top = hotspots.sort_values("score", ascending=False).head(n).reset_index(drop=True)
    pts = shapely.points(top["lng"], top["lat"])
    ward_name = []
    for p in pts:
        hit = area[area.contains(p)]
        ward_name.append(str(hit["name"].iloc[0]) if len(hit) else str(area["name"].iloc[0]))
    e, nn = latlng_to_bng(top["lat"], top["lng"])
    episodes = rng.integers(1, 40, n)
    children = np.minimum(episodes, rng.integers(1, 15, n))
    why = [
        f"{c} children seen in {ep} episodes; busiest Fri evenings"
        for ep, c in zip(episodes, children, strict=True)
    ]
    why[0] = FORMULA
    if n > 2:
        why[2] = f"{TEMPLATE_JS} {HOSTILE}"
    venue: list[str | None] = [f"Corner Takeaway {i}" for i in range(n)]
    venue[1] = None
    if n > 3:
        venue[3] = HOSTILE_IMG
    return pd.DataFrame(
        {
            "rank": np.arange(1, n + 1),
            "h3": top["h3"].to_numpy(),
            "lat": top["lat"].to_numpy(),
            "lng": top["lng"].to_numpy(),
            "score": top["score"].to_numpy(),
            "ward_name": ward_name,
            "grid_ref": bng_to_grid_reference(e, nn, digits=10),
            "episodes": episodes,
            "children": children,
            "found": rng.integers(0, 6, n),
            "venue_reports": rng.integers(0, 4, n),
            "patrol_window": ["Fri 20:00-24:00", "Sat 16:00-20:00"] * (n // 2)
            + ["Sun 12:00-16:00"] * (n % 2),
            "nearest_venue": venue,
            "why": why,
        }
    )


def make_hulls(hotspots: pd.DataFrame) -> gpd.GeoDataFrame:
    """Convex hulls of each cluster's cell centres."""
    rows = []
    for cid, grp in hotspots[hotspots["cluster"] >= 0].groupby("cluster"):
        hull = shapely.convex_hull(shapely.multipoints(np.c_[grp["lng"], grp["lat"]]))
        rows.append({"cluster": cid, "n_points": int(grp["n"].sum()), "geometry": hull})
    return gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326")


def make_venues(hotspots: pd.DataFrame) -> pd.DataFrame:
    """Three venues, one named with a script tag, at distinctive coordinates."""
    lat0, lng0 = float(hotspots["lat"].mean()), float(hotspots["lng"].mean())
    return pd.DataFrame(
        {
            "venue_id": ["v1", "v2", "v3"],
            "name": [HOSTILE, "Moonlight Hotel", "Speedy Cabs Ltd"],
            "venue_type": ["takeaway", "hotel", "taxi_firm"],
            "lat": [lat0 + 0.0012345, lat0 - 0.0023456, lat0 + 0.0034567],
            "lng": [lng0 + 0.0011111, lng0 - 0.0022222, lng0 + 0.0033333],
        }
    )


def make_significance(
    hotspots: pd.DataFrame, *, seed: int = 5, weeks: int = 12
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Gi* classes and emerging patterns of the hotspot cells, from the models themselves.

    Made-up values: about ten per cell, thirty more at the 15 hottest cells
    and none in the northern 15% of the cells, so Gi* finds hot and cold
    spots; weekly counts that grow at those 15 cells and fade in the north.
    Returns the frame the weekly service passes to the maps and its meta.
    """
    from models.emerging import emerging_hotspots
    from models.gistar import gistar

    rng = np.random.default_rng(seed)
    cells = hotspots["h3"].to_numpy(dtype=np.int64)
    lat = hotspots["lat"].to_numpy(dtype=float)
    hot = np.zeros(cells.size)
    hot[np.argsort(-hotspots["score"].to_numpy(dtype=float), kind="stable")[:15]] = 1.0
    north = (lat >= np.quantile(lat, 0.85)).astype(float)
    values = rng.poisson(10, cells.size).astype(float) + 30 * hot
    values[north > 0] = 0.0
    gi, _ = gistar(cells, values, k=1)
    ramp = np.linspace(0.0, 1.0, weeks)
    lam = 4 + np.outer(ramp, 12 * hot) - np.outer(ramp, 4 * north)
    counts = pd.DataFrame(
        rng.poisson(lam),
        index=pd.date_range("2025-10-06", periods=weeks, freq="7D").date,
        columns=cells,
    )
    em, _ = emerging_hotspots(cells, counts, k=1)
    frame = pd.DataFrame(
        {
            "h3": cells,
            "gi_z": gi["gi_z"].to_numpy(),
            "gi_p": gi["p"].to_numpy(),
            "gi_p_adj": gi["p_adj"].to_numpy(),
            "gi_class": gi["gi_class"].to_numpy(),
            "pattern": em["pattern"].to_numpy(),
            "mk_z": em["mk_z"].to_numpy(),
            "mk_p": em["mk_p"].to_numpy(),
            "mk_trend": em["trend"].to_numpy(),
        }
    )
    meta = {"gistar": {"k": 1, "fdr": True}, "emerging": {"n_weeks": weeks}}
    return frame, meta


def make_meta(audience: str = "analyst", **extra: Any) -> dict[str, Any]:
    """A ``meta`` dict as the weekly-pack service builds it."""
    meta: dict[str, Any] = {
        "title": "Weekly hotspot pack: Blackburn with Darwen",
        "period": "Mon 5 Jan 2026 - Sun 11 Jan 2026",
        "data_window": "6 Oct 2025 - 4 Jan 2026",
        "area_name": f"{ODD_WARD} (test)",
        "audience": audience,
        "marking": MARKING,
        "parameters": {
            "method": "kde",
            "resolution": 9,
            "bandwidth_m": 250.0,
            "half_life_days": 28,
            "lookback_weeks": 13,
        },
        "summary": {"episodes": 412, "children": 97, "found_locations": 188, "targets": 10},
        "generated_at": "2026-01-04T18:00:00Z",
        "version": "0.1.0",
    }
    meta.update(extra)
    if audience in AUDIENCES:
        # As the weekly pack does: the cover's counts as the audience may see them.
        meta["summary"] = summary_view(meta["summary"], Audience.make(audience))
    return meta


@pytest.fixture
def area() -> gpd.GeoDataFrame:
    return make_area()


@pytest.fixture
def hotspots(area: gpd.GeoDataFrame) -> pd.DataFrame:
    return make_hotspots(area)


@pytest.fixture
def targets(hotspots: pd.DataFrame, area: gpd.GeoDataFrame) -> pd.DataFrame:
    return make_targets(hotspots, area)


@pytest.fixture
def hulls(hotspots: pd.DataFrame) -> gpd.GeoDataFrame:
    return make_hulls(hotspots)


@pytest.fixture
def venues(hotspots: pd.DataFrame) -> pd.DataFrame:
    return make_venues(hotspots)


# --- a real browser ---------------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium through selenium 4; fails (never skips) when absent."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} not found: the map tests need Debian's chromium and "
            "chromium-driver. Run `make test`, which installs them (scripts/ensure_browser.sh)."
        )
    with tempfile.TemporaryDirectory(prefix="engage-chromium-") as profile:
        opts = webdriver.ChromeOptions()
        for arg in (
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--window-size=1280,900",
        ):
            opts.add_argument(arg)
        opts.binary_location = str(CHROMIUM)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)
        driver.set_page_load_timeout(30)
        try:
            yield driver
        finally:
            driver.quit()


def open_map(driver: Any, path: Path, *, timeout_s: float = 10.0) -> list[dict[str, Any]]:
    """Load a map file and wait for ``window.ENGAGE``; returns the console log of the load."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get_log("browser")  # drain what earlier pages logged
    driver.get(path.resolve().as_uri())
    WebDriverWait(driver, timeout_s).until(
        lambda d: d.execute_script("return !!(window.ENGAGE && window.ENGAGE.map)")
    )
    logs: list[dict[str, Any]] = driver.get_log("browser")
    return logs


def toggle_overlay(driver: Any, name: str) -> None:
    """Click the layer control's checkbox of the overlay ``name``, as a user would."""
    from selenium.webdriver.common.by import By

    for label in driver.find_elements(By.CSS_SELECTOR, ".leaflet-control-layers-overlays label"):
        if label.text.strip() == name:
            label.find_element(By.CSS_SELECTOR, "input").click()
            return
    pytest.fail(f"no layer control entry {name!r}")


def overlay_names(driver: Any) -> list[str]:
    """The overlay names listed in the layer control."""
    return list(
        driver.execute_script(
            "return Array.from(document.querySelectorAll("
            "'.leaflet-control-layers-overlays label')).map(e => e.textContent.trim())"
        )
    )


_DRAWN = """
const out = [];
ENGAGE.layers[arguments[0]].eachLayer(g => g.eachLayer(p => {
    if (p._path && document.body.contains(p._path)) {
        out.push({h3: p.feature.properties.h3, fill: p.options.fillColor,
                  dash: p.options.dashArray || null});
    }
}));
return out;
"""


def drawn_cells(driver: Any, key: str) -> list[dict[str, Any]]:
    """Polygons of ``ENGAGE.layers[key]`` that are in the page: ``h3``, ``fill``, ``dash``."""
    return list(driver.execute_script(_DRAWN, key))


# --- a local tile server ---------------------------------------------------------


def _tile_png() -> bytes:
    """A 256 x 256 PNG with a visible pattern (not one flat colour)."""
    y, x = np.mgrid[0:256, 0:256]
    img = np.zeros((256, 256, 3))
    img[..., 0] = 0.55 + 0.3 * ((x // 32 + y // 32) % 2)
    img[..., 1] = 0.75
    img[..., 2] = 0.6 + 0.3 * (x / 255)
    buf = io.BytesIO()
    imsave(buf, img, format="png")
    return buf.getvalue()


class TileServer:
    """A tiny HTTP server on 127.0.0.1 that answers any /{z}/{x}/{y}.png with a PNG."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self._lock = threading.Lock()
        png = _tile_png()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # http.server's method name
                with server._lock:
                    server.requests.append(self.path)
                parts = self.path.strip("/").split("/")
                ok = len(parts) == 3 and parts[2].endswith(".png")
                ok = ok and all(p.isdigit() for p in (parts[0], parts[1], parts[2][:-4]))
                if not ok:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(png)))
                self.send_header("Access-Control-Allow-Origin", "*")
                self.end_headers()
                self.wfile.write(png)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.httpd.server_address[1])
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def template(self) -> str:
        return f"http://127.0.0.1:{self.port}/{{z}}/{{x}}/{{y}}.png"

    def count(self) -> int:
        with self._lock:
            return len(self.requests)

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()


@pytest.fixture(scope="session")
def tile_server() -> Iterator[TileServer]:
    """A running :class:`TileServer`, shut down after the session."""
    srv = TileServer()
    srv.thread.start()
    try:
        yield srv
    finally:
        srv.httpd.shutdown()
        srv.httpd.server_close()
        srv.thread.join(timeout=5)


def views(
    hotspots: pd.DataFrame,
    targets: pd.DataFrame,
    audience: str,
    *,
    k: int = 5,
    hulls: gpd.GeoDataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The cells and targets of these frames as ``audience`` may see them (maps.disclosure).

    As in a run, each target's counts are its cell's: the targets' episodes,
    children, found and venue reports are written onto their cells first
    (last-seen events taken as one per episode), so the views have something
    to disclose.
    """
    rules = Audience.make(audience, k)
    cells = hotspots.copy()
    per = targets.set_index("h3")
    on_target = cells["h3"].isin(per.index).to_numpy()
    for col, cell_col in (
        ("episodes", "n_episodes"),
        ("children", "n_children"),
        ("found", "n_found"),
        ("venue_reports", "n_reports"),
    ):
        base = cells[cell_col] if cell_col in cells.columns else pd.Series(0, index=cells.index)
        cells[cell_col] = np.where(on_target, cells["h3"].map(per[col]), base).astype(np.int64)
    cells["n_last_seen"] = np.where(on_target, cells["n_episodes"], cells.get("n", 0))
    cells["n_incidents"] = 0
    cells["n"] = cells["n_last_seen"] + cells["n_found"] + cells["n_reports"]
    shown_cells = cells_view(cells, rules)
    shown_targets = targets_view(targets, rules, cells=shown_cells)
    return shown_cells, shown_targets
