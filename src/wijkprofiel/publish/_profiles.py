"""Profile pages and exports: per wijk its indicators beside gemeente and Nederland, and per
gemeente an overview of its wijken (HTML, CSV, XLSX).

Everything is rendered for all wijken at once from one profile table (vectorised: numbers
are formatted once per distinct value, charts computed as arrays) and then split per wijk.
Page shells are Jinja2 templates with autoescaping; table rows are built here and every
text in them passes through ``html.escape`` (registry labels once per distinct value;
numbers are formatted here).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
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
    _coord,
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
_NUMERIC = ["waarde", "gemeente", "nederland", "verschil_gemeente", "verschil_nederland", "index_nederland",
            "ondergrens_95", "bovengrens_95"]
_GROUP_ID = {v: k for k, v in POPULATION_GROUPS.items()}


# ------------------------------------------------------------------------------ tables

def profile_table(rows: pd.DataFrame, indicators: pd.DataFrame) -> pd.DataFrame:
    """Comparison rows as profile tables (Dutch columns, theme order), for one or many regions.

    Vectorised: build it once for all wijken. ``rows`` may carry ``ci_lower``/``ci_upper``.
    """
    ind = indicators.set_index(indicators["indicator_id"].astype(str))
    iid = rows["indicator_id"].astype(str)
    themes = theme_labels(indicators)
    theme_pos = {k: i for i, k in enumerate(themes)}
    codes, uniq = pd.factorize(iid)  # map the few distinct indicators, then take per row
    per_ind = pd.Series(uniq, dtype=iid.dtype)
    t = rows.assign(indicator_id=iid, _t=_take_mapped(per_ind.map(ind["theme"]).map(theme_pos), codes, rows.index),
                    _o=_take_mapped(per_ind.map({k: i for i, k in enumerate(ind.index)}), codes, rows.index),
                    _i=codes).sort_values(["region_code", "_t", "_o", "period", "population_group"], kind="stable")
    nan = pd.Series(np.nan, index=t.index)
    ti = t["_i"].to_numpy()
    group = t["population_group"].astype(str)
    g_codes, g_uniq = pd.factorize(group)
    out = pd.DataFrame({
        "region_code": t["region_code"].astype(str),
        "thema": _take_mapped(per_ind.map(ind["theme"]).map(themes), ti, t.index),
        "indicator_id": t["indicator_id"],
        "indicator": _take_mapped(per_ind.map(ind["label_nl"]), ti, t.index),
        "eenheid": _take_mapped(per_ind.map(ind["unit"]), ti, t.index),
        "periode": t["period"].astype(int),
        "leeftijdsgroep": _take_mapped(pd.Series(g_uniq, dtype=group.dtype).map(POPULATION_GROUPS), g_codes, t.index),
        "waarde": t["value"], "gemeente": t["gemeente_value"], "nederland": t["nl_value"],
        "verschil_gemeente": t["diff_gemeente"], "verschil_nederland": t["diff_nl"], "index_nederland": t["index_nl"],
        "klasse_gemeente": t["class_gemeente"].astype(str), "klasse_nederland": t["class_nl"].astype(str),
        "methode": t["class_method"].astype(str),
        "ondergrens_95": t["ci_lower"] if "ci_lower" in t else nan,
        "bovengrens_95": t["ci_upper"] if "ci_upper" in t else nan,
        # 'ja': the value is withheld (based on fewer than the disclosure threshold)
        "onderdrukt": np.where(t["suppressed"].astype("boolean").fillna(False).to_numpy(dtype=bool), "ja", "nee")
        if "suppressed" in t else "nee",
        # 'ja': published only per gemeente (e.g. Vektis, Waarstaatjegemeente): no value for the wijk itself
        "alleen_gemeente": np.where(t["alleen_gemeente"].astype("boolean").fillna(False).to_numpy(dtype=bool), "ja", "nee")
        if "alleen_gemeente" in t else "nee",
    })
    for col in _NUMERIC:
        out[col] = pd.to_numeric(out[col], errors="coerce").astype("float64").round(2)
    return out.reset_index(drop=True)


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
    have = set(zip(wijk["region_code"], wijk["indicator_id"], wijk["population_group"], strict=True))
    links = pd.DataFrame({"wijk": list(parent), "gemeentecode": list(parent.values())})
    rows = links.merge(gm, left_on="gemeentecode", right_on="region_code")
    keep = [(w, i, g) not in have for w, i, g in zip(rows["wijk"], rows["indicator_id"], rows["population_group"], strict=True)]
    rows = rows[keep]
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


def _take_mapped(mapped: pd.Series, codes: NDArray[np.intp], index: pd.Index) -> pd.Series:
    """Per row the value of its distinct key (``mapped`` is indexed by factorize codes)."""
    return mapped.take(codes).set_axis(index)


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


def _trends(latest: pd.DataFrame, table: pd.DataFrame, digits: NDArray[np.int64]) -> NDArray[np.object_]:
    """Per latest row: a sparkline of the values per wave and the values as text."""
    keys = ["region_code", "indicator_id", "leeftijdsgroep"]
    waves = table.set_index([*keys, "periode"])["waarde"].unstack("periode")
    periods = np.array(waves.columns, dtype=np.int64)
    v = waves.reindex(pd.MultiIndex.from_frame(latest[keys])).to_numpy(dtype="float64")
    ok = ~np.isnan(v)
    n = ok.sum(axis=1)
    p = np.where(ok, periods[None, :], np.nan)
    pmin, pmax = np.nanmin(np.where(ok, p, np.inf), axis=1), np.nanmax(np.where(ok, p, -np.inf), axis=1)
    vmin, vmax = np.nanmin(np.where(ok, v, np.inf), axis=1), np.nanmax(np.where(ok, v, -np.inf), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        xs = _coord(2 + 40 * (p - pmin[:, None]) / np.where(pmax > pmin, pmax - pmin, 1)[:, None])
        ys = _coord(12 - 10 * (v - vmin[:, None]) / np.where(vmax > vmin, vmax - vmin, 1)[:, None])
    out = np.full(len(v), "", dtype=object)
    if not len(periods) or not n.any():
        return out
    # per wave the value text and the point followed by a separator (null where the row has no
    # value), concatenated per row without the last separator (null_handling="skip" loses rows
    # in pyarrow 26)
    texts, points = [], []
    for j, per in enumerate(periods):
        missing = ~ok[:, j]
        texts.append(pc.binary_join_element_wise(
            f"’{per % 100:02d} ", pa.array(_fmt(v[:, j], digits), pa.string(), mask=missing), " · ", ""))
        points.append(pc.binary_join_element_wise(pa.array(xs[:, j], pa.string(), mask=missing), ",",
                                                  pa.array(ys[:, j], pa.string(), mask=missing), " ", ""))

    def concat(parts: list[Any], sep: str) -> Any:
        joined = pc.binary_join_element_wise(*parts, "", null_handling="replace", null_replacement="")
        return pc.utf8_slice_codeunits(joined, 0, -len(sep))

    span = pc.binary_join_element_wise('<span class="tr">', concat(texts, " · "), "</span>", "")
    svg = pc.binary_join_element_wise('<svg class="sl" viewBox="0 0 44 14" aria-hidden="true"><polyline points="',
                                      concat(points, " "), '"/></svg> ', span, "")
    text = pc.if_else(pa.array(n >= 2), svg, span)
    return np.where(n > 0, np.array(text.to_pylist(), dtype=object), out)


# ---------------------------------------------------------------------------- priorities


# ------------------------------------------------------------------------------- pages

_SUPPRESSED_CELL = (f'<td class="l k-not_compared" title="{_SUPPRESSED_TITLE}"><span class="mk">?</span> '
                    "geen vergelijking (onderdrukt)</td>")


def _class_cell(key: str) -> str:
    klass, method = key.split("|", 1)
    star = "" if method == "descriptive_z" else "*"
    return (f'<td class="l k-{_e(klass)}"><span class="mk">{_e(CLASS_MARKS.get(klass, "?"))}</span> '
            f"{_e(CLASS_LABELS_NL.get(klass, klass))}{star}</td>")


def _rows_html(table: pd.DataFrame, latest: pd.DataFrame, spine: Spine, level_label: str) -> NDArray[np.object_]:
    """Table rows (with theme headings) of every latest row, in page order."""
    digits = latest["eenheid"].map(unit_digits).to_numpy(dtype=np.int64)
    f = {c: _fmt(latest[c], digits) for c in ("waarde", "gemeente", "nederland", "ondergrens_95", "bovengrens_95")}
    d_gm, d_nl = _fmt(latest["verschil_gemeente"], digits, True), _fmt(latest["verschil_nederland"], digits, True)
    has_ci = latest["ondergrens_95"].notna().to_numpy() & latest["bovengrens_95"].notna().to_numpy()
    label = _mapped(latest["indicator"] + "\x00" + latest["leeftijdsgroep"].fillna(""),
                    lambda s: '<th scope="row" class="l">{}<br><span class="grp">{}, '.format(*map(_e, s.split("\x00"))))
    c_gm = _mapped(latest["klasse_gemeente"] + "|" + latest["methode"], _class_cell)
    c_nl = _mapped(latest["klasse_nederland"] + "|" + latest["methode"], _class_cell)
    keys = pd.MultiIndex.from_arrays([latest["indicator_id"], latest["periode"], latest["leeftijdsgroep"].map(_GROUP_ID)])
    stats_index = pd.MultiIndex.from_tuples(list(spine), names=["i", "p", "g"]) if spine else None
    stats = (pd.DataFrame(list(spine.values()), index=stats_index).reindex(keys).to_numpy(dtype="float64")
             if stats_index is not None else np.full((len(latest), 5), np.nan))
    charts = _spines(stats, latest["waarde"].to_numpy(dtype="float64"), latest["gemeente"].to_numpy(dtype="float64"),
                     latest["nederland"].to_numpy(dtype="float64"), latest["klasse_nederland"].to_numpy(dtype=object),
                     digits, level_label.lower())
    trends = _trends(latest, table, digits)
    theme_key = (latest["region_code"] + "\x00" + latest["thema"].fillna("")).to_numpy(dtype=object)
    first = np.r_[True, theme_key[1:] != theme_key[:-1]]
    last = np.r_[theme_key[1:] != theme_key[:-1], True]
    head = _template("profile_thead.html.j2").render(level_label=level_label)
    theme = latest["thema"].fillna("").to_numpy(dtype=object)
    periods = latest["periode"].to_numpy(dtype=np.int64)
    suppressed = (latest["onderdrukt"].to_numpy(dtype=object) == "ja") if "onderdrukt" in latest else np.zeros(len(latest), bool)
    gemeente_only = ((latest["alleen_gemeente"].to_numpy(dtype=object) == "ja") if "alleen_gemeente" in latest
                     else np.zeros(len(latest), bool))
    out = np.empty(len(latest), dtype=object)
    for i in range(len(latest)):
        if suppressed[i]:  # withheld: say so instead of "no data"
            value = f'<span class="sup" title="{_SUPPRESSED_TITLE}">onderdrukt</span>'
            c_gm[i] = c_nl[i] = _SUPPRESSED_CELL
        elif gemeente_only[i]:
            value = '<span class="gmo">alleen per gemeente</span>'
        else:
            value = f["waarde"][i] + (f'<br><span class="ci">{f["ondergrens_95"][i]}–{f["bovengrens_95"][i]}</span>' if has_ci[i] else "")
        out[i] = ((f"<h2>{_e(theme[i])}</h2>\n<table>{head}<tbody>\n" if first[i] else "")
                  + f"<tr>{label[i]}{periods[i]}</span></th><td>{value}</td><td>{f['gemeente'][i]}</td><td>{f['nederland'][i]}</td>"
                  f"<td>{d_gm[i]}</td><td>{d_nl[i]}</td>{c_gm[i]}{c_nl[i]}<td class=\"c\">{charts[i]}</td>"
                  f'<td class="l">{trends[i]}</td></tr>\n' + ("</tbody></table>\n" if last[i] else ""))
    return out


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
    mask = _latest_mask(table)
    latest = table[mask].reset_index(drop=True)
    rows = _rows_html(table, latest, spine or {}, level_label)
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
