"""Profile pages and exports: per wijk its indicators beside gemeente and Nederland, and per
gemeente an overview of its wijken (HTML, CSV, XLSX).

Everything is rendered for all wijken at once from one profile table (vectorised: numbers
are formatted once per distinct value, charts computed as arrays) and then split per wijk.
Page shells are Jinja2 templates with autoescaping; table rows are built here and every
text in them passes through ``html.escape`` (registry labels once per distinct value;
numbers are formatted here).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
from markupsafe import Markup
from numpy.typing import NDArray

from wijkprofiel.indicators import POPULATION_GROUPS
from wijkprofiel.publish._class_styles import _SUPPRESSED_TITLE
from wijkprofiel.publish._formatting import (
    _e,
    _fmt,
    theme_labels,
)
from wijkprofiel.publish._gemeente_overview import gemeente_overview_html, wijk_summary
from wijkprofiel.publish._maps import (
    CLASS_LABELS_NL,
    CLASS_MARKS,
    DESCRIPTIVE_NOTE,
    unit_digits,
)
from wijkprofiel.publish._profile_exports import (
    PROFILE_COLUMNS,
    _groups,
    profile_csv,
    profile_csv_texts,
    profile_xlsx,
    profile_xlsx_rows,
    table_csv,
    table_xlsx,
)
from wijkprofiel.publish._profile_priorities import (
    _latest_mask,
    _priority_frame,
    _priority_items,
    priorities,
)
from wijkprofiel.publish._spine_charts import (
    Spine,
    _sparklines,
    _spines,
    spine_stats,
    spine_svg,
)
from wijkprofiel.publish._templates import env
from wijkprofiel.publish._templates import template as _template

__all__ = [
    "PROFILE_COLUMNS", "KEY_INDICATORS", "Spine", "env", "profile_table", "split_records", "profile_csv",
    "profile_csv_texts", "profile_xlsx", "profile_xlsx_rows", "table_csv", "table_xlsx", "spine_stats",
    "spine_svg", "priorities", "profile_pages", "profile_html", "wijk_summary", "gemeente_overview_html",
]

#: columns of the CSV/XLSX export (Dutch headers for users)
#: indicators shown as columns on a gemeente's overview of its wijken (18+, latest period)
KEY_INDICATORS = ["ervaren_gezondheid_goed", "overgewicht", "roker", "risico_angst_depressie_hoog", "eenzaam",
                  "moeite_met_rondkomen"]
_GROUP_ID = {v: k for k, v in POPULATION_GROUPS.items()}
#: the texts of a flag (position 0: false, 1: true)
_YES_NO = pd.Series(["nee", "ja"])


# ------------------------------------------------------------------------------ tables

def profile_table(rows: pd.DataFrame, indicators: pd.DataFrame) -> pd.DataFrame:
    """Comparison rows as profile tables (Dutch columns, theme order), for one or many regions.

    Vectorised: build it once for all wijken. ``rows`` may carry ``ci_lower``/``ci_upper``.
    Rows are ordered by region, theme, indicator, period and population group (stable,
    missing last, as ``DataFrame.sort_values``); labels are looked up once per distinct
    indicator and group and then taken per row.
    """
    ind = indicators.set_index(indicators["indicator_id"].astype(str))
    iid = rows["indicator_id"].astype(str)
    themes = theme_labels(indicators)
    codes, uniq = pd.factorize(iid)  # map the few distinct indicators, then take per row
    per_ind = pd.Series(uniq, dtype=iid.dtype)
    theme_of = per_ind.map(ind["theme"])
    group = rows["population_group"].astype(str)
    g_codes, g_labels = pd.factorize(group)
    order = _stable_order([
        _rank(pd.factorize(rows["region_code"])), _rank((codes, theme_of.map({k: i for i, k in enumerate(themes)}))),
        _rank((codes, per_ind.map({k: i for i, k in enumerate(ind.index)}))), _rank(pd.factorize(rows["period"])),
        _rank(pd.factorize(rows["population_group"]))])
    ti = codes[order]
    nan = np.full(len(rows), np.nan)

    def number(column: str) -> NDArray[np.float64]:
        return np.asarray(pd.to_numeric(rows[column], errors="coerce").astype("float64").round(2), dtype=np.float64)[order]

    return pd.DataFrame({
        "region_code": _taken(rows["region_code"].astype(str), order),
        "thema": _labels(theme_of.map(themes), ti),
        "indicator_id": _taken(iid, order),
        "indicator": _labels(per_ind.map(ind["label_nl"]), ti),
        "eenheid": _labels(per_ind.map(ind["unit"]), ti),
        "periode": rows["period"].astype(int).to_numpy()[order],
        "leeftijdsgroep": _labels(pd.Series(g_labels, dtype=group.dtype).map(POPULATION_GROUPS), g_codes[order]),
        "waarde": number("value"), "gemeente": number("gemeente_value"), "nederland": number("nl_value"),
        "verschil_gemeente": number("diff_gemeente"), "verschil_nederland": number("diff_nl"),
        "index_nederland": number("index_nl"),
        "klasse_gemeente": _taken(rows["class_gemeente"].astype(str), order),
        "klasse_nederland": _taken(rows["class_nl"].astype(str), order),
        "methode": _taken(rows["class_method"].astype(str), order),
        "ondergrens_95": number("ci_lower") if "ci_lower" in rows else nan,
        "bovengrens_95": number("ci_upper") if "ci_upper" in rows else nan,
        # 'ja': the value is withheld (based on fewer than the disclosure threshold)
        "onderdrukt": _yes_no(rows, "suppressed", order),
        # 'ja': published only per gemeente (e.g. Vektis, Waarstaatjegemeente): no value for the wijk itself
        "alleen_gemeente": _yes_no(rows, "alleen_gemeente", order),
    }, index=pd.RangeIndex(len(rows)))


def _rank(coded: tuple[NDArray[np.intp], Any]) -> tuple[NDArray[np.intp], int]:
    """Sort ranks of coded values: from ``(codes, uniques)`` (as ``pd.factorize``; code −1 =
    missing) per value its rank among the uniques as ``sort_values`` orders them, missing
    last; and the number of ranks."""
    codes, uniques = coded
    position, _ = pd.factorize(pd.Series(uniques), sort=True)
    ranks = np.append(np.where(position < 0, len(uniques), position), len(uniques))
    return ranks[np.where(codes < 0, len(uniques), codes)], len(uniques) + 1


def _stable_order(keys: list[tuple[NDArray[np.intp], int]]) -> NDArray[np.intp]:
    """The stable order of rows by ``keys`` (``(ranks, number of ranks)``, most significant
    first): one sort of a combined integer key where it fits in 63 bits, else ``np.lexsort``."""
    if math.prod(n for _, n in keys) >= 2**62:
        return np.lexsort([ranks for ranks, _ in reversed(keys)])
    key = np.zeros(len(keys[0][0]), dtype=np.int64)
    for ranks, n in keys:
        key = key * n + ranks
    return np.argsort(key, kind="stable")


def _taken(values: pd.Series, positions: NDArray[np.intp]) -> Any:
    """The values at ``positions`` (same dtype; without the Series index)."""
    return values.array.take(positions)


def _labels(per_code: pd.Series, codes: NDArray[np.intp]) -> Any:
    """Per row the label of its code (``per_code``: one label per code; missing for code −1)."""
    return per_code.array.take(codes, allow_fill=True)


def _yes_no(rows: pd.DataFrame, column: str, order: NDArray[np.intp]) -> Any:
    """'ja'/'nee' per row (in ``order``) of a boolean column ('nee' where missing or absent)."""
    if column not in rows:
        return _YES_NO.array.take(np.zeros(len(order), dtype=np.intp))
    flags = rows[column].astype("boolean").fillna(False).to_numpy(dtype=bool)
    return _YES_NO.array.take(flags[order].astype(np.intp))


def gemeente_level_rows(comp: pd.DataFrame, parent: dict[str, str]) -> pd.DataFrame:
    """Profile rows for what is published only per gemeente (Vektis, WSJG, …).

    For every wijk in ``parent`` (wijk → gemeente) and every indicator and population group
    that its gemeente has in ``comp`` but the wijk has not, one row of the newest period:
    the wijk's value empty, the gemeente's value and its NL value beside it, no class
    (``not_compared``), ``alleen_gemeente`` true. So a wijk profile shows the drivers known
    only for the whole gemeente as such.
    """
    gm = comp[(comp["level"] == "gemeente") & comp["region_code"].isin(set(parent.values()))]
    if gm.empty or not parent:
        return comp.iloc[0:0].assign(alleen_gemeente=pd.Series(dtype=bool))
    gm = gm.sort_values("period").drop_duplicates(["region_code", "indicator_id", "population_group"], keep="last")
    wijk = comp[(comp["level"] == "wijk") & comp["region_code"].isin(set(parent))]
    links = pd.DataFrame({"wijk": list(parent), "gemeentecode": list(parent.values())})
    rows = links.merge(gm, left_on="gemeentecode", right_on="region_code")
    rows = rows[~_has_row(rows[["wijk", "indicator_id", "population_group"]],
                          wijk[["region_code", "indicator_id", "population_group"]])]
    nan = np.full(len(rows), np.nan)
    out = rows.drop(columns=["region_code", "gemeentecode"]).rename(columns={"wijk": "region_code"}).assign(
        level="wijk", gemeente_value=rows["value"].to_numpy(), value=nan, diff_gemeente=nan, diff_nl=nan,
        index_nl=nan, z_gemeente=nan, z_nl=nan, class_gemeente="not_compared", class_nl="not_compared",
        class_method="descriptive_z", alleen_gemeente=True)
    for col in ("ci_lower", "ci_upper", "p_gemeente", "p_nl"):
        if col in out:
            out[col] = nan
    if "suppressed" in out:
        out["suppressed"] = False
    return out[[*comp.columns, "alleen_gemeente"]]


def _has_row(rows: pd.DataFrame, other: pd.DataFrame) -> NDArray[np.bool_]:
    """Per row of ``rows`` whether ``other`` has a row with the same values (columns matched
    by position; missing values equal each other)."""
    codes = _row_codes([pd.concat([rows[a], other[b]], ignore_index=True)
                        for a, b in zip(rows.columns, other.columns, strict=True)])
    return np.isin(codes[:len(rows)], codes[len(rows):])


def _row_codes(columns: list[pd.Series]) -> NDArray[np.intp]:
    """One integer per row, equal exactly where the rows' values in ``columns`` are (missing
    values equal each other).

    Each column is coded (``pd.factorize``) and combined with the code so far, so no Python
    tuple is built per row.
    """
    key = np.zeros(len(columns[0]) if columns else 0, dtype=np.intp)
    for column in columns:
        codes, uniques = pd.factorize(column, use_na_sentinel=False)
        key, _ = pd.factorize(key * len(uniques) + codes)  # dense again: the next product cannot overflow
    return key


def split_records(table: pd.DataFrame) -> dict[str, list[dict[str, Any]]]:
    """Profile table rows as plain records grouped by region code."""
    columns = list(table.columns)
    groups: dict[str, list[dict[str, Any]]] = {}
    for values in zip(*[table[c].tolist() for c in columns], strict=True):
        rec = dict(zip(columns, values, strict=True))
        groups.setdefault(str(rec["region_code"]), []).append(rec)
    return groups


# -------------------------------------------------------------------------- formatting


def _mapped(series: pd.Series, make: Any) -> NDArray[np.object_]:
    """Apply ``make`` once per distinct value of ``series``."""
    codes, uniques = pd.factorize(series.astype(str))
    return np.array([make(u) for u in uniques], dtype=object)[codes] if len(uniques) else np.array([], dtype=object)


# ------------------------------------------------------------------------------ charts


def _waves(table: pd.DataFrame, latest_rows: NDArray[np.intp]) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """The periods of ``table`` (ascending) and per latest row (its position in ``table``)
    the value of its series (region, indicator, group) in each period (NaN where none)."""
    series = _row_codes([table["region_code"], table["indicator_id"], table["leeftijdsgroep"]])
    periods, wave = np.unique(table["periode"].to_numpy(dtype=np.int64), return_inverse=True)
    grid = np.full((series.max() + 1 if len(series) else 0, len(periods)), np.nan)
    grid[series, wave] = table["waarde"].to_numpy(dtype="float64")
    return periods, grid[series[latest_rows]]


def _trends(table: pd.DataFrame, latest_rows: NDArray[np.intp], digits: NDArray[np.int64]) -> NDArray[np.object_]:
    """Per latest row (its position in ``table``): a sparkline of the values per wave and the
    values as text."""
    periods, values = _waves(table, latest_rows)
    return _sparklines(values, periods, digits)


# ---------------------------------------------------------------------------- priorities


# ------------------------------------------------------------------------------- pages

_SUPPRESSED_CELL = (f'<td class="l k-not_compared" title="{_SUPPRESSED_TITLE}"><span class="mk">?</span> '
                    "geen vergelijking (onderdrukt)</td>")


def _class_cell(key: str) -> str:
    klass, method = key.split("|", 1)
    star = "" if method == "descriptive_z" else "*"
    return (f'<td class="l k-{_e(klass)}"><span class="mk">{_e(CLASS_MARKS.get(klass, "?"))}</span> '
            f"{_e(CLASS_LABELS_NL.get(klass, klass))}{star}</td>")


def _digits(units: pd.Series) -> NDArray[np.int64]:
    """Decimals per row for its unit (:func:`unit_digits` once per distinct unit)."""
    codes, uniques = pd.factorize(units, use_na_sentinel=False)
    return np.array([unit_digits(u) for u in uniques.tolist()], dtype=np.int64)[codes]


def _rows_html(table: pd.DataFrame, latest: pd.DataFrame, latest_rows: NDArray[np.intp], spine: Spine,
               level_label: str) -> NDArray[np.object_]:
    """Table rows (with theme headings) of every latest row (``latest``: the rows of ``table``
    at ``latest_rows``), in page order."""
    digits = _digits(latest["eenheid"])
    f = {c: _fmt(latest[c], digits).tolist() for c in ("waarde", "gemeente", "nederland", "ondergrens_95", "bovengrens_95")}
    d_gm, d_nl = _fmt(latest["verschil_gemeente"], digits, True).tolist(), _fmt(latest["verschil_nederland"], digits, True).tolist()
    has_ci = (latest["ondergrens_95"].notna().to_numpy() & latest["bovengrens_95"].notna().to_numpy()).tolist()
    label = _mapped(latest["indicator"] + "\x00" + latest["leeftijdsgroep"].fillna(""),
                    lambda s: '<th scope="row" class="l">{}<br><span class="grp">{}, '.format(*map(_e, s.split("\x00")))).tolist()
    c_gm = _mapped(latest["klasse_gemeente"] + "|" + latest["methode"], _class_cell).tolist()
    c_nl = _mapped(latest["klasse_nederland"] + "|" + latest["methode"], _class_cell).tolist()
    keys = pd.MultiIndex.from_arrays([latest["indicator_id"], latest["periode"], latest["leeftijdsgroep"].map(_GROUP_ID)])
    stats_index = pd.MultiIndex.from_tuples(list(spine), names=["i", "p", "g"]) if spine else None
    stats = (pd.DataFrame(list(spine.values()), index=stats_index).reindex(keys).to_numpy(dtype="float64")
             if stats_index is not None else np.full((len(latest), 5), np.nan))
    charts = _spines(stats, latest["waarde"].to_numpy(dtype="float64"), latest["gemeente"].to_numpy(dtype="float64"),
                     latest["nederland"].to_numpy(dtype="float64"), latest["klasse_nederland"].to_numpy(dtype=object),
                     digits, level_label.lower()).tolist()
    trends = _trends(table, latest_rows, digits).tolist()
    theme_key = (latest["region_code"] + "\x00" + latest["thema"].fillna("")).to_numpy(dtype=object)
    first = np.r_[True, theme_key[1:] != theme_key[:-1]].tolist()
    last = np.r_[theme_key[1:] != theme_key[:-1], True].tolist()
    head = _template("profile_thead.html.j2").render(level_label=level_label)
    theme = latest["thema"].fillna("").tolist()
    periods = latest["periode"].to_numpy(dtype=np.int64).tolist()
    suppressed = ((latest["onderdrukt"].to_numpy(dtype=object) == "ja") if "onderdrukt" in latest
                  else np.zeros(len(latest), bool)).tolist()
    gemeente_only = ((latest["alleen_gemeente"].to_numpy(dtype=object) == "ja") if "alleen_gemeente" in latest
                     else np.zeros(len(latest), bool)).tolist()
    out = np.empty(len(latest), dtype=object)
    out[:] = [
        (f"<h2>{_e(th)}</h2>\n<table>{head}<tbody>\n" if fi else "")
        + f"<tr>{lab}{per}</span></th><td>{_value_cell(sup, gmo, ci, v, lo, hi)}</td><td>{gm}</td><td>{nl}</td>"
        f"<td>{dg}</td><td>{dn}</td>{_SUPPRESSED_CELL if sup else cg}{_SUPPRESSED_CELL if sup else cn}"
        f'<td class="c">{chart}</td><td class="l">{trend}</td></tr>\n' + ("</tbody></table>\n" if la else "")
        for fi, la, th, lab, per, sup, gmo, ci, v, lo, hi, gm, nl, dg, dn, cg, cn, chart, trend in zip(
            first, last, theme, label, periods, suppressed, gemeente_only, has_ci, f["waarde"], f["ondergrens_95"],
            f["bovengrens_95"], f["gemeente"], f["nederland"], d_gm, d_nl, c_gm, c_nl, charts, trends, strict=True)]
    return out


def _value_cell(suppressed: bool, gemeente_only: bool, has_ci: bool, value: str, lower: str, upper: str) -> str:
    """The value cell's content: the value (with its interval), or why there is none."""
    if suppressed:  # withheld: say so instead of "no data"
        return f'<span class="sup" title="{_SUPPRESSED_TITLE}">onderdrukt</span>'
    if gemeente_only:
        return '<span class="gmo">alleen per gemeente</span>'
    return value + (f'<br><span class="ci">{lower}–{upper}</span>' if has_ci else "")


