"""The data of a gemeente's buurt page: every buurt's profile in compact JSON, rendered in
the browser by ``templates/buurt.js``.

Per page the series (indicator × period × population group, in profile order: theme,
indicator, period, group) are listed once with the gemeente's and the national value and
the national spread of buurt values. Per buurt one character per series says whether it
has a row and with which classes (an index into the page's distinct combinations of class
against the gemeente, class against Nederland, method and suppression), and ``v`` holds the
values of the rows it has, in series order (``null``: no value or suppressed). Wijken carry
their own values the same way (``.`` no row, ``v`` a row, ``s`` suppressed), so a buurt is
shown beside its wijk. Values are rounded to two decimals, as in the profile CSV files.

A suppressed row never carries a number: its value is ``null`` and its character says
``onderdrukt``. Text is JSON; the page embeds it with :func:`script_json` (``<``, ``>``
and ``&`` escaped), so no name can close the ``<script>`` element.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from wijkprofiel.errors import PublishError
from wijkprofiel.indicators import POPULATION_GROUPS
from wijkprofiel.publish._buurt_series import (
    GROUP_IDS,
    SeriesContext,
    columns_of,
    combinations,
    first_per_group,
    json_numbers,
    positions,
    split_keys,
)
from wijkprofiel.publish._class_styles import (
    CLASS_COLORS,
    CLASS_LABELS_NL,
    CLASS_MARKS,
    class_phrase,
)
from wijkprofiel.publish._profile_priorities import _latest_mask, _priority_frame

__all__ = ["ALPHABET", "SeriesContext", "buurt_payload", "decode_buurt_page"]

#: characters of the per-series codes (``ALPHABET[0]``: no row); JSON- and HTML-safe
ALPHABET = "." + "".join(c for c in map(chr, range(0x21, 0x7F)) if c not in "\"'\\<>&.")
#: per series of a wijk: no row, a row, a suppressed row
_WIJK_ALPHABET = ".vs"


def _codes(index: NDArray[np.int64], width: int, alphabet: str) -> NDArray[np.str_]:
    """Per row (region) of ``index`` (regions × series, 0 = no row) its code string:
    ``width`` characters of ``alphabet`` per series."""
    base = len(alphabet)
    digits = [np.array(list(alphabet))[(index // base ** (width - 1 - d)) % base] for d in range(width)]
    chars = np.ascontiguousarray(np.stack(digits, axis=-1).reshape(index.shape[0], -1), dtype="<U1")
    return chars.view(f"<U{max(chars.shape[1], 1)}").ravel() if chars.shape[1] else np.full(index.shape[0], "")


def _region_entries(r: NDArray[np.intp], s: NDArray[np.intp], combo: NDArray[np.int64], values: NDArray[np.float64],
                    shape: tuple[int, int], width: int, alphabet: str) -> tuple[list[str], list[list[Any]]]:
    """Per region its code string and the values of the rows it has (series order), from
    every row's region ``r``, series ``s`` (-1: not on the page), combination and value."""
    ok = (r >= 0) & (s >= 0)
    index = np.zeros(shape, dtype=np.int64)
    index[r[ok], s[ok]] = combo[ok]
    matrix = np.full(shape, np.nan)
    matrix[r[ok], s[ok]] = values[ok]
    has = index > 0
    numbers = json_numbers(matrix[has]).tolist()  # region by region, in series order
    ends = np.cumsum(has.sum(axis=1)).tolist()
    return ([str(c) for c in _codes(index, width, alphabet)],
            [numbers[a:b] for a, b in zip([0, *ends[:-1]], ends, strict=True)])


def _combos(rows: pd.DataFrame) -> tuple[NDArray[np.int64], list[dict[str, Any]]]:
    """Per row the (1-based) index of its combination of classes, method and suppression
    among the distinct combinations of ``rows``, sorted by their text (0 where a part is
    missing)."""
    every = combinations(rows)
    codes = np.asarray(every.codes, dtype=np.int64)
    ok = codes >= 0
    present = np.unique(codes[ok])  # the categories are sorted, so are these
    combo = np.zeros(len(rows), dtype=np.int64)
    combo[ok] = np.searchsorted(present, codes[ok]) + 1
    combos = []
    for label in every.categories[present].tolist():
        gm, nl, method, suppressed = str(label).split("|")
        star = method != "descriptive_z"
        combos.append({
            "s": suppressed == "ja", "star": star,
            "g": [gm, CLASS_MARKS.get(gm, "?"), CLASS_LABELS_NL.get(gm, gm)],
            "n": [nl, CLASS_MARKS.get(nl, "?"), CLASS_LABELS_NL.get(nl, nl)],
            "pg": class_phrase(gm, method, "gemeente"), "pn": class_phrase(nl, method, "nl"),
            "col": CLASS_COLORS.get(nl, CLASS_COLORS["not_compared"])})
    return combo, combos


