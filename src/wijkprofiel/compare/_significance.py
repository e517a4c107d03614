"""Significance path of :mod:`wijkprofiel.compare` (public functions re-exported there).

For rows with a 95 % interval: the count model of an indicator (``'%'``: Wilson,
``'per N'`` or ``value = numerator / denominator * 10^k``: exact/Byar Poisson; money:
none), intervals from counts (:func:`intervals_from_counts`), the Fingertips comparison
with the Netherlands (:func:`compare_with_intervals`, 95 % and, with counts, 99.8 %) and the
nested wijk-vs-rest-of-gemeente test (:func:`nested_gemeente_test`: pooled two-sample test
with counts, NCES NAEP part-whole test with margins only).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats as _st
from scipy.special import ndtr as _ndtr

from wijkprofiel.compare._classes import (
    _CLASS_KEYS,
    _NOT_COMPARED,
    _POLARITIES,
    CLASS_METHODS,
    BoolArray,
    FloatArray,
    IntArray,
    _at,
    _cat,
    _codes,
    _codes_of,
    _Core,
    _core,
    _keys,
    _require,
)
from wijkprofiel.stats import (
    compare_to_benchmark,
    rate_ci,
    rest_of_whole,
    se_from_ci,
    wilson_ci,
    z_test_proportion,
    z_test_proportions,
    z_test_rate,
    z_test_rates,
    z_test_two_sample,
)

__all__ = [
    "compare_with_intervals", "nested_gemeente_test", "intervals_from_counts",
]

_Z95 = float(_st.norm.isf(0.025))
_Z998 = float(_st.norm.isf(0.001))
#: basis of the nested test (index 0: not tested)
_BASIS = np.array(["", "counts", "margins", "margins_share_unknown"], dtype=object)


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
