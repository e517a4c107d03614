"""Comparisons: every wijk/buurt against its gemeente and the Netherlands, every gemeente
against the Netherlands, for every indicator, period and population group.

Vectorised over the whole observation table at once (no Python loop per row): keys are
factorised to integers, benchmark values are looked up by dense cell index, spreads are
grouped sums with ``numpy.bincount``. Classification is
:func:`wijkprofiel.stats.zscore_class`.

Without uncertainty information (the embedded RIVM file holds point estimates only, KWB and
Vektis publish no variance) classes are descriptive, ``class_method = 'descriptive_z'``:
z-score bands of the difference against the spread (sample standard deviation, ddof=1) of
the same-level areas — within the gemeente for the gemeente comparison, nationally for the
Netherlands comparison. Nothing here claims significance.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from wijkprofiel.stats import zscore_class

__all__ = ["COMPARISON_COLUMNS", "compare_descriptive", "grouped_sd"]

COMPARISON_COLUMNS = [
    "indicator_id", "region_code", "indeling_year", "level", "period", "population_group",
    "value", "gemeente_value", "nl_value", "diff_gemeente", "diff_nl", "index_nl",
    "z_gemeente", "z_nl", "class_nl", "class_gemeente", "class_method",
]

_LEVELS = np.array(["land", "gemeente", "wijk", "buurt"], dtype=object)


def grouped_sd(group: npt.NDArray[np.int64], values: npt.NDArray[np.float64], n_groups: int) -> npt.NDArray[np.float64]:
    """Sample standard deviation (ddof=1) of ``values`` per integer group, NaNs ignored.

    Two-pass (mean first, then squared deviations) for numerical stability. Groups with
    fewer than two values get NaN. Returns one value per row (the row's group sd).
    """
    ok = ~np.isnan(values)
    g = group[ok]
    v = values[ok]
    count = np.bincount(g, minlength=n_groups).astype("float64")
    total = np.bincount(g, weights=v, minlength=n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
        sq = np.bincount(g, weights=(v - mean[g]) ** 2, minlength=n_groups)
        sd = np.sqrt(sq / (count - 1.0))
    sd[count < 2] = np.nan
    return np.asarray(sd[group], dtype="float64")


def _codes(series: pd.Series) -> tuple[npt.NDArray[np.int64], pd.Index]:
    codes, uniques = pd.factorize(series, sort=False)
    return codes.astype("int64"), pd.Index(uniques)


def compare_descriptive(
    observations: pd.DataFrame, regions: pd.DataFrame, indicators: pd.DataFrame
) -> pd.DataFrame:
    """Compute the ``comparisons`` table.

    Parameters
    ----------
    observations
        The ``observations`` table (long).
    regions
        The ``regions`` table (``region_code, indeling_year, level, gemeentecode``).
    indicators
        The ``indicators`` table (``indicator_id, polarity, comparable``).

    Returns
    -------
    pandas.DataFrame
        :data:`COMPARISON_COLUMNS`. ``diff_nl = value - nl_value`` and
        ``diff_gemeente = value - gemeente_value`` exactly; ``index_nl = 100 * value /
        nl_value``. Gemeenten have no gemeente comparison (``class_gemeente =
        'not_compared'``); missing values or spreads also give 'not_compared'.
    """
    ind, ind_uni = _codes(observations["indicator_id"])
    code, code_uni = _codes(observations["region_code"])
    year, year_uni = _codes(observations["indeling_year"])
    per, per_uni = _codes(observations["period"])
    grp, grp_uni = _codes(observations["population_group"])
    value = observations["value"].to_numpy(dtype="float64")

    # regions: (code, indeling year) -> dense region index, level and parent gemeente
    region_codes, region_pairs = pd.factorize(code * len(year_uni) + year)
    region = region_codes.astype("int64")
    pair_code = np.asarray(code_uni)[region_pairs // len(year_uni)]
    pair_year = np.asarray(year_uni)[region_pairs % len(year_uni)]
    lookup = regions.drop_duplicates(["region_code", "indeling_year"]).set_index(["region_code", "indeling_year"])
    found = lookup.reindex(pd.MultiIndex.from_arrays([pair_code, pair_year]))
    level_uni = pd.Categorical(found["level"], categories=list(_LEVELS)).codes.astype("int64")
    parent_uni = pd.MultiIndex.from_arrays([pair_code, pair_year]).get_indexer(
        pd.MultiIndex.from_arrays([found["gemeentecode"].to_numpy(), pair_year])
    ).astype("int64")
    level = level_uni[region]
    parent = parent_uni[region]

    comparable = set(indicators.loc[indicators["comparable"].astype(bool), "indicator_id"])
    comparable_uni = np.array([i in comparable for i in ind_uni], dtype=bool)
    usable = comparable_uni[ind] & (level >= 0)

    cell = ((ind * len(year_uni) + year) * len(per_uni) + per) * len(grp_uni) + grp
    n_cells = len(ind_uni) * len(year_uni) * len(per_uni) * len(grp_uni)

    nl_by_cell = np.full(n_cells, np.nan)
    land = usable & (level == 0)
    nl_by_cell[cell[land]] = value[land]
    nl_value = nl_by_cell[cell]

    n_regions = len(region_pairs)
    own = np.where(usable & (level == 1), cell * n_regions + region, -1)
    order = np.argsort(own, kind="stable")
    own_sorted = own[order]
    sub = usable & (level >= 2) & (parent >= 0)
    want = cell * n_regions + np.where(parent >= 0, parent, 0)
    pos = np.clip(np.searchsorted(own_sorted, want), 0, len(own_sorted) - 1)
    hit = sub & (own_sorted[pos] == want)
    gemeente_value = np.where(hit, value[order[pos]], np.nan)

    n_levels = len(_LEVELS)
    safe_level = np.where(level >= 0, level, 0)
    sd_nl = grouped_sd(cell * n_levels + safe_level, np.where(usable & (level > 0), value, np.nan), n_cells * n_levels)
    gm_codes, gm_uni = pd.factorize((cell * n_levels + safe_level) * (n_regions + 1) + np.where(sub, parent + 1, 0))
    sd_gm = grouped_sd(gm_codes.astype("int64"), np.where(sub, value, np.nan), len(gm_uni))

    sel = np.flatnonzero(usable & (level > 0))
    v = value[sel]
    with np.errstate(invalid="ignore", divide="ignore"):
        diff_nl = v - nl_value[sel]
        diff_gemeente = v - gemeente_value[sel]
        index_nl = np.where(nl_value[sel] != 0, 100.0 * v / nl_value[sel], np.nan)
        z_nl = np.where(sd_nl[sel] > 0, diff_nl / sd_nl[sel], np.nan)
        z_gemeente = np.where(sub[sel] & (sd_gm[sel] > 0), diff_gemeente / sd_gm[sel], np.nan)
    polarity_uni = (
        indicators.drop_duplicates("indicator_id").set_index("indicator_id")["polarity"].reindex(ind_uni)
    )
    polarity = np.asarray(polarity_uni.to_numpy(dtype=object))[ind[sel]]

    def categorical(codes: npt.NDArray[np.int64], uniques: pd.Index) -> pd.Categorical:
        return pd.Categorical.from_codes(codes[sel], categories=pd.Index(uniques.astype(str)))

    out = pd.DataFrame(
        {
            "indicator_id": categorical(ind, ind_uni),
            "region_code": categorical(code, code_uni),
            "indeling_year": np.asarray(year_uni)[year[sel]].astype("int64"),
            "level": pd.Categorical.from_codes(level[sel], categories=list(_LEVELS)),
            "period": np.asarray(per_uni)[per[sel]].astype("int64"),
            "population_group": categorical(grp, grp_uni),
            "value": v,
            "gemeente_value": gemeente_value[sel],
            "nl_value": nl_value[sel],
            "diff_gemeente": diff_gemeente,
            "diff_nl": diff_nl,
            "index_nl": index_nl,
            "z_gemeente": z_gemeente,
            "z_nl": z_nl,
            "class_nl": pd.Categorical(zscore_class(z_nl, polarity)),
            "class_gemeente": pd.Categorical(zscore_class(z_gemeente, polarity)),
            "class_method": pd.Categorical.from_codes(np.zeros(len(sel), dtype="int8"), categories=["descriptive_z"]),
        }
    )
    return out[COMPARISON_COLUMNS]
