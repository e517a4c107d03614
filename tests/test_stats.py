"""Tests of wijkprofiel.stats.

Reference values are computed independently of the code under test: formulas written out
here with the standard library (``math``) and ``scipy.stats.norm``, other scipy
distributions (``gamma`` instead of the ``chi2`` used by the module, ``binomtest`` Wilson
intervals, ``false_discovery_control``), per-element Python loops for DSR/ISR/FDR, and
published worked examples. Numerical tolerance: TOL = 1e-6 (relative; absolute for values
near 0), except published examples, which are compared at their printed precision.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sst

from wijkprofiel.errors import StatisticsError
from wijkprofiel.stats import (
    compare_to_benchmark,
    dsr,
    expected_counts,
    fdr_bh,
    isr,
    poisson_ci,
    rate_ci,
    se_from_ci,
    wilson_ci,
    z_test_two_sample,
    zscore_class,
)

TOL = 1e-6
N_BIG = 3_500_000
POLARITIES = ["higher_is_worse", "higher_is_better", "neutral"]
VALID = "'higher_is_worse', 'higher_is_better', 'neutral'"


def close(actual: object, expected: object) -> None:
    np.testing.assert_allclose(np.asarray(actual, float), np.asarray(expected, float), rtol=TOL, atol=TOL * 1e-3)


def zcrit(confidence: float) -> float:
    return float(sst.norm.ppf(1 - (1 - confidence) / 2))


# ---------------------------------------------------------------- independent references
def wilson_ref(x: float, n: float, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson (1927) interval written out: (p + z²/2n ± z sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)."""
    z = zcrit(confidence)
    p = x / n
    centre = p + z * z / (2 * n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - half) / (1 + z * z / n), (centre + half) / (1 + z * z / n)


def byar_ref(x: float, confidence: float = 0.95) -> tuple[float, float]:
    z = zcrit(confidence)
    lo = x * (1 - 1 / (9 * x) - z / (3 * math.sqrt(x))) ** 3
    up = (x + 1) * (1 - 1 / (9 * (x + 1)) + z / (3 * math.sqrt(x + 1))) ** 3
    return lo, up


def poisson_ref(x: float, confidence: float = 0.95) -> tuple[float, float]:
    """Exact limits via gamma quantiles (equivalent to the chi-square form) below 10, Byar from 10."""
    a = 1 - confidence
    if x >= 10:
        return byar_ref(x, confidence)
    lo = 0.0 if x == 0 else float(sst.gamma.ppf(a / 2, x))
    return lo, float(sst.gamma.ppf(1 - a / 2, x + 1))


def dsr_ref(x: list[float], n: list[float], w: list[float], mult: float = 100_000, conf: float = 0.95) -> tuple[float, float, float]:
    """Dobson et al. (1991) DSR written out element by element."""
    total = sum(x)
    if total < 10:
        return math.nan, math.nan, math.nan
    wsum = sum(w)
    value = sum(wi * xi / ni for xi, ni, wi in zip(x, n, w, strict=True) if ni > 0) / wsum
    var = sum(wi**2 * xi / ni**2 for xi, ni, wi in zip(x, n, w, strict=True) if ni > 0) / wsum**2
    lo_x, up_x = byar_ref(total, conf)
    f = math.sqrt(var / total)
    return value * mult, (value + f * (lo_x - total)) * mult, (value + f * (up_x - total)) * mult


def bh_ref(p: list[float], alpha: float) -> tuple[list[bool], list[float]]:
    """Benjamini & Hochberg (1995) step-up with a plain loop; NaN ignored."""
    idx = [i for i, v in enumerate(p) if not math.isnan(v)]
    m = len(idx)
    ranked = sorted(idx, key=lambda i: p[i])
    k = 0
    for rank, i in enumerate(ranked, start=1):
        if p[i] <= rank * alpha / m:
            k = rank
    rejected = [False] * len(p)
    for i in ranked[:k]:
        rejected[i] = True
    adjusted = [math.nan] * len(p)
    for pos, i in enumerate(ranked):
        adjusted[i] = min(1.0, min(p[j] * m / (r + 1) for r, j in enumerate(ranked) if r >= pos))
    return rejected, adjusted


