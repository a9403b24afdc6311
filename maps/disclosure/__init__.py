"""What each audience may see: the one rule set every output passes through.

Every output of a run (map.html, pack.pdf, targets.csv, hotspots.geojson,
run.json, and the per-cell tables of ``engage hotspots`` and ``engage
trends``) is built from the *views* this module makes; the builders in
``maps`` print what a view holds and decide nothing themselves. The rules
(docs/disclosure.md):

``analyst``
    Everything.
``neighbourhood``
    No child-level points, no home or care-home location, no child refs or
    episode ids; intelligence gradings allowed. (No output draws event points
    or home locations for any audience; the neighbourhood views carry no
    identifier column.)
``partner``
    Areas, not children. Cells of resolution 8. A count of children,
    episodes or events from 1 to ``k - 1`` is shown only as ``<k`` (``k``
    default 5, never below 3) in every field and sentence; 0 is shown as 0;
    counts of ``k`` or more are rounded to the nearest 5. Totals are summed
    from the exact values, then rounded. Where one suppressed value could be
    worked out by subtracting shown values from a shown total (a cell's
    events against their parts, an area's total against its cells), a
    second value is withheld too, shown as ``[c]``. No scores or statistics
    that are functions of a cell's counts; no gradings, handling codes or
    report counts by grading; intelligence with handling code ``C`` is left
    out before anything is analysed; venues named only where the venue is
    marked public. Gi* classes and trend patterns only where at least ``k``
    children stand behind the cell's neighbourhood.

The leak tests (tests/e2e/test_leaks.py, and tests/e2e/test_leaks_review.py for the
partnership review) build every output for every
audience and scan all of their text for anything these rules forbid.
"""

# The rule set lives in five modules of this package, one place: rules (audiences, the
# count rule, secondary suppression), views (the weekly outputs), disruptions, review and
# baselayers (roads, buildings, landmarks: public, shown to every audience).
from maps.disclosure.baselayers import (
    BASE_LAYER_AUDIENCES,
    BASE_LAYER_COLUMNS,
    BASE_LAYER_KINDS,
    base_layers_view,
    shows_base_layers,
)
from maps.disclosure.disruptions import (
    DISRUPTION_VIEW_COLUMNS,
    disruption_named,
    disruptions_view,
    target_disruptions_view,
)
from maps.disclosure.review import (
    ANALYST_ONLY,
    AREA_LABELS,
    CSV_COLUMNS,
    ESTIMATES,
    P_BANDS,
    PERIOD_WEEKS,
    STAT_COLUMNS,
    TACTIC_TEXT,
    ReviewShown,
    csv_columns,
    how_to_read,
    p_band,
    p_exact,
    review_view,
    round5,
    tactic_text,
)
from maps.disclosure.rules import (
    AUDIENCES,
    CELL_COUNTS,
    CELL_DISTINCT,
    DEFAULT_AUDIENCE,
    DEFAULT_K,
    IDENTIFIERS,
    MIN_K,
    NEIGHBOURHOOD_K,
    PARTNER_CELL_COLUMNS,
    PARTNER_RES,
    PARTNER_TARGET_COLUMNS,
    PLACE_COLUMNS,
    TARGET_COUNTS,
    WITHHELD,
    Audience,
    disclose_table,
    protect,
)
from maps.disclosure.views import (
    RUN_PARAMETER_KEYS,
    SUMMARY_COUNTS,
    TREND_PARTNER_COLUMNS,
    cells_view,
    disclosable,
    hulls_view,
    is_shown_count,
    layers_view,
    parameters_view,
    params_for,
    partner_why,
    summary_view,
    targets_view,
    trends_view,
    with_layers,
)

__all__ = [
    "ANALYST_ONLY",
    "AREA_LABELS",
    "AUDIENCES",
    "BASE_LAYER_AUDIENCES",
    "BASE_LAYER_COLUMNS",
    "BASE_LAYER_KINDS",
    "CELL_COUNTS",
    "CELL_DISTINCT",
    "CSV_COLUMNS",
    "DEFAULT_AUDIENCE",
    "DEFAULT_K",
    "DISRUPTION_VIEW_COLUMNS",
    "ESTIMATES",
    "IDENTIFIERS",
    "MIN_K",
    "NEIGHBOURHOOD_K",
    "PARTNER_CELL_COLUMNS",
    "PARTNER_RES",
    "PARTNER_TARGET_COLUMNS",
    "PERIOD_WEEKS",
    "PLACE_COLUMNS",
    "P_BANDS",
    "RUN_PARAMETER_KEYS",
    "STAT_COLUMNS",
    "SUMMARY_COUNTS",
    "TACTIC_TEXT",
    "TARGET_COUNTS",
    "TREND_PARTNER_COLUMNS",
    "WITHHELD",
    "Audience",
    "ReviewShown",
    "base_layers_view",
    "cells_view",
    "csv_columns",
    "disclosable",
    "disclose_table",
    "disruption_named",
    "disruptions_view",
    "how_to_read",
    "hulls_view",
    "is_shown_count",
    "layers_view",
    "p_band",
    "p_exact",
    "parameters_view",
    "params_for",
    "partner_why",
    "protect",
    "review_view",
    "round5",
    "shows_base_layers",
    "summary_view",
    "tactic_text",
    "target_disruptions_view",
    "targets_view",
    "trends_view",
    "with_layers",
]
