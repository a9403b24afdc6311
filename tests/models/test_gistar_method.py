"""Gi* through the hotspot-frame interface: a planted cluster is hot; too few events refused."""

from __future__ import annotations

import h3.api.numpy_int as h3i
import numpy as np
import pandas as pd
import pytest

from geo.errors import ValidationError
from geo.h3index import cells_to_latlng
from models.gistar import gistar
from models.hotspots import hotspots


def _cells(n_ring: int = 8) -> pd.DataFrame:
    centre = h3i.latlng_to_cell(53.748, -2.482, 9)
    cells = np.sort(np.array(h3i.grid_disk(centre, n_ring), dtype=np.int64))
    lat, lng = cells_to_latlng(cells)
    # Local metres are enough for this test's geometry-free method.
    return pd.DataFrame(
        {
            "h3": cells,
            "x": lng * 66_000.0,
            "y": lat * 111_000.0,
            "lat": lat,
            "lng": lng,
            "area_m2": 105_000.0,
        }
    ), int(centre)


def _events(cells: pd.DataFrame, centre: int, n_hot: int, n_background: int) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    hot = [h3i.cell_to_center_child(int(c), 12) for c in h3i.grid_disk(centre, 1)]
    background = [
        h3i.cell_to_center_child(int(c), 12) for c in rng.choice(cells["h3"], n_background)
    ]
    chosen = np.array(list(rng.choice(hot, n_hot)) + background, dtype=np.int64)
    return pd.DataFrame(
        {
            "layer": "found",
            "x": 0.0,
            "y": 0.0,
            "h3": chosen,
            "at": pd.Timestamp("2025-01-01", tz="UTC"),
        }
    )


def test_planted_cluster_is_a_hot_spot_and_matches_gistar_directly() -> None:
    cells, centre = _cells()
    events = _events(cells, centre, n_hot=60, n_background=60)
    frame, meta = hotspots(events, cells, method="gistar", quiet=True)
    top = frame.iloc[0]
    assert top["gi_class"] == "hot_99"
    assert int(top["h3"]) in {int(c) for c in h3i.grid_disk(centre, 1)}
    # The same numbers as gistar() on counts computed independently here.
    parents = (
        pd.Series([h3i.cell_to_parent(int(c), 9) for c in events["h3"]])
        .value_counts()
        .reindex(cells["h3"])
        .fillna(0)
    )
    direct, _ = gistar(cells["h3"].to_numpy(), parents.to_numpy())
    merged = frame.set_index("h3")["gi_z"].reindex(direct["h3"])
    np.testing.assert_allclose(merged.to_numpy(), direct["gi_z"].to_numpy(), rtol=1e-9)
    assert meta["n_events"] == 120


def test_fewer_than_30_events_is_a_clear_refusal() -> None:
    cells, centre = _cells()
    events = _events(cells, centre, n_hot=10, n_background=10)
    with pytest.raises(ValidationError, match="at least 30 events"):
        hotspots(events, cells, method="gistar", quiet=True)
