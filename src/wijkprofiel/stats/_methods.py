"""Vectorised statistical methods for neighbourhood health profiles.

Inputs may be scalars, numpy arrays or pandas Series (broadcast together): scalars give
plain floats/strings, arrays give arrays, a Series gives a Series with the same index. No
Python loop per row. NaN means *missing* and propagates (to NaN or ``'not_compared'``).
Invalid input raises :class:`~wijkprofiel.errors.StatisticsError` naming the argument and
the first offending position; all inputs are validated before anything is computed.
Formulas follow the R package PHEindicatormethods and the Fingertips (OHID) technical guidance.
Shared input handling lives in :mod:`wijkprofiel.stats_base`; the z tests, standard errors
from intervals and difference intervals in :mod:`wijkprofiel.stats_ztests` (re-exported here).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from wijkprofiel.errors import StatisticsError
from wijkprofiel.stats._checks import (
    Classes,
    FloatArray,
    Floats,
    _check,
    _check_order,
    _Ctx,
    _fmt,
    _inputs,
    _poisson_limits,
    _to_float,
    _unit_interval,
    _z,
)
from wijkprofiel.stats._z_tests import (
    difference_ci,
    rest_of_whole,
    se_from_ci,
    z_test_proportion,
    z_test_proportions,
    z_test_rate,
    z_test_rates,
    z_test_two_sample,
)

__all__ = [
    "wilson_ci", "poisson_ci", "rate_ci", "dsr", "expected_counts", "isr",
    "compare_to_benchmark", "fdr_bh", "z_test_two_sample", "se_from_ci", "zscore_class",
    "z_test_proportion", "z_test_rate", "z_test_proportions", "z_test_rates", "rest_of_whole",
    "difference_ci",
]

_POLARITIES = ("higher_is_worse", "higher_is_better", "neutral")
_VALID_POLARITIES = ", ".join(repr(p) for p in _POLARITIES)
# Rows: polarity (order of _POLARITIES); columns: band 0 (much lower than the benchmark,
# z < -2) .. 4 (much higher, z > 2); column 5 = missing. Indexed flat: 6 * row + band.
_CLASSES: npt.NDArray[np.object_] = np.array([
    ["much_better", "better", "similar", "worse", "much_worse", "not_compared"],
    ["much_worse", "worse", "similar", "better", "much_better", "not_compared"],
    ["much_lower", "lower", "similar", "higher", "much_higher", "not_compared"],
], dtype=object).ravel()


# --------------------------------------------------------------------- proportions, counts
def wilson_ci(successes: Any, n: Any, confidence: float = 0.95) -> tuple[Floats, Floats]:
    """Wilson score interval for a proportion (as a fraction 0..1).

    Parameters
    ----------
    successes, n : scalar, array or Series, ``0 <= successes <= n``; **n == 0 gives NaN**
    confidence : two-sided confidence level in (0, 1)

    Returns
    -------
    lower, upper : ``(2x + z^2 -/+ z sqrt(z^2 + 4x(1 - x/n))) / (2(n + z^2))`` in [0, 1]

    References
    ----------
    Wilson EB (1927), J Am Stat Assoc 22:209-212; PHEindicatormethods ``phe_proportion``.
    """
    z, _ = _z(confidence)
    (x, nn), ctx = _inputs(("successes", successes), ("n", n))
    _check(ctx, "finite", successes=x, n=nn)
    _check(ctx, "nonneg", n=nn)
    for bad, rel in ((x < 0, "< 0"), (x > nn, "> n=")):
        if bad.any():
            got = f"successes={_fmt(x[bad].flat[0])} {rel}{_fmt(nn[bad].flat[0]) if rel == '> n=' else ''}"
            msg = f"successes must be between 0 and n, got {got}{ctx.pos(bad)}"
            raise StatisticsError(msg)
    with np.errstate(invalid="ignore", divide="ignore"):
        n_ok = np.where(nn > 0, nn, np.nan)
        half = z * np.sqrt(z * z + 4 * x * (1 - x / n_ok))
    centre, denom, prop = 2 * x + z * z, 2 * (n_ok + z * z), x / n_ok
    # exact 0 at x = 0 and 1 at x = n (the formula rounds to 1 - 2e-16 there)
    lower = np.clip(np.minimum((centre - half) / denom, prop), 0.0, 1.0)
    upper = np.clip(np.maximum((centre + half) / denom, prop), 0.0, 1.0)
    return ctx.floats(lower), ctx.floats(upper)


def poisson_ci(count: Any, confidence: float = 0.95) -> tuple[Floats, Floats]:
    """Confidence limits for a Poisson count (non-integer counts allowed).

    Exact for ``count < 10``: ``chi2.ppf(a/2, 2x)/2`` (0 for count 0), ``chi2.ppf(1-a/2, 2x+2)/2``.
    Byar for ``count >= 10``: ``x (1 - 1/(9x) - z/(3 sqrt x))^3``,
    ``(x+1) (1 - 1/(9(x+1)) + z/(3 sqrt(x+1)))^3``.

    Parameters
    ----------
    count : scalar, array or Series of non-negative counts
    confidence : two-sided confidence level in (0, 1)

    Returns
    -------
    lower, upper

    References
    ----------
    Breslow NE, Day NE (1987), Statistical Methods in Cancer Research II, IARC, p. 69 (Byar);
    PHEindicatormethods ``byars_lower``, ``byars_upper``, ``phe_rate``.
    """
    z, a = _z(confidence)
    (x,), ctx = _inputs(("count", count))
    _check(ctx, "finite", count=x)
    _check(ctx, "nonneg", count=x)
    lower, upper = _poisson_limits(x, z, a)
    return ctx.floats(lower), ctx.floats(upper)


def rate_ci(
    count: Any, denominator: Any, multiplier: Any = 1, confidence: float = 0.95
) -> tuple[Floats, Floats, Floats]:
    """Crude rate ``count / denominator * multiplier`` with :func:`poisson_ci` limits scaled.

    Parameters
    ----------
    count, denominator : scalar, array or Series, >= 0; **denominator 0 gives NaN**
    multiplier, confidence : rate per ``multiplier`` (> 0); confidence level in (0, 1)

    Returns
    -------
    rate, lower, upper

    References
    ----------
    PHEindicatormethods ``phe_rate`` (exact below 10 events, Byar's from 10).
    """
    return _scaled_count(("count", count), ("denominator", denominator), ("multiplier", multiplier), confidence)


def _scaled_count(
    count: tuple[str, Any], denom: tuple[str, Any], factor: tuple[str, Any], confidence: Any
) -> tuple[Floats, Floats, Floats]:
    """``count / denom * factor`` with Poisson limits of the count (rate_ci, isr); denom 0 -> NaN."""
    z, a = _z(confidence)
    (x, d, m), ctx = _inputs(count, denom, factor)
    _check(ctx, "finite", **{count[0]: x, denom[0]: d})
    _check(ctx, "nonneg", **{count[0]: x, denom[0]: d})
    _check(ctx, "positive", **{factor[0]: m})
    lower, upper = _poisson_limits(x, z, a)
    scale = m / np.where(d > 0, d, np.nan)
    return ctx.floats(x * scale), ctx.floats(lower * scale), ctx.floats(upper * scale)


# ------------------------------------------------------------------------ standardisation
def _strata(named: list[tuple[str, Any]]) -> tuple[list[FloatArray], _Ctx, pd.Index | None]:
    """Per-stratum inputs of shape (strata,) or (areas, strata) like the first one; the last
    may instead be 1-D (strata) and is broadcast. Returns the arrays, a context for error
    positions and the area index (from a DataFrame) or None."""
    converted = [_to_float(x, name) for name, x in named]
    shape = converted[0][0].shape
    if len(shape) not in (1, 2) or shape[-1] == 0:
        msg = f"{named[0][0]} must be 1-D (strata) or 2-D (areas x strata), got shape {shape}"
        raise StatisticsError(msg)
    for i, ((name, _), (arr, idx)) in enumerate(zip(named, converted, strict=True)):
        last = i == len(named) - 1
        if arr.shape != shape and not (last and arr.shape == shape[-1:]):
            want = f"{shape}" + (f" or {shape[-1:]}" if last and len(shape) == 2 else "")
            msg = f"{name} must have shape {want} like {named[0][0]}, got shape {arr.shape}"
            raise StatisticsError(msg)
        first_idx = converted[0][1]
        if arr.shape == shape and idx is not None and first_idx is not None and not idx.equals(first_idx):
            msg = f"{name} must have the same index as {named[0][0]}, got a different index"
            raise StatisticsError(msg)
    index = next((idx for (arr, idx) in converted if idx is not None and arr.shape == shape), None)
    arrays = [np.broadcast_to(arr, shape) for arr, _ in converted]
    return arrays, _Ctx(False, index if len(shape) == 1 else None), index if len(shape) == 2 else None


def _per_area(arr: FloatArray, index: pd.Index | None) -> Floats:
    """Float for one area (0-d), ndarray per area, or Series with the DataFrame's index."""
    return float(arr) if arr.ndim == 0 else _Ctx(False, index).floats(arr)


def dsr(
    counts: Any, populations: Any, standard_populations: Any,
    multiplier: float = 100_000, confidence: float = 0.95,
) -> tuple[Floats, Floats, Floats]:
    """Directly standardised rate with Dobson confidence limits.

    ``DSR = sum(w x/n) / sum(w)``, ``var = sum(w^2 x/n^2) / sum(w)^2``, limits
    ``DSR + sqrt(var/X) (X_lim - X)`` with ``X = sum(x)`` and ``X_lim`` Byar's limits of X.

    Parameters
    ----------
    counts, populations : 1-D (strata, one area) or 2-D (areas x strata; DataFrame allowed).
        A stratum with population 0 must have count 0; it contributes 0.
    standard_populations : 1-D (strata) or like ``counts``; weights w, total > 0
    multiplier, confidence : rate per ``multiplier``; confidence level in (0, 1)

    Returns
    -------
    rate, lower, upper : floats (1-D) or per area (Series with a DataFrame's index). **NaN
        when the total count is below 10** (PHE suppresses: Dobson is unreliable) or any
        stratum is NaN.

    References
    ----------
    Dobson AJ et al. (1991), Stat Med 10:457-462; PHEindicatormethods ``calculate_dsr``.
    """
    z, a = _z(confidence)
    named = [("counts", counts), ("populations", populations), ("standard_populations", standard_populations)]
    (x, n, w), ctx, index = _strata(named)
    (m,), m_ctx = _inputs(("multiplier", multiplier))
    if not m_ctx.scalar:
        msg = f"multiplier must be a single number, got shape {m.shape}"
        raise StatisticsError(msg)
    _check(ctx, "finite", counts=x, populations=n, standard_populations=w)
    _check(ctx, "nonneg", counts=x, populations=n, standard_populations=w)
    _check(m_ctx, "positive", multiplier=m)
    bad = (n == 0) & (x > 0)
    if bad.any():
        msg = f"counts must be 0 where populations is 0 (nobody at risk), got counts={_fmt(x[bad].flat[0])} with populations=0{ctx.pos(bad)}"
        raise StatisticsError(msg)
    w_sum = w.sum(axis=-1)
    bad = np.isnan(w) | (w_sum[..., None] <= 0)
    if bad.any():
        msg = f"standard_populations must be non-missing with a total > 0, got {_fmt(w[bad].flat[0])} (total {_fmt(np.broadcast_to(w_sum[..., None], w.shape)[bad].flat[0])}){ctx.pos(bad)}"
        raise StatisticsError(msg)
    with np.errstate(invalid="ignore", divide="ignore"):
        value = (w * np.where(n == 0, 0.0, x / n)).sum(axis=-1) / w_sum
        var = (w * w * np.where(n == 0, 0.0, x / (n * n))).sum(axis=-1) / (w_sum * w_sum)
        total = x.sum(axis=-1)
        lo_x, up_x = _poisson_limits(np.asarray(total), z, a)
        factor = np.sqrt(var / total)
    out = [value, value + factor * (lo_x - total), value + factor * (up_x - total)]
    rate, lower, upper = (_per_area(np.where(total >= 10, v * m[0], np.nan), index) for v in out)
    return rate, lower, upper


def expected_counts(local_populations: Any, reference_rates: Any) -> Floats:
    """Expected counts ``E = sum_i n_i R_i`` for indirect standardisation.

    Parameters
    ----------
    local_populations : 1-D (strata, one area) or 2-D (areas x strata; DataFrame allowed)
    reference_rates : 1-D (strata) or like ``local_populations``; rates **per person**

    Returns
    -------
    float (1-D) or per area (Series with a DataFrame's index); NaN if any stratum is NaN.

    References
    ----------
    Breslow & Day (1987), ch. 2; PHEindicatormethods ``calculate_ISRatio``.
    """
    named = [("local_populations", local_populations), ("reference_rates", reference_rates)]
    (n, r), ctx, index = _strata(named)
    _check(ctx, "finite", local_populations=n, reference_rates=r)
    _check(ctx, "nonneg", local_populations=n, reference_rates=r)
    return _per_area(np.asarray((n * r).sum(axis=-1)), index)


def isr(
    observed: Any, expected: Any, confidence: float = 0.95, reference: Any = 1.0
) -> tuple[Floats, Floats, Floats]:
    """Indirectly standardised ratio ``observed / expected * reference``.

    Limits: :func:`poisson_ci` of ``observed`` / ``expected`` * ``reference``.

    Parameters
    ----------
    observed, expected : scalar, array or Series, >= 0; **expected 0 gives NaN**
    confidence, reference : confidence level in (0, 1); reference (> 0, 100 for SMR in %)

    Returns
    -------
    ratio, lower, upper

    References
    ----------
    Breslow & Day (1987); PHEindicatormethods ``calculate_ISRatio``.
    """
    return _scaled_count(("observed", observed), ("expected", expected), ("reference", reference), confidence)


# ---------------------------------------------------------------------------- classifying
def _polarity_codes(polarity: Any, ctx: _Ctx, shape: tuple[int, ...]) -> Any:
    """Polarity strings as row numbers of the class table (an int or an int8 array)."""
    if isinstance(polarity, str):
        if polarity not in _POLARITIES:
            msg = f"polarity must be one of {_VALID_POLARITIES}, got {polarity!r}"
            raise StatisticsError(msg)
        return _POLARITIES.index(polarity)
    if isinstance(polarity, pd.Series):  # factorize: fast for arrow strings and categoricals
        if ctx.index is not None and not polarity.index.equals(ctx.index):
            msg = "polarity must have the same index as the other Series inputs, got a different index"
            raise StatisticsError(msg)
        factor, uniques = pd.factorize(polarity, use_na_sentinel=False)
        names = np.asarray(uniques, dtype=object)
        lookup = np.array([_POLARITIES.index(u) if u in _POLARITIES else -1 for u in names], np.int8)
        codes = lookup[factor]
    else:
        names = factor = np.asarray(polarity, dtype=object)
        codes = np.full(names.shape, -1, dtype=np.int8)
        for k, name in enumerate(_POLARITIES):  # three vectorised comparisons, no row loop
            codes[names == name] = k
    try:
        codes = np.broadcast_to(codes, shape)
    except ValueError:
        msg = f"polarity must be one string or one per row (shape {shape}), got shape {codes.shape}"
        raise StatisticsError(msg) from None
    bad = codes < 0
    if bad.any():
        first = np.broadcast_to(factor, shape)[bad].flat[0]
        got = names[first] if isinstance(polarity, pd.Series) else first
        msg = f"polarity must be one of {_VALID_POLARITIES}, got {got!r}{ctx.pos(bad)}"
        raise StatisticsError(msg)
    return codes


def compare_to_benchmark(
    value: Any, lower: Any, upper: Any, benchmark: Any, polarity: Any, levels: int = 2,
    *, lower_998: Any = None, upper_998: Any = None,
) -> Classes:
    """Compare an estimate with a benchmark by its confidence interval (Fingertips rule).

    ``'similar'`` when ``lower <= benchmark <= upper``, else by the side of the interval:
    ``'better'``/``'worse'`` by polarity (``'higher'``/``'lower'`` if neutral). ``levels=3``:
    a benchmark also outside the 99.8 % limits gives ``'much_...'``. Any NaN among the
    numeric inputs gives ``'not_compared'``.

    Parameters
    ----------
    value, lower, upper, benchmark : scalar, array or Series; ``lower <= upper``
        (``value`` only decides missingness; the class follows from the interval)
    polarity : 'higher_is_worse', 'higher_is_better' or 'neutral' (str or one per row)
    levels : 2 or 3
    lower_998, upper_998 : 99.8 % limits containing the 95 % ones; only with levels=3

    Returns
    -------
    str for scalar input, else an object ndarray / Series (same index) of class keys.

    References
    ----------
    OHID Fingertips / PHOF technical guidance, "Benchmarking" (95 % and 99.8 % limits).
    """
    if isinstance(levels, bool) or levels not in (2, 3):
        msg = f"levels must be 2 or 3, got {levels!r}"
        raise StatisticsError(msg)
    given = {"lower_998": lower_998 is not None, "upper_998": upper_998 is not None}
    if sum(given.values()) != (2 if levels == 3 else 0):
        got = ", ".join(f"{k}={'given' if v else 'None'}" for k, v in given.items())
        msg = f"lower_998 and upper_998 (99.8 % limits) are required with levels=3 and not allowed with levels=2, got levels={levels}, {got}"
        raise StatisticsError(msg)
    named = [("value", value), ("lower", lower), ("upper", upper), ("benchmark", benchmark)]
    named += [("lower_998", lower_998), ("upper_998", upper_998)] if levels == 3 else []
    arrays, ctx = _inputs(*named)
    _check(ctx, "finite", **{name: arr for (name, _), arr in zip(named, arrays, strict=True)})
    v, lo, up, b = arrays[:4]
    _check_order(ctx, "lower", lo, "upper", up)
    if levels == 3:
        _check_order(ctx, "lower_998", arrays[4], "lower", lo)
        _check_order(ctx, "upper", up, "upper_998", arrays[5])
    pol = _polarity_codes(polarity, ctx, v.shape)
    band = 2 + (lo > b).view(np.int8) - (up < b).view(np.int8)
    missing = np.isnan(v) | np.isnan(lo) | np.isnan(up) | np.isnan(b)
    if levels == 3:
        band += (arrays[4] > b).view(np.int8) - (arrays[5] < b).view(np.int8)
        missing |= np.isnan(arrays[4]) | np.isnan(arrays[5])
    band[missing] = 5
    return ctx.classes(_CLASSES[pol * 6 + band])


def zscore_class(z: Any, polarity: Any) -> Classes:
    """Descriptive class of a z-score (vocabulary of ``compare_to_benchmark(levels=3)``).

    Bands ``z < -2``, ``-2 <= z < -1``, ``|z| <= 1``, ``1 < z <= 2``, ``z > 2`` give
    'much_better', 'better', 'similar', 'worse', 'much_worse' for 'higher_is_worse',
    mirrored for 'higher_is_better', 'much_lower' .. 'much_higher' for 'neutral'.
    NaN gives 'not_compared'; +-inf is allowed.

    Returns
    -------
    str for scalar input, else an object ndarray / Series (same index) of class keys.

    References
    ----------
    Banding at 1 and 2 SD; Fingertips benchmarking vocabulary (:func:`compare_to_benchmark`).
    """
    (zz,), ctx = _inputs(("z", z))
    pol = _polarity_codes(polarity, ctx, zz.shape)
    band = (zz >= -2).view(np.int8) + (zz >= -1).view(np.int8) + (zz > 1).view(np.int8)
    band += (zz > 2).view(np.int8)
    band[np.isnan(zz)] = 5
    return ctx.classes(_CLASSES[pol * 6 + band])


# ---------------------------------------------------------------------------- testing
def fdr_bh(p_values: Any, alpha: float = 0.05) -> tuple[Any, Any]:
    """Benjamini-Hochberg step-up control of the false discovery rate.

    Adjusted ``p_(i) = min(1, min_{j >= i} p_(j) m / j)``; rejected where adjusted <= alpha
    (the step-up rule). NaN p-values are ignored: not counted in m, not rejected, adjusted NaN.

    Returns
    -------
    rejected : bool / bool ndarray / bool Series
    adjusted : float / float ndarray / float Series

    References
    ----------
    Benjamini Y, Hochberg Y (1995), J R Stat Soc B 57:289-300.
    """
    alpha = _unit_interval(alpha, "alpha")
    (p,), ctx = _inputs(("p_values", p_values))
    bad = (p < 0) | (p > 1)
    if bad.any():
        msg = f"p_values must be between 0 and 1 (NaN for missing), got p_values={_fmt(p[bad].flat[0])}{ctx.pos(bad)}"
        raise StatisticsError(msg)
    flat = p.ravel()
    ok = ~np.isnan(flat)
    pv = flat[ok]
    order = np.argsort(pv, kind="stable")
    ranked = pv[order] * (pv.size / np.arange(1, pv.size + 1, dtype=np.float64))  # >= p
    adj = np.empty(pv.size)
    adj[order] = np.minimum(np.minimum.accumulate(ranked[::-1])[::-1], 1.0)
    adjusted_flat = np.full(flat.shape, np.nan)
    adjusted_flat[ok] = adj
    adjusted = adjusted_flat.reshape(p.shape)
    rejected = adjusted <= alpha
    if ctx.scalar:
        return bool(rejected.reshape(())), float(adjusted.reshape(()))
    if ctx.index is not None:
        return pd.Series(rejected, index=ctx.index), pd.Series(adjusted, index=ctx.index)
    return rejected, adjusted
