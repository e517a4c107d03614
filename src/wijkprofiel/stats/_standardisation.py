"""Direct and indirect standardisation (DSR, expected counts, ISR) with their limits.

Inputs may be scalars, numpy arrays or pandas Series (broadcast together); NaN means
*missing* and propagates; invalid input raises :class:`~wijkprofiel.errors.StatisticsError`
naming the argument and the first offending position, before anything is computed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from wijkprofiel.errors import StatisticsError
from wijkprofiel.stats._checks import (
    FloatArray,
    Floats,
    _check,
    _Ctx,
    _fmt,
    _inputs,
    _poisson_limits,
    _to_float,
    _z,
)
from wijkprofiel.stats._intervals import _scaled_count

__all__ = ["dsr", "expected_counts", "isr"]


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
