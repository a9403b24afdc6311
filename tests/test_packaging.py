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


def test_no_import_circles_and_no_upward_imports() -> None:
    """Data flows one way, geo -> models -> maps -> api: no package imports one above it,
    and no module imports another that imports it back (at any depth), counting the
    imports inside functions too."""
    import ast

    root = Path(__file__).resolve().parents[1]
    layers = {"geo": 0, "models": 1, "maps": 2, "api": 3}
    modules: dict[str, Path] = {}
    for package in layers:
        for path in (root / package).rglob("*.py"):
            name = ".".join(path.relative_to(root).with_suffix("").parts)
            modules[name.removesuffix(".__init__")] = path
    edges: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module:
                targets = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            edges[name].update(t for t in targets if t in modules and t != name)
    upward = [
        (a, b)
        for a, bs in edges.items()
        for b in bs
        if layers[b.split(".")[0]] > layers[a.split(".")[0]]
    ]
    assert upward == []
    # Depth-first search for a cycle.
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(node: str, trail: list[str]) -> bool:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycle.extend([*trail, node, nxt])
                return True
            if nxt not in state and visit(nxt, [*trail, node]):
                return True
        state[node] = 2
        return False

    assert not any(visit(m, []) for m in sorted(modules) if m not in state), cycle
    assert len(modules) > 60  # the scan saw the packages
