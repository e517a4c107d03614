"""Profile tables: per wijk its indicators beside gemeente and Nederland (HTML and CSV).

Tables are built from the ``comparisons`` table; HTML is rendered with Jinja2 with
autoescaping on, so names and labels from data are always escaped.
"""

from __future__ import annotations

import csv
import io
from functools import cache
from typing import Any

import jinja2
import numpy as np
import pandas as pd

from wijkprofiel.indicators import POPULATION_GROUPS, THEMES
from wijkprofiel.maps import CLASS_LABELS_NL, DESCRIPTIVE_NOTE

__all__ = ["PROFILE_COLUMNS", "profile_table", "profile_csv", "profile_html", "priorities"]

#: columns of the CSV export (Dutch headers for users)
PROFILE_COLUMNS = [
    "thema", "indicator_id", "indicator", "eenheid", "periode", "leeftijdsgroep", "waarde",
    "gemeente", "nederland", "verschil_gemeente", "verschil_nederland", "index_nederland",
    "klasse_gemeente", "klasse_nederland", "methode",
]

_UNFAVOURABLE = {"much_worse": 2, "worse": 1}


@cache
def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("wijkprofiel", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def profile_table(rows: pd.DataFrame, indicators: pd.DataFrame) -> pd.DataFrame:
    """One region's comparison rows as a profile table (Dutch columns, theme order).

    Parameters
    ----------
    rows
        ``comparisons`` rows of one region (all periods and groups).
    indicators
        The ``indicators`` table.
    """
    ind = indicators.set_index("indicator_id")
    t = rows.assign(
        indicator_id=rows["indicator_id"].astype(str),
        _theme_order=rows["indicator_id"].astype(str).map({k: i for i, k in enumerate(ind.index)}),
    ).sort_values(["_theme_order", "period", "population_group"])
    out = pd.DataFrame(
        {
            "thema": t["indicator_id"].map(ind["theme"]).map(THEMES),
            "indicator_id": t["indicator_id"],
            "indicator": t["indicator_id"].map(ind["label_nl"]),
            "eenheid": t["indicator_id"].map(ind["unit"]),
            "periode": t["period"].astype(int),
            "leeftijdsgroep": t["population_group"].astype(str).map(POPULATION_GROUPS),
            "waarde": t["value"],
            "gemeente": t["gemeente_value"],
            "nederland": t["nl_value"],
            "verschil_gemeente": t["diff_gemeente"],
            "verschil_nederland": t["diff_nl"],
            "index_nederland": t["index_nl"],
            "klasse_gemeente": t["class_gemeente"].astype(str),
            "klasse_nederland": t["class_nl"].astype(str),
            "methode": t["class_method"].astype(str),
        }
    )
    return out.reset_index(drop=True)


def profile_csv(table: pd.DataFrame) -> str:
    """CSV text (``;``-separated, decimal point, UTF-8) of a profile table."""
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=";", lineterminator="\n")
    writer.writerow(PROFILE_COLUMNS)
    for row in table[PROFILE_COLUMNS].itertuples(index=False):
        writer.writerow(["" if (isinstance(v, float) and np.isnan(v)) else (round(v, 4) if isinstance(v, float) else v) for v in row])
    return buf.getvalue()


def _fmt(value: float, unit: str) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "–"
    if unit == "%":
        return f"{value:.1f}".replace(".", ",")
    return f"{value:,.0f}".replace(",", ".")


def _fmt_diff(value: float, unit: str) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "–"
    sign = "+" if value > 0 else ("−" if value < 0 else "±")
    return sign + _fmt(abs(value), unit)


def priorities(table: pd.DataFrame, n: int = 3) -> pd.DataFrame:
    """The ``n`` indicators (latest period, any group) deviating most unfavourably.

    Ranked by class severity (vs gemeente, then vs NL) and then by the absolute difference
    relative to the comparator; one row per indicator.
    """
    if table.empty:
        return table
    latest = table[table["periode"] == table.groupby("indicator_id")["periode"].transform("max")]
    sev_gm = latest["klasse_gemeente"].map(_UNFAVOURABLE).fillna(0)
    sev_nl = latest["klasse_nederland"].map(_UNFAVOURABLE).fillna(0)
    cand = latest.assign(ernst=np.maximum(sev_gm, sev_nl), vs_gemeente=sev_gm >= sev_nl)
    cand = cand[cand["ernst"] > 0]
    rel = np.where(cand["vs_gemeente"], cand["verschil_gemeente"].abs() / cand["gemeente"].abs(),
                   cand["verschil_nederland"].abs() / cand["nederland"].abs())
    cand = cand.assign(relatief=rel).sort_values(["ernst", "relatief"], ascending=False)
    return cand.drop_duplicates("indicator_id").head(n)


def profile_html(table: pd.DataFrame, *, code: str, name: str, level_label: str, gemeentecode: str,
                 gemeente_name: str, indeling_year: int, back_href: str, csv_name: str,
                 sources: list[str]) -> str:
    """Render the printable (A4) HTML profile of one region."""
    latest = table[table["periode"] == table.groupby("indicator_id")["periode"].transform("max")]
    themes: list[dict[str, Any]] = []
    for theme_label, sub in latest.groupby("thema", sort=False):
        rows = [
            {
                "label": r.indicator, "group": r.leeftijdsgroep, "period": r.periode,
                "value": _fmt(r.waarde, r.eenheid), "gemeente": _fmt(r.gemeente, r.eenheid),
                "nl": _fmt(r.nederland, r.eenheid),
                "diff_gemeente": _fmt_diff(r.verschil_gemeente, r.eenheid),
                "diff_nl": _fmt_diff(r.verschil_nederland, r.eenheid),
                "class_gemeente": r.klasse_gemeente, "class_nl": r.klasse_nederland,
                "klasse_gemeente": CLASS_LABELS_NL.get(r.klasse_gemeente, r.klasse_gemeente),
                "klasse_nl": CLASS_LABELS_NL.get(r.klasse_nederland, r.klasse_nederland),
            }
            for r in sub.itertuples()
        ]
        themes.append({"label": theme_label, "rows": rows})
    prio = [
        {
            "label": r.indicator, "group": r.leeftijdsgroep, "period": r.periode,
            "value": _fmt(r.waarde, r.eenheid),
            "comparator_value": _fmt(r.gemeente if r.vs_gemeente else r.nederland, r.eenheid),
            "comparator": "(gemeente)" if r.vs_gemeente else "(Nederland)",
            "klasse": CLASS_LABELS_NL.get(r.klasse_gemeente if r.vs_gemeente else r.klasse_nederland, ""),
        }
        for r in priorities(table).itertuples()
    ]
    return _env().get_template("profile.html.j2").render(
        code=code, name=name, level_label=level_label, gemeentecode=gemeentecode,
        gemeente_name=gemeente_name, indeling_year=indeling_year, back_href=back_href,
        csv_name=csv_name, themes=themes, priorities=prio, descriptive_note=DESCRIPTIVE_NOTE,
        sources=sources,
    )
