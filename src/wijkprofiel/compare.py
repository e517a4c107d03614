"""Comparisons: every wijk/buurt against its gemeente and the Netherlands, every gemeente
against the Netherlands, for every indicator, period and population group.

Vectorised over the whole observation table at once (no Python loop per row): keys are
factorised to integers, benchmark rows are looked up by dense cell index, spreads are
grouped sums with ``numpy.bincount``.

Two approaches, chosen per row by the data behind it (:func:`compare_all`):

* **Descriptive** (``class_method = 'descriptive_z'``), for rows without an interval (the
  embedded RIVM file holds point estimates only; KWB and Vektis publish no variance):
  z-score bands (:func:`wijkprofiel.stats.zscore_class`) of the difference against the
  spread (sample standard deviation, ddof=1) of the same-level areas — within the gemeente
  for the gemeente comparison, nationally for the Netherlands comparison. Nothing here
  claims significance. :func:`compare_descriptive` computes only this approach.
* **Significance**, wherever the row has a 95 % interval (``ci_lower``/``ci_upper``, e.g.
  RIVM tables with *Marges*, or own extracts with counts):

  - against the Netherlands with the Fingertips rule
    (:func:`wijkprofiel.stats.compare_to_benchmark`): 95 % interval,
    ``'significance_95'``; when counts allow (numerator/denominator of a ``'%'``
    indicator, or of a rate: ``'per N'`` unit or ``value = numerator / denominator *
    10^k``; never money) also the 99.8 % level (Wilson / exact-Byar Poisson limits),
    ``'significance_99.8'`` (:func:`compare_with_intervals`);
  - against the gemeente with the **nested** test (``'nested_z'``): the wijk is part of its
    gemeente, so it is tested against the *rest* of the gemeente (two-sample z test):
    with counts the rest is gemeente − wijk (pooled two-proportion / two-rate test, three
    levels); with only published 95 % margins, standard errors follow from the intervals
    (:func:`wijkprofiel.stats.se_from_ci`) and the rest is approximated by
    :func:`wijkprofiel.stats.rest_of_whole` (NCES NAEP part-whole test), using the
    population share of the wijk when known, else share 0 — the conservative
    independent-samples test (:func:`nested_gemeente_test`).

  Optional Benjamini–Hochberg control of the false discovery rate over all tests of the run
  (``fdr=True``, ``class_method = 'fdr_bh'``).

Own extracts that deliver counts without an interval get one from
:func:`intervals_from_counts` (Wilson / Poisson) before comparing; register counts (KWB)
stay descriptive.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats as _st
from scipy.special import ndtr as _ndtr

from wijkprofiel.errors import ConfigError
from wijkprofiel.stats import (
    compare_to_benchmark,
    fdr_bh,
    rate_ci,
    rest_of_whole,
    se_from_ci,
    wilson_ci,
    z_test_proportion,
    z_test_proportions,
    z_test_rate,
    z_test_rates,
    z_test_two_sample,
    zscore_class,
)

__all__ = [
    "COMPARISON_COLUMNS",
    "ALL_COMPARISON_COLUMNS",
    "CLASS_METHODS",
    "compare_descriptive",
    "compare_with_intervals",
    "nested_gemeente_test",
    "compare_all",
    "intervals_from_counts",
    "grouped_sd",
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
_Z95 = float(_st.norm.isf(0.025))
_Z998 = float(_st.norm.isf(0.001))
_ALPHA = 0.05
_ALPHA_998 = 0.002
#: basis of the nested test (index 0: not tested)
_BASIS = np.array(["", "counts", "margins", "margins_share_unknown"], dtype=object)

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


def _descriptive(core: _Core) -> dict[str, FloatArray | IntArray]:
    """Descriptive differences, z-scores and class positions for the output rows."""
    sel = core.sel
    v = core.value[sel]
    nl_value = _at(core.value, core.nl_row[sel])
    gemeente_value = _at(core.value, core.gm_row[sel])
    sd_nl, sd_gm = core.sd_nl[sel], core.sd_gm[sel]
    with np.errstate(invalid="ignore", divide="ignore"):
        diff_nl = v - nl_value
        diff_gemeente = v - gemeente_value
        index_nl = np.where(nl_value != 0, 100.0 * v / nl_value, np.nan)
        z_nl = np.where(sd_nl > 0, diff_nl / sd_nl, np.nan)
        z_gemeente = np.where(core.sub[sel] & (sd_gm > 0), diff_gemeente / sd_gm, np.nan)
    pol = core.pol_uni[core.ind[sel]]
    return {
        "value": v, "gemeente_value": gemeente_value, "nl_value": nl_value,
        "diff_gemeente": diff_gemeente, "diff_nl": diff_nl, "index_nl": index_nl,
        "z_gemeente": z_gemeente, "z_nl": z_nl,
        "class_nl": _z_class_codes(z_nl, pol), "class_gemeente": _z_class_codes(z_gemeente, pol),
    }


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


def compare_descriptive(
    observations: pd.DataFrame, regions: pd.DataFrame, indicators: pd.DataFrame
) -> pd.DataFrame:
    """Compute the ``comparisons`` table with descriptive classes only.

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
    core = _core(observations, regions, indicators)
    d = _descriptive(core)
    out = pd.DataFrame({
        **_keys(core, core.sel),
        **{k: d[k] for k in ("value", "gemeente_value", "nl_value", "diff_gemeente", "diff_nl", "index_nl",
                             "z_gemeente", "z_nl")},
        "class_nl": _class_categorical(np.asarray(d["class_nl"], dtype="int64")),
        "class_gemeente": _class_categorical(np.asarray(d["class_gemeente"], dtype="int64")),
        "class_method": _cat(np.zeros(len(core.sel), dtype="int8"), ["descriptive_z"]),
    }, copy=False)  # no consolidation copy of the float columns (fresh arrays, never mutated)
    return out[COMPARISON_COLUMNS]


