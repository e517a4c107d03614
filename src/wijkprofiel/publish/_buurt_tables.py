"""Compact tables of buurten with their key indicators (18+, newest measurement) and class
against the gemeente: "Buurten in deze wijk" on a wijk profile and the table of all buurten
on a gemeente's buurt page (readable without JavaScript).

Rows carry ``data-code`` and key columns ``data-indicator`` so the numbers can be traced
back to the warehouse (``tests/test_disclosure_scan.py``). Every text is escaped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from wijkprofiel.indicators import POPULATION_GROUPS
from wijkprofiel.publish._class_styles import CLASS_LABELS_NL, CLASS_MARKS
from wijkprofiel.publish._formatting import _e, _fmt
from wijkprofiel.publish._gemeente_overview import wijk_summary
from wijkprofiel.publish._maps import unit_digits
from wijkprofiel.publish._profile_priorities import _latest_mask
from wijkprofiel.publish._profiles import _SUPPRESSED_TITLE

__all__ = ["KeyColumns", "KeyRow", "key_summary", "key_table_html"]

_MARKS = [(CLASS_MARKS[c], CLASS_LABELS_NL[c]) for c in ("much_worse", "worse", "similar", "better", "much_better",
                                                          "not_compared")]


@dataclass(frozen=True)
class KeyColumns:
    """The key indicators shown (ids, Dutch labels, units), in column order."""

    ids: list[str]
    labels: list[str]
    units: list[str]

    @classmethod
    def of(cls, key_indicators: list[str], indicators: pd.DataFrame) -> KeyColumns:
        """The ``key_indicators`` that the ``indicators`` table knows."""
        labels = dict(zip(indicators["indicator_id"].astype(str), indicators["label_nl"].astype(str), strict=True))
        units = dict(zip(indicators["indicator_id"].astype(str), indicators["unit"].astype(str), strict=True))
        ids = [k for k in key_indicators if k in labels]
        return cls(ids, [labels[k] for k in ids], [units[k] for k in ids])


@dataclass(frozen=True)
class KeyRow:
    """One row: the region, its label (link target or None) and extra text cells before the values."""

    code: str
    name: str
    href: str | None
    extra: tuple[str, ...] = ()
    anchor: bool = False


def key_summary(table: pd.DataFrame, key_indicators: list[str]) -> pd.DataFrame:
    """:func:`wijk_summary` of a profile table plus ``<id>__sup``: whether the key value
    (18+, newest measurement) is withheld by disclosure control."""
    out = wijk_summary(table, key_indicators)
    latest = table[_latest_mask(table)]
    withheld = latest[(latest["leeftijdsgroep"] == POPULATION_GROUPS["18+"]) & (latest["onderdrukt"] == "ja")]
    for k in key_indicators:
        out[f"{k}__sup"] = out.index.isin(set(withheld.loc[withheld["indicator_id"] == k, "region_code"]))
    return out


def _cells(summary: pd.DataFrame, code: str, columns: KeyColumns) -> str:
    if code not in summary.index:
        return f'<td class="l" colspan="{len(columns.ids) + 1}">geen gegevens</td>'
    s = {str(k): v for k, v in summary.loc[code].to_dict().items()}
    out = []
    for k, unit in zip(columns.ids, columns.units, strict=True):
        v = s.get(k, np.nan)
        klass = str(s[f"{k}__class"]) if isinstance(s.get(f"{k}__class"), str) else "not_compared"
        if bool(s.get(f"{k}__sup", False)):
            out.append(f'<td class="k-not_compared"><span class="sup" title="{_SUPPRESSED_TITLE}">onderdrukt</span></td>')
            continue
        text = _fmt([np.nan if v is None else v], unit_digits(unit))[0]
        out.append(f'<td class="k-{_e(klass)}">{text} <span class="mk" title="{_e(CLASS_LABELS_NL.get(klass, ""))}">'
                   f'{_e(CLASS_MARKS.get(klass, "?"))}</span></td>')
    out.append(f"<td>{int(s['n_bad'])}</td>")
    return "".join(out)


def key_table_html(rows: list[KeyRow], summary: pd.DataFrame, columns: KeyColumns, *, table_id: str, first: str,
                   extra_heads: tuple[str, ...] = (), caption: str = "") -> str:
    """A table of ``rows`` with their key values from ``summary`` (:func:`wijk_summary` of
    their profile rows: ``<id>``, ``<id>__class``, ``n_bad``).

    Parameters
    ----------
    first
        Header of the first column (e.g. ``"Buurt"``).
    extra_heads
        Headers of the rows' ``extra`` text cells (after the code).
    caption
        Text before the class legend in the caption.
    """
    heads = (f'<th scope="col" class="l">{_e(first)}</th><th scope="col" class="l">Code</th>'
             + "".join(f'<th scope="col" class="l">{_e(h)}</th>' for h in extra_heads)
             + "".join(f'<th scope="col" data-indicator="{_e(i)}">{_e(label)}</th>'
                       for i, label in zip(columns.ids, columns.labels, strict=True))
             + '<th scope="col">Aantal ongunstig t.o.v. gemeente</th>')
    body = []
    for r in rows:
        label = f'<a href="{_e(r.href)}">{_e(r.name)}</a>' if r.href else _e(r.name)
        anchor = f' id="{_e(r.code)}"' if r.anchor else ""
        body.append(f'<tr data-code="{_e(r.code)}"{anchor}><th scope="row" class="l">{label}</th><td class="l">{_e(r.code)}</td>'
                    + "".join(f'<td class="l">{_e(x)}</td>' for x in r.extra) + _cells(summary, r.code, columns) + "</tr>")
    legend = ", ".join(f"{m} {label}" for m, label in _MARKS)
    return (f'<table id="{_e(table_id)}" class="bk"><caption class="note">{_e(caption)} Waarden 18 jaar of ouder, nieuwste '
            f"meting; teken = klasse t.o.v. de gemeente (niet t.o.v. de wijk): {_e(legend)}.</caption>"
            f"<thead><tr>{heads}</tr></thead><tbody>\n" + "\n".join(body) + "\n</tbody></table>")