# ------------------------------------------------------------------------------ Wilson
def test_wilson_published_example_newcombe_1998() -> None:
    # Newcombe (1998) Stat Med 17:857, example 81/263: Wilson 95 % CI 0.2553 to 0.3662
    lo, up = wilson_ci(81, 263)
    assert (round(lo, 4), round(up, 4)) == (0.2553, 0.3662)


@pytest.mark.parametrize("x,n", [(0, 10), (1, 10), (5, 10), (10, 10), (81, 263), (3, 1000), (999, 1000)])
@pytest.mark.parametrize("confidence", [0.95, 0.998, 0.9])
def test_wilson_matches_formula_and_scipy(x: int, n: int, confidence: float) -> None:
    lo, up = wilson_ci(x, n, confidence)
    close([lo, up], wilson_ref(x, n, confidence))
    ci = sst.binomtest(x, n).proportion_ci(confidence, method="wilson")
    close([lo, up], [ci.low, ci.high])


def test_wilson_extremes_n_zero_and_nan() -> None:
    lo, up = wilson_ci(np.array([0, 10, 0, np.nan, 3]), np.array([10, 10, 0, 10, np.nan]))
    assert lo[0] == 0.0 and up[1] == 1.0
    assert np.isnan(lo[2:]).all() and np.isnan(up[2:]).all()  # n == 0 gives NaN (documented)


# ----------------------------------------------------------------------------- Poisson
def test_poisson_closed_forms() -> None:
    a = 0.05
    lo, up = poisson_ci(0)
    assert lo == 0.0
    close(up, -math.log(a / 2))  # exact upper limit for 0 events: 3.689
    lo, up = poisson_ci(1)
    close(lo, -math.log(1 - a / 2))  # exact lower limit for 1 event: 0.0253
    assert round(float(up), 3) == 5.572  # published exact 95 % upper limit for 1 event


@pytest.mark.parametrize("confidence", [0.95, 0.998, 0.8])
def test_poisson_exact_below_10_byar_from_10(confidence: float) -> None:
    counts = np.array([0, 1, 2, 5, 9, 9.5, 10, 11, 25, 100, 12345])
    lo, up = poisson_ci(counts, confidence)
    ref = np.array([poisson_ref(float(c), confidence) for c in counts])
    close(lo, ref[:, 0])
    close(up, ref[:, 1])
    # and the chi-square form of the exact limits for the small counts
    a = 1 - confidence
    close(up[:6], sst.chi2.ppf(1 - a / 2, 2 * counts[:6] + 2) / 2)


def test_poisson_nan_propagates() -> None:
    lo, up = poisson_ci([np.nan, 3])
    assert np.isnan(lo[0]) and np.isnan(up[0]) and not np.isnan(lo[1])


# -------------------------------------------------------------------------------- rates
def test_rate_ci_scales_poisson_limits() -> None:
    count = np.array([0, 4, 12, 250])
    pop = np.array([1500, 2000, 0, 40000])
    rate, lo, up = rate_ci(count, pop, 1000)
    for i in range(4):
        if pop[i] == 0:
            assert np.isnan(rate[i]) and np.isnan(lo[i]) and np.isnan(up[i])  # documented
            continue
        plo, pup = poisson_ref(float(count[i]))
        close([rate[i], lo[i], up[i]], [count[i] / pop[i] * 1000, plo / pop[i] * 1000, pup / pop[i] * 1000])


# ------------------------------------------------------------------------- DSR, ISR
ESP_5 = [10_500, 26_500, 27_000, 22_000, 14_000]  # 5 broad bands of the ESP 2013 weights


def test_dsr_one_area_matches_loop_reference() -> None:
    x, n = [3, 8, 20, 45, 60], [5200, 12000, 11000, 7000, 2500]
    rate, lo, up = dsr(x, n, ESP_5)
    assert all(isinstance(v, float) for v in (rate, lo, up))
    close([rate, lo, up], dsr_ref(x, n, ESP_5))


