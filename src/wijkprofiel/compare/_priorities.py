"""Priorities: per wijk the themes/indicators where it deviates most unfavourably.

Answers "can you name the three biggest health themes of your wijk?" from the
``comparisons`` table, separately against the gemeente and against Nederland. Vectorised:
one sort and group-wise ranks over all wijken at once.

Selection, per wijk and comparator:

1. candidate rows: indicators with a polarity (neutral ones are never unfavourable), the
   latest period of each indicator for that wijk, any population group, with an
   unfavourable class ('worse', 'much_worse');
2. one row per indicator (its most unfavourable group), and with ``distinct_themes`` one
   per theme (its most unfavourable indicator);
3. ranked: significant first (a tested comparison — ``p_*`` present, or a significance
   ``class_method`` — with an unfavourable class), then by the standardised difference
   ``|z|`` (test statistic or descriptive z), largest first; ties by indicator id.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from wijkprofiel.errors import ConfigError

__all__ = ["PRIORITY_COLUMNS", "priorities"]

PRIORITY_COLUMNS = [
    "region_code", "indeling_year", "comparator", "rank", "indicator_id", "theme", "period",
    "population_group", "value", "comparator_value", "diff", "z", "class", "class_method",
]
_COMPARATORS = {  # comparator -> (value, diff, z, class, p) columns
    "gemeente": ("gemeente_value", "diff_gemeente", "z_gemeente", "class_gemeente", "p_gemeente"),
    "nl": ("nl_value", "diff_nl", "z_nl", "class_nl", "p_nl"),
}
_SEVERITY = {"much_worse": 2, "worse": 1}


def _strings(series: pd.Series, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.object_]:
    """``series[rows]`` as plain strings, via factorised codes (fast for categoricals)."""
    codes, uniques = pd.factorize(series, sort=False)
    return np.asarray(pd.Index(uniques).astype(str), dtype=object)[codes[rows]]


def priorities(
    comparisons: pd.DataFrame, indicators: pd.DataFrame, n: int = 3,
    *, levels: Sequence[str] = ("wijk",), distinct_themes: bool = True,
) -> pd.DataFrame:
    """The ``n`` most unfavourable themes/indicators per area, vs gemeente and vs NL.

    Parameters
    ----------
    comparisons
        Output of :func:`wijkprofiel.compare.compare_all` (or ``compare_descriptive``;
        ``p_gemeente``/``p_nl`` optional).
    indicators
        ``indicator_id, theme, polarity``.
    n
        How many per area and comparator (fewer when fewer deviate unfavourably).
    levels
        Area levels to rank (default wijken only).
    distinct_themes
        One indicator per theme (the "three biggest themes"); ``False``: any indicators.

    Returns
    -------
    pandas.DataFrame
        :data:`PRIORITY_COLUMNS` (the ``priorities`` table), ordered by region, comparator,
        rank (1 = most unfavourable).
    """
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        msg = f"n must be a whole number ≥ 1, got {n!r}"
        raise ConfigError(msg)
    needed = ["indicator_id", "region_code", "indeling_year", "level", "period", "population_group", "value",
              "class_method", *[c for cols in _COMPARATORS.values() for c in cols[:4]]]
    missing = [c for c in needed if c not in comparisons.columns]
    if missing:
        msg = f"comparisons is missing required column(s) {', '.join(missing)}; expected the comparisons table"
        raise ConfigError(msg)
    ind = indicators.drop_duplicates("indicator_id").set_index("indicator_id")
    level_ok = pd.Series(comparisons["level"]).astype("category")
    rows = np.flatnonzero(level_ok.isin(list(levels)).to_numpy(dtype=bool))
    i_codes, i_uni = pd.factorize(comparisons["indicator_id"], sort=False)
    i_ids = pd.Index(i_uni).astype(str)
    pol_uni = ind["polarity"].reindex(i_ids).to_numpy(dtype=object)
    orient_uni = np.select([pol_uni == "higher_is_worse", pol_uni == "higher_is_better"], [1.0, -1.0], 0.0)
    theme_uni = ind["theme"].reindex(i_ids).astype(object).to_numpy(dtype=object) if "theme" in ind.columns \
        else np.full(len(i_ids), None, dtype=object)
    ic = i_codes.astype("int64")[rows]
    rows, ic = rows[orient_uni[ic] != 0], ic[orient_uni[ic] != 0]  # neutral: never unfavourable
    r_codes, r_uni = pd.factorize(comparisons["region_code"], sort=False)
    y_codes, y_uni = pd.factorize(comparisons["indeling_year"], sort=False)
    rc, yc = r_codes.astype("int64")[rows], y_codes.astype("int64")[rows]
    period = comparisons["period"].to_numpy(dtype="int64")[rows]
    # latest period per area and indicator (over all of its rows, favourable or not)
    area_ind = (rc * (len(y_uni) + 1) + yc) * (len(i_uni) + 1) + ic
    latest = pd.Series(period).groupby(area_ind, sort=False).transform("max").to_numpy(dtype="int64")
    frames = []
    for comparator, (value_col, diff_col, z_col, class_col, p_col) in _COMPARATORS.items():
        c_codes, c_uni = pd.factorize(comparisons[class_col], sort=False)
        sev_uni = np.array([_SEVERITY.get(str(c), 0) for c in c_uni], dtype="int64")
        severity = sev_uni[c_codes.astype("int64")[rows]] if len(c_uni) else np.zeros(len(rows), dtype="int64")
        take = (severity > 0) & (period == latest)
        sel = rows[take]
        z = comparisons[z_col].to_numpy(dtype="float64")[sel]
        m = _strings(comparisons["class_method"], sel)
        if p_col in comparisons.columns:
            tested = ~np.isnan(comparisons[p_col].to_numpy(dtype="float64")[sel])
        else:
            tested = m != "descriptive_z"
        frames.append(pd.DataFrame({
            "region_code": np.asarray(pd.Index(r_uni).astype(str), dtype=object)[rc[take]],
            "indeling_year": np.asarray(y_uni)[yc[take]].astype("int64"),
            "comparator": comparator,
            "indicator_id": np.asarray(i_ids, dtype=object)[ic[take]],
            "theme": theme_uni[ic[take]],
            "period": period[take],
            "population_group": _strings(comparisons["population_group"], sel),
            "value": comparisons["value"].to_numpy(dtype="float64")[sel],
            "comparator_value": comparisons[value_col].to_numpy(dtype="float64")[sel],
            "diff": comparisons[diff_col].to_numpy(dtype="float64")[sel],
            "z": z,
            "class": np.asarray(pd.Index(c_uni).astype(str), dtype=object)[c_codes[sel]],
            "class_method": m,
            "_significant": tested.astype("int64"),
            "_zu": np.nan_to_num(z * orient_uni[ic[take]], nan=0.0),
        }))
    cand = pd.concat(frames, ignore_index=True)
    cand = cand.sort_values(
        ["region_code", "indeling_year", "comparator", "_significant", "_zu", "indicator_id", "population_group"],
        ascending=[True, True, True, False, False, True, True], kind="stable",
    )
    area = ["region_code", "indeling_year", "comparator"]
    cand = cand.drop_duplicates([*area, "indicator_id"])
    if distinct_themes:
        cand = cand.drop_duplicates([*area, "theme"])
    cand = cand.assign(rank=cand.groupby(area, sort=False).cumcount() + 1)
    cand = cand[cand["rank"] <= n]
    out = cand[PRIORITY_COLUMNS].reset_index(drop=True)
    out["rank"] = out["rank"].astype("int64")
    return out
