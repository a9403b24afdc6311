"""Offline assets and the shared score classes."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from maps.assets import external_references, leaflet_assets
from maps.style import SCORE_CLASSES, score_class_index


def test_leaflet_comes_from_an_installed_package() -> None:
    assets = leaflet_assets()
    assert "Leaflet 1.9.3" in assets.js
    assert ".leaflet-container" in assets.css
    assert assets.distribution == "folium-offline"
    assert assets.distribution_licence == "MIT"
    assert "BSD-2-Clause" in assets.provenance
    # Leaflet's images are data: URIs, so the CSS loads nothing either.
    assert "url(images/" not in assets.css


def test_external_reference_detector() -> None:
    assert external_references('<script src="https://cdn.example/x.js"></script>')
    assert external_references("<link rel=stylesheet href=//cdn.example/x.css>")
    assert external_references('<img src="http://x/y.png">')
    # A URL inside JavaScript text is not a reference; neither is a data: URI.
    assert not external_references('<script>var a = "<img src=\\"https://x\\">";</script>')
    assert not external_references('<img src="data:image/png;base64,AAAA">')


def test_score_classes_examples() -> None:
    scores = np.arange(1, 101, dtype=float)  # 100 cells
    idx = score_class_index(scores)
    counts = np.bincount(idx, minlength=len(SCORE_CLASSES))
    assert counts.tolist() == [5, 10, 15, 30, 40]
    assert idx[-1] == 0 and idx[0] == len(SCORE_CLASSES) - 1


@given(st.lists(st.floats(0.001, 1e6, allow_nan=False), min_size=1, max_size=300))
def test_score_classes_are_monotone_and_ties_share(scores: list[float]) -> None:
    s = np.array(scores)
    idx = score_class_index(s)
    order = np.argsort(s, kind="stable")
    # A hotter cell is never in a cooler class (lower index is hotter).
    assert (np.diff(idx[order]) <= 0).all()
    for v in np.unique(s):
        assert len(set(idx[s == v])) == 1