def test_dsr_constant_rate_gives_that_rate() -> None:
    n = np.array([1000.0, 2000, 3000, 4000])
    rate, _, _ = dsr(n * 0.01, n, [1, 2, 3, 4], multiplier=1000)
    close(rate, 10.0)


def test_dsr_two_d_dataframe_zero_population_and_suppression() -> None:
    x = pd.DataFrame([[3, 8, 20, 45, 60], [0, 1, 2, 3, 3], [0, 0, 12, 30, np.nan], [0, 5, 9, 30, 2]], index=["a", "b", "c", "d"])
    n = pd.DataFrame([[5200, 12000, 11000, 7000, 2500], [100, 200, 300, 300, 50], [10, 10, 300, 900, 70], [0, 400, 500, 900, 80]], index=x.index)
    rate, lo, up = dsr(x, n, ESP_5, multiplier=1000, confidence=0.998)
    assert isinstance(rate, pd.Series) and list(rate.index) == ["a", "b", "c", "d"]
    for i, key in enumerate(x.index):
        ref = dsr_ref(list(x.iloc[i]), list(n.iloc[i]), ESP_5, 1000, 0.998)
        close([rate[key], lo[key], up[key]], ref)
    assert np.isnan(rate["b"])  # total count 9 < 10: suppressed (documented)
    assert np.isnan(rate["c"])  # a NaN stratum propagates
    assert not np.isnan(rate["d"])  # population 0 with count 0 contributes 0
    arr_rate, _, _ = dsr(x.to_numpy(), n.to_numpy(), np.tile(ESP_5, (4, 1)), multiplier=1000, confidence=0.998)
    assert isinstance(arr_rate, np.ndarray)
    close(arr_rate, rate.to_numpy())


def test_expected_counts_and_isr_match_loop_reference() -> None:
    pops = np.array([[1000, 2000, 500], [10, 20, 5]])
    ref_rates = np.array([0.001, 0.01, 0.05])
    exp = expected_counts(pops, ref_rates)
    close(exp, [sum(p * r for p, r in zip(row, ref_rates, strict=True)) for row in pops])
    assert isinstance(expected_counts(pops[0], ref_rates), float)
    observed = np.array([60, 2])
    ratio, lo, up = isr(observed, exp, confidence=0.95, reference=100)
    for i in range(2):
        plo, pup = poisson_ref(float(observed[i]))
        close([ratio[i], lo[i], up[i]], [observed[i] / exp[i] * 100, plo / exp[i] * 100, pup / exp[i] * 100])
    r0, l0, u0 = isr(0, 0.0)
    assert math.isnan(r0) and math.isnan(l0) and math.isnan(u0)  # expected 0 gives NaN


# ----------------------------------------------------------------------- classification
def test_compare_to_benchmark_rules() -> None:
    value = np.array([5.0, 5, 5, 5, 5, np.nan, 5])
    lower = np.array([4.0, 4, 4, 4, 4, 4, np.nan])
    upper = np.array([6.0, 6, 6, 6, 6, 6, 6])
    bench = np.array([3.0, 4.0, 6.0, 7.0, 5.0, 5.0, 5.0])  # below, on lower, on upper, above
    expect = {
        "higher_is_worse": ["worse", "similar", "similar", "better", "similar", "not_compared", "not_compared"],
        "higher_is_better": ["better", "similar", "similar", "worse", "similar", "not_compared", "not_compared"],
        "neutral": ["higher", "similar", "similar", "lower", "similar", "not_compared", "not_compared"],
    }
    for pol, classes in expect.items():
        out = compare_to_benchmark(value, lower, upper, bench, pol)
        assert out.dtype == object and list(out) == classes


def test_compare_to_benchmark_three_levels() -> None:
    lo9, lo, up, up9 = 3.0, 4.0, 6.0, 7.0
    bench = np.array([2.0, 3.5, 5, 6.5, 8, 3.0, 7.0, np.nan])
    out = compare_to_benchmark(5, lo, up, bench, "higher_is_worse", 3, lower_998=lo9, upper_998=up9)
    assert list(out) == ["much_worse", "worse", "similar", "better", "much_better", "worse", "better", "not_compared"]
    out = compare_to_benchmark(5, lo, up, bench, "neutral", 3, lower_998=lo9, upper_998=up9)
    assert list(out[:5]) == ["much_higher", "higher", "similar", "lower", "much_lower"]
    nan_998 = compare_to_benchmark(5, lo, up, 2.0, "neutral", 3, lower_998=np.nan, upper_998=up9)
    assert nan_998 == "not_compared"