# ------------------------------------------------------------------- significance path
def _column(frame: pd.DataFrame, name: str) -> FloatArray:
    if name not in frame.columns:
        return np.full(len(frame), np.nan)
    return np.asarray(frame[name].to_numpy(dtype="float64", na_value=np.nan), dtype="float64")


_PER = re.compile(r"^\s*per\s+([0-9][0-9.\s]*)", re.IGNORECASE)


def _count_kind(unit: str) -> tuple[int, float]:
    """``(kind, multiplier)`` from an indicator unit: 1 proportion ('%', x100), 2 rate
    ('per 1.000', Dutch thousands separators), 3 rate whose multiplier is inferred per row
    (other units), 0 no count model (money: 'euro ...')."""
    if unit.strip() == "%":
        return 1, 100.0
    m = _PER.match(unit)
    if m:
        digits = re.sub(r"[.\s]", "", m.group(1))
        if digits.isdigit() and int(digits) > 0:
            return 2, float(digits)
    if "euro" in unit.lower() or "€" in unit:
        return 0, np.nan
    return 3, np.nan


def _count_model(unit_uni: npt.NDArray[np.object_], ind: IntArray, value: FloatArray, num: FloatArray,
                 den: FloatArray) -> tuple[IntArray, FloatArray]:
    """Per row: 0 no usable counts, 1 proportion (x100), 2 Poisson rate, and its multiplier.

    Counts are usable when numerator >= 0 and denominator > 0 (a proportion also needs
    numerator <= denominator). For units without a stated multiplier the row counts as a
    rate only when ``value = numerator / denominator * 10^k`` (k = 0..6, to 1e-9).
    """
    kinds = [_count_kind(str(u)) for u in unit_uni]
    if not kinds:
        return np.zeros(len(ind), dtype="int64"), np.full(len(ind), np.nan)
    kind = np.array([k for k, _ in kinds], dtype="int64")[ind]
    mult = np.array([m for _, m in kinds], dtype="float64")[ind]
    counts_ok = np.isfinite(num) & np.isfinite(den) & (num >= 0) & (den > 0)
    infer = counts_ok & (kind == 3)
    if infer.any():
        with np.errstate(invalid="ignore", divide="ignore"):
            m = value[infer] * den[infer] / num[infer]
            k = np.round(np.log10(m))
            power = (num[infer] > 0) & (k >= 0) & (k <= 6) & (np.abs(m / 10.0**k - 1) <= 1e-9)
        mult[infer] = np.where(power, 10.0**k, np.nan)
        kind[infer] = np.where(power, 2, 0)
    counts_ok &= (kind == 2) | ((kind == 1) & (num <= den))
    return np.where(counts_ok, kind, 0), mult