def _intervals(table: pd.DataFrame, r: NDArray[np.intp], s: NDArray[np.intp]) -> dict[int, list[list[Any]]]:
    """Per region (position) its 95 % intervals ``[series, low, high]`` in row order."""
    lo, hi = table["ondergrens_95"].to_numpy(dtype="float64"), table["bovengrens_95"].to_numpy(dtype="float64")
    rows = np.flatnonzero(~np.isnan(lo) & ~np.isnan(hi))
    rows = rows[np.argsort(r[rows], kind="stable")]
    cells = [list(c) for c in zip(s[rows].tolist(), json_numbers(lo[rows]).tolist(), json_numbers(hi[rows]).tolist(),
                                  strict=True)]
    regions, starts = np.unique(r[rows], return_index=True)
    bounds = [*starts.tolist(), len(rows)]
    return {k: cells[a:b] for k, a, b in zip(regions.tolist(), bounds[:-1], bounds[1:], strict=True)}


def _series_entries(series: NDArray[np.int64], gmo: NDArray[np.bool_], gm: NDArray[np.float64], nl: NDArray[np.float64],
                    context: SeriesContext) -> tuple[list[int], list[int], list[list[Any]]]:
    """The indicators (positions in ``context``) and groups of the page's ``series`` in
    order of appearance, and per series its entry."""
    rank, period, group = (a.tolist() for a in split_keys(series))
    ranks, ind_index = np.unique(np.asarray(rank, dtype=np.int64), return_inverse=True)  # series are in rank order
    groups = list(dict.fromkeys(group))
    g_index = {g: k for k, g in enumerate(groups)}
    out = []
    for q, p, g, only, vg, vn, i in zip(rank, period, group, gmo.tolist(), json_numbers(gm).tolist(),
                                        json_numbers(nl).tolist(), ind_index.tolist(), strict=True):
        stats = None if only else context.spine.get((context.ids[q], p, GROUP_IDS[g]))
        out.append([i, p, g_index[g], int(only), vg, vn, stats])
    return ranks.tolist(), groups, out


def _priorities(top: pd.DataFrame, position: dict[str, int], series: NDArray[np.int64],
                context: SeriesContext) -> dict[str, list[list[int]]]:
    """Per buurt of the page (``position``) its priorities ``[series, against the gemeente]``
    from ``top`` (``_priority_frame`` rows, in their order)."""
    prio: dict[str, list[list[int]]] = {}
    cols = columns_of(context.keys(top), series)
    for code, col, vs in zip(top["region_code"].tolist(), cols.tolist(), top["vs_gemeente"].tolist(), strict=True):
        if code in position:
            prio.setdefault(str(code), []).append([col, int(bool(vs))])
    return prio


def buurt_payload(table: pd.DataFrame, wijk_table: pd.DataFrame, gemeente_only: pd.DataFrame, *,
                  gemeente: tuple[str, str], buurten: list[tuple[str, str, str]], wijk_names: dict[str, str],
                  context: SeriesContext, indeling_year: int, top: pd.DataFrame | None = None) -> dict[str, Any]:
    """The JSON data of one gemeente's buurt page.

    Parameters
    ----------
    table
        :func:`profile_table` rows of the page's buurten (every period).
    wijk_table
        :func:`profile_table` rows of the gemeente's wijken (their own rows only; rows of
        other wijken are left out). Only ``region_code``, ``waarde``, ``onderdrukt`` and
        the series (``indicator_id``, ``periode``, ``leeftijdsgroep``) are used.
    gemeente_only
        :func:`profile_table` rows of the gemeente for what is published only per gemeente
        (the newest period of every indicator and group that no buurt of the page has).
        Only ``waarde``, ``nederland`` and the series are used.
    gemeente
        ``(code, name)``.
    buurten
        ``(code, name, wijkcode)`` of the buurten with a profile, in page order.
    wijk_names
        Wijkcode → name of the wijken of the gemeente.
    context
        The publication's indicators and national spread of buurt values
        (:meth:`SeriesContext.of`).
    top
        The priorities of (at least) the page's buurten (``_priority_frame`` of their newest
        rows), when worked out for many pages at once; default: from ``table``.

    Returns
    -------
    dict
        The page's data (see the module documentation), ready for :func:`script_json`.
    """
    codes = [b[0] for b in buurten]
    position = {c: k for k, c in enumerate(codes)}
    r = positions(table["region_code"], position)
    if not (r >= 0).all():
        table, r = table[r >= 0], r[r >= 0]
    t_key, g_key = context.keys(table), context.keys(gemeente_only)
    if (t_key < 0).any() or (g_key < 0).any():
        msg = "buurt rows of an unknown indicator or population group"
        raise PublishError(msg)
    series = np.unique(np.concatenate([t_key, g_key]))
    s, g_s = np.searchsorted(series, t_key), np.searchsorted(series, g_key)
    gmo = np.zeros(len(series), dtype=bool)
    gmo[g_s] = True
    both = np.concatenate([s, g_s])
    gm_values = np.concatenate([table["gemeente"].to_numpy(dtype="float64"), gemeente_only["waarde"].to_numpy(dtype="float64")])
    nl_values = np.concatenate([table["nederland"].to_numpy(dtype="float64"), gemeente_only["nederland"].to_numpy(dtype="float64")])
    gm = first_per_group(both, gm_values, ~np.isnan(gm_values), len(series), fill=np.nan)
    nl = first_per_group(both, nl_values, ~np.isnan(nl_values), len(series), fill=np.nan)
    ranks, groups, series_out = _series_entries(series, gmo, gm, nl, context)
    themes = list(dict.fromkeys(context.themes[q] for q in ranks))
    combo, combos = _combos(table)
    width = 1 if len(combos) < len(ALPHABET) else 2
    keys, values = _region_entries(r, s, combo, table["waarde"].to_numpy(dtype="float64"), (len(codes), len(series)),
                                   width, ALPHABET)
    intervals = _intervals(table, r, s)
    prio: dict[str, list[list[int]]] = {}
    if len(table):
        prio = _priorities(_priority_frame(table[_latest_mask(table)]) if top is None else top, position, series, context)
    out_buurten = []
    for k, (code, name, wijk) in enumerate(buurten):
        entry: dict[str, Any] = {"c": code, "n": name, "w": wijk, "k": keys[k], "v": values[k], "p": prio.get(code, [])}
        if k in intervals:
            entry["i"] = intervals[k]
        out_buurten.append(entry)
    wijken = sorted(wijk_names)
    w_combo = np.where(wijk_table["onderdrukt"].to_numpy(dtype=object) == "ja", 2, 1).astype(np.int64)
    w_keys, w_values = _region_entries(  # rows of other wijken have no region (-1)
        positions(wijk_table["region_code"], {w: k for k, w in enumerate(wijken)}),
        columns_of(context.keys(wijk_table), series), w_combo, wijk_table["waarde"].to_numpy(dtype="float64"),
        (len(wijken), len(series)), 1, _WIJK_ALPHABET)
    return {
        "gemeente": list(gemeente), "indeling": indeling_year, "alphabet": ALPHABET, "width": width,
        "themes": themes, "groups": [[GROUP_IDS[g], POPULATION_GROUPS[GROUP_IDS[g]]] for g in groups],
        "indicators": [[context.ids[q], context.labels[q], context.units[q], context.digits[q],
                        themes.index(context.themes[q])] for q in ranks],
        "series": series_out, "combos": combos,
        "not_compared": ["not_compared", CLASS_MARKS["not_compared"], CLASS_LABELS_NL["not_compared"]],
        "wijken": {w: {"n": wijk_names[w], "k": w_keys[k], "v": w_values[k]} for k, w in enumerate(wijken)},
        "buurten": out_buurten,
    }


