"""The bad-input corpus through the command line, on both stores.

Every case of tests/geo/test_bad_input_corpus.py is run as a user runs it,
`engage ingest KIND FILE... --store ...`, asserting the exit code and the rows
stored that the corpus states, and that no traceback reaches the terminal.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from api.cli import app
from geo.store import open_store

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location(
    "bad_input_corpus", ROOT / "tests" / "geo" / "test_bad_input_corpus.py"
)
assert _spec is not None and _spec.loader is not None
corpus = importlib.util.module_from_spec(_spec)
sys.modules["bad_input_corpus"] = corpus
_spec.loader.exec_module(corpus)

KEY = "test-key-0123456789-abcdefghijklmnop"
runner = CliRunner()


@pytest.fixture(params=["gpkg", "postgis"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "gpkg":
        return str(tmp_path / "engage.gpkg")
    return str(request.getfixturevalue("pg_store_url"))


@pytest.mark.parametrize("case", corpus.CASES, ids=[c.name for c in corpus.CASES])
def test_the_command_keeps_the_corpus_contract(location: str, tmp_path: Path, case: Any) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    env = {"ENGAGE_QUARANTINE_DIR": str(tmp_path / "q")}
    if case.options.get("key", True) is not None:
        env["ENGAGE_PSEUDONYM_KEY"] = KEY
    args = ["ingest", "--store", location]
    if case.venues:
        venues = tmp_path / "venues.csv"
        venues.write_text("venue_id,venue_type,lat,lng\nV1,hotel,53.748,-2.482\n")
        first = runner.invoke(app, [*args[:1], "venues", str(venues), *args[1:]], env=env)
        assert first.exit_code == 0, first.output
    if case.options.get("strict"):
        args.append("--strict")
    if case.options.get("layer"):
        args += ["--layer", case.options["layer"]]
    paths = case.inputs(folder)
    result = runner.invoke(app, [args[0], case.kind, *map(str, paths), *args[1:]], env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    exit_code, stored, _ = case.expect
    assert result.exit_code == exit_code, result.output
    store = open_store(location)
    try:
        if result.exit_code == 2 and stored == 0 and not case.venues:
            # Nothing stored: the store may hold no tables yet, or empty ones.
            count = store.count(corpus.TABLE[case.kind]) if _initialised(location) else 0
        else:
            count = store.count(corpus.TABLE[case.kind])
    finally:
        store.close()
    assert count == stored, result.output


def _initialised(location: str) -> bool:
    if location.startswith("postgresql"):
        return True
    return Path(location).exists()