@dataclass
class _Intervals:
    """Per observation row: interval, counts and which count model applies."""

    lo: FloatArray
    up: FloatArray
    num: FloatArray
    den: FloatArray
    kind: IntArray  # 0 margins only, 1 proportion counts, 2 rate counts
    mult: FloatArray
    has_ci: BoolArray


def _intervals(core: _Core) -> _Intervals:
    obs = core.obs
    lo, up = _column(obs, "ci_lower"), _column(obs, "ci_upper")
    num, den = _column(obs, "numerator"), _column(obs, "denominator")
    kind, mult = _count_model(core.unit_uni, core.ind, core.value, num, den)
    has_ci = ~np.isnan(lo) & ~np.isnan(up) & ~np.isnan(core.value)
    return _Intervals(lo, up, num, den, kind, mult, has_ci)


def intervals_from_counts(
    observations: pd.DataFrame, indicators: pd.DataFrame, confidence: float = 0.95, *, overwrite: bool = False
) -> pd.DataFrame:
    """Fill ``ci_lower``/``ci_upper`` from numerator and denominator (own extracts with counts).

    ``'%'`` indicators: Wilson limits x 100 (:func:`~wijkprofiel.stats.wilson_ci`); rates
    (``'per N'`` units, or ``value = numerator / denominator * 10^k``): exact (< 10 events)
    or Byar limits (:func:`~wijkprofiel.stats.rate_ci`). Money units get none. Only rows
    without an interval are filled unless ``overwrite``. Call it for sample-based extracts,
    not for register counts (KWB shares are complete counts, rounded to 5: descriptive).

    Returns
    -------
    pandas.DataFrame
        A copy of ``observations`` with the intervals filled where counts allow.
    """
    _require(observations, "observations", ["indicator_id", "value", "numerator", "denominator"])
    _require(indicators, "indicators", ["indicator_id", "unit"])
    ind, ind_uni = _codes(observations["indicator_id"])
    units = indicators.drop_duplicates("indicator_id").set_index("indicator_id")["unit"].reindex(ind_uni)
    value = _column(observations, "value")
    num, den = _column(observations, "numerator"), _column(observations, "denominator")
    kind, mult = _count_model(units.fillna("").astype(str).to_numpy(dtype=object), ind, value, num, den)
    lo, up = _column(observations, "ci_lower").copy(), _column(observations, "ci_upper").copy()
    fill = (kind > 0) & ~np.isnan(value)
    if not overwrite:
        fill &= np.isnan(lo) | np.isnan(up)
    out = observations.copy()
    for k in (1, 2):
        f = fill & (kind == k)
        if not f.any():
            continue
        if k == 1:
            a, b = wilson_ci(num[f], den[f], confidence)
            a, b = np.asarray(a) * mult[f], np.asarray(b) * mult[f]
        else:
            _, a, b = rate_ci(num[f], den[f], mult[f], confidence)
        lo[f], up[f] = np.asarray(a, dtype="float64"), np.asarray(b, dtype="float64")
    out["ci_lower"], out["ci_upper"] = lo, up
    return out


def _polarity_series(core: _Core, rows: IntArray) -> pd.Series:
    pol = core.pol_uni[core.ind[rows]]
    return pd.Series(_cat(pol, _POLARITIES))


