"""Choropleth maps (folium + Leaflet) in the HP4All style, self-contained for intranets.

A map page is one HTML file: the folium page skeleton (rendered once per publication and
reused for every page), Leaflet's JS/CSS inlined from the installed ``xstatic-leaflet``
package (no CDN), the controller ``templates/map.js`` and one JSON payload:

* geometry as shared arcs (:mod:`wijkprofiel.webgeom`), decoded in the browser;
* every indicator × period × population group ("series") stored once per page as
  fixed-width strings (:func:`encode_fixed`): values, gemeente values (once per gemeente,
  not per wijk), 95 % intervals where known, classes against Nederland and the gemeente
  packed into one character, and the comparison method.

Every string from data is escaped: JSON via :func:`script_json` (``<``, ``>``, ``&``
escaped inside ``<script>``), ``html.escape`` in HTML, ``esc()``/``textContent`` in JS.
"""

from __future__ import annotations

import base64
import gzip
import html
import json
import os
import re
import tempfile
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from wijkprofiel.errors import PublishError
from wijkprofiel.indicators import POPULATION_GROUPS, THEMES
from wijkprofiel.publish._web_geometry import (
    VALUE_ALPHABET,
    decode_fixed,
    encode_fixed,
    encode_rows,
    widths_for,
)

__all__ = [
    "CLASS_ORDER", "CLASS_LABELS_NL", "CLASS_COLORS", "CLASS_MARKS", "CLASS_METHODS",
    "SIGNIFICANCE_METHODS", "DESCRIPTIVE_NOTE", "MISSING_COLOR", "VALUE_ALPHABET",
    "SeriesTable", "class_phrase", "encode_fixed", "decode_fixed", "decode_series", "leaflet_assets",
    "map_payload", "page_payload", "render_map_page", "script_json", "unit_digits", "write_text_atomic",
]

