"""Leaflet, inlined from an installed package, so a map works with no network.

folium links Leaflet from CDNs. The ``folium-offline`` distribution (import
name ``offlinefolium``; MIT, Sandia National Laboratories) ships the same
files inside its Python modules, keyed by the CDN address folium uses. We take
Leaflet's JavaScript and CSS from there and inline them as ``<script>`` and
``<style>`` blocks; Leaflet's CSS already carries its images as ``data:`` URIs.
No other folium asset (jQuery, Bootstrap, Font Awesome, Awesome Markers) is
needed: :mod:`maps.webmap` uses neither folium's popups nor its icons.
"""

from __future__ import annotations

import importlib.metadata
import re
from dataclasses import dataclass
from functools import cache

ASSET_DISTRIBUTION = "folium-offline"
"""The installed distribution that ships Leaflet."""

LEAFLET_VERSION = "1.9.3"
LEAFLET_LICENCE = "BSD-2-Clause (c) 2010-2022 Vladimir Agafonkin, (c) 2010-2011 CloudMade"
_LEAFLET_JS = f"https://cdn.jsdelivr.net/npm/leaflet@{LEAFLET_VERSION}/dist/leaflet.js"
_LEAFLET_CSS = f"https://cdn.jsdelivr.net/npm/leaflet@{LEAFLET_VERSION}/dist/leaflet.css"

# Tags that would make a browser fetch something: <script src>, <link href>,
# <img src>, <iframe src>. Used as a last check on every map we write.
_EXTERNAL_TAG = re.compile(
    r"<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)\s*=\s*[\"']?\s*(?:https?:)?//",
    re.IGNORECASE,
)


class AssetError(RuntimeError):
    """The offline Leaflet assets cannot be found in the installed packages."""


@dataclass(frozen=True)
class Assets:
    """Leaflet's JavaScript and CSS text, with where they came from."""

    js: str
    css: str
    distribution: str
    distribution_version: str
    distribution_licence: str
    leaflet_version: str
    leaflet_licence: str

    @property
    def provenance(self) -> str:
        """One line naming the package, versions and licences (for an HTML comment)."""
        return (
            f"Leaflet {self.leaflet_version} ({self.leaflet_licence}), inlined from the "
            f"Python package {self.distribution} {self.distribution_version} "
            f"(licence {self.distribution_licence})"
        )


@cache
def leaflet_assets() -> Assets:
    """Leaflet's JS and CSS from the installed ``folium-offline`` package.

    Raises
    ------
    AssetError
        When the package is missing or no longer ships Leaflet under the
        address folium uses; the message says how to fix it.
    """
    try:
        version = importlib.metadata.version(ASSET_DISTRIBUTION)
        licence = (importlib.metadata.metadata(ASSET_DISTRIBUTION).get_all("License") or ["MIT"])[0]
        from offlinefolium import elements  # the module that holds the embedded files
    except (importlib.metadata.PackageNotFoundError, ImportError) as exc:
        msg = (
            f"`{ASSET_DISTRIBUTION}` is not installed ({exc}); it ships Leaflet for offline "
            "maps. Reinstall the project: pip install -e ."
        )
        raise AssetError(msg) from exc
    resources = getattr(elements, "_res", {})
    js = resources.get(_LEAFLET_JS)
    css = resources.get(_LEAFLET_CSS)
    if not js or not css or f"Leaflet {LEAFLET_VERSION}" not in js:
        msg = (
            f"`{ASSET_DISTRIBUTION}` {version} does not ship Leaflet {LEAFLET_VERSION} as "
            "expected; pin folium-offline to the version named in pyproject.toml."
        )
        raise AssetError(msg)
    for text, tag in ((js, "</script"), (css, "</style")):
        if tag in text.lower():  # would end the inline block early
            msg = f"the inlined asset contains `{tag}>` and cannot be embedded safely."
            raise AssetError(msg)
    return Assets(
        js=js,
        css=css,
        distribution=ASSET_DISTRIBUTION,
        distribution_version=version,
        distribution_licence=licence,
        leaflet_version=LEAFLET_VERSION,
        leaflet_licence=LEAFLET_LICENCE,
    )


def external_references(html: str) -> list[str]:
    """Tags in ``html`` that would load something over the network.

    Script bodies are JavaScript text, not tags, so a URL inside Leaflet's
    source (its attribution link) is not a reference; only real ``<script
    src>``, ``<link href>``, ``<img src>`` and ``<iframe src>`` tags count.
    """
    return [m.group(0) for m in _EXTERNAL_TAG.finditer(_strip_script_bodies(html))]


def _strip_script_bodies(html: str) -> str:
    return re.sub(
        r"(<script\b[^>]*>).*?(</script\s*>)", r"\1\2", html, flags=re.IGNORECASE | re.DOTALL
    )
