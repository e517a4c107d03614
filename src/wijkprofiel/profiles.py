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

__all__ = ["PROFILE_COLUMNS", "profile_table", "split_records", "profile_csv", "profile_html", "priorities"]

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
    """Comparison rows as profile tables (Dutch columns, theme order), for one or many regions.

    Vectorised: build it once for all wijken, then split with :func:`split_records`.

    Parameters
    ----------
    rows
        ``comparisons`` rows (all periods and groups) of one or more regions.
    indicators
        The ``indicators`` table.
    """
    ind = indicators.set_index("indicator_id")
    t = rows.assign(
        indicator_id=rows["indicator_id"].astype(str),
        _theme_order=rows["indicator_id"].astype(str).map({k: i for i, k in enumerate(ind.index)}),
    ).sort_values(["region_code", "_theme_order", "period", "population_group"], kind="stable")
    out = pd.DataFrame(
        {
            "region_code": t["region_code"].astype(str),
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


def split_records(table: pd.DataFrame) -> dict[str, list[dict[str, Any]]]:
    """Profile table rows as plain records grouped by region code (one conversion for all)."""
    rounded = table.copy()
    for col in ("waarde", "gemeente", "nederland", "verschil_gemeente", "verschil_nederland", "index_nederland"):
        rounded[col] = rounded[col].round(2)
    columns = list(rounded.columns)
    lists = [rounded[c].tolist() for c in columns]  # column-wise conversion: fast for Arrow strings
    groups: dict[str, list[dict[str, Any]]] = {}
    for values in zip(*lists, strict=True):
        rec = dict(zip(columns, values, strict=True))
        groups.setdefault(str(rec["region_code"]), []).append(rec)
    return groups


def _blank(v: Any) -> Any:
    return "" if isinstance(v, float) and np.isnan(v) else v


def profile_csv(records: list[dict[str, Any]]) -> str:
    """CSV text (``;``-separated, decimal point, UTF-8) of one region's profile records."""
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=";", lineterminator="\n")
    writer.writerow(PROFILE_COLUMNS)
    writer.writerows([_blank(r[c]) for c in PROFILE_COLUMNS] for r in records)
    return buf.getvalue()


def _fmt(value: float, unit: str) -> str:
    if _nan(value):
        return "–"
    if unit == "%":
        return f"{value:.1f}".replace(".", ",")
    return f"{value:,.0f}".replace(",", ".")


def _fmt_diff(value: float, unit: str) -> str:
    if _nan(value):
        return "–"
    sign = "+" if value > 0 else ("−" if value < 0 else "±")
    return sign + _fmt(abs(value), unit)


def _latest(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    newest: dict[str, int] = {}
    for r in records:
        newest[r["indicator_id"]] = max(newest.get(r["indicator_id"], r["periode"]), r["periode"])
    return [r for r in records if r["periode"] == newest[r["indicator_id"]]]


def _nan(v: Any) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v))


def priorities(records: list[dict[str, Any]], n: int = 3) -> list[dict[str, Any]]:
    """The ``n`` indicators (latest period, any group) deviating most unfavourably.

    Ranked by class severity (the worse of the gemeente and NL comparison, gemeente first
    on ties) and then by the absolute difference relative to the comparator value; one row
    per indicator. Each returned record gains ``vs_gemeente`` (bool).
    """
    ranked = []
    for r in _latest(records):
        sev_gm = _UNFAVOURABLE.get(r["klasse_gemeente"], 0)
        sev_nl = _UNFAVOURABLE.get(r["klasse_nederland"], 0)
        if max(sev_gm, sev_nl) == 0:
            continue
        vs_gm = sev_gm >= sev_nl
        diff, base = (r["verschil_gemeente"], r["gemeente"]) if vs_gm else (r["verschil_nederland"], r["nederland"])
        rel = abs(diff) / abs(base) if not _nan(diff) and not _nan(base) and base else 0.0
        ranked.append((max(sev_gm, sev_nl), rel, {**r, "vs_gemeente": vs_gm}))
    ranked.sort(key=lambda t: (t[0], t[1]), reverse=True)
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for _, _, r in ranked:
        if r["indicator_id"] in seen:
            continue
        seen.add(r["indicator_id"])
        out.append(r)
        if len(out) == n:
            break
    return out


def profile_html(records: list[dict[str, Any]], *, code: str, name: str, level_label: str, gemeentecode: str,
                 gemeente_name: str, indeling_year: int, back_href: str, csv_name: str,
                 sources: list[str]) -> str:
    """Render the printable (A4) HTML profile of one region from its records."""
    themes: list[dict[str, Any]] = []
    by_theme: dict[str, list[dict[str, Any]]] = {}
    for r in _latest(records):
        by_theme.setdefault(r["thema"], []).append(r)
    for theme_label, rows in by_theme.items():
        themes.append({"label": theme_label, "rows": [
            {
                "label": r["indicator"], "group": r["leeftijdsgroep"], "period": r["periode"],
                "value": _fmt(r["waarde"], r["eenheid"]), "gemeente": _fmt(r["gemeente"], r["eenheid"]),
                "nl": _fmt(r["nederland"], r["eenheid"]),
                "diff_gemeente": _fmt_diff(r["verschil_gemeente"], r["eenheid"]),
                "diff_nl": _fmt_diff(r["verschil_nederland"], r["eenheid"]),
                "class_gemeente": r["klasse_gemeente"], "class_nl": r["klasse_nederland"],
                "klasse_gemeente": CLASS_LABELS_NL.get(r["klasse_gemeente"], r["klasse_gemeente"]),
                "klasse_nl": CLASS_LABELS_NL.get(r["klasse_nederland"], r["klasse_nederland"]),
            }
            for r in rows
        ]})
    prio = [
        {
            "label": r["indicator"], "group": r["leeftijdsgroep"], "period": r["periode"],
            "value": _fmt(r["waarde"], r["eenheid"]),
            "comparator_value": _fmt(r["gemeente"] if r["vs_gemeente"] else r["nederland"], r["eenheid"]),
            "comparator": "(gemeente)" if r["vs_gemeente"] else "(Nederland)",
            "klasse": CLASS_LABELS_NL.get(r["klasse_gemeente"] if r["vs_gemeente"] else r["klasse_nederland"], ""),
        }
        for r in priorities(records)
    ]
    return _env().get_template("profile.html.j2").render(
        code=code, name=name, level_label=level_label, gemeentecode=gemeentecode,
        gemeente_name=gemeente_name, indeling_year=indeling_year, back_href=back_href,
        csv_name=csv_name, themes=themes, priorities=prio, descriptive_note=DESCRIPTIVE_NOTE,
        sources=sources,
    )