def test_compare_to_benchmark_per_row_polarity_and_series() -> None:
    idx = pd.Index(["BU1", "BU2", "BU3"], name="region_code")
    value = pd.Series([5.0, 5.0, 5.0], index=idx)
    pol = pd.Series(["higher_is_worse", "higher_is_better", "neutral"], index=idx)
    out = compare_to_benchmark(value, value - 1, value + 1, 3.0, pol)
    assert isinstance(out, pd.Series) and out.index.equals(idx) and out.dtype == object
    assert list(out) == ["worse", "better", "higher"]
    out_arr = compare_to_benchmark(value.to_numpy(), 4.0, 6.0, 3.0, np.array(pol, dtype=object))
    assert list(out_arr) == list(out)


def test_zscore_class_bands() -> None:
    z = np.array([-np.inf, -3, -2.0000001, -2, -1.5, -1.0000001, -1, 0, 1, 1.0000001, 2, 2.0000001, np.inf, np.nan])
    out = zscore_class(z, "higher_is_worse")
    assert list(out) == ["much_better"] * 3 + ["better"] * 3 + ["similar"] * 3 + ["worse"] * 2 + ["much_worse"] * 2 + ["not_compared"]
    assert list(zscore_class([-3, -1.5, 0, 1.5, 3], "higher_is_better")) == ["much_worse", "worse", "similar", "better", "much_better"]
    assert list(zscore_class([-3, -1.5, 0, 1.5, 3], "neutral")) == ["much_lower", "lower", "similar", "higher", "much_higher"]
    assert zscore_class(2.5, "neutral") == "much_higher"
    assert list(zscore_class([3, 3, 3], ["neutral", "higher_is_worse", "higher_is_better"])) == ["much_higher", "much_worse", "much_better"]


def test_zscore_class_agrees_with_three_level_comparison() -> None:
    rng = np.random.default_rng(1)
    z = rng.normal(0, 2, 2000)
    for pol in POLARITIES:
        via_ci = compare_to_benchmark(z, z - 1, z + 1, 0.0, pol, 3, lower_998=z - 2, upper_998=z + 2)
        assert list(zscore_class(z, pol)) == list(via_ci)


# -------------------------------------------------------------------------- tests (FDR, z)
def test_fdr_bh_matches_scipy_and_loop() -> None:
    p = np.array([0.01, 0.04, 0.03, 0.005, 0.5, 0.2, 0.04, 0.9])
    rejected, adjusted = fdr_bh(p, 0.05)
    close(adjusted, sst.false_discovery_control(p, method="bh"))
    ref_rej, ref_adj = bh_ref(list(p), 0.05)
    close(adjusted, ref_adj)
    assert list(rejected) == ref_rej


def test_fdr_bh_ignores_nan_and_caps_at_one() -> None:
    p = pd.Series([0.01, np.nan, 0.02, 0.9, np.nan], index=list("abcde"))
    rejected, adjusted = fdr_bh(p, 0.05)
    assert list(rejected.index) == list("abcde") and rejected.dtype == bool
    close(adjusted.dropna(), sst.false_discovery_control([0.01, 0.02, 0.9]))  # m = 3, not 5
    assert not rejected["b"] and np.isnan(adjusted["b"])
    assert fdr_bh([0.9, 0.95])[1].max() <= 1.0
    assert fdr_bh(0.03) == (True, 0.03)


def test_z_test_and_se_from_ci() -> None:
    z, p = z_test_two_sample(12.0, 1.5, 10.0, 2.0)
    close(z, 2.0 / math.sqrt(1.5**2 + 2.0**2))
    close(p, math.erfc(abs(2.0 / 2.5) / math.sqrt(2)))
    z0, p0 = z_test_two_sample(1.0, 0.0, 0.0, 0.0)
    assert math.isnan(z0) and math.isnan(p0)  # both se 0 (documented)
    for conf in (0.95, 0.998):
        close(se_from_ci(10 - zcrit(conf) * 2.5, 10 + zcrit(conf) * 2.5, conf), 2.5)
    close(se_from_ci(1.0, 3.0), 1 / 1.959963984540054)


