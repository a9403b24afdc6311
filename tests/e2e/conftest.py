"""The browser fixture of the map tests, shared with the end-to-end tests."""

from ..maps.conftest import browser, open_map  # noqa: F401
