"""Choropleth maps (folium) in the HP4All style, self-contained for intranets.

One GeoJSON layer per map; every indicator × period × population group is stored once in a
compact JSON payload and a small controller (``templates/map.js``) restyles the layer when
the user picks an indicator, period, age group or comparator. Leaflet's JS and CSS are
inlined from the installed ``xstatic-leaflet`` package: the file opens offline, no CDN.
Every string from data is escaped (JSON with ``<``/``>``/``&`` escaped inside ``<script>``;
``html.escape`` in HTML; ``esc()``/``textContent`` in the browser).
"""

from __future__ import annotations

import html
import json
import os
import tempfile
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from wijkprofiel.errors import PublishError
from wijkprofiel.indicators import POPULATION_GROUPS, THEMES

__all__ = [
    "CLASS_ORDER",
    "CLASS_LABELS_NL",
    "CLASS_COLORS",
    "CLASS_MARKS",
    "DESCRIPTIVE_NOTE",
    "leaflet_assets",
    "web_features",
    "map_payload",
    "render_choropleth",
    "write_text_atomic",
    "script_json",
]

CLASS_ORDER = [
    "not_compared", "much_better", "better", "similar", "worse", "much_worse",
    "much_lower", "lower", "higher", "much_higher",
]
CLASS_LABELS_NL = {
    "not_compared": "geen vergelijking (geen gegevens)",
    "much_better": "veel gunstiger", "better": "gunstiger", "similar": "vergelijkbaar",
    "worse": "ongunstiger", "much_worse": "veel ongunstiger",
    "much_lower": "veel lager", "lower": "lager", "higher": "hoger", "much_higher": "veel hoger",
}
# HP4All: unfavourable stands out (reds), similar is neutral, favourable is calm (blues);
# neutral-polarity indicators use a separate brown/teal scale so no judgement is implied
CLASS_COLORS = {
    "not_compared": "#d9d9d9", "much_better": "#2166ac", "better": "#92c5de", "similar": "#f7f7f7",
    "worse": "#f4a582", "much_worse": "#b2182b",
    "much_lower": "#01665e", "lower": "#80cdc1", "higher": "#dfc27d", "much_higher": "#8c510a",
}
#: text marks so a class is never shown by colour alone
CLASS_MARKS = {
    "not_compared": "?", "much_better": "++", "better": "+", "similar": "=", "worse": "−",
    "much_worse": "−−", "much_lower": "▼▼", "lower": "▼", "higher": "▲", "much_higher": "▲▲",
}
DESCRIPTIVE_NOTE = (
    "Beschrijvende klassen: het verschil gedeeld door de spreiding (standaarddeviatie) van "
    "gebieden van hetzelfde niveau; |z| ≤ 1 vergelijkbaar, 1–2 anders, > 2 veel anders. "
    "Er is geen onzekerheidsmarge bekend, dus dit is geen significantietoets."
)


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
    return resources.files("wijkprofiel").joinpath(f"templates/{name}").read_text(encoding="utf-8")


