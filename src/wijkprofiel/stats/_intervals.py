"""Confidence intervals for proportions, counts and rates (Wilson, exact Poisson, Byar).

Inputs may be scalars, numpy arrays or pandas Series (broadcast together); NaN means
*missing* and propagates; invalid input raises :class:`~wijkprofiel.errors.StatisticsError`
naming the argument and the first offending position, before anything is computed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from wijkprofiel.errors import StatisticsError
from wijkprofiel.stats._checks import (
    Floats,
    _check,
    _fmt,
    _inputs,
    _poisson_limits,
    _z,
)

__all__ = ["wilson_ci", "poisson_ci", "rate_ci"]


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
