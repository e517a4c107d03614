"""Compact tables of buurten with their key indicators (18+, newest measurement) and class
against the gemeente: "Buurten in deze wijk" on a wijk profile and the table of all buurten
on a gemeente's buurt page (readable without JavaScript).

Rows carry ``data-code`` and key columns ``data-indicator`` so the numbers can be traced
back to the warehouse (``tests/test_disclosure_scan.py``). Every text is escaped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from wijkprofiel.indicators import POPULATION_GROUPS
from wijkprofiel.publish._buurt_series import first_per_group
from wijkprofiel.publish._class_styles import _SUPPRESSED_TITLE, CLASS_LABELS_NL, CLASS_MARKS
from wijkprofiel.publish._formatting import _e, _fmt
from wijkprofiel.publish._maps import unit_digits
from wijkprofiel.publish._profile_priorities import _UNFAVOURABLE, _latest_mask

__all__ = ["KeyColumns", "KeyRow", "key_cells", "key_summary", "key_table_html"]

_SUPPRESSED_KEY_CELL = f'<td class="k-not_compared"><span class="sup" title="{_SUPPRESSED_TITLE}">onderdrukt</span></td>'
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


def key_summary(table: pd.DataFrame, key_indicators: list[str], latest: NDArray[np.bool_] | None = None) -> pd.DataFrame:
    """Per region (index) of a profile table its key values (18+, newest measurement) and
    what the key tables show of them.

    Parameters
    ----------
    table
        :func:`profile_table` rows of the regions.
    key_indicators
        The key indicator ids.
    latest
        :func:`_latest_mask` of ``table``, when already known.

    Returns
    -------
    pandas.DataFrame
        As :func:`wijk_summary` without its priorities: per key indicator ``<id>`` (the value),
        ``<id>__class`` (class against the gemeente; missing without one) and ``<id>__sup``
        (the value is withheld by disclosure control), and ``n_bad`` (the number of
        indicators deviating unfavourably from the gemeente).
    """
    columns = ["region_code", "indicator_id", "leeftijdsgroep", "waarde", "klasse_gemeente", "onderdrukt"]
    newest = table[columns][_latest_mask(table) if latest is None else latest]  # only what is needed, then the rows
    region, regions = pd.factorize(newest["region_code"])
    n = len(regions)
    out = pd.DataFrame(index=pd.Index(regions, name="region_code"))
    key = ((newest["leeftijdsgroep"] == POPULATION_GROUPS["18+"]) & newest["indicator_id"].isin(key_indicators)).to_numpy()
    rows = newest[key]
    rows_region, rows_id = region[key], rows["indicator_id"].to_numpy(dtype=object)
    values = rows["waarde"].to_numpy(dtype="float64")
    classes = rows["klasse_gemeente"].to_numpy(dtype=object)
    withheld = (rows["onderdrukt"] == "ja").to_numpy()
    for k in key_indicators:
        mine = rows_id == k
        value = first_per_group(rows_region, values, mine & ~np.isnan(values), n)
        out[k] = np.asarray(value, dtype="float64")
        out[f"{k}__class"] = first_per_group(rows_region, classes, mine & pd.notna(classes), n)
        out[f"{k}__sup"] = np.isin(np.arange(n), rows_region[mine & withheld])
    bad = newest["klasse_gemeente"].isin(list(_UNFAVOURABLE)).to_numpy()
    indicator, indicators = pd.factorize(newest["indicator_id"], use_na_sentinel=False)
    pairs = np.unique(region[bad].astype(np.int64) * len(indicators) + indicator[bad])  # distinct (region, indicator)
    out["n_bad"] = np.bincount(pairs // max(len(indicators), 1), minlength=n) if len(pairs) else np.zeros(n, dtype=np.int64)
    return out


def key_cells(summary: pd.DataFrame, columns: KeyColumns) -> dict[str, str]:
    """Per region of ``summary`` the HTML cells of its key values (all regions at once).

    Parameters
    ----------
    summary
        :func:`key_summary` of the regions' profile rows (``<id>``, ``<id>__class``,
        ``<id>__sup``, ``n_bad``; one row per region).
    columns
        The key indicators shown.

    Returns
    -------
    dict
        Region code → its value cells and the cell with its number of unfavourable
        deviations (escaped HTML), for :func:`key_table_html`.
    """
    n = len(summary)
    per_column: list[list[str]] = []
    for k, unit in zip(columns.ids, columns.units, strict=True):
        values = summary[k].to_numpy(dtype="float64", na_value=np.nan) if k in summary else np.full(n, np.nan)
        texts = _fmt(values, unit_digits(unit)).tolist()
        klasses = summary[f"{k}__class"].tolist() if f"{k}__class" in summary else [None] * n
        withheld = summary[f"{k}__sup"].tolist() if f"{k}__sup" in summary else [False] * n
        cells = []
        for text, klass, sup in zip(texts, klasses, withheld, strict=True):
            if bool(sup):
                cells.append(_SUPPRESSED_KEY_CELL)
                continue
            klass = str(klass) if isinstance(klass, str) else "not_compared"
            cells.append(f'<td class="k-{_e(klass)}">{text} <span class="mk" title="{_e(CLASS_LABELS_NL.get(klass, ""))}">'
                         f'{_e(CLASS_MARKS.get(klass, "?"))}</span></td>')
        per_column.append(cells)
    per_column.append([f"<td>{int(b)}</td>" for b in summary["n_bad"].tolist()])
    return {str(code): "".join(cells) for code, *cells in zip(summary.index, *per_column, strict=True)}


def key_table_html(rows: list[KeyRow], cells: Mapping[str, str], columns: KeyColumns, *, table_id: str, first: str,
                   extra_heads: tuple[str, ...] = (), caption: str = "") -> str:
    """A table of ``rows`` with their key values.

    Parameters
    ----------
    cells
        Region code → its key value cells (:func:`key_cells`); a region without them
        reads "geen gegevens".
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
    missing = f'<td class="l" colspan="{len(columns.ids) + 1}">geen gegevens</td>'
    body = []
    for r in rows:
        label = f'<a href="{_e(r.href)}">{_e(r.name)}</a>' if r.href else _e(r.name)
        anchor = f' id="{_e(r.code)}"' if r.anchor else ""
        body.append(f'<tr data-code="{_e(r.code)}"{anchor}><th scope="row" class="l">{label}</th><td class="l">{_e(r.code)}</td>'
                    + "".join(f'<td class="l">{_e(x)}</td>' for x in r.extra) + cells.get(r.code, missing) + "</tr>")
    legend = ", ".join(f"{m} {label}" for m, label in _MARKS)
    return (f'<table id="{_e(table_id)}" class="bk"><caption class="note">{_e(caption)} Waarden 18 jaar of ouder, nieuwste '
            f"meting; teken = klasse t.o.v. de gemeente (niet t.o.v. de wijk): {_e(legend)}.</caption>"
            f"<thead><tr>{heads}</tr></thead><tbody>\n" + "\n".join(body) + "\n</tbody></table>")
