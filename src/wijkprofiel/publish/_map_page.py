"""The HTML page around a map: Leaflet inlined (no CDN), the panel with its controls, the payload."""

from __future__ import annotations

import base64
import gzip
import html
import json
import re
from collections.abc import Collection
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


_TOKENS = ("@@WP_TITLE@@", "@@WP_BODY@@", "@@WP_AFTER@@", "@@WP_MAPLABEL@@", "@@WP_PAYLOAD@@")
#: the map's own container as folium renders it
_MAP_DIV = re.compile(r'<div class="folium-map" id="map_wijkprofiel"\s*></div>')
#: folium's viewport forbids zooming (maximum-scale=1.0, user-scalable=no; WCAG 1.4.4)
_VIEWPORT = re.compile(r'<meta name="viewport"[^>]*>')
#: areas of a page whose table is also written as static HTML (readable without JavaScript);
#: larger maps (the national wijk map) keep their size and point to the wijkentabellen
STATIC_TABLE_MAX = 400


@cache
def _skeleton(self_contained: bool) -> tuple[str, ...]:
    """The folium page rendered once with placeholders, split into static parts.

    The map container is moved between the body placeholders (inside ``<main>``) and
    labelled; the viewport allows zooming."""
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
            f"<script>var WP_PAYLOAD = {_TOKENS[4]};"
            "document.addEventListener('DOMContentLoaded', function () {"
            f"WijkprofielMap.boot({m.get_name()}, WP_PAYLOAD);}});</script>")
    root.header.add_child(folium.Element(init), name="wp_init")
    page = str(root.render()).replace("<html>", '<html lang="nl">', 1)
    page, n_viewport = _VIEWPORT.subn('<meta name="viewport" content="width=device-width, initial-scale=1">', page)
    div = _MAP_DIV.search(page)
    if n_viewport != 1 or div is None:
        msg = "the folium page changed: expected one viewport meta and the map container"
        raise PublishError(msg)
    page = page[:div.start()] + page[div.end():]
    page = page.replace(_TOKENS[1], f'{_TOKENS[1]}<div class="folium-map" id="map_wijkprofiel" role="region" '
                                    f'aria-label="{_TOKENS[3]}" aria-describedby="wp-keys"></div>{_TOKENS[2]}', 1)
    if self_contained and re.search(r"<(?:script|link)[^>]+(?:src|href)=\"https?://", page):
        msg = "map skeleton still references an external asset; self-contained mode must inline everything"
        raise PublishError(msg)
    parts = re.split("(" + "|".join(_TOKENS) + ")", page)
    if sorted(p for p in parts if p in _TOKENS) != sorted(_TOKENS):
        msg = "map skeleton lost a placeholder"
        raise PublishError(msg)
    return tuple(parts)


def _panel_html(title: str, subtitle: str, with_gemeente: bool, links: list[tuple[str, str]]) -> str:
    """Skip link, start of ``<main>`` and the panel: navigation, title, controls (shown by the
    script), legend and tools."""
    radios = ('<label class="wp-inline"><input type="radio" name="wp-comparator" value="nl" checked> Nederland</label>'
              + ('<label class="wp-inline"><input type="radio" name="wp-comparator" value="gemeente"> gemeente</label>'
                 if with_gemeente else ""))
    nav = " · ".join(f'<a href="{html.escape(h)}">{html.escape(t)}</a>' for h, t in links)
    return (
        '<a class="wp-skip" id="wp-skip" href="#wp-table-box">Naar de tabel met de gegevens van de kaart</a>'
        '<main id="wp-main">'
        '<div id="wp-panel" role="region" aria-label="Kaartinstellingen en legenda">'
        f'<nav class="wp-nav" aria-label="Navigatie">{nav}</nav><h1>{html.escape(title)}</h1>'
        f'<p class="wp-meta">{html.escape(subtitle)}</p>'
        '<noscript><p class="wp-note">Deze kaart werkt met JavaScript. Zonder JavaScript: zie de '
        '<a href="#wp-table-box">tabel bij de kaart</a>.</p></noscript>'
        '<div id="wp-controls" hidden>'
        '<label for="wp-indicator">Indicator</label><select id="wp-indicator"></select>'
        '<div class="wp-row"><div><label for="wp-period">Jaar</label><select id="wp-period"></select></div>'
        '<div><label for="wp-group">Leeftijdsgroep</label><select id="wp-group"></select></div></div>'
        f'<fieldset><legend>Vergelijk met</legend>{radios}</fieldset>'
        '<p id="wp-map-title" aria-live="polite"></p>'
        '<section id="wp-legend" aria-labelledby="wp-legend-h"><h2 id="wp-legend-h">Legenda</h2>'
        '<div id="wp-legend-body"></div></section>'
        '<div class="wp-tools"><button type="button" id="wp-table-toggle" aria-expanded="false" '
        'aria-controls="wp-table-box">Toon tabel</button>'
        '<label class="wp-inline"><input type="checkbox" id="wp-basemap"> Achtergrondkaart (OpenStreetMap, vereist internet)</label>'
        '<p class="wp-note" id="wp-keys">Toetsenbord: pijltjestoetsen verschuiven de kaart, + en − zoomen.</p>'
        "</div></div></div>"
    )