CLASS_ORDER = [
    "not_compared", "much_better", "better", "similar", "worse", "much_worse",
    "much_lower", "lower", "higher", "much_higher",
]
CLASS_LABELS_NL = {
    "not_compared": "geen vergelijking mogelijk",
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
#: grey of missing / suppressed areas (drawn with a hatch pattern on top)
MISSING_COLOR = "#d9d9d9"
#: text marks so a class is never shown by colour alone
CLASS_MARKS = {
    "not_compared": "?", "much_better": "++", "better": "+", "similar": "=", "worse": "−",
    "much_worse": "−−", "much_lower": "▼▼", "lower": "▼", "higher": "▲", "much_higher": "▲▲",
}
#: every ``comparisons.class_method`` (same order as ``wijkprofiel.compare.CLASS_METHODS``)
CLASS_METHODS = ["descriptive_z", "significance_95", "significance_99.8", "nested_z", "fdr_bh"]
SIGNIFICANCE_METHODS = frozenset(CLASS_METHODS[1:])
DESCRIPTIVE_NOTE = (
    "Beschrijvende klassen: het verschil gedeeld door de spreiding (standaarddeviatie) van "
    "gebieden van hetzelfde niveau; |z| ≤ 1 vergelijkbaar, 1–2 anders, > 2 veel anders. "
    "Er is geen onzekerheidsmarge bekend, dus dit is geen significantietoets."
)


def class_phrase(class_id: str, method: str, comparator: str) -> str:
    """A class in words, e.g. 'significant ongunstiger dan Nederland' or 'beschrijvend: …'.

    ``comparator`` is ``'nl'`` or ``'gemeente'``.
    """
    target = "Nederland" if comparator == "nl" else "de gemeente"
    if class_id == "not_compared" or class_id not in CLASS_LABELS_NL:
        return "geen vergelijking mogelijk"
    label = CLASS_LABELS_NL[class_id]
    core = f"vergelijkbaar met {target}" if class_id == "similar" else f"{label} dan {target}"
    if method in SIGNIFICANCE_METHODS:
        return f"niet significant verschillend van {target}" if class_id == "similar" else f"significant {core}"
    return f"beschrijvend: {core}"


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


def unit_digits(unit: str) -> int:
    """Decimals shown for a unit: 1 for percentages, 0 for euros and counts, else 1."""
    return 0 if unit.startswith("euro") or unit == "aantal" else 1


def _encode_values(values: NDArray[np.float64], digits: NDArray[np.int64],
                   suppressed: NDArray[np.bool_] | None = None) -> list[list[Any]]:
    """Per row (series) ``[digits, offset, width, text]``: code 0 = no value, 1 = suppressed,
    else ``round(v·10^d) − offset + 2``."""
    values = np.atleast_2d(values)
    scaled = np.round(values * 10.0 ** np.asarray(digits, dtype=np.float64)[:, None])
    ok = ~np.isnan(scaled)
    offsets = np.where(ok.any(axis=1), np.nanmin(np.where(ok, scaled, np.inf), axis=1), 0).astype(np.int64)
    codes = np.where(ok, np.nan_to_num(scaled).astype(np.int64) - offsets[:, None] + 2, 0)
    if suppressed is not None:
        codes[~ok & suppressed] = 1
    widths = widths_for(codes.max(axis=1) if codes.shape[1] else np.zeros(len(codes), dtype=np.int64))
    texts = encode_rows(codes, widths)
    return [[int(d), int(o), int(w), t] for d, o, w, t in zip(digits, offsets, widths, texts, strict=True)]


# ------------------------------------------------------------------------ series table

@dataclass
class SeriesTable:
    """Comparison rows of one level as dense series × region matrices, built once per
    publication and sliced per map page."""

    codes: list[str]
    series: list[tuple[str, int, str]]
    present: NDArray[np.bool_]
    value: NDArray[np.float64]
    gemeente_value: NDArray[np.float64]
    nl_value: NDArray[np.float64]
    ci_lower: NDArray[np.float64]
    ci_upper: NDArray[np.float64]
    suppressed: NDArray[np.bool_]
    class_nl: NDArray[np.int8]
    class_gemeente: NDArray[np.int8]
    method: NDArray[np.int8]

    @classmethod
    def from_comparisons(cls, rows: pd.DataFrame, indicators: pd.DataFrame) -> SeriesTable:
        """Build from ``comparisons`` rows (plus ``suppressed``, ``ci_lower``, ``ci_upper``
        from ``observations`` when present) of comparable indicators, any regions."""
        order = {str(i): k for k, i in enumerate(indicators.sort_values("sort_order")["indicator_id"])}
        rows = rows[rows["indicator_id"].astype(str).isin(order)]
        codes = sorted(rows["region_code"].astype(str).unique())
        keys = rows[["indicator_id", "period", "population_group"]].astype({"indicator_id": str, "population_group": str})
        uniq = keys.drop_duplicates()
        uniq = uniq.assign(_o=uniq["indicator_id"].map(order)).sort_values(["_o", "period", "population_group"])
        series = [(str(i), int(p), str(g)) for i, p, g in zip(uniq["indicator_id"], uniq["period"], uniq["population_group"], strict=True)]
        s_idx = pd.MultiIndex.from_frame(uniq[["indicator_id", "period", "population_group"]]).get_indexer(pd.MultiIndex.from_frame(keys))
        f_idx = pd.Index(codes).get_indexer(rows["region_code"].astype(str))
        shape = (len(series), len(codes))

        def dense(column: str) -> NDArray[np.float64]:
            m = np.full(shape, np.nan)
            if column in rows.columns:
                m[s_idx, f_idx] = pd.to_numeric(rows[column], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
            return m

        def coded(column: str, vocabulary: list[str]) -> NDArray[np.int8]:
            m = np.zeros(shape, dtype=np.int8)
            # code the few distinct values, then take per row (unknown or missing → 0)
            keys, uniq = pd.factorize(rows[column].astype(str))
            position = {c: i for i, c in enumerate(vocabulary)}
            lut = np.array([position.get(str(u), 0) for u in uniq] + [0], dtype=np.int8)
            m[s_idx, f_idx] = lut[keys]
            return m

        present = np.zeros(shape, dtype=bool)
        present[s_idx, f_idx] = True
        suppressed = np.zeros(shape, dtype=bool)
        if "suppressed" in rows.columns:
            suppressed[s_idx, f_idx] = rows["suppressed"].fillna(False).to_numpy(dtype=bool)
        nl = np.full(len(series), np.nan)
        nl[s_idx] = pd.to_numeric(rows["nl_value"]).to_numpy(dtype="float64", na_value=np.nan)
        return cls(codes=codes, series=series, present=present, value=dense("value"),
                   gemeente_value=dense("gemeente_value"), nl_value=nl, ci_lower=dense("ci_lower"),
                   ci_upper=dense("ci_upper"), suppressed=suppressed, class_nl=coded("class_nl", CLASS_ORDER),
                   class_gemeente=coded("class_gemeente", CLASS_ORDER), method=coded("class_method", CLASS_METHODS))

    def columns(self, codes: list[str]) -> NDArray[np.int64]:
        """Column positions of ``codes`` (−1 where a region has no comparison rows)."""
        return pd.Index(self.codes).get_indexer(pd.Index(codes)).astype(np.int64)


def _take(matrix: NDArray[Any], cols: NDArray[np.int64], fill: Any) -> NDArray[Any]:
    out = np.full((matrix.shape[0], len(cols)), fill, dtype=matrix.dtype)
    ok = cols >= 0
    out[:, ok] = matrix[:, cols[ok]]
    return out


def map_payload(
    table: SeriesTable,
    codes: list[str],
    names: list[str],
    indicators: pd.DataFrame,
    *,
    sources: dict[str, str],
    geo: dict[str, Any],
    bounds: list[list[float]],
    parents: list[int] | None = None,
    parent_names: list[tuple[str, str]] | None = None,
    level_label: str = "Wijk",
    geometry_note: str = "",
    outline_roles: list[int] | None = None,
) -> dict[str, Any]:
    """Build the compact payload of one map page.

    Parameters
    ----------
    table
        The level's :class:`SeriesTable`.
    codes, names
        Map features in geometry order (``geo['areas']``).
    indicators
        The ``indicators`` table (comparable ones).
    sources
        Indicator source id → Dutch source label.
    geo, bounds
        From :func:`wijkprofiel.webgeom.encode_topology`; ``[[south, west], [north, east]]``.
    parents, parent_names
        Per feature the index of its gemeente in ``parent_names`` (``(code, name)``); when
        given the page compares with the gemeente too and stores gemeente values once per
        gemeente.
    level_label, geometry_note
        Dutch level name (table header) and the map source shown in the legend.
    outline_roles
        Per outline in ``geo``: 0 = context (neighbour), 1 = own gemeente, 2 = gemeente
        border on a national map.
    """
    ind = indicators.sort_values("sort_order").reset_index(drop=True)
    ind_pos = {str(i): k for k, i in enumerate(ind["indicator_id"])}
    cols = table.columns(codes)
    present = _take(table.present, cols, False)
    keep = np.flatnonzero(present.any(axis=1))
    series = [table.series[s] for s in keep]
    with_gm = parents is not None
    ind_digits = [unit_digits(str(u)) for u in ind["unit"]]
    digits = [ind_digits[ind_pos[s[0]]] for s in series]
    dig = np.array(digits, dtype=np.int64)
    value = _take(table.value, cols, np.nan)[keep]
    sup = _take(table.suppressed, cols, False)[keep]
    cnl = _take(table.class_nl, cols, 0)[keep].astype(np.int64)
    cgm = _take(table.class_gemeente, cols, 0)[keep].astype(np.int64)
    mth = _take(table.method, cols, 0)[keep]
    lo, hi = _take(table.ci_lower, cols, np.nan)[keep], _take(table.ci_upper, cols, np.nan)[keep]
    payload: dict[str, Any] = {
        "v": 2, "codes": codes, "names": names, "level_label": level_label,
        "series": [[ind_pos[i], p, g] for i, p, g in series],
        "default_series": 0,
        "indicators": [
            {"id": str(r.indicator_id), "label": str(r.label_nl), "unit": str(r.unit), "theme": str(r.theme),
             "polarity": str(r.polarity), "source": sources.get(str(r.source), str(r.source)),
             "digits": unit_digits(str(r.unit))}
            for r in ind.itertuples()
        ],
        "themes": [[k, v] for k, v in THEMES.items()],
        "groups": dict(POPULATION_GROUPS),
        "nl": [None if np.isnan(v) else round(float(v), d) for v, d in zip(table.nl_value[keep], digits, strict=True)],
        "val": _encode_values(value, dig, sup),
        "ci": [None] * len(series),
        "cls": [],
        "mth": [int(m[0]) if (m == m[0]).all() else [1, encode_fixed(m.astype(np.int64), 1)] for m in mth],
        "methods": [[m, "significance" if m in SIGNIFICANCE_METHODS else "descriptive"] for m in CLASS_METHODS],
        "classes": {"ids": CLASS_ORDER, "colors": [CLASS_COLORS[c] for c in CLASS_ORDER],
                    "labels": [CLASS_LABELS_NL[c] for c in CLASS_ORDER], "marks": [CLASS_MARKS[c] for c in CLASS_ORDER]},
        "legend_polar": [CLASS_ORDER.index(c) for c in ("much_worse", "worse", "similar", "better", "much_better")],
        "legend_neutral": [CLASS_ORDER.index(c) for c in ("much_higher", "higher", "similar", "lower", "much_lower")],
        "missing_color": MISSING_COLOR,
        "descriptive_note": DESCRIPTIVE_NOTE,
        "comparators": ["nl", "gemeente"] if with_gm else ["nl"],
        "geometry_note": geometry_note,
        "geo": geo, "bounds": bounds, "outline_roles": outline_roles or [],
    }
    with_ci = np.flatnonzero(~np.isnan(lo).all(axis=1)) if lo.size else np.array([], dtype=np.int64)
    if len(with_ci):
        for s, a, b in zip(with_ci, _encode_values(lo[with_ci], dig[with_ci]), _encode_values(hi[with_ci], dig[with_ci]), strict=True):
            payload["ci"][s] = [a, b]
    else:
        del payload["ci"]
    # classes: per series a palette of the classes present; nl and gemeente packed in one code
    present_cls = np.zeros((len(series), len(CLASS_ORDER)), dtype=bool)
    rows_idx = np.arange(len(series))[:, None]
    present_cls[rows_idx, cnl] = True
    if with_gm:
        present_cls[rows_idx, cgm] = True
    n_cls = present_cls.sum(axis=1)
    lut = np.cumsum(present_cls, axis=1) - 1
    local_nl = np.take_along_axis(lut, cnl, axis=1)
    combined = local_nl * n_cls[:, None] + np.take_along_axis(lut, cgm, axis=1) if with_gm else local_nl
    cls_widths = widths_for(np.maximum(n_cls * n_cls - 1 if with_gm else n_cls - 1, 0))
    cls_texts = encode_rows(combined, cls_widths)
    payload["cls"] = [[np.flatnonzero(present_cls[s]).tolist(), int(cls_widths[s]), cls_texts[s]] for s in range(len(series))]
    if with_gm and parent_names is not None and parents is not None:
        par = np.asarray(parents, dtype=np.int64)
        gm = _take(table.gemeente_value, cols, np.nan)[keep]
        frame = pd.DataFrame(gm.T).groupby(par).first().reindex(range(len(parent_names)))
        pv = frame.to_numpy(dtype="float64").T
        payload["parent"] = par.tolist()
        payload["parents"] = [list(p) for p in parent_names]
        payload["pval"] = _encode_values(pv, dig)
    preferred = [i for i, s in enumerate(series) if s[0] == "eenzaam" and s[2] == "18+"]
    if preferred:
        payload["default_series"] = max(preferred, key=lambda i: series[i][1])
    return payload


# ------------------------------------------------------------------------------- pages

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


def decode_series(payload: dict[str, Any], s: int) -> dict[str, Any]:
    """Series ``s`` of a payload as Python lists (the browser's decoding, for tests/tools):
    ``value``/``suppressed``/``class_nl``/``class_gemeente`` (class ids)/``method`` per
    feature, ``gemeente`` per parent, ``nl``."""

    def values(spec: list[Any]) -> tuple[list[float | None], list[bool]]:
        digits, offset, width, text = spec
        codes = decode_fixed(text, width)
        return ([None if c < 2 else (c - 2 + offset) / 10**digits for c in codes], [c == 1 for c in codes])

    value, suppressed = values(payload["val"][s])
    palette, width, text = payload["cls"][s]
    codes = decode_fixed(text, width)
    n = len(palette)
    with_gm = "parents" in payload
    cnl = [palette[c // n] if with_gm else palette[c] for c in codes]
    cgm = [palette[c % n] for c in codes] if with_gm else cnl
    m = payload["mth"][s]
    method = [m] * len(codes) if isinstance(m, int) else decode_fixed(m[1], m[0])
    out: dict[str, Any] = {"value": value, "suppressed": suppressed, "class_nl": [CLASS_ORDER[c] for c in cnl],
                           "class_gemeente": [CLASS_ORDER[c] for c in cgm], "method": [CLASS_METHODS[i] for i in method],
                           "nl": payload["nl"][s]}
    if "pval" in payload:
        out["gemeente"] = values(payload["pval"][s])[0]
    if payload.get("ci") and payload["ci"][s]:
        out["ci_lower"], out["ci_upper"] = values(payload["ci"][s][0])[0], values(payload["ci"][s][1])[0]
    return out


def page_payload(page: str) -> dict[str, Any]:
    """The payload of a rendered map page (inflated if compressed); for tests and tools."""
    match = re.search(r"var WP_PAYLOAD = (\{.*?\});document\.addEventListener", page, re.S)
    if match is None:
        msg = "no map payload in page"
        raise ValueError(msg)
    data: dict[str, Any] = json.loads(match.group(1))
    if "gz" in data:
        data = json.loads(gzip.decompress(base64.b64decode(data["gz"])).decode("utf-8"))
    return data


def write_text_atomic(path: Path, text: str | bytes) -> None:
    """Write ``text`` to ``path`` atomically (temporary file in the same directory, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(text.encode("utf-8") if isinstance(text, str) else text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
