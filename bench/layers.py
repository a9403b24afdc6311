"""Base layers: importing a ~50 MB roads GeoJSON, and drawing it into the weekly pack.

Data (untimed setup): a synthetic street grid over Blackburn with Darwen in
British National Grid (:func:`geo.simstreets.street_grid`: streets every
``spacing`` metres, cut at every junction, each segment with 6 wiggling
vertices), written as GeoJSON with pyogrio; the spacing is chosen so the file
is about ``--layer-mb`` MB (default 50).

Import, timed, interleaved, median of ``repeat`` runs after one warm-up:

* **ours**: ``api.usecases.layers.import_layer`` (what ``engage layers
  import FILE --kind roads`` runs) into a new GeoPackage store: read with a
  bounding-box filter, geometry checks, clip to the study area grown by 1 km,
  1 m simplification, WGS84, one store transaction.
* **peer**: plain GeoPandas on the same file: ``gpd.read_file`` (pyogrio,
  Arrow), ``gpd.clip`` to the same mask, ``to_crs(4326)`` and ``to_file`` of
  a new GeoPackage layer. It neither checks, repairs nor simplifies.

Both must keep the same number of features (checked before timing).

Drawing, timed the same way: ``api.usecases.week.weekly`` (whole borough,
neighbourhood audience) on a store of the synthetic year (``engage
simulate``, 52 weeks) without base layers and on a copy with the roads
imported; the sizes of map.html and pack.pdf of each are reported.

Run by hand (``bench/run.py --only layers``), never in the test suite.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import geopandas as gpd
from harness import Timing, compare, cpu_usage, log, timed

BYTES_PER_SEGMENT = 500.0
"""About what one 8-point segment takes in the GeoJSON (measured: 470 to 520)."""


def write_roads(path: Path, target_mb: float) -> dict[str, Any]:
    """A street grid GeoJSON of about ``target_mb`` MB over the borough (BNG)."""
    from geo.simstreets import BWD_BOX_BNG, street_grid

    x0, y0, x1, y1 = BWD_BOX_BNG
    segments = target_mb * 1e6 / BYTES_PER_SEGMENT
    spacing = float(((x1 - x0) * (y1 - y0) * 2 / segments) ** 0.5)
    t0 = time.perf_counter()
    grid = street_grid(spacing_m=spacing, vertices=6, seed=11)
    grid.to_file(path, driver="GeoJSON")
    return {
        "features": len(grid),
        "spacing_m": round(spacing, 1),
        "file_mb": round(path.stat().st_size / 1e6, 1),
        "distinct_names": int(grid["name1"].nunique()),
        "seconds": round(time.perf_counter() - t0, 1),
    }


def ours(path: Path, store: Path, settings: Any) -> int:
    from api.usecases.layers import import_layer

    if store.exists():
        store.unlink()
    return import_layer(str(store), path, "roads", settings=settings).stored


def peer(path: Path, out: Path, mask: Any) -> int:
    if out.exists():
        out.unlink()
    frame = gpd.read_file(path, engine="pyogrio", use_arrow=True)
    clipped = gpd.clip(frame, mask)
    clipped = clipped[~clipped.geometry.is_empty].to_crs("EPSG:4326")
    clipped.to_file(out, layer="roads", driver="GPKG", engine="pyogrio")
    return len(clipped)


def _weekly(location: str, out: Path, settings: Any) -> Any:
    from api.usecases.week import weekly

    if out.exists():
        shutil.rmtree(out)
    return weekly(location, week=None, out_dir=out, settings=settings)


def run(repeat: int, target_mb: float = 50.0) -> list[dict[str, Any]]:
    from api.settings import Settings
    from api.usecases.demo import DEMO_ORDER
    from api.usecases.ingest import ingest_files, simulate_scenario
    from geo.baselayers import clip_mask
    from geo.pseudonym import generate_key
    from geo.studyarea import StudyArea

    meta: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="engage-bench-layers-") as tmp:
        work = Path(tmp)
        roads = work / "roads.geojson"
        log(f"Layers: writing a ~{target_mb:g} MB street grid")
        meta["layer_file"] = write_roads(roads, target_mb)
        log(f"  {meta['layer_file']}")
        settings = Settings(store=str(work / "s.gpkg"), quarantine_dir=work / "q")
        mask = clip_mask(StudyArea().outline())
        n_ours = ours(roads, work / "ours.gpkg", settings)
        n_peer = peer(roads, work / "peer.gpkg", mask)
        if n_ours != n_peer:
            msg = f"the import keeps {n_ours} features, GeoPandas' clip {n_peer}"
            raise SystemExit(msg)
        meta["features_kept"] = n_ours
        meta["store_mb"] = {
            "ours (clipped, simplified, GeoPackage store)": round(
                (work / "ours.gpkg").stat().st_size / 1e6, 1
            ),
            "peer (clipped, GeoPackage layer)": round((work / "peer.gpkg").stat().st_size / 1e6, 1),
        }
        rows = meta["layer_file"]["features"]
        cases = {"engage layers import": Timing(), "GeoPandas read + clip + to_file": Timing()}
        with cpu_usage(meta):
            for r in range(repeat):
                order = list(cases) if r % 2 == 0 else list(cases)[::-1]
                for name in order:
                    if name == "engage layers import":
                        s, _ = timed(lambda: ours(roads, work / "ours.gpkg", settings))
                    else:
                        s, _ = timed(lambda: peer(roads, work / "peer.gpkg", mask))
                    cases[name].samples.append(s)
                    log(f"  run {r + 1}/{repeat} {name}: {s:.2f} s")

        log("Layers: a synthetic year in two stores, one with the roads")
        scenario = work / "scenario"
        simulate_scenario(scenario, seed=7, weeks=52)
        key = generate_key()
        plain = str(work / "plain.gpkg")
        for kind, name in DEMO_ORDER:
            ingest_files(plain, kind, [scenario / name], settings=settings, key=key)
        with_roads = str(work / "roads.gpkg")
        shutil.copyfile(plain, with_roads)
        from api.usecases.layers import import_layer

        import_layer(with_roads, roads, "roads", settings=settings)
        packs = {"weekly pack, no base layer": plain, "weekly pack, roads layer": with_roads}
        draw = {name: Timing() for name in packs}
        sizes: dict[str, Any] = {}
        for name, location in packs.items():  # warm-up, and the sizes
            result = _weekly(location, work / "pack", settings)
            sizes[name] = {
                "map_html_mb": round(result.files["map"].stat().st_size / 1e6, 2),
                "pack_pdf_mb": round(result.files["pack"].stat().st_size / 1e6, 2),
                "targets": len(result.targets),
            }
            log(f"  {name}: {sizes[name]}")
        for r in range(repeat):
            order = list(packs) if r % 2 == 0 else list(packs)[::-1]
            for name in order:
                s, _ = timed(lambda loc=packs[name]: _weekly(loc, work / "pack", settings))
                draw[name].samples.append(s)
                log(f"  run {r + 1}/{repeat} {name}: {s:.2f} s")
        meta["output_sizes"] = sizes
        meta["weekly_s"] = {name: t.as_dict(1) for name, t in draw.items()}
    table = [
        "| weekly pack (whole borough) | median s | map.html MB | pack.pdf MB |",
        "|---|---:|---:|---:|",
    ]
    for name, t in draw.items():
        table.append(
            f"| {name} | {t.median:.2f} | {sizes[name]['map_html_mb']:.2f} "
            f"| {sizes[name]['pack_pdf_mb']:.2f} |"
        )
    return [
        {
            "title": f"Base layer import, {meta['layer_file']['file_mb']} MB roads GeoJSON",
            "rows": rows,
            "cases": {name: t.as_dict(rows) for name, t in cases.items()},
            "ratios": [compare(cases, "engage layers import", "GeoPandas read + clip + to_file")],
            "notes": "rows/s is features of the file per second.",
            "extra_markdown": "\n".join(table),
            **meta,
        }
    ]
