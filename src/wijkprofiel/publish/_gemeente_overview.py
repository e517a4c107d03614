"""A gemeente's overview of its wijken: key indicators per wijk with their class against the
gemeente, a sortable table (HTML) and the same table as rows for CSV/XLSX."""

from __future__ import annotations

import html
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
    labels = dict(zip(indicators["indicator_id"].astype(str), indicators["label_nl"].astype(str), strict=True))
    units = dict(zip(indicators["indicator_id"].astype(str), indicators["unit"].astype(str), strict=True))
    keys = [k for k in key_indicators if k in labels]
    header = ["wijk", "code", "op_kaart", *[f"{k} (18+)" for k in keys], "ongunstig_tov_gemeente", "grootste_afwijkingen"]
    rows: list[list[Any]] = []
    body: list[str] = []
    for w in wijken:
        s = summary.loc[w["code"]] if w["code"] in summary.index else None
        cells = [f'<th scope="row" class="l" data-s="{html.escape(w["name"])}"><a href="{html.escape(w["code"])}.html">{html.escape(w["name"])}</a></th>',
                 f'<td class="l">{html.escape(w["code"])}</td><td class="l">{"ja" if w["has_geo"] else "nee"}</td>']
        row: list[Any] = [w["name"], w["code"], "ja" if w["has_geo"] else "nee"]
        for k in keys:
            v = None if s is None or _nan(s[k]) else float(s[k])
            klass = str(s[f"{k}__class"]) if s is not None and isinstance(s[f"{k}__class"], str) else "not_compared"
            cells.append(f'<td data-s="{"" if v is None else v}" class="k-{_e(klass)}">{_fmt([np.nan if v is None else v], unit_digits(units[k]))[0]}'
                         f' <span class="mk" title="{_e(CLASS_LABELS_NL.get(klass, ""))}">{_e(CLASS_MARKS.get(klass, "?"))}</span></td>')
            row.append(v)
        n_bad = 0 if s is None else int(s["n_bad"])
        prio = "" if s is None else str(s["priorities"])
        cells.append(f'<td data-s="{n_bad}">{n_bad}</td><td class="l">{html.escape(prio)}</td>')
        rows.append([*row, n_bad, prio])
        body.append("<tr>" + "".join(cells) + "</tr>")
    marks = [(CLASS_MARKS[c], CLASS_LABELS_NL[c]) for c in ("much_worse", "worse", "similar", "better", "much_better", "not_compared")]
    page = template("gemeente.html.j2").render(
        code=code, name=name, indeling_year=indeling_year, map_href=map_href, buurt_href=buurt_href, buurten_href=buurten_href,
        static_href=static_href,
        keys=[labels[k] for k in keys], rows=Markup("\n".join(body)), n=len(wijken), sources=sources,
        descriptive_note=DESCRIPTIVE_NOTE, marks=marks, generated=generated)
    return page, rows, header