def _nl_test(core: _Core, iv: _Intervals, rows: IntArray) -> dict[str, FloatArray | IntArray]:
    """Interval comparison with the NL value for ``rows`` (all with an interval)."""
    v = core.value[rows]
    b = _at(core.value, core.nl_row[rows])
    lo, up = iv.lo[rows], iv.up[rows]
    kind, num, den, mult = iv.kind[rows], iv.num[rows], iv.den[rows], iv.mult[rows]
    polarity = _polarity_series(core, rows)
    z = np.full(len(rows), np.nan)
    lo998, up998 = np.full(len(rows), np.nan), np.full(len(rows), np.nan)
    m = kind == 0  # margins: Wald z with the standard error implied by the 95 % interval
    se = np.asarray(se_from_ci(lo[m], up[m]), dtype="float64")
    with np.errstate(invalid="ignore", divide="ignore"):
        z[m] = (v[m] - b[m]) / np.where(se > 0, se, np.nan)
    p = np.asarray(2 * _ndtr(-np.abs(z)), dtype="float64")  # = 2 (1 - Phi(|z|))
    for k in (1, 2):
        c = (kind == k) & ~np.isnan(b)
        if not c.any():
            continue
        if k == 1:  # proportion: Wilson limits, score test (the test Wilson inverts)
            zz, pp = z_test_proportion(num[c], den[c], np.clip(b[c] / mult[c], 0.0, 1.0))
            l9, u9 = wilson_ci(num[c], den[c], 0.998)
            l9, u9 = np.asarray(l9) * mult[c], np.asarray(u9) * mult[c]
        else:  # rate: exact/Byar limits, Poisson score test
            zz, pp = z_test_rate(num[c], den[c], np.maximum(b[c], 0.0) / mult[c])
            _, l9, u9 = rate_ci(num[c], den[c], mult[c], 0.998)
        z[c], p[c] = zz, pp
        # the 99.8 % limits contain the published 95 % ones (guards other CI methods)
        lo998[c] = np.minimum(np.asarray(l9, dtype="float64"), lo[c])
        up998[c] = np.maximum(np.asarray(u9, dtype="float64"), up[c])
    three = kind > 0
    cls = np.empty(len(rows), dtype="int64")
    if (~three).any():
        cls[~three] = _codes_of(compare_to_benchmark(v[~three], lo[~three], up[~three], b[~three],
                                                     polarity[~three].reset_index(drop=True)))
    if three.any():
        cls[three] = _codes_of(compare_to_benchmark(
            v[three], lo[three], up[three], b[three], polarity[three].reset_index(drop=True), levels=3,
            lower_998=lo998[three], upper_998=up998[three]))
    p = np.where(np.isnan(b), np.nan, p)
    return {"z_nl": z, "p_nl": p, "class_nl": cls, "levels": np.where(three, 3, 2)}


def _shares(core: _Core, iv: _Intervals, rows: IntArray, g: IntArray,
            population: pd.DataFrame | None) -> FloatArray:
    """Population share of each wijk/buurt in its gemeente (0 when unknown)."""
    if population is not None:
        _require(population, "population", ["region_code", "indeling_year", "population"])
        pop = population.drop_duplicates(["region_code", "indeling_year"]).set_index(["region_code", "indeling_year"])
        codes = np.asarray(core.code_uni.astype(str))
        years = np.asarray(core.year_uni)
        idx = pd.MultiIndex.from_arrays([codes[core.code[rows]], years[core.year[rows]]])
        gidx = pd.MultiIndex.from_arrays([codes[core.code[g]], years[core.year[g]]])
        pw = pop["population"].reindex(idx).to_numpy(dtype="float64", na_value=np.nan)
        pg = pop["population"].reindex(gidx).to_numpy(dtype="float64", na_value=np.nan)
    else:
        pw, pg = iv.den[rows], iv.den[g]
    with np.errstate(invalid="ignore", divide="ignore"):
        share = pw / pg
    return np.where(np.isfinite(share) & (share >= 0) & (share < 1), share, 0.0)


