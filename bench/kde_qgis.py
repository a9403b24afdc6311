"""By hand: QGIS's heatmap (the KDE tool analysts use) against ``models.kde.kde_on_cells``.

QGIS is not a Python dependency and not part of ``make bench``: install
Debian's ``qgis`` (``apt-get install -y --no-install-recommends qgis``, about
250 packages) and run, from the repository root::

    .venv/bin/python bench/kde_qgis.py [--rows 1000000] [--repeat 3] [--pixel-m 10]

Both sides get the clustered points of the KDE benchmarks
(:func:`harness.clustered_points_bng`, BNG metres) and the same quartic kernel
of radius :data:`BANDWIDTH_M`:

* **peer**: ``qgis_process run qgis:heatmapkerneldensityestimation`` with
  ``KERNEL=0`` (quartic), ``RADIUS`` = the bandwidth, ``PIXEL_SIZE`` =
  ``--pixel-m`` and ``OUTPUT_VALUE=0`` (raw: the sum of ``(1 - d^2/r^2)^2``),
  multiplied by ``3/(pi r^2)`` to give ours exactly (QGIS's "scaled" quartic
  uses ``116/(5 pi r^2) * 15/16``, which integrates to 7.25, not 1), reading a
  GeoPackage of the points in EPSG:27700 and writing a GeoTIFF; its raster is
  read back with
  ``gdal_translate -of AAIGrid`` and sampled at the res-9 cell centres
  (bilinear between pixel centres). Timed as a whole process (``qgis_process``
  starts QGIS each time); its start-up alone (the same run on 10 points) is
  timed too, so the kernel's own share is visible.
* **ours**: ``kde_on_cells(x, y, None, cells_x, cells_y, bandwidth_m=h)``
  (the points binned by the product itself), in this process.

Both are checked against the exact quartic sum over every point at
:data:`CHECK_CELLS` random centres (relative L1); QGIS's error is mostly its
pixel grid (centres are read by bilinear interpolation between pixel centres).
Writing the GeoPackage is untimed. Prints one markdown table.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from harness import clustered_points_bng, log  # noqa: E402

BANDWIDTH_M = 300.0
CHECK_CELLS = 200
ALGORITHM = "qgis:heatmapkerneldensityestimation"


def qgis_command() -> list[str]:
    """``qgis_process`` (Debian's wrapper passes an option its binary refuses: call the binary)."""
    for name in ("qgis_process.bin", "qgis_process"):
        found = shutil.which(name)
        if found:
            return [found]
    msg = "qgis_process not found: apt-get install -y --no-install-recommends qgis"
    raise SystemExit(msg)


def write_points(path: Path, x: np.ndarray, y: np.ndarray) -> None:
    import geopandas as gpd

    frame = gpd.GeoDataFrame(geometry=gpd.points_from_xy(x, y), crs="EPSG:27700")
    frame.to_file(path, driver="GPKG", layer="points")


def run_qgis(points: Path, out: Path, pixel_m: float) -> float:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    env.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="qgis-runtime-"))
    command = [
        *qgis_command(),
        "run",
        ALGORITHM,
        "--",
        f"INPUT={points}|layername=points",
        f"RADIUS={BANDWIDTH_M}",
        f"PIXEL_SIZE={pixel_m}",
        "KERNEL=0",
        "OUTPUT_VALUE=0",
        f"OUTPUT={out}",
    ]
    started = time.perf_counter()
    subprocess.run(command, check=True, env=env, capture_output=True)
    return time.perf_counter() - started


def read_raster(path: Path) -> tuple[np.ndarray, float, float, float]:
    """Values (rows from the top), x of the left edge, y of the top edge, pixel size."""
    asc = path.with_suffix(".asc")
    subprocess.run(
        ["gdal_translate", "-q", "-of", "AAIGrid", str(path), str(asc)],
        check=True,
        capture_output=True,
    )
    header: dict[str, float] = {}
    with asc.open() as f:
        for _ in range(6):
            key, value = f.readline().split()
            header[key.lower()] = float(value)
        grid = np.loadtxt(f, dtype=np.float64)
    nrows = int(header["nrows"])
    size = header.get("cellsize", header.get("dx", 0.0))
    top = header["yllcorner"] + nrows * size
    return grid.reshape(nrows, -1), header["xllcorner"], top, size