def _table_html(payload: dict[str, Any], overview_href: str) -> str:
    """The table section after the map: the default series as static rows (small maps) or a
    pointer to the wijkentabellen (large maps); the script rebuilds it for any selection."""
    from wijkprofiel.publish._map_table import static_table

    if len(payload["codes"]) <= STATIC_TABLE_MAX:
        table = static_table(payload)
        caption, thead, tbody, hidden = html.escape(table.caption), table.thead, table.tbody, ""
        note = ("Zonder JavaScript toont de tabel alleen deze indicator; alle indicatoren per wijk staan in de "
                "wijkprofielen.")
    else:
        caption, thead, tbody, hidden = "", "", "", " hidden"
        note = "Zonder JavaScript: de wijken met hun cijfers staan per gemeente in de wijkentabellen, via het overzicht."
    return (
        '<section id="wp-table-box" aria-labelledby="wp-table-h"><div class="wp-table-head">'
        '<h2 id="wp-table-h" tabindex="-1">Tabel bij de kaart</h2>'
        '<button type="button" id="wp-table-close" hidden>Sluit tabel</button></div>'
        f'<noscript><p class="wp-note">{html.escape(note)} <a href="{html.escape(overview_href)}">Naar het overzicht</a>.</p></noscript>'
        f'<table id="wp-table"{hidden}><caption id="wp-table-caption">{caption}</caption><thead>{thead}</thead>'
        f"<tbody>{tbody}</tbody></table></section>"
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
    profile_href: str | None = None,
    linked: Collection[str] | None = None,
    link_label: str = "profiel",
) -> str:
    """Render one choropleth page as a single HTML document.

    Parameters
    ----------
    payload
        From :func:`map_payload`.
    title, subtitle
        Dutch page title and subtitle (escaped here).
    links
        Navigation links ``(href, text)`` shown above the title (escaped here); the first
        is the overview (index).
    extra_html
        Trusted HTML built by the caller from escaped parts (e.g. the list of wijken
        without geometry).
    self_contained
        Inline Leaflet (default). False links Leaflet from the unpkg CDN (smaller files).
    compress_over
        Payloads whose JSON is larger than this many bytes are stored gzip-compressed in
        base64 (``{"gz": …}``) and inflated by the browser (``DecompressionStream``:
        Chrome/Edge 80+, Firefox 113+, Safari 16.4+); this halves the national wijk map.
    profile_href, linked, link_label
        The page an area opens (Enter on the focused area, click, the table's first
        column): ``profile_href`` with ``{}`` for the (URL-quoted) code, e.g.
        ``"../profielen/{}.html"``; only for the codes in ``linked`` (None: all). The link's
        Dutch name (``link_label``) appears in tooltips. None: areas link nowhere.
    """
    if profile_href:
        payload = {**payload, "href": profile_href, "link_label": link_label}
        if linked is not None:
            wanted = set(linked)
            payload["linked"] = [k for k, c in enumerate(payload["codes"]) if c in wanted]
    body = _panel_html(title, subtitle, "parents" in payload, links)
    after = _table_html(payload, links[0][0] if links else "index.html")
    if extra_html:
        after += f'<div id="wp-extra">{extra_html}</div>'
    after += f"{_template('hatch.svg')}</main>"
    data = script_json(payload)
    if len(data) > compress_over:
        packed = base64.b64encode(gzip.compress(data.encode("utf-8"), compresslevel=9, mtime=0)).decode("ascii")
        data = script_json({"gz": packed})
    fill = {_TOKENS[0]: html.escape(title), _TOKENS[1]: body, _TOKENS[2]: after, _TOKENS[3]: html.escape(f"Kaart: {title}"),
            _TOKENS[4]: data}
    return "".join(fill.get(p, p) for p in _skeleton(self_contained))