_DATA = re.compile(r'<script type="application/json" id="bp-data">(.*?)</script>', re.S)


def decode_buurt_page(text: str) -> dict[str, Any]:
    """The data of a buurt page (HTML text) as long tables, for checks and analyses.

    Returns
    -------
    dict
        ``payload`` (the JSON), ``buurten`` (one row per buurt and series it has: ``code``,
        ``indicator_id``, ``period``, ``population_group``, ``value``, ``suppressed``,
        ``class_gemeente``, ``class_nl``), ``wijken`` (``code``, …, ``value``,
        ``suppressed``) and ``series`` (``indicator_id``, ``period``, ``population_group``,
        ``gemeente_only``, ``gemeente``, ``nl``, ``spine``).
    """
    found = _DATA.search(text)
    if found is None:
        msg = "no buurt data (<script id=\"bp-data\">) in the page"
        raise ValueError(msg)
    payload: dict[str, Any] = json.loads(found.group(1))
    alphabet, width = payload["alphabet"], int(payload["width"])
    keys = [(payload["indicators"][s[0]][0], int(s[1]), payload["groups"][s[2]][0]) for s in payload["series"]]
    series = pd.DataFrame([(*k, bool(s[3]), s[4], s[5], s[6]) for k, s in zip(keys, payload["series"], strict=True)],
                          columns=["indicator_id", "period", "population_group", "gemeente_only", "gemeente", "nl", "spine"])

    def cells(code_string: str, width: int) -> list[tuple[int, int]]:
        out = []
        for s in range(len(keys)):
            part = code_string[s * width:(s + 1) * width]
            index = 0
            for ch in part:
                index = index * len(alphabet) + alphabet.index(ch)
            if index:
                out.append((s, index))
        return out

    b_rows = []
    for b in payload["buurten"]:
        for (s, index), value in zip(cells(b["k"], width), b["v"], strict=True):
            combo = payload["combos"][index - 1]
            b_rows.append((b["c"], *keys[s], value, combo["s"], combo["g"][0], combo["n"][0]))
    w_rows = []
    for code, w in payload["wijken"].items():
        present = [(s, ch) for s, ch in enumerate(w["k"]) if ch != "."]
        for (s, ch), value in zip(present, w["v"], strict=True):
            w_rows.append((code, *keys[s], value, ch == "s"))
    base = ["code", "indicator_id", "period", "population_group", "value", "suppressed"]
    return {"payload": payload, "series": series, "buurten": pd.DataFrame(b_rows, columns=[*base, "class_gemeente", "class_nl"]),
            "wijken": pd.DataFrame(w_rows, columns=base)}