def sample(grid: np.ndarray, left: float, top: float, size: float, qx, qy) -> np.ndarray:
    """Bilinear interpolation between pixel centres (nodata and outside read as 0)."""
    values = np.where(grid < -1e30, 0.0, grid)
    fc = (qx - left) / size - 0.5  # column coordinate of the point, pixel centres at integers
    fr = (top - qy) / size - 0.5
    c0 = np.floor(fc).astype(np.int64)
    r0 = np.floor(fr).astype(np.int64)
    tc, tr = fc - c0, fr - r0
    out = np.zeros(qx.size)
    for dr, dc, w in (
        (0, 0, (1 - tr) * (1 - tc)),
        (0, 1, (1 - tr) * tc),
        (1, 0, tr * (1 - tc)),
        (1, 1, tr * tc),
    ):
        r, c = r0 + dr, c0 + dc
        inside = (r >= 0) & (r < values.shape[0]) & (c >= 0) & (c < values.shape[1])
        out[inside] += w[inside] * values[r[inside], c[inside]]
    return out


def exact(x: np.ndarray, y: np.ndarray, qx: np.ndarray, qy: np.ndarray) -> np.ndarray:
    from scipy.spatial import cKDTree

    h = BANDWIDTH_M
    tree = cKDTree(np.column_stack([x, y]))
    out = np.zeros(qx.size)
    for k, idx in enumerate(tree.query_ball_point(np.column_stack([qx, qy]), h)):
        d2 = (x[idx] - qx[k]) ** 2 + (y[idx] - qy[k]) ** 2
        u = np.maximum(1.0 - d2 / (h * h), 0.0)
        out[k] = (3.0 / (np.pi * h * h)) * float(np.sum(u * u))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pixel-m", type=float, default=10.0)
    args = parser.parse_args(argv)

    from geo.grid import area_cells
    from geo.studyarea import StudyArea
    from models.kde import kde_on_cells

    cells = area_cells(StudyArea().outline(), 9)
    cx, cy = cells["x"].to_numpy(), cells["y"].to_numpy()
    x, y = clustered_points_bng(args.rows)
    rng = np.random.default_rng(5)
    pick = rng.choice(cx.size, min(CHECK_CELLS, cx.size), replace=False)
    reference = exact(x, y, cx[pick], cy[pick])

    work = Path(tempfile.mkdtemp(prefix="kde-qgis-"))
    try:
        points = work / "points.gpkg"
        tiny = work / "tiny.gpkg"
        write_points(points, x, y)
        write_points(tiny, x[:10], y[:10])
        run_qgis(points, work / "warm.tif", args.pixel_m)
        grid, left, top, size = read_raster(work / "warm.tif")
        scale = 3.0 / (np.pi * BANDWIDTH_M**2)
        theirs = scale * sample(grid, left, top, size, cx[pick], cy[pick])
        ours, _ = kde_on_cells(x, y, None, cx, cy, bandwidth_m=BANDWIDTH_M, quiet=True)

        def rel_l1(values: np.ndarray) -> float:
            return float(np.abs(values - reference).sum() / np.abs(reference).sum())

        t_qgis, t_start, t_ours = [], [], []
        for r in range(args.repeat):
            order = ("qgis", "start", "ours") if r % 2 == 0 else ("ours", "start", "qgis")
            for side in order:
                if side == "qgis":
                    t_qgis.append(run_qgis(points, work / f"run{r}.tif", args.pixel_m))
                elif side == "start":
                    t_start.append(run_qgis(tiny, work / f"tiny{r}.tif", args.pixel_m))
                else:
                    started = time.perf_counter()
                    kde_on_cells(x, y, None, cx, cy, bandwidth_m=BANDWIDTH_M, quiet=True)
                    t_ours.append(time.perf_counter() - started)
            log(
                f"run {r + 1}: qgis {t_qgis[-1]:.2f} s, start-up {t_start[-1]:.2f} s, "
                f"ours {t_ours[-1]:.3f} s"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    q, s, o = (statistics.median(v) for v in (t_qgis, t_start, t_ours))
    print(
        f"QGIS heatmap against kde_on_cells: {args.rows:,} points, quartic, {BANDWIDTH_M:g} m, "
        f"QGIS pixel {args.pixel_m:g} m, median of {args.repeat}, load "
        f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}\n"
    )
    print("| side | median s | rel L1 vs exact at 200 centres |")
    print("|---|---:|---:|")
    print(f"| QGIS `{ALGORITHM}` (whole process) | {q:.2f} | {rel_l1(theirs):.2e} |")
    print(f"| QGIS, of which start-up (10 points) | {s:.2f} | |")
    print(f"| ours: kde_on_cells, BNG points | {o:.3f} | {rel_l1(ours[pick]):.2e} |")
    print(f"\nours / QGIS: {q / o:.1f}x whole process, {(q - s) / o:.1f}x net of start-up")
    return 0


if __name__ == "__main__":
    sys.exit(main())
