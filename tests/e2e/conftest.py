"""The browser fixture and helpers of the map tests, shared with the end-to-end tests."""

from ..maps.conftest import (  # noqa: F401
    browser,
    drawn_cells,
    open_map,
    overlay_names,
    toggle_overlay,
)