# ---------------------------------------------------------------------- input containers
def test_scalar_array_series_containers() -> None:
    idx = pd.Index([10, 20, 30])
    x, n = [1, 5, 9], [10, 10, 10]
    scalar = wilson_ci(5, 10)
    assert all(type(v) is float for v in scalar)
    arr = wilson_ci(np.array(x), np.array(n))
    assert all(isinstance(v, np.ndarray) and v.shape == (3,) for v in arr)
    ser = wilson_ci(pd.Series(x, index=idx), pd.Series(n, index=idx))
    assert all(isinstance(v, pd.Series) and v.index.equals(idx) for v in ser)
    close(ser[0].to_numpy(), arr[0])
    assert arr[0][1] == scalar[0]
    for fn, args in [(poisson_ci, (x,)), (rate_ci, (x, n)), (isr, (x, n)), (se_from_ci, (x, [20, 20, 20])), (z_test_two_sample, (x, n, n, x))]:
        out = fn(*[pd.Series(a, index=idx) for a in args])
        outs = out if isinstance(out, tuple) else (out,)
        assert all(isinstance(o, pd.Series) and o.index.equals(idx) for o in outs)
        scalar_out = fn(*[a[0] for a in args])
        scalars = scalar_out if isinstance(scalar_out, tuple) else (scalar_out,)
        assert all(type(s) is float for s in scalars)
    z = zscore_class(pd.Series([0.5, 3.0], index=["x", "y"]), "neutral")
    assert list(z.index) == ["x", "y"] and z.dtype == object
    assert compare_to_benchmark(5, 4, 6, 1, "neutral") == "higher"
    nullable = pd.Series([3, None], dtype="Int64")
    lo, _ = poisson_ci(nullable)
    assert np.isnan(lo[1])


