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

from wijkprofiel.indicators import POPULATION_GROUPS
from wijkprofiel.publish._class_styles import (
    CLASS_COLORS,
    CLASS_LABELS_NL,
    CLASS_MARKS,
    class_phrase,
)
from wijkprofiel.publish._formatting import theme_labels
from wijkprofiel.publish._maps import unit_digits
from wijkprofiel.publish._profile_priorities import _latest_mask, _priority_frame
from wijkprofiel.publish._spine_charts import Spine

__all__ = ["ALPHABET", "buurt_payload", "decode_buurt_page"]

#: characters of the per-series codes (``ALPHABET[0]``: no row); JSON- and HTML-safe
ALPHABET = "." + "".join(c for c in map(chr, range(0x21, 0x7F)) if c not in "\"'\\<>&.")
#: per series of a wijk: no row, a row, a suppressed row
_WIJK_ALPHABET = ".vs"
_GROUP_ORDER = {g: i for i, g in enumerate(POPULATION_GROUPS)}
_GROUP_ID = {label: g for g, label in POPULATION_GROUPS.items()}
_KEY = ["indicator_id", "periode", "leeftijdsgroep"]


def _number(v: float) -> float | int | None:
    if np.isnan(v):
        return None
    return int(v) if float(v).is_integer() else float(v)


def _numbers(values: NDArray[np.float64]) -> list[float | int | None]:
    return [_number(v) for v in np.round(values.astype("float64"), 2)]


def _series(rows: pd.DataFrame, indicators: pd.DataFrame) -> pd.DataFrame:
    """The distinct series of ``rows`` in profile order, with their sort positions."""
    themes = list(theme_labels(indicators).values())
    order = {str(i): k for k, i in enumerate(indicators.sort_values("sort_order")["indicator_id"])}
    keys = rows[[*_KEY, "thema"]].drop_duplicates(_KEY)
    keys = keys.assign(_t=keys["thema"].map({t: k for k, t in enumerate(themes)}).fillna(len(themes)),
                       _o=keys["indicator_id"].map(order), _g=keys["leeftijdsgroep"].map(_GROUP_ID).map(_GROUP_ORDER))
    return keys.sort_values(["_t", "_o", "periode", "_g"], kind="stable").reset_index(drop=True)