def _nested_test(core: _Core, iv: _Intervals, rows: IntArray,
                 population: pd.DataFrame | None) -> dict[str, FloatArray | IntArray | npt.NDArray[np.object_]]:
    """Wijk/buurt vs the rest of its gemeente for ``rows`` (wijk/buurt rows with an interval)."""
    n = len(rows)
    g = core.gm_row[rows]
    has_g = g >= 0
    gs = np.where(has_g, g, 0)
    v, gv = core.value[rows], _at(core.value, g)
    z, p = np.full(n, np.nan), np.full(n, np.nan)
    rest, rest_se = np.full(n, np.nan), np.full(n, np.nan)
    basis = np.zeros(n, dtype="int8")  # index into _BASIS
    kind, mult = iv.kind[rows], iv.mult[rows]
    x1, n1 = iv.num[rows], iv.den[rows]
    x2, n2 = iv.num[gs] - x1, iv.den[gs] - n1
    counts = has_g & (kind > 0) & (iv.kind[gs] == kind) & ~np.isnan(gv) & (n2 > 0) & (x2 >= 0)
    counts &= (kind == 2) | (x2 <= n2)
    for k, test in ((1, z_test_proportions), (2, z_test_rates)):
        c = counts & (kind == k)
        if c.any():
            z[c], p[c] = test(x1[c], n1[c], x2[c], n2[c])
            rest[c] = x2[c] / n2[c] * mult[c]
            basis[c] = 1
    m = has_g & ~counts & iv.has_ci[gs] & ~np.isnan(gv)
    if m.any():
        rm, gm = rows[m], gs[m]
        se_w = np.asarray(se_from_ci(iv.lo[rm], iv.up[rm]), dtype="float64")
        se_g = np.asarray(se_from_ci(iv.lo[gm], iv.up[gm]), dtype="float64")
        share = _shares(core, iv, rm, gm, population)
        r, rse = rest_of_whole(gv[m], se_g, v[m], se_w, share)
        rest[m], rest_se[m] = r, rse
        z[m], p[m] = z_test_two_sample(v[m], se_w, np.asarray(r), np.asarray(rse))
        basis[m] = np.where(share > 0, 2, 3)
    # classes from z: benchmark 0 outside z -/+ 1.96 (and -/+ 3.09 with counts)
    cls = np.full(n, _NOT_COMPARED, dtype="int64")
    for lv, sel in ((2, basis >= 2), (3, basis == 1)):
        if not sel.any():
            continue
        zz = z[sel]
        extra = {"lower_998": zz - _Z998, "upper_998": zz + _Z998} if lv == 3 else {}
        cls[sel] = _codes_of(compare_to_benchmark(zz, zz - _Z95, zz + _Z95, np.zeros(len(zz)),
                                                  _polarity_series(core, rows[sel]), levels=lv, **extra))
    return {"gemeente_value": gv, "rest_value": rest, "rest_se": rest_se, "z_gemeente": z, "p_gemeente": p,
            "class_gemeente": cls, "basis": basis, "tested": basis > 0}


def _check_fdr(fdr: object) -> bool:
    if not isinstance(fdr, bool):
        msg = f"fdr must be True or False, got {fdr!r}"
        raise ConfigError(msg)
    return fdr


def compare_with_intervals(
    observations: pd.DataFrame, regions: pd.DataFrame, indicators: pd.DataFrame
) -> pd.DataFrame:
    """Compare every row that has a 95 % interval with the Netherlands (Fingertips rule).

    ``'similar'`` when the NL value lies inside the row's 95 % interval, else
    better/worse (higher/lower for neutral indicators). With counts
    (numerator/denominator of a ``'%'`` indicator: Wilson limits; ``'per N'``: exact/Byar
    Poisson limits) the 99.8 % level adds ``'much_...'`` (``class_method =
    'significance_99.8'``), else ``'significance_95'``. ``z_nl``/``p_nl``: Wald z from
    the interval's standard error, or the score test with counts (consistent with Wilson).

    Returns
    -------
    pandas.DataFrame
        Key columns, ``level, value, nl_value, diff_nl, z_nl, p_nl, class_nl,
        class_method`` for the rows (gemeente, wijk, buurt) with an interval.
    """
    core = _core(observations, regions, indicators)
    iv = _intervals(core)
    rows = core.sel[iv.has_ci[core.sel]]
    t = _nl_test(core, iv, rows)
    nl_value = _at(core.value, core.nl_row[rows])
    levels = np.asarray(t["levels"])
    return pd.DataFrame({
        **_keys(core, rows),
        "value": core.value[rows], "nl_value": nl_value, "diff_nl": core.value[rows] - nl_value,
        "z_nl": t["z_nl"], "p_nl": t["p_nl"],
        "class_nl": _cat(np.asarray(t["class_nl"], dtype="int64"), _CLASS_KEYS),
        "class_method": pd.Categorical(np.where(levels == 3, "significance_99.8", "significance_95"),
                                       categories=CLASS_METHODS),
    })


