"""A gemeente's overview of its wijken: key indicators per wijk with their class against the
gemeente, a sortable table (HTML) and the same table as rows for CSV/XLSX."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from markupsafe import Markup

from wijkprofiel.publish._buurt_tables import key_summary
from wijkprofiel.publish._class_styles import CLASS_LABELS_NL, CLASS_MARKS, DESCRIPTIVE_NOTE
from wijkprofiel.publish._formatting import _e, _fmt, _nan
from wijkprofiel.publish._maps import unit_digits
from wijkprofiel.publish._profile_priorities import _latest_mask, _priority_frame
from wijkprofiel.publish._templates import template

__all__ = ["wijk_summary", "gemeente_overview_html"]



def wijk_summary(table: pd.DataFrame, key_indicators: list[str]) -> pd.DataFrame:
    """Per region (index): key indicator values (18+, latest) and their class against the
    gemeente (``<id>``, ``<id>__class``), the number of unfavourable deviations against the
    gemeente (``n_bad``) and the top-3 priorities (``priorities``, labels joined by '; '):
    :func:`key_summary` plus the priorities."""
    latest = _latest_mask(table)
    out = key_summary(table, key_indicators, latest).drop(columns=[f"{k}__sup" for k in key_indicators])
    top = _priority_frame(table[latest])
    out["priorities"] = top.groupby("region_code")["indicator"].agg("; ".join).reindex(out.index).fillna("")
    return out


def gemeente_overview_html(
    wijken: list[dict[str, Any]], summary: pd.DataFrame, *, code: str, name: str, indeling_year: int, map_href: str,
    buurt_href: str | None, static_href: str | None, sources: list[str], key_indicators: list[str], indicators: pd.DataFrame,
    generated: str = "", buurten_href: str | None = None,
) -> tuple[str, list[list[Any]], list[str]]:
    """A gemeente's overview: a sortable table of its wijken (``code``, ``name``,
    ``has_geo``) with key indicators from :func:`wijk_summary`; plus the table as rows.
    ``buurten_href``: the gemeente's buurt profiles (linked when given).

    Returns
    -------
    tuple
        ``(html, rows, header)``.
    """
    ids = indicators["indicator_id"].astype(str).tolist()
    labels = dict(zip(ids, indicators["label_nl"].astype(str).tolist(), strict=True))
    units = dict(zip(ids, indicators["unit"].astype(str).tolist(), strict=True))
    keys = [k for k in key_indicators if k in labels]
    header = ["wijk", "code", "op_kaart", *[f"{k} (18+)" for k in keys], "ongunstig_tov_gemeente", "grootste_afwijkingen"]
    found, column = _summary_rows(summary, [w["code"] for w in wijken])
    rows: list[list[Any]] = [[w["name"], w["code"], "ja" if w["has_geo"] else "nee"] for w in wijken]
    body: list[list[str]] = [
        [f'<th scope="row" class="l" data-s="{html.escape(w["name"])}"><a href="{html.escape(w["code"])}.html">{html.escape(w["name"])}</a></th>',
         f'<td class="l">{html.escape(w["code"])}</td><td class="l">{"ja" if w["has_geo"] else "nee"}</td>']
        for w in wijken]
    for k in keys:  # one key indicator (a column) for all wijken at once
        values: list[float | None] = [None if not ok or _nan(v) else float(v) for ok, v in zip(found, column(k), strict=True)]
        texts = _fmt(np.array([np.nan if v is None else v for v in values], dtype="float64"), unit_digits(units[k]))
        for cells, row, ok, v, klass, text in zip(body, rows, found, values, column(f"{k}__class"), texts, strict=True):
            klass = str(klass) if ok and isinstance(klass, str) else "not_compared"
            cells.append(f'<td data-s="{"" if v is None else v}" class="k-{_e(klass)}">{text}'
                         f' <span class="mk" title="{_e(CLASS_LABELS_NL.get(klass, ""))}">{_e(CLASS_MARKS.get(klass, "?"))}</span></td>')
            row.append(v)
    for cells, row, ok, bad, top in zip(body, rows, found, column("n_bad"), column("priorities"), strict=True):
        n_bad = int(bad) if ok else 0
        prio = str(top) if ok else ""
        cells.append(f'<td data-s="{n_bad}">{n_bad}</td><td class="l">{html.escape(prio)}</td>')
        row.extend([n_bad, prio])
    marks = [(CLASS_MARKS[c], CLASS_LABELS_NL[c]) for c in ("much_worse", "worse", "similar", "better", "much_better", "not_compared")]
    page = template("gemeente.html.j2").render(
        code=code, name=name, indeling_year=indeling_year, map_href=map_href, buurt_href=buurt_href, buurten_href=buurten_href,
        static_href=static_href,
        keys=[labels[k] for k in keys], rows=Markup("\n".join("<tr>" + "".join(cells) + "</tr>" for cells in body)),
        n=len(wijken), sources=sources,
        descriptive_note=DESCRIPTIVE_NOTE, marks=marks, generated=generated)
    return page, rows, header


class _SummaryValues:
    """A :func:`wijk_summary` as Python values: per column its values, per region code its row."""

    def __init__(self, summary: pd.DataFrame) -> None:
        self.summary = summary
        self.row = {code: i for i, code in enumerate(summary.index.tolist())}
        self.columns = {name: summary[name].tolist() for name in summary.columns}


#: the summary read last: the overview of every gemeente of a publication reads the same
#: frame (which is not changed in between), so it is turned into Python values once
_last_summary: list[_SummaryValues] = []


def _summary_rows(summary: pd.DataFrame, codes: list[str]) -> tuple[list[bool], Callable[[str], list[Any]]]:
    """Per code whether ``summary`` has a row for it, and a function giving a column's
    values per code (as Python values; None where the code has no row)."""
    values = _last_summary[0] if _last_summary else None
    if values is None or values.summary is not summary:
        values = _SummaryValues(summary)
        _last_summary[:] = [values]
    rows = [values.row.get(c, -1) for c in codes]

    def column(name: str) -> list[Any]:
        column_values = values.columns[name]
        return [column_values[r] if r >= 0 else None for r in rows]

    return [r >= 0 for r in rows], column
