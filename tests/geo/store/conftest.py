"""Fixtures shared by the store tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from geo.store.postgis import PostgisStore


@pytest.fixture
def pg_store(pg_store_url: str) -> Iterator[PostgisStore]:
    """A PostGIS store in this test's own schema, initialised."""
    store = PostgisStore(pg_store_url)
    store.init()
    try:
        yield store
    finally:
        store.close()