def script_json(data: Any) -> str:
    """JSON safe to place inside ``<script>``: ``<``, ``>`` and ``&`` are escaped as ``\\u003c`` etc."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def web_features(gdf: gpd.GeoDataFrame, precision: int = 5) -> dict[str, Any]:
    """GeoJSON FeatureCollection in EPSG:4326 with only a feature index ``k`` as property.

    Coordinates are rounded to ``precision`` decimals (5 ≈ 1 m), the only property is the
    row position, so names never travel inside geometry.
    """
    web = gdf.to_crs("EPSG:4326")
    geoms = shapely.set_precision(web.geometry.to_numpy(), 10.0**-precision)
    features = []
    for k, geom in enumerate(geoms):
        if geom is None or geom.is_empty:
            continue
        features.append({"type": "Feature", "properties": {"k": k}, "geometry": shapely.geometry.mapping(geom)})
    return {"type": "FeatureCollection", "features": features}


def _round(values: np.ndarray, digits: int) -> list[float | None]:
    out: list[float | None] = [None if np.isnan(v) else round(float(v), digits) for v in values]
    return out


def map_payload(
    codes: list[str],
    names: list[str],
    comparisons: pd.DataFrame,
    indicators: pd.DataFrame,
    *,
    with_gemeente: bool,
    sources: dict[str, str],
    descriptive: bool = True,
) -> dict[str, Any]:
    """Build the compact map payload (series × features arrays) from comparison rows.

    ``comparisons`` needs ``region_code, indicator_id, period, population_group, value,
    gemeente_value, nl_value, class_nl, class_gemeente`` and optionally ``suppressed``.
    """
    ind = indicators.sort_values("sort_order").reset_index(drop=True)
    ind_pos = {iid: i for i, iid in enumerate(ind["indicator_id"])}
    comp = comparisons[comparisons["region_code"].isin(codes) & comparisons["indicator_id"].isin(ind_pos)]
    feat_pos = {c: i for i, c in enumerate(codes)}
    keys = comp[["indicator_id", "period", "population_group"]].drop_duplicates()
    keys = keys.assign(order=keys["indicator_id"].astype(str).map(ind_pos)).sort_values(["order", "period", "population_group"])
    series: list[tuple[int, int, str]] = [(int(o), int(p), str(g)) for o, p, g in zip(keys["order"].tolist(), keys["period"].tolist(),
                                                          keys["population_group"].tolist(), strict=True)]
    ind_ids = [str(i) for i in ind["indicator_id"].tolist()]
    s_index = pd.MultiIndex.from_frame(keys[["indicator_id", "period", "population_group"]])
    s_of_row = s_index.get_indexer(pd.MultiIndex.from_frame(comp[["indicator_id", "period", "population_group"]]))
    f_of_row = comp["region_code"].map(feat_pos).to_numpy(dtype="int64")
    n_s, n_f = len(series), len(codes)

    def matrix(column: str, fill: float = np.nan) -> np.ndarray:
        m = np.full((n_s, n_f), fill)
        m[s_of_row, f_of_row] = comp[column].to_numpy(dtype="float64")
        return m

    class_code = {c: i for i, c in enumerate(CLASS_ORDER)}

    def class_matrix(column: str) -> list[list[int]]:
        m = np.zeros((n_s, n_f), dtype=int)
        m[s_of_row, f_of_row] = comp[column].astype(str).map(class_code).fillna(0).to_numpy(dtype=int)
        return m.tolist()

    unit_digits = {iid: (1 if unit == "%" else 0) for iid, unit in zip(ind["indicator_id"], ind["unit"], strict=True)}
    digits = [unit_digits[ind_ids[s[0]]] + 1 for s in series]
    values = matrix("value")
    nl = np.full(n_s, np.nan)
    nl[s_of_row] = comp["nl_value"].to_numpy(dtype="float64")
    payload: dict[str, Any] = {
        "codes": codes,
        "names": names,
        "series": [list(s) for s in series],
        "default_series": 0,
        "indicators": [
            {"id": r.indicator_id, "label": r.label_nl, "unit": r.unit, "theme": r.theme,
             "polarity": r.polarity, "source": sources.get(str(r.source), str(r.source))}
            for r in ind.itertuples()
        ],
        "themes": [[k, v] for k, v in THEMES.items()],
        "groups": dict(POPULATION_GROUPS),
        "values": [_round(values[s], digits[s]) for s in range(n_s)],
        "nl_values": [None if np.isnan(v) else round(float(v), digits[s]) for s, v in enumerate(nl)],
        "class_nl": class_matrix("class_nl"),
        "class_gm": class_matrix("class_gemeente") if with_gemeente else class_matrix("class_nl"),
        "class_colors": [CLASS_COLORS[c] for c in CLASS_ORDER],
        "class_labels": [CLASS_LABELS_NL[c] for c in CLASS_ORDER],
        "class_marks": [CLASS_MARKS[c] for c in CLASS_ORDER],
        "legend_polar": [class_code[c] for c in ("much_worse", "worse", "similar", "better", "much_better", "not_compared")],
        "legend_neutral": [class_code[c] for c in ("much_higher", "higher", "similar", "lower", "much_lower", "not_compared")],
        "descriptive": descriptive,
        "descriptive_note": DESCRIPTIVE_NOTE,
        "comparators": ["nl", "gemeente"] if with_gemeente else ["nl"],
    }
    if with_gemeente:
        gm = matrix("gemeente_value")
        payload["gm_values"] = [_round(gm[s], digits[s]) for s in range(n_s)]
    if "suppressed" in comp.columns:
        sup = np.zeros((n_s, n_f), dtype=bool)
        sup[s_of_row, f_of_row] = comp["suppressed"].fillna(False).to_numpy(dtype=bool)
        payload["suppressed"] = sup.astype(int).tolist()
    preferred = [i for i, s in enumerate(series) if ind_ids[s[0]] == "eenzaam" and s[2] == "18+"]
    if preferred:
        payload["default_series"] = max(preferred, key=lambda i: series[i][1])
    return payload


def _panel_html(title: str, subtitle: str, with_gemeente: bool, back_href: str | None) -> str:
    comparator = (
        '<fieldset><legend><strong>Vergelijk met</strong></legend>'
        '<label style="display:inline;font-weight:400"><input type="radio" name="wp-comparator" value="nl" checked> Nederland</label> '
        + ('<label style="display:inline;font-weight:400"><input type="radio" name="wp-comparator" value="gemeente"> gemeente</label>'
           if with_gemeente else "")
        + "</fieldset>"
    )
    back = f'<a class="wp-back" href="{html.escape(back_href)}">← overzicht</a>' if back_href else ""
    return (
        '<div id="wp-panel" role="region" aria-label="Kaartinstellingen">'
        f"{back}<h1>{html.escape(title)}</h1><div class=\"wp-meta\">{html.escape(subtitle)}</div>"
        '<label for="wp-indicator">Indicator</label><select id="wp-indicator"></select>'
        '<label for="wp-period">Jaar</label><select id="wp-period"></select>'
        '<label for="wp-group">Leeftijdsgroep</label><select id="wp-group"></select>'
        f'{comparator}<div id="wp-map-title" aria-live="polite"></div><div id="wp-legend"></div></div>'
    )


def render_choropleth(
    gdf: gpd.GeoDataFrame,
    payload: dict[str, Any],
    *,
    title: str,
    subtitle: str,
    extra_html: str = "",
    back_href: str | None = None,
    self_contained: bool = True,
) -> str:
    """Render one choropleth page as a single HTML document.

    Parameters
    ----------
    gdf
        Features in the payload's order (``payload['codes']``), any CRS.
    payload
        From :func:`map_payload`.
    title, subtitle
        Dutch page title and subtitle (escaped here).
    extra_html
        Trusted HTML built by the caller from escaped parts (e.g. the list of wijken without
        geometry).
    self_contained
        Inline Leaflet (default). False links Leaflet from the unpkg CDN (smaller files).
    """
    import folium  # heavy optional import

    features = web_features(gdf)
    minx, miny, maxx, maxy = gdf.to_crs("EPSG:4326").total_bounds
    payload = dict(payload, bounds=[[float(miny), float(minx)], [float(maxy), float(maxx)]])
    m = folium.Map(location=[(miny + maxy) / 2, (minx + maxx) / 2], zoom_start=11, tiles=None, control_scale=True)
    m.default_js = []
    m.default_css = []
    root: Any = m.get_root()  # a branca Figure (header/html/script sections)
    js, css = leaflet_assets()
    if self_contained:
        assets = f"<style>{css}</style><script>{js}</script>"
    else:
        assets = (
            '<link rel="stylesheet" href="https://unpkg.com/leaflet@1.9.3/dist/leaflet.css">'
            '<script src="https://unpkg.com/leaflet@1.9.3/dist/leaflet.js"></script>'
        )
    root.header.add_child(folium.Element(f"<title>{html.escape(title)}</title>"), name="wp_title")
    root.header.add_child(folium.Element(assets), name="leaflet_inline")
    root.header.add_child(folium.Element(f"<style>{_template('map.css')}</style>"), name="wp_css")
    layer = folium.GeoJson(features, name="gebieden", zoom_on_click=False)
    layer.add_to(m)
    with_gemeente = "gm_values" in payload
    root.html.add_child(folium.Element(_panel_html(title, subtitle, with_gemeente, back_href)))
    if extra_html:
        root.html.add_child(folium.Element(f'<div id="wp-extra">{extra_html}</div>'))
    init = (
        f"<script>{_template('map.js')}</script>"
        f"<script>var WP_PAYLOAD = {script_json(payload)};"
        "document.addEventListener('DOMContentLoaded', function () {"
        f"new WijkprofielMap({m.get_name()}, {layer.get_name()}, WP_PAYLOAD);}});</script>"
    )
    root.header.add_child(folium.Element(init), name="wp_init")
    page = root.render()
    if self_contained and ("https://" in _script_and_link_srcs(page)):
        msg = f"map {title!r} still references an external asset; self-contained mode must inline everything"
        raise PublishError(msg)
    return str(page)


def _script_and_link_srcs(page: str) -> str:
    import re

    return " ".join(re.findall(r"<(?:script|link)[^>]+(?:src|href)=\"([^\"]+)\"", page))


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (temporary file in the same directory, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
