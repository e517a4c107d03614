"""Shared machinery of :mod:`wijkprofiel.compare` (re-exported there where public).

Output columns and ``class_method`` values, the class vocabulary (derived from
:func:`wijkprofiel.stats.zscore_class`) as integer positions, grouped sample standard
deviations, and the factorised observation table with the benchmark rows of every row
(:class:`_Core`): keys are factorised to integers, benchmark rows are looked up by dense
cell index, spreads are grouped sums with ``numpy.bincount``. No Python loop per row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from wijkprofiel.errors import ConfigError
from wijkprofiel.stats import zscore_class

__all__ = [
    "COMPARISON_COLUMNS", "ALL_COMPARISON_COLUMNS", "CLASS_METHODS", "IntArray", "FloatArray",
    "BoolArray", "grouped_sd",
]

COMPARISON_COLUMNS = [
    "indicator_id", "region_code", "indeling_year", "level", "period", "population_group",
    "value", "gemeente_value", "nl_value", "diff_gemeente", "diff_nl", "index_nl",
    "z_gemeente", "z_nl", "class_nl", "class_gemeente", "class_method",
]
#: columns of :func:`compare_all`: :data:`COMPARISON_COLUMNS` plus the p-values of the tests
ALL_COMPARISON_COLUMNS = [*COMPARISON_COLUMNS, "p_gemeente", "p_nl"]
#: every ``class_method`` value
CLASS_METHODS = ["descriptive_z", "significance_95", "significance_99.8", "nested_z", "fdr_bh"]

_LEVELS = np.array(["land", "gemeente", "wijk", "buurt"], dtype=object)
_POLARITIES = ("higher_is_worse", "higher_is_better", "neutral")

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def grouped_sd(group: npt.NDArray[np.int64], values: npt.NDArray[np.float64], n_groups: int) -> npt.NDArray[np.float64]:
    """Sample standard deviation (ddof=1) of ``values`` per integer group, NaNs ignored.

    Two-pass (mean first, then squared deviations) on values shifted by the first value of
    their group (Chan, Golub & LeVeque 1983, "Algorithms for computing the sample variance",
    shifted data): numerically stable, and a group whose values are all equal gets exactly 0
    (not rounding noise of ~1e-16, which would turn an undefined z into 0). Groups with
    fewer than two values get NaN. Returns one value per row (the row's group sd).
    """
    ok = ~np.isnan(values)
    g = group[ok]
    v = values[ok]
    first = np.zeros(n_groups, dtype="float64")
    first[g[::-1]] = v[::-1]  # repeated indices: the last assignment wins, i.e. each group's first value
    d = v - first[g]
    count = np.bincount(g, minlength=n_groups).astype("float64")
    total = np.bincount(g, weights=d, minlength=n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
        sq = np.bincount(g, weights=(d - mean[g]) ** 2, minlength=n_groups)
        sd = np.sqrt(sq / (count - 1.0))
    sd[count < 2] = np.nan
    return np.asarray(sd[group], dtype="float64")


def _codes(series: pd.Series) -> tuple[npt.NDArray[np.int64], pd.Index]:
    codes, uniques = pd.factorize(series, sort=False)
    return codes.astype("int64"), pd.Index(uniques)


# ------------------------------------------------------------------------ class vocabulary
def _class_table() -> tuple[list[str], IntArray]:
    """All class keys (sorted) and, per polarity row and z band 0..5, the key's position.

    Derived from :func:`zscore_class` itself (one representative z per band), so the
    fast path below can never disagree with it.
    """
    probe = np.array([-3.0, -1.5, 0.0, 1.5, 3.0, np.nan])
    names = [np.asarray(zscore_class(probe, pol), dtype=object) for pol in _POLARITIES]
    keys = sorted({str(k) for row in names for k in row})
    pos = {k: i for i, k in enumerate(keys)}
    table = np.array([[pos[str(k)] for k in row] for row in names], dtype="int64")
    return keys, table


_CLASS_KEYS, _CLASS_BY_BAND = _class_table()
_CLASS_POS = {k: i for i, k in enumerate(_CLASS_KEYS)}
_SIMILAR = _CLASS_POS["similar"]
_NOT_COMPARED = _CLASS_POS["not_compared"]
#: class position -> its two-level form ('much_worse' -> 'worse', others unchanged)
_DOWNGRADE = np.array([_CLASS_POS.get(k.removeprefix("much_"), i) for i, k in enumerate(_CLASS_KEYS)], dtype="int64")
_SIGNIFICANT = np.array([k not in ("similar", "not_compared") for k in _CLASS_KEYS])


def _z_class_codes(z: FloatArray, pol: IntArray) -> IntArray:
    """:func:`zscore_class` as positions in :data:`_CLASS_KEYS` (bands identical)."""
    band = (z >= -2).view(np.int8) + (z >= -1).view(np.int8) + (z > 1).view(np.int8) + (z > 2).view(np.int8)
    band[np.isnan(z)] = 5
    return np.asarray(_CLASS_BY_BAND.ravel()[pol * 6 + band], dtype="int64")


def _codes_of(classes: object) -> IntArray:
    """Class strings (from :func:`compare_to_benchmark`) as positions in :data:`_CLASS_KEYS`."""
    codes, uniques = pd.factorize(np.asarray(classes, dtype=object))
    lookup = np.array([_CLASS_POS[str(u)] for u in uniques], dtype="int64")
    return lookup[codes] if len(lookup) else np.zeros(0, dtype="int64")


def _cat(codes: npt.NDArray[np.integer[Any]], categories: Sequence[str]) -> pd.Categorical[str]:
    """``Categorical.from_codes`` with string categories (-1 = missing)."""
    return pd.Categorical.from_codes(np.asarray(codes, dtype="int64"), categories=pd.Index(list(categories)),
                                     validate=False)  # codes are built in range by construction


def _class_categorical(codes: IntArray) -> pd.Categorical[str]:
    """Categorical with the categories present, sorted (as ``pd.Categorical(strings)``)."""
    present = np.flatnonzero(np.bincount(codes, minlength=len(_CLASS_KEYS)) > 0)
    remap = np.full(len(_CLASS_KEYS), -1, dtype="int64")
    remap[present] = np.arange(len(present))
    return _cat(remap[codes], [_CLASS_KEYS[i] for i in present])


# ------------------------------------------------------------------------------ core
@dataclass
class _Core:
    """Factorised observations with their benchmark rows (shared by every approach)."""

    obs: pd.DataFrame
    ind: IntArray
    ind_uni: pd.Index
    code: IntArray
    code_uni: pd.Index
    year: IntArray
    year_uni: pd.Index
    per: IntArray
    per_uni: pd.Index
    grp: IntArray
    grp_uni: pd.Index
    value: FloatArray
    level: IntArray
    region: IntArray
    sel: IntArray  # output rows (usable, level > 0), in observation order
    sub: BoolArray  # wijk/buurt rows with a known gemeente
    nl_row: IntArray  # per row: the land row of its cell, -1 if none
    gm_row: IntArray  # per row: its gemeente's row in the cell, -1 if none
    sd_nl: FloatArray
    sd_gm: FloatArray
    pol_uni: IntArray  # per indicator: polarity row (0..2), -1 if not comparable
    unit_uni: npt.NDArray[np.object_]  # per indicator: unit string ('' if unknown)


def _require(frame: pd.DataFrame, name: str, columns: list[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        msg = f"{name} is missing required column(s) {', '.join(missing)}; expected at least {', '.join(columns)}"
        raise ConfigError(msg)


def _gemeente_rows(cell: IntArray, n_cells: int, region: IntArray, level_uni: IntArray, parent: IntArray,
                   own_rows: BoolArray, sub: BoolArray) -> IntArray:
    """Per row: the row of its parent gemeente in the same cell (-1 if none).

    A dense (cell x gemeente) table when it is small, else a sorted search; the first row
    of a duplicated (cell, gemeente) wins either way.
    """
    gm_regions = np.flatnonzero(level_uni == 1)
    gm_id = np.full(len(level_uni), -1, dtype="int64")
    gm_id[gm_regions] = np.arange(len(gm_regions))
    parent_gm = np.where(parent >= 0, gm_id[np.maximum(parent, 0)], -1)
    if n_cells * max(len(gm_regions), 1) <= 50_000_000:
        table = np.full(n_cells * max(len(gm_regions), 1), -1, dtype="int64")
        rows = np.flatnonzero(own_rows)[::-1]  # reversed: the first row of a duplicate wins
        table[cell[rows] * len(gm_regions) + gm_id[region[rows]]] = rows
        found = table[cell * len(gm_regions) + np.maximum(parent_gm, 0)]
        return np.where(sub & (parent_gm >= 0), found, -1)
    n_regions = len(level_uni)
    own = np.where(own_rows, cell * n_regions + region, -1)
    order = np.argsort(own, kind="stable")
    own_sorted = own[order]
    want = cell * n_regions + np.where(parent >= 0, parent, 0)
    pos = np.clip(np.searchsorted(own_sorted, want), 0, len(own_sorted) - 1)
    hit = sub & (own_sorted[pos] == want)
    return np.where(hit, order[pos], -1)


def _core(observations: pd.DataFrame, regions: pd.DataFrame, indicators: pd.DataFrame) -> _Core:
    _require(observations, "observations",
             ["indicator_id", "region_code", "indeling_year", "period", "population_group", "value"])
    _require(regions, "regions", ["region_code", "indeling_year", "level", "gemeentecode"])
    _require(indicators, "indicators", ["indicator_id", "polarity", "comparable"])
    ind, ind_uni = _codes(observations["indicator_id"])
    code, code_uni = _codes(observations["region_code"])
    year, year_uni = _codes(observations["indeling_year"])
    per, per_uni = _codes(observations["period"])
    grp, grp_uni = _codes(observations["population_group"])
    value = observations["value"].to_numpy(dtype="float64")

    # regions: (code, indeling year) -> dense region index, level and parent gemeente
    # dense (code, indeling year) pair index: no hashing of 3.8 M rows
    region = code * len(year_uni) + year
    region_pairs = np.arange(len(code_uni) * len(year_uni), dtype="int64")
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

    ind_table = indicators.drop_duplicates("indicator_id").set_index("indicator_id").reindex(ind_uni)
    comparable_uni = ind_table["comparable"].fillna(False).to_numpy(dtype=bool)
    polarity_uni = ind_table["polarity"].to_numpy(dtype=object)
    if comparable_uni.any():  # validates the polarity strings (StatisticsError names the bad one)
        zscore_class(np.zeros(int(comparable_uni.sum())), polarity_uni[comparable_uni])
    pol_uni = np.array([_POLARITIES.index(p) if c else -1 for p, c in zip(polarity_uni, comparable_uni, strict=True)],
                       dtype="int64")
    unit_uni = (ind_table["unit"].fillna("").astype(str).to_numpy(dtype=object) if "unit" in ind_table.columns
                else np.full(len(ind_uni), "", dtype=object))
    usable = comparable_uni[ind] & (level >= 0)

    cell = ((ind * len(year_uni) + year) * len(per_uni) + per) * len(grp_uni) + grp
    n_cells = len(ind_uni) * len(year_uni) * len(per_uni) * len(grp_uni)

    nl_row_by_cell = np.full(n_cells, -1, dtype="int64")
    land = np.flatnonzero(usable & (level == 0))
    nl_row_by_cell[cell[land]] = land
    nl_row = nl_row_by_cell[cell]

    n_regions = len(region_pairs)
    sub = usable & (level >= 2) & (parent >= 0)
    gm_row = _gemeente_rows(cell, n_cells, region, level_uni, parent, usable & (level == 1), sub)

    n_levels = len(_LEVELS)
    safe_level = np.where(level >= 0, level, 0)
    sd_nl = grouped_sd(cell * n_levels + safe_level, np.where(usable & (level > 0), value, np.nan), n_cells * n_levels)
    gm_codes, gm_uni = pd.factorize((cell * n_levels + safe_level) * (n_regions + 1) + np.where(sub, parent + 1, 0))
    sd_gm = grouped_sd(gm_codes.astype("int64"), np.where(sub, value, np.nan), len(gm_uni))

    return _Core(observations, ind, ind_uni, code, code_uni, year, year_uni, per, per_uni, grp, grp_uni, value,
                 level, region, np.flatnonzero(usable & (level > 0)), sub, nl_row, gm_row, sd_nl, sd_gm,
                 pol_uni, unit_uni)


def _at(values: FloatArray, rows: IntArray) -> FloatArray:
    """``values[rows]`` with NaN where ``rows == -1``."""
    return np.where(rows >= 0, values[np.where(rows >= 0, rows, 0)], np.nan)


def _keys(core: _Core, rows: IntArray) -> dict[str, object]:
    """Key columns of ``rows`` (categoricals with the factorised uniques as categories)."""

    def categorical(codes: IntArray, uniques: pd.Index) -> pd.Categorical:
        return pd.Categorical.from_codes(codes[rows], categories=pd.Index(uniques.astype(str)), validate=False)

    return {
        "indicator_id": categorical(core.ind, core.ind_uni),
        "region_code": categorical(core.code, core.code_uni),
        "indeling_year": np.asarray(core.year_uni)[core.year[rows]].astype("int64"),
        "level": _cat(core.level[rows], list(_LEVELS)),
        "period": np.asarray(core.per_uni)[core.per[rows]].astype("int64"),
        "population_group": categorical(core.grp, core.grp_uni),
    }