def _codes(index: NDArray[np.int64], width: int, alphabet: str) -> NDArray[np.str_]:
    """Per row (region) of ``index`` (regions × series, 0 = no row) its code string:
    ``width`` characters of ``alphabet`` per series."""
    base = len(alphabet)
    digits = [np.array(list(alphabet))[(index // base ** (width - 1 - d)) % base] for d in range(width)]
    chars = np.ascontiguousarray(np.stack(digits, axis=-1).reshape(index.shape[0], -1), dtype="<U1")
    return chars.view(f"<U{max(chars.shape[1], 1)}").ravel() if chars.shape[1] else np.full(index.shape[0], "")


def _matrix(rows: pd.DataFrame, regions: list[str], series: pd.DataFrame) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Row and column (series) position of every row of ``rows``."""
    r = pd.Index(regions).get_indexer(pd.Index(rows["region_code"]))
    s = pd.MultiIndex.from_frame(series[_KEY]).get_indexer(pd.MultiIndex.from_frame(rows[_KEY]))
    return r, s


def _region_entries(rows: pd.DataFrame, regions: list[str], series: pd.DataFrame,
                    combo: NDArray[np.int64], width: int, alphabet: str) -> tuple[list[str], list[list[Any]]]:
    """Per region its code string and the values of the rows it has (series order)."""
    r, s = _matrix(rows, regions, series)
    ok = (r >= 0) & (s >= 0)
    index = np.zeros((len(regions), len(series)), dtype=np.int64)
    index[r[ok], s[ok]] = combo[ok]
    values = np.full(index.shape, np.nan)
    values[r[ok], s[ok]] = rows["waarde"].to_numpy(dtype="float64")[ok]
    codes = _codes(index, width, alphabet)
    has = index > 0
    return [str(c) for c in codes], [_numbers(values[k][has[k]]) for k in range(len(regions))]


def _combos(rows: pd.DataFrame) -> tuple[NDArray[np.int64], list[dict[str, Any]]]:
    """Per row the (1-based) index of its combination of classes, method and suppression."""
    key = (rows["klasse_gemeente"] + "|" + rows["klasse_nederland"] + "|" + rows["methode"] + "|" + rows["onderdrukt"])
    codes, uniques = pd.factorize(key, sort=True)
    combos = []
    for u in uniques:
        gm, nl, method, suppressed = str(u).split("|")
        star = method != "descriptive_z"
        combos.append({
            "s": suppressed == "ja", "star": star,
            "g": [gm, CLASS_MARKS.get(gm, "?"), CLASS_LABELS_NL.get(gm, gm)],
            "n": [nl, CLASS_MARKS.get(nl, "?"), CLASS_LABELS_NL.get(nl, nl)],
            "pg": class_phrase(gm, method, "gemeente"), "pn": class_phrase(nl, method, "nl"),
            "col": CLASS_COLORS.get(nl, CLASS_COLORS["not_compared"])})
    return codes.astype(np.int64) + 1, combos


def buurt_payload(table: pd.DataFrame, wijk_table: pd.DataFrame, gemeente_only: pd.DataFrame, *,
                  gemeente: tuple[str, str], buurten: list[tuple[str, str, str]], wijk_names: dict[str, str],
                  spine: Spine, indicators: pd.DataFrame, indeling_year: int) -> dict[str, Any]:
    """The JSON data of one gemeente's buurt page.

    Parameters
    ----------
    table
        :func:`profile_table` rows of the page's buurten (every period).
    wijk_table
        :func:`profile_table` rows of the gemeente's wijken (their own rows only).
    gemeente_only
        :func:`profile_table` rows of the gemeente for what is published only per gemeente
        (the newest period of every indicator and group that no buurt of the page has).
    gemeente
        ``(code, name)``.
    buurten
        ``(code, name, wijkcode)`` of the buurten with a profile, in page order.
    wijk_names
        Wijkcode → name of the wijken of the gemeente.
    spine
        National spread of buurt values per series (:func:`read_buurt_spine`).
    """
    codes = [b[0] for b in buurten]
    table = table[table["region_code"].isin(set(codes))]
    series = _series(pd.concat([table, gemeente_only], ignore_index=True), indicators)
    gmo_keys = set(zip(*[gemeente_only[c] for c in _KEY], strict=True))
    ids = list(dict.fromkeys(series["indicator_id"]))
    meta = indicators.drop_duplicates("indicator_id").astype({"indicator_id": str}).set_index("indicator_id")
    themes = list(dict.fromkeys(series["thema"]))
    groups = list(dict.fromkeys(_GROUP_ID[g] for g in series["leeftijdsgroep"]))
    per_series = pd.concat([table, gemeente_only.assign(gemeente=gemeente_only["waarde"])], ignore_index=True)
    firsts = per_series.groupby(_KEY, sort=False)[["gemeente", "nederland"]].first()
    firsts = firsts.reindex(pd.MultiIndex.from_frame(series[_KEY]))
    gm_values, nl_values = _numbers(firsts["gemeente"].to_numpy()), _numbers(firsts["nederland"].to_numpy())
    series_out = []
    for k, (i, p, g) in enumerate(zip(series["indicator_id"], series["periode"], series["leeftijdsgroep"], strict=True)):
        stats = spine.get((str(i), int(p), _GROUP_ID[g]))
        gmo = (i, p, g) in gmo_keys
        series_out.append([ids.index(i), int(p), groups.index(_GROUP_ID[g]), int(gmo), gm_values[k], nl_values[k],
                           None if gmo or stats is None else _numbers(np.array(stats))])
    combo, combos = _combos(table)
    width = 1 if len(combos) < len(ALPHABET) else 2
    keys, values = _region_entries(table, codes, series, combo, width, ALPHABET)
    r, s = _matrix(table, codes, series)
    ci_ok = (table["ondergrens_95"].notna() & table["bovengrens_95"].notna()).to_numpy()
    intervals: dict[int, list[list[Any]]] = {}
    for k, col, lo, hi in zip(r[ci_ok], s[ci_ok], table["ondergrens_95"].to_numpy()[ci_ok],
                              table["bovengrens_95"].to_numpy()[ci_ok], strict=True):
        intervals.setdefault(int(k), []).append([int(col), _number(round(float(lo), 2)), _number(round(float(hi), 2))])
    prio: dict[str, list[list[int]]] = {}
    if len(table):
        top = _priority_frame(table[_latest_mask(table)])
        top_s = pd.MultiIndex.from_frame(series[_KEY]).get_indexer(pd.MultiIndex.from_frame(top[_KEY]))
        for code, col, vs in zip(top["region_code"], top_s, top["vs_gemeente"], strict=True):
            prio.setdefault(str(code), []).append([int(col), int(bool(vs))])
    out_buurten = []
    for k, (code, name, wijk) in enumerate(buurten):
        entry: dict[str, Any] = {"c": code, "n": name, "w": wijk, "k": keys[k], "v": values[k], "p": prio.get(code, [])}
        if k in intervals:
            entry["i"] = intervals[k]
        out_buurten.append(entry)
    wijken = sorted(wijk_names)
    w_rows = wijk_table[wijk_table["region_code"].isin(set(wijken))]
    w_combo = np.where(w_rows["onderdrukt"].to_numpy(dtype=object) == "ja", 2, 1).astype(np.int64)
    w_keys, w_values = _region_entries(w_rows, wijken, series, w_combo, 1, _WIJK_ALPHABET)
    return {
        "gemeente": list(gemeente), "indeling": indeling_year, "alphabet": ALPHABET, "width": width,
        "themes": themes, "groups": [[g, POPULATION_GROUPS[g]] for g in groups],
        "indicators": [[i, str(meta.at[i, "label_nl"]), str(meta.at[i, "unit"]), unit_digits(str(meta.at[i, "unit"])),
                        themes.index(series.loc[series["indicator_id"] == i, "thema"].iloc[0])] for i in ids],
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
