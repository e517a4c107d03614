"""The HTML page around a map: Leaflet inlined (no CDN), the panel with its controls, the payload."""

from __future__ import annotations

import base64
import gzip
import html
import json
import re
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from wijkprofiel.errors import PublishError


@cache
def leaflet_assets() -> tuple[str, str]:
    """Leaflet JS and CSS from the installed ``xstatic-leaflet`` package (inlined, no CDN)."""
    try:
        import xstatic.pkg.leaflet as xleaflet
    except ImportError as exc:
        msg = "self-contained maps need the package xstatic-leaflet (pip install xstatic-leaflet)"
        raise PublishError(msg) from exc
    base = Path(xleaflet.BASE_DIR)
    return (base / "leaflet.js").read_text(encoding="utf-8"), (base / "leaflet.css").read_text(encoding="utf-8")


@cache
def _template(name: str) -> str:
    return resources.files("wijkprofiel").joinpath(f"publish/templates/{name}").read_text(encoding="utf-8")


def script_json(data: Any) -> str:
    """JSON safe to place inside ``<script>``: ``<``, ``>`` and ``&`` are escaped as ``\\u003c`` etc."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


_TOKENS = ("@@WP_TITLE@@", "@@WP_BODY@@", "@@WP_PAYLOAD@@")


@cache
def _skeleton(self_contained: bool) -> tuple[str, ...]:
    """The folium page rendered once with placeholders, split into static parts."""
    import folium  # heavy optional import

    m = folium.Map(location=[52.2, 5.3], zoom_start=8, tiles=None, control_scale=True)
    m._id = "wijkprofiel"  # fixed variable name (folium draws a random one): equal pages give equal files
    m.default_js = []
    m.default_css = []
    root: Any = m.get_root()  # a branca Figure (header/html/script sections)
    js, css = leaflet_assets()
    if self_contained:
        assets = f"<style>{css}</style><script>{js}</script>"
    else:
        assets = ('<link rel="stylesheet" href="https://unpkg.com/leaflet@1.9.3/dist/leaflet.css">'
                  '<script src="https://unpkg.com/leaflet@1.9.3/dist/leaflet.js"></script>')
    root.header.add_child(folium.Element(f"<title>{_TOKENS[0]}</title>"), name="wp_title")
    root.header.add_child(folium.Element(assets), name="leaflet_inline")
    root.header.add_child(folium.Element(f"<style>{_template('map.css')}</style>"), name="wp_css")
    root.html.add_child(folium.Element(_TOKENS[1]), name="wp_body")
    init = (f"<script>{_template('map.js')}</script>"
            f"<script>var WP_PAYLOAD = {_TOKENS[2]};"
            "document.addEventListener('DOMContentLoaded', function () {"
            f"WijkprofielMap.boot({m.get_name()}, WP_PAYLOAD);}});</script>")
    root.header.add_child(folium.Element(init), name="wp_init")
    page = str(root.render()).replace("<html>", '<html lang="nl">', 1)
    if self_contained and re.search(r"<(?:script|link)[^>]+(?:src|href)=\"https?://", page):
        msg = "map skeleton still references an external asset; self-contained mode must inline everything"
        raise PublishError(msg)
    parts = re.split("(" + "|".join(_TOKENS) + ")", page)
    if sorted(p for p in parts if p in _TOKENS) != sorted(_TOKENS):
        msg = "map skeleton lost a placeholder"
        raise PublishError(msg)
    return tuple(parts)


def _panel_html(title: str, subtitle: str, with_gemeente: bool, links: list[tuple[str, str]]) -> str:
    radios = ('<label class="wp-inline"><input type="radio" name="wp-comparator" value="nl" checked> Nederland</label>'
              + ('<label class="wp-inline"><input type="radio" name="wp-comparator" value="gemeente"> gemeente</label>'
                 if with_gemeente else ""))
    nav = " · ".join(f'<a href="{html.escape(h)}">{html.escape(t)}</a>' for h, t in links)
    return (
        '<div id="wp-panel" role="region" aria-label="Kaartinstellingen en legenda">'
        f'<nav class="wp-nav">{nav}</nav><h1>{html.escape(title)}</h1><div class="wp-meta">{html.escape(subtitle)}</div>'
        '<label for="wp-indicator">Indicator</label><select id="wp-indicator"></select>'
        '<div class="wp-row"><div><label for="wp-period">Jaar</label><select id="wp-period"></select></div>'
        '<div><label for="wp-group">Leeftijdsgroep</label><select id="wp-group"></select></div></div>'
        f'<fieldset><legend>Vergelijk met</legend>{radios}</fieldset>'
        '<div id="wp-map-title" aria-live="polite"></div><div id="wp-legend"></div>'
        '<div class="wp-tools"><button type="button" id="wp-table-toggle" aria-expanded="false" '
        'aria-controls="wp-table-box">Toon tabel</button>'
        '<label class="wp-inline"><input type="checkbox" id="wp-basemap"> Achtergrondkaart (OpenStreetMap, vereist internet)</label>'
        "</div></div>"
        '<section id="wp-table-box" hidden aria-labelledby="wp-table-caption"><div class="wp-table-head">'
        '<button type="button" id="wp-table-close">Sluit tabel</button></div>'
        '<table id="wp-table"><caption id="wp-table-caption"></caption><thead></thead><tbody></tbody></table></section>'
        f"{_template('hatch.svg')}"
    )


def render_map_page(
    payload: dict[str, Any],
    *,
    title: str,
    subtitle: str,
    links: list[tuple[str, str]],
    extra_html: str = "",
    self_contained: bool = True,
    compress_over: int = 1_500_000,
) -> str:
    """Render one choropleth page as a single HTML document.

    Parameters
    ----------
    payload
        From :func:`map_payload`.
    title, subtitle
        Dutch page title and subtitle (escaped here).
    links
        Navigation links ``(href, text)`` shown above the title (escaped here).
    extra_html
        Trusted HTML built by the caller from escaped parts (e.g. the list of wijken
        without geometry).
    self_contained
        Inline Leaflet (default). False links Leaflet from the unpkg CDN (smaller files).
    compress_over
        Payloads whose JSON is larger than this many bytes are stored gzip-compressed in
        base64 (``{"gz": …}``) and inflated by the browser (``DecompressionStream``:
        Chrome/Edge 80+, Firefox 113+, Safari 16.4+); this halves the national wijk map.
    """
    body = _panel_html(title, subtitle, "parents" in payload, links)
    if extra_html:
        body += f'<div id="wp-extra">{extra_html}</div>'
    data = script_json(payload)
    if len(data) > compress_over:
        packed = base64.b64encode(gzip.compress(data.encode("utf-8"), compresslevel=9, mtime=0)).decode("ascii")
        data = script_json({"gz": packed})
    fill = {_TOKENS[0]: html.escape(title), _TOKENS[1]: body, _TOKENS[2]: data}
    return "".join(fill.get(p, p) for p in _skeleton(self_contained))