def profile_pages(table: pd.DataFrame, pages: list[dict[str, Any]], *, indeling_year: int, sources: list[str],
                  spine: Spine | None = None, level_label: str = "Wijk", generated: str = "") -> Iterator[tuple[str, str]]:
    """Render the printable (A4) HTML profiles of many regions at once.

    Parameters
    ----------
    table
        :func:`profile_table` of the regions (every period: the latest is shown, earlier
        waves feed the trend column).
    pages
        One dict per page: ``code``, ``name``, ``gemeentecode``, ``gemeente_name`` and
        ``links`` (``[(href, text)]``), optionally ``buurten`` (the escaped HTML table
        "Buurten in deze wijk"); a region without rows gets a page without tables.
    spine
        From :func:`spine_stats` (national spread per series).
    generated
        Publication date shown on the page.

    Yields
    ------
    tuple
        ``(code, html)`` in the order of ``pages``.
    """
    latest_rows = np.flatnonzero(_latest_mask(table))
    latest = table.iloc[latest_rows].reset_index(drop=True)
    rows = _rows_html(table, latest, latest_rows, spine or {}, level_label)
    blocks = {code: (a, b) for code, a, b in _groups(latest)}
    prio = _priority_items(_priority_frame(latest))
    descriptive = (table["methode"] == "descriptive_z").groupby(table["region_code"]).all().to_dict()
    shell = _template("profile.html.j2")
    for p in pages:
        a, b = blocks.get(p["code"], (0, 0))
        yield p["code"], shell.render(
            code=p["code"], name=p["name"], level_label=level_label, gemeentecode=p["gemeentecode"],
            gemeente_name=p["gemeente_name"], indeling_year=indeling_year, links=p["links"],
            body=Markup("".join(rows[a:b])), priorities=Markup("".join(prio.get(p["code"], []))),
            descriptive=descriptive.get(p["code"], True), descriptive_note=DESCRIPTIVE_NOTE, sources=sources,
            buurten=Markup(p.get("buurten", "")),
            generated=generated)


def profile_html(records: list[dict[str, Any]], *, code: str, name: str, level_label: str, gemeentecode: str,
                 gemeente_name: str, indeling_year: int, links: list[tuple[str, str]], sources: list[str],
                 spine: Spine | None = None) -> str:
    """The profile of one region from its records (see :func:`profile_pages`)."""
    table = pd.DataFrame(records, columns=["region_code", *PROFILE_COLUMNS]).assign(region_code=code)
    page = {"code": code, "name": name, "gemeentecode": gemeentecode, "gemeente_name": gemeente_name, "links": links}
    return next(profile_pages(table, [page], indeling_year=indeling_year, sources=sources, spine=spine, level_label=level_label))[1]
