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
    # Shares of the top score 100: 1, .6, .5 | .499, .25 | .249, .125 | .1, .0625 | .062, .01
    scores = np.array([100, 60, 50, 49.9, 25, 24.9, 12.5, 10, 6.25, 6.2, 1], dtype=float)
    assert score_class_index(scores).tolist() == [0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    # A ward with a few scored cells: 17.4 and 2.4 are not the same colour, and the top
    # class is never empty.
    few = score_class_index(np.array([17.4, 2.4, 2.0]))
    assert few.tolist() == [0, 2, 3]  # 2.4 / 17.4 = 0.138, 2.0 / 17.4 = 0.115
    assert score_class_index(np.array([3.0])).tolist() == [0]


@given(st.lists(st.floats(0.001, 1e6, allow_nan=False), min_size=1, max_size=300))
def test_score_classes_are_monotone_and_ties_share(scores: list[float]) -> None:
    s = np.array(scores)
    idx = score_class_index(s)
    order = np.argsort(s, kind="stable")
    # A hotter cell is never in a cooler class (lower index is hotter).
    assert (np.diff(idx[order]) <= 0).all()
    for v in np.unique(s):
        assert len(set(idx[s == v])) == 1
    # The hottest cell is always in the top class; a class never spans a ratio above 2
    # (apart from the last, which holds everything under a sixteenth).
    assert idx[np.argmax(s)] == 0
    for c in range(len(SCORE_CLASSES) - 1):
        inside = s[idx == c]
        if inside.size:
            assert inside.max() <= 2 * inside.min() + 1e-9 * inside.max()
