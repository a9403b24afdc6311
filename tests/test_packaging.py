"""The four top-level packages belong to this distribution alone."""

from __future__ import annotations

import importlib.metadata as md
import importlib.util
from pathlib import Path

import pytest

TOP_LEVEL = ("geo", "models", "maps", "api")
ROOT = Path(__file__).resolve().parents[1]


def _provided_by(name: str) -> list[str]:
    """Installed distributions that ship a top-level module or package `name`."""
    owners = []
    for dist in md.distributions():
        dist_name = dist.metadata["Name"]
        top = dist.read_text("top_level.txt")
        names = set(top.split()) if top else set()
        for f in dist.files or []:
            parts = Path(str(f)).parts
            if parts and (parts[0] == name or parts[0] == f"{name}.py"):
                names.add(name)
        if name in names:
            owners.append(dist_name)
    return owners


@pytest.mark.parametrize("name", TOP_LEVEL)
def test_no_other_distribution_provides_our_top_level_names(name: str) -> None:
    owners = [o for o in _provided_by(name) if o != "engage-hotspots"]
    assert owners == [], f"{name!r} is also provided by {owners}"


@pytest.mark.parametrize("name", TOP_LEVEL)
def test_top_level_names_import_from_this_checkout(name: str) -> None:
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.origin is not None
    assert Path(spec.origin).resolve().is_relative_to(ROOT)


def test_console_script_is_declared() -> None:
    eps = md.entry_points(group="console_scripts")
    engage = [ep for ep in eps if ep.name == "engage"]
    assert engage and engage[0].value == "api.cli:main"


def test_the_detector_finds_a_known_owner() -> None:
    # Guards the test above: the detector must see who ships a real package.
    assert "numpy" in [o.lower() for o in _provided_by("numpy")]
    assert "shapely" in [o.lower() for o in _provided_by("shapely")]
