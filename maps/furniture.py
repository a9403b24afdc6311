"""The furniture of a printed map: scale bar and grid-north arrow (BNG axes).

Shared by the pack's maps (:mod:`maps.staticmap`) and the review's
(:mod:`maps.reviewcharts`).
"""

from __future__ import annotations

from matplotlib.axes import Axes
from matplotlib.patches import FancyArrow, Rectangle

_NICE_LENGTHS_M = (50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000, 20000)


def nice_scale_length(width_m: float) -> int:
    """A round scale-bar length in metres, about a quarter of the map width."""
    goal = width_m / 4.0
    fitting = [v for v in _NICE_LENGTHS_M if v <= goal]
    return fitting[-1] if fitting else _NICE_LENGTHS_M[0]


def _backing(ax: Axes, x: float, y: float, width: float, height: float) -> None:
    """The white box behind a piece of map furniture (scale bar, north arrow)."""
    ax.add_patch(
        Rectangle(
            (x, y),
            width,
            height,
            facecolor="white",
            edgecolor="#666666",
            linewidth=0.5,
            alpha=0.9,
            zorder=20,
        )
    )


def _scale_bar(ax: Axes, extent: tuple[float, float, float, float]) -> None:
    x0, y0, x1, y1 = extent
    length = nice_scale_length(x1 - x0)
    h = (y1 - y0) * 0.012
    bx, by = x0 + (x1 - x0) * 0.04, y0 + (y1 - y0) * 0.045
    _backing(ax, bx - (x1 - x0) * 0.015, by - h * 1.6, length + (x1 - x0) * 0.05, h * 5.2)
    half = length / 2
    for i, colour in enumerate(("black", "white", "black", "white")):
        ax.add_patch(
            Rectangle(
                (bx + i * half / 2, by),
                half / 2,
                h,
                facecolor=colour,
                edgecolor="black",
                linewidth=0.6,
                zorder=21,
            )
        )
    for frac, text in ((0.0, "0"), (0.5, f"{half:g}"), (1.0, f"{length:g} m")):
        ax.text(
            bx + frac * length,
            by + h * 1.5,
            text,
            ha="center",
            va="bottom",
            fontsize=6.5,
            zorder=22,
        )


def _north_arrow(ax: Axes, extent: tuple[float, float, float, float]) -> None:
    x0, y0, x1, y1 = extent
    size = (y1 - y0) * 0.06
    ax_, ay = x0 + (x1 - x0) * 0.06, y1 - (y1 - y0) * 0.17
    _backing(ax, ax_ - size * 0.55, ay - size * 0.25, size * 1.1, size * 1.95)
    ax.add_patch(
        FancyArrow(
            ax_,
            ay,
            0,
            size,
            width=size * 0.12,
            head_width=size * 0.45,
            head_length=size * 0.4,
            length_includes_head=True,
            color="black",
            zorder=21,
        )
    )
    ax.text(
        ax_, ay + size * 1.05, "N", ha="center", va="bottom", fontsize=9, weight="bold", zorder=22
    )
    ax.text(ax_, ay - size * 0.08, "grid", ha="center", va="top", fontsize=5, zorder=22)