def nested_gemeente_test(
    observations: pd.DataFrame, regions: pd.DataFrame, indicators: pd.DataFrame,
    *, population: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Test every wijk/buurt that has a 95 % interval against the rest of its gemeente.

    A wijk is part of its gemeente, so comparing it with the gemeente as if independent
    double-counts the wijk. The test is wijk vs rest (two-sample z):

    * **counts** (numerator/denominator of wijk and gemeente, ``'%'`` or ``'per N'``
      indicators): rest = gemeente − wijk; pooled two-proportion
      (:func:`~wijkprofiel.stats.z_test_proportions`) or two-rate test; classes at 95 % and
      99.8 % (``basis = 'counts'``);
    * **margins only** (published 95 % intervals of small-area estimates): standard errors
      ``se = (upper - lower) / (2 * 1.96)``; the rest-of-gemeente estimate and its error
      follow from ``gemeente = s * wijk + (1 - s) * rest`` with independent wijk and rest
      (:func:`~wijkprofiel.stats.rest_of_whole`), ``s`` the wijk's population share from
      ``population`` (``region_code, indeling_year, population``) or the denominators;
      this equals the NCES NAEP part-whole test
      ``(wijk - gemeente) / sqrt(se_g^2 + (1 - 2 s) se_w^2)``. Approximation: model-based
      small-area estimates of wijk and gemeente are also correlated through the shared
      model, which this ignores. When ``s`` is unknown it is taken as 0 (``basis =
      'margins_share_unknown'``): the independent-samples test, which overstates the
      variance of the difference and is therefore conservative. Classes at 95 % only.

    Returns
    -------
    pandas.DataFrame
        Key columns, ``level, value, gemeente_value, rest_value, rest_se, z_gemeente,
        p_gemeente, class_gemeente, class_method ('nested_z'), basis`` for the tested rows.
    """
    core = _core(observations, regions, indicators)
    iv = _intervals(core)
    rows = core.sel[iv.has_ci[core.sel] & core.sub[core.sel]]
    t = _nested_test(core, iv, rows, population)
    tested = np.asarray(t["tested"], dtype=bool)
    rows = rows[tested]
    return pd.DataFrame({
        **_keys(core, rows),
        "value": core.value[rows],
        **{k: np.asarray(t[k])[tested] for k in ("gemeente_value", "rest_value", "rest_se", "z_gemeente",
                                                 "p_gemeente")},
        "class_gemeente": _cat(np.asarray(t["class_gemeente"], dtype="int64")[tested], _CLASS_KEYS),
        "class_method": pd.Categorical(["nested_z"] * len(rows), categories=CLASS_METHODS),
        "basis": _BASIS[np.asarray(t["basis"], dtype="int64")[tested]].astype(str),
    })


def _fdr_classes(cls: IntArray, adjusted: FloatArray, three: BoolArray) -> IntArray:
    """Classes after BH: significant only where the unadjusted class was significant *and*
    the adjusted p is <= 0.05 ('much_' needs <= 0.002 and a three-level test)."""
    out = cls.copy()
    sig = _SIGNIFICANT[cls]
    keep_much = sig & three & (adjusted <= _ALPHA_998)
    keep = sig & (adjusted <= _ALPHA)
    out = np.where(keep & ~keep_much, _DOWNGRADE[cls], out)
    out = np.where(sig & ~keep, _SIMILAR, out)
    return np.asarray(out, dtype="int64")


def compare_all(
    observations: pd.DataFrame, regions: pd.DataFrame, indicators: pd.DataFrame,
    *, fdr: bool = False, population: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The ``comparisons`` table: each row by the best method its data allows.

    Rows without an interval are exactly :func:`compare_descriptive` (``'descriptive_z'``,
    ``p_nl``/``p_gemeente`` NaN). Rows with a 95 % interval are tested
    (:func:`compare_with_intervals` vs NL, :func:`nested_gemeente_test` vs the gemeente);
    there ``z_nl``/``z_gemeente`` hold the test statistics and ``class_method`` is
    ``'nested_z'`` when the gemeente comparison was tested, else ``'significance_99.8'`` or
    ``'significance_95'`` (the NL level: 99.8 % exactly when the row has usable counts).
    In a tested row a comparison that cannot be tested (e.g. the gemeente has no interval)
    is ``'not_compared'``: a class never claims significance without an interval.

    Parameters
    ----------
    fdr
        Benjamini–Hochberg control (q = 0.05) over all tests of the run, separately for the
        NL family (every ``p_nl``) and the gemeente family (every ``p_gemeente``): a class
        stays significant only where the unadjusted class was significant and the adjusted
        p-value is <= 0.05 (``'much_'`` needs <= 0.002), so FDR never adds a significant
        class. Tested rows get ``class_method = 'fdr_bh'`` and the p columns hold the
        BH-adjusted p-values.
    population
        Optional ``region_code, indeling_year, population`` for the wijk shares of the
        margins-only nested test.

    Returns
    -------
    pandas.DataFrame
        :data:`ALL_COMPARISON_COLUMNS` (:data:`COMPARISON_COLUMNS` + ``p_gemeente, p_nl``).
    """
    fdr = _check_fdr(fdr)
    core = _core(observations, regions, indicators)
    d = _descriptive(core)
    n = len(core.sel)
    method = np.zeros(n, dtype="int8")
    p_nl, p_gm = np.full(n, np.nan), np.full(n, np.nan)
    lo, up = _column(core.obs, "ci_lower"), _column(core.obs, "ci_upper")
    tested_pos = np.flatnonzero(~np.isnan(lo[core.sel]) & ~np.isnan(up[core.sel]) & ~np.isnan(core.value[core.sel]))
    if len(tested_pos):
        iv = _intervals(core)
        z_nl, z_gm = np.asarray(d["z_nl"]).copy(), np.asarray(d["z_gemeente"]).copy()
        c_nl, c_gm = np.asarray(d["class_nl"]).copy(), np.asarray(d["class_gemeente"]).copy()
        rows = core.sel[tested_pos]
        t = _nl_test(core, iv, rows)
        z_nl[tested_pos], p_nl[tested_pos] = t["z_nl"], t["p_nl"]
        c_nl[tested_pos] = t["class_nl"]
        three_nl = np.zeros(n, dtype=bool)
        three_nl[tested_pos] = np.asarray(t["levels"]) == 3
        method[tested_pos] = np.where(three_nl[tested_pos], 2, 1)
        # gemeente comparison: nested test where possible, never descriptive in a tested row
        z_gm[tested_pos], c_gm[tested_pos] = np.nan, _NOT_COMPARED
        sub_pos = tested_pos[core.sub[rows]]
        three_gm = np.zeros(n, dtype=bool)
        if len(sub_pos):
            nt = _nested_test(core, iv, core.sel[sub_pos], population)
            ok = np.asarray(nt["tested"], dtype=bool)
            pos = sub_pos[ok]
            z_gm[pos] = np.asarray(nt["z_gemeente"])[ok]
            p_gm[pos] = np.asarray(nt["p_gemeente"])[ok]
            c_gm[pos] = np.asarray(nt["class_gemeente"])[ok]
            three_gm[pos] = np.asarray(nt["basis"])[ok] == 1
            method[pos] = 3
        if fdr:
            for p, c, three in ((p_nl, c_nl, three_nl), (p_gm, c_gm, three_gm)):
                has = ~np.isnan(p)
                if has.any():
                    _, adj = fdr_bh(p[has], alpha=_ALPHA)
                    p[has] = adj
                    c[has] = _fdr_classes(c[has], np.asarray(adj, dtype="float64"), three[has])
            method[tested_pos] = 4
        d = {**d, "z_nl": np.asarray(z_nl, dtype="float64"), "z_gemeente": np.asarray(z_gm, dtype="float64"),
             "class_nl": np.asarray(c_nl, dtype="int64"), "class_gemeente": np.asarray(c_gm, dtype="int64")}
    out = pd.DataFrame({
        **_keys(core, core.sel),
        **{k: d[k] for k in ("value", "gemeente_value", "nl_value", "diff_gemeente", "diff_nl", "index_nl",
                             "z_gemeente", "z_nl")},
        "class_nl": _class_categorical(np.asarray(d["class_nl"], dtype="int64")),
        "class_gemeente": _class_categorical(np.asarray(d["class_gemeente"], dtype="int64")),
        "class_method": _cat(method, CLASS_METHODS),
        "p_gemeente": p_gm,
        "p_nl": p_nl,
    }, copy=False)  # no consolidation copy of the float columns (fresh arrays, never mutated)
    return out[ALL_COMPARISON_COLUMNS]
