"""Classes against a benchmark: the Fingertips interval rule, descriptive z bands, FDR.

Inputs may be scalars, numpy arrays or pandas Series (broadcast together); NaN means
*missing* and propagates; invalid input raises :class:`~wijkprofiel.errors.StatisticsError`
naming the argument and the first offending position, before anything is computed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from wijkprofiel.errors import StatisticsError
from wijkprofiel.stats._checks import (
    Classes,
    _check,
    _check_order,
    _Ctx,
    _fmt,
    _inputs,
    _unit_interval,
)

__all__ = ["compare_to_benchmark", "zscore_class", "fdr_bh"]


_POLARITIES = ("higher_is_worse", "higher_is_better", "neutral")


_VALID_POLARITIES = ", ".join(repr(p) for p in _POLARITIES)


# Rows: polarity (order of _POLARITIES); columns: band 0 (much lower than the benchmark,
# z < -2) .. 4 (much higher, z > 2); column 5 = missing. Indexed flat: 6 * row + band.
_CLASSES: npt.NDArray[np.object_] = np.array([
    ["much_better", "better", "similar", "worse", "much_worse", "not_compared"],
    ["much_worse", "worse", "similar", "better", "much_better", "not_compared"],
    ["much_lower", "lower", "similar", "higher", "much_higher", "not_compared"],
], dtype=object).ravel()


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