# -------------------------------------------------------------------------- error messages
@pytest.mark.parametrize(
    "call,message",
    [
        (lambda: wilson_ci([1, 2, 3, 12], [10, 10, 10, 10]), "successes must be between 0 and n, got successes=12 > n=10 at position 3"),
        (lambda: wilson_ci(-1, 10), "successes must be between 0 and n, got successes=-1 < 0"),
        (lambda: wilson_ci(1, -10), "n must be non-negative (>= 0), got n=-10"),
        (lambda: wilson_ci(1, 10, 1.5), "confidence must be between 0 and 1 (exclusive), got 1.5"),
        (lambda: poisson_ci([3, -2]), "count must be non-negative (>= 0), got count=-2 at position 1"),
        (lambda: poisson_ci(pd.Series([3, -2], index=["a", "b"])), "count must be non-negative (>= 0), got count=-2 at position 1 (index label 'b')"),
        (lambda: poisson_ci([1, np.inf]), "count must be a finite number or NaN (missing), got count=inf at position 1"),
        (lambda: poisson_ci(5, 0), "confidence must be between 0 and 1 (exclusive), got 0.0"),
        (lambda: poisson_ci(["5"]), "count must be numeric (numbers, NaN for missing), got dtype <U1: ['5']"),
        (lambda: rate_ci(5, -100), "denominator must be non-negative (>= 0), got denominator=-100"),
        (lambda: rate_ci(5, 100, 0), "multiplier must be a finite number > 0, got multiplier=0"),
        (lambda: isr(5, 2, reference=-1), "reference must be a finite number > 0, got reference=-1"),
        (lambda: dsr([1, -2], [10, 10], [1, 1]), "counts must be non-negative (>= 0), got counts=-2 at position 1"),
        (lambda: dsr([[1, 2], [3, 4]], [[10, 0], [10, 10]], [1, 1]), "counts must be 0 where populations is 0 (nobody at risk), got counts=2 with populations=0 at position (0, 1)"),
        (lambda: dsr([1, 2], [10, 10], [1, 1, 1]), "standard_populations must have shape (2,) like counts, got shape (3,)"),
        (lambda: dsr([1, 2], [10, 10], [0, 0]), "standard_populations must be non-missing with a total > 0, got 0 (total 0) at position 0"),
        (lambda: expected_counts([100, 200], [0.1, -0.2]), "reference_rates must be non-negative (>= 0), got reference_rates=-0.2 at position 1"),
        (lambda: compare_to_benchmark(5, 4, 6, 3, "lower_is_better"), f"polarity must be one of {VALID}, got 'lower_is_better'"),
        (lambda: compare_to_benchmark([5, 5], 4, 6, 3, ["neutral", "good"]), f"polarity must be one of {VALID}, got 'good' at position 1"),
        (lambda: zscore_class([1.0], [None]), f"polarity must be one of {VALID}, got None at position 0"),
        (lambda: compare_to_benchmark(5, 6, 4, 3, "neutral"), "lower must be <= upper, got lower=6 > upper=4"),
        (lambda: compare_to_benchmark(5, 4, 6, 3, "neutral", 3), "lower_998 and upper_998 (99.8 % limits) are required with levels=3 and not allowed with levels=2, got levels=3, lower_998=None, upper_998=None"),
        (lambda: compare_to_benchmark(5, 4, 6, 3, "neutral", 4), "levels must be 2 or 3, got 4"),
        (lambda: compare_to_benchmark(5, 4, 6, 3, "neutral", 3, lower_998=4.5, upper_998=7), "lower_998 must be <= lower, got lower_998=4.5 > lower=4"),
        (lambda: fdr_bh([0.2, 1.2]), "p_values must be between 0 and 1 (NaN for missing), got p_values=1.2 at position 1"),
        (lambda: fdr_bh([0.2], alpha=1), "alpha must be between 0 and 1 (exclusive), got 1.0"),
        (lambda: z_test_two_sample(1, -0.5, 0, 1), "se1 must be non-negative (>= 0), got se1=-0.5"),
        (lambda: se_from_ci([1, 5], [2, 4]), "lower must be <= upper, got lower=5 > upper=4 at position 1"),
        (lambda: wilson_ci([1, 2], [10, 10, 10]), "inputs must have broadcastable shapes, got successes (2,), n (3,)"),
        (lambda: wilson_ci(pd.Series([1, 2]), pd.Series([10, 10], index=[5, 6])), "Series inputs must share one index, got a different index for n"),
    ],
)
def test_error_messages(call: object, message: str) -> None:
    with pytest.raises(StatisticsError) as info:
        call()  # type: ignore[operator]
    assert str(info.value) == message


def test_validation_happens_before_computation_of_any_row() -> None:
    with pytest.raises(StatisticsError, match="position 2"):
        poisson_ci(np.array([1.0, np.nan, -1.0]))


# -------------------------------------------------------------------- property tests
confidences = st.floats(min_value=0.5, max_value=0.999)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 10**6).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))), confidences)
def test_prop_wilson_bounds(xn: tuple[int, int], confidence: float) -> None:
    x, n = xn
    lo, up = wilson_ci(x, n, confidence)
    assert 0.0 <= lo <= x / n <= up <= 1.0
    lo9, up9 = wilson_ci(x, n, 0.998)
    lo5, up5 = wilson_ci(x, n, 0.95)
    assert lo9 <= lo5 and up9 >= up5


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=0, max_value=1e7, allow_nan=False), confidences)
def test_prop_poisson_rate_isr_bounds(x: float, confidence: float) -> None:
    lo, up = poisson_ci(x, confidence)
    assert 0.0 <= lo <= x <= up
    lo9, up9 = poisson_ci(x, 0.998)
    lo5, up5 = poisson_ci(x, 0.95)
    assert lo9 <= lo5 and up9 >= up5
    rate, rlo, rup = rate_ci(x, 1234.5, 1000, confidence)
    assert rlo <= rate <= rup
    ratio, ilo, iup = isr(x, 7.5, confidence)
    assert ilo <= ratio <= iup


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 500), st.integers(1, 10**5), st.integers(1, 10**4)), min_size=1, max_size=19), confidences)
def test_prop_dsr_bounds(strata: list[tuple[int, int, int]], confidence: float) -> None:
    x, n, w = (list(t) for t in zip(*strata, strict=True))
    rate, lo, up = dsr(x, n, w, confidence=confidence)
    if sum(x) < 10:
        assert math.isnan(rate) and math.isnan(lo) and math.isnan(up)
    else:
        assert lo <= rate <= up
        close([rate, lo, up], dsr_ref(x, n, w, conf=confidence))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.floats(0, 1), st.just(math.nan)), min_size=1, max_size=60), st.floats(0.001, 0.5))
