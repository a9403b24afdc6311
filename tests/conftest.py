"""Shared fixtures. PostGIS tests talk to a real server; they never skip.

``ENGAGE_TEST_PG_URL`` names the server (default the local trust-auth
PostgreSQL that ``make test`` prepares). Each test gets its own schema, dropped
afterwards, so tests never see each other's rows.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from geo.store import Store, open_store

PG_URL = os.environ.get("ENGAGE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("ENGAGE_SHARED_DATA", ROOT.parent / "shared" / "data"))
POLICE_UK = SHARED_DATA / "police_uk" / "lancashire"


@pytest.fixture(scope="session")
def police_uk() -> Path:
    """The public data.police.uk copies; fails (not skips) when absent."""
    if not (POLICE_UK / "full").is_dir():
        pytest.fail(f"police.uk data not found at {POLICE_UK}; set ENGAGE_SHARED_DATA.")
    return POLICE_UK


@pytest.fixture(scope="session")
def pg_url() -> str:
    """The test server's URL; fails (not skips) when no PostGIS answers."""
    try:
        with psycopg.connect(PG_URL, connect_timeout=5) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            conn.commit()
    except psycopg.Error as exc:  # pragma: no cover - environment failure
        pytest.fail(
            f"PostGIS at {PG_URL} is not usable ({exc}); run `make test`, which sets it up."
        )
    return PG_URL


@pytest.fixture
def pg_schema(pg_url: str) -> Iterator[str]:
    """A fresh schema name for one test, dropped afterwards."""
    name = f"engage_test_{uuid.uuid4().hex[:12]}"
    yield name
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture
def pg_store_url(pg_url: str, pg_schema: str) -> str:
    """A store URL pointing at this test's own schema."""
    return f"{pg_url}?schema={pg_schema}"


@pytest.fixture(params=["gpkg", "postgis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Each store kind in turn, initialised and empty."""
    if request.param == "gpkg":
        location = str(tmp_path / "engage.gpkg")
    else:
        location = request.getfixturevalue("pg_store_url")
    s = open_store(location)
    s.init()
    try:
        yield s
    finally:
        s.close()


@pytest.fixture(autouse=True)
def _default_study_area() -> Iterator[None]:
    """Each test starts and ends on the default study area, metric CRS and areas.

    Opening a store settles these for the process (api.usecases.area); a test
    of another area must not leave them to the next test.
    """
    from geo.areas import use_areas
    from geo.studyarea import use_study_area

    use_study_area(None)
    use_areas(None)
    yield
    use_study_area(None)
    use_areas(None)
