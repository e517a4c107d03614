"""Choropleth maps (folium + Leaflet) in the HP4All style, self-contained for intranets.

A map page is one HTML file: the folium page skeleton (rendered once per publication and
reused for every page), Leaflet's JS/CSS inlined from the installed ``xstatic-leaflet``
package (no CDN), the controller ``templates/map.js`` and one JSON payload:

* geometry as shared arcs (:mod:`wijkprofiel.publish._web_geometry`), decoded in the browser;
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
import json
import os
import re
import tempfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from wijkprofiel.indicators import POPULATION_GROUPS
from wijkprofiel.publish._class_styles import (
    CLASS_COLORS,
    CLASS_LABELS_NL,
    CLASS_MARKS,
    CLASS_METHODS,
    CLASS_ORDER,
    DESCRIPTIVE_NOTE,
    MISSING_COLOR,
    SIGNIFICANCE_METHODS,
    class_phrase,
)
from wijkprofiel.publish._formatting import theme_labels
from wijkprofiel.publish._map_page import (
    leaflet_assets,
    render_map_page,
    script_json,
)
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
        position = self._positions
        return np.array([position.get(c, -1) for c in codes], dtype=np.int64)

    @cached_property
    def _positions(self) -> dict[str, int]:
        """Region code → its column (looked up once per table, not per map page)."""
        return {c: i for i, c in enumerate(self.codes)}


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
        From :func:`wijkprofiel.publish.encode_topology`; ``[[south, west], [north, east]]``.
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
    ind_digits = [unit_digits(str(u)) for u in ind["unit"].tolist()]
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
            {"id": str(i), "label": str(label), "unit": str(unit), "theme": str(theme), "polarity": str(polarity),
             "source": sources.get(str(source), str(source)), "digits": unit_digits(str(unit))}
            for i, label, unit, theme, polarity, source in zip(
                *(ind[c].tolist() for c in ("indicator_id", "label_nl", "unit", "theme", "polarity", "source")), strict=True)
        ],
        "themes": [[k, v] for k, v in theme_labels(ind).items()],
        "groups": dict(POPULATION_GROUPS),
        "nl": [None if np.isnan(v) else round(float(v), d) for v, d in zip(table.nl_value[keep], digits, strict=True)],
        "val": _encode_values(value, dig, sup),
        "ci": [None] * len(series),
        "cls": [],
        "mth": [int(m[0]) if same else [1, encode_fixed(m.astype(np.int64), 1)]
                for m, same in zip(mth, (mth == mth[:, :1]).all(axis=1).tolist(), strict=True)],
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
    palette = np.nonzero(present_cls)[1].tolist()  # per series its classes, series after series
    ends = np.cumsum(n_cls).tolist()
    payload["cls"] = [[palette[end - n:end], int(width), text]
                      for n, end, width, text in zip(n_cls.tolist(), ends, cls_widths, cls_texts, strict=True)]
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
