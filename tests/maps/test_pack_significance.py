"""The Gi* and emerging-trend pages of the printed pack.

An analyst pack gets a Gi* page and a trend page after the ward maps, each
with the marking, its static map in the classes' colours and a key whose cell
counts read back equal to the frame's; a neighbourhood pack with the same
input gets neither; an analyst pack without a layer names the reason on its
cover.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread
from pypdf import PdfReader

from maps.pack import EMERGING_PAGE_TITLE, GISTAR_PAGE_TITLE, build_pack
from maps.staticmap import ClassLayer, StaticMapSpec, render_static_map
from maps.style import EMERGING_CLASSES, GISTAR_CLASSES, MAP_BACKGROUND

from .conftest import (
    MARKING,
    make_area,
    make_hotspots,
    make_meta,
    make_significance,
    make_targets,
    views,
)


@pytest.fixture(scope="module")
def inputs() -> dict[str, Any]:
    area = make_area(("E05011509", "E05011511"))
    hotspots = make_hotspots(area, n_cells=240)
    targets = make_targets(hotspots, area, n=8)
    frame, meta = make_significance(hotspots)
    return {"area": area, "hotspots": hotspots, "targets": targets, "frame": frame, "meta": meta}


def _build(path: Path, inputs: dict[str, Any], audience: str, **kwargs: Any) -> PdfReader:
    cells, shown = views(inputs["hotspots"], inputs["targets"], audience)
    build_pack(
        path,
        cells,
        shown,
        area=inputs["area"],
        meta=make_meta(audience),
        wards=list(zip(inputs["area"]["code"], inputs["area"]["name"], strict=True)),
        **kwargs,
    )
    return PdfReader(path)


@pytest.fixture(scope="module")
def analyst(inputs: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> PdfReader:
    path = tmp_path_factory.mktemp("sigpack") / "analyst.pdf"
    return _build(
        path,
        inputs,
        "analyst",
        significance=inputs["frame"],
        significance_meta=inputs["meta"],
    )


def _page(reader: PdfReader, title: str) -> Any:
    hits = [p for p in reader.pages if title in p.extract_text()]
    assert len(hits) == 1, title
    return hits[0]


def test_analyst_pack_has_both_pages_after_the_ward_maps(analyst: PdfReader) -> None:
    texts = [p.extract_text() for p in analyst.pages]
    ward_maps = [i for i, t in enumerate(texts) if "Targets on this map:" in t]
    gi = [i for i, t in enumerate(texts) if GISTAR_PAGE_TITLE in t]
    em = [i for i, t in enumerate(texts) if EMERGING_PAGE_TITLE in t]
    table = [i for i, t in enumerate(texts) if "Target list" in t]
    assert len(ward_maps) == 2 and len(gi) == 1 and len(em) == 1
    assert max(ward_maps) < gi[0] < em[0] < min(table)
    assert re.search(r"Map pages\s+4", texts[0])
    for i in (gi[0], em[0]):
        assert texts[i].count(MARKING) >= 2
        assert f"Page {i + 1} of {len(texts)}" in texts[i]
        assert len(analyst.pages[i].images) == 1


def test_gistar_key_counts_equal_the_frame(analyst: PdfReader, inputs: dict[str, Any]) -> None:
    text = _page(analyst, GISTAR_PAGE_TITLE).extract_text(extraction_mode="layout")
    counts = inputs["frame"]["gi_class"].value_counts()
    assert counts.index.str.startswith("cold_").any()  # the page has both sides to show
    for c in GISTAR_CLASSES:
        m = re.search(re.escape(c.label) + r"\s+(\d+)", text)
        assert m is not None, c.label
        assert int(m.group(1)) == int(counts.get(c.key, 0)), c.label
    assert "false discovery rate" in " ".join(text.split())


def test_trend_key_counts_equal_the_frame(analyst: PdfReader, inputs: dict[str, Any]) -> None:
    text = _page(analyst, EMERGING_PAGE_TITLE).extract_text(extraction_mode="layout")
    counts = inputs["frame"]["pattern"].value_counts()
    assert (inputs["frame"]["pattern"] != "no_pattern").any()
    for c in EMERGING_CLASSES[:8]:
        name = c.key.removesuffix("_hot")
        m = re.search(rf"^\s*{name.capitalize()}\s+(\d+)\s+(\d+)\s*$", text, re.M)
        assert m is not None, name
        assert int(m.group(1)) == int(counts.get(f"{name}_hot", 0)), name
        assert int(m.group(2)) == int(counts.get(f"{name}_cold", 0)), name
    assert "over the 12 weeks" in " ".join(text.split())


def test_neighbourhood_pack_has_no_significance_pages(
    inputs: dict[str, Any], tmp_path: Path
) -> None:
    reader = _build(
        tmp_path / "nbhd.pdf",
        inputs,
        "neighbourhood",
        significance=inputs["frame"],
        significance_meta=inputs["meta"],
    )
    text = "\n".join(p.extract_text() for p in reader.pages)
    assert GISTAR_PAGE_TITLE not in text and EMERGING_PAGE_TITLE not in text
    assert "no page this week" not in text
    assert len([p for p in reader.pages if p.images]) == 2  # the two ward maps only


def test_missing_layer_is_named_on_the_cover(inputs: dict[str, Any], tmp_path: Path) -> None:
    frame: pd.DataFrame = inputs["frame"]
    reason = "the lookback has 6 weeks; the trend layer needs at least 10"
    reader = _build(
        tmp_path / "gi-only.pdf",
        inputs,
        "analyst",
        significance=frame[["h3", "gi_z", "gi_p", "gi_p_adj", "gi_class"]],
        significance_meta={"gistar": {"k": 1, "fdr": True}, "emerging": {"reason": reason}},
    )
    text = "\n".join(p.extract_text() for p in reader.pages)
    where = make_meta()["area_name"]
    assert f"{GISTAR_PAGE_TITLE}: {where}" in text
    assert f"{EMERGING_PAGE_TITLE}: {where}" not in text
    assert len([p for p in reader.pages if p.images]) == 3  # two ward maps and Gi*
    cover = reader.pages[0].extract_text().replace("\n", " ")
    assert f"{EMERGING_PAGE_TITLE}: no page this week, {reason}" in cover


def _share_near(png: bytes, colour: str, alpha: float, tol: float = 6.0) -> float:
    """Share of pixels within ``tol`` of ``colour`` blended at ``alpha`` over the background."""
    img = imread(io.BytesIO(png), format="png")[..., :3].reshape(-1, 3) * 255

    def rgb(hex_colour: str) -> np.ndarray:
        return np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)], dtype=float)

    want = alpha * rgb(colour) + (1 - alpha) * rgb(MAP_BACKGROUND)
    return float((np.abs(img - want).max(axis=1) <= tol).mean())


def test_static_map_draws_the_classes_in_their_colours(inputs: dict[str, Any]) -> None:
    frame: pd.DataFrame = inputs["frame"]
    hot = frame.loc[frame["gi_class"] == "hot_99"]
    assert len(hot) > 0
    spec = StaticMapSpec(width_mm=120, height_mm=120, dpi=120)
    common = {
        "focus": inputs["area"],
        "area": inputs["area"],
        "spec": spec,
    }
    layer = ClassLayer(
        cells=hot["h3"].to_numpy(),
        keys=hot["gi_class"].tolist(),
        classes=GISTAR_CLASSES,
        title="Gi* hot and cold spots",
    )
    with_layer = render_static_map(
        inputs["hotspots"], inputs["targets"].head(0), class_layer=layer, **common
    )
    plain = render_static_map(inputs["hotspots"], inputs["targets"].head(0), **common)
    red = GISTAR_CLASSES[0].colour
    assert _share_near(with_layer, red, 0.85) > 0.001
    assert _share_near(plain, red, 0.85) < _share_near(with_layer, red, 0.85) / 10