def test_prop_fdr(p: list[float], alpha: float) -> None:
    rejected, adjusted = fdr_bh(np.array(p), alpha)
    arr = np.array(p)
    assert not np.any(rejected & ~(arr <= alpha))  # never more than the unadjusted rule
    ok = ~np.isnan(arr)
    assert np.all(adjusted[ok] >= arr[ok]) and np.all(adjusted[ok] <= 1)
    order = np.argsort(arr[ok], kind="stable")
    assert np.all(np.diff(adjusted[ok][order]) >= 0)  # monotone in p
    if ok.any():
        ref_rej, ref_adj = bh_ref(p, alpha)
        close(adjusted, ref_adj)
        boundary = np.isclose(np.array(ref_adj), alpha, rtol=1e-12)  # float ties at alpha
        assert list(rejected[~boundary]) == list(np.array(ref_rej)[~boundary])


finite = st.floats(-1e6, 1e6, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(finite, st.floats(0, 1e3), st.floats(0, 1e3), finite, st.floats(0, 1e3), st.floats(0, 1e3))
def test_prop_compare_symmetric_under_polarity_flip(v: float, dlo: float, dup: float, bench: float, d9lo: float, d9up: float) -> None:
    args = (v, v - dlo, v + dup, bench)
    kw = {"lower_998": v - dlo - d9lo, "upper_998": v + dup + d9up}
    swap = {"better": "worse", "worse": "better", "much_better": "much_worse", "much_worse": "much_better"}
    for levels, extra in ((2, {}), (3, kw)):
        worse = compare_to_benchmark(*args, "higher_is_worse", levels, **extra)
        better = compare_to_benchmark(*args, "higher_is_better", levels, **extra)
        neutral = compare_to_benchmark(*args, "neutral", levels, **extra)
        assert swap.get(worse, worse) == better
        assert worse.replace("worse", "higher").replace("better", "lower") == neutral
        # mirroring the data flips the direction as well
        mirrored = compare_to_benchmark(-v, -(v + dup), -(v - dlo), -bench, "higher_is_better", levels,
                                        **({"lower_998": -kw["upper_998"], "upper_998": -kw["lower_998"]} if levels == 3 else {}))
        assert mirrored == worse


# ---------------------------------------------------------------------------------- speed
def _timed(fn: object, *args: object, **kwargs: object) -> float:
    start = time.perf_counter()
    fn(*args, **kwargs)  # type: ignore[operator]
    return time.perf_counter() - start


def test_speed_3_5_million_rows(capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(7)
    z = rng.normal(0, 1.5, N_BIG)
    z[::97] = np.nan
    pol = np.array(POLARITIES, dtype=object)[rng.integers(0, 3, N_BIG)]
    timings = {
        "zscore_class(scalar polarity)": _timed(zscore_class, z, "higher_is_worse"),
        "zscore_class(per-row polarity)": _timed(zscore_class, z, pol),
        "compare_to_benchmark(levels=2)": _timed(compare_to_benchmark, z, z - 1, z + 1, 0.3, pol),
        "compare_to_benchmark(levels=3)": _timed(compare_to_benchmark, z, z - 1, z + 1, 0.3, pol, 3, lower_998=z - 2, upper_998=z + 2),
    }
    with capsys.disabled():
        print("\n" + "\n".join(f"  {name}: {seconds:.3f} s for {N_BIG:,} rows" for name, seconds in timings.items()))
    assert max(timings.values()) < 1.5, timings
