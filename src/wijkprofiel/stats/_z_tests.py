"""z tests for :mod:`wijkprofiel.stats` (re-exported there): two-sample and one-sample
score tests of counts and proportions, the rest-of-whole (part-whole) estimate, standard
errors from confidence intervals and MOVER intervals of a difference.

Same conventions as :mod:`wijkprofiel.stats`: scalars, arrays or Series broadcast
together, NaN propagates, invalid input raises
:class:`~wijkprofiel.errors.StatisticsError`; no Python loop per row.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats as _st

from wijkprofiel.errors import StatisticsError
from wijkprofiel.stats._checks import (
    FloatArray,
    Floats,
    _check,
    _check_order,
    _Ctx,
    _fmt,
    _inputs,
    _z,
)

__all__ = [
    "z_test_two_sample", "se_from_ci", "z_test_proportion", "z_test_rate", "z_test_proportions",
    "z_test_rates", "rest_of_whole", "difference_ci",
]


# ------------------------------------------------------------------ two-sample test, se
def z_test_two_sample(estimate1: Any, se1: Any, estimate2: Any, se2: Any) -> tuple[Floats, Floats]:
    """Two-sided z test of the difference of two independent estimates.

    ``z = (e1 - e2) / sqrt(se1^2 + se2^2)``, ``p = 2 (1 - Phi(|z|))``; se >= 0, **both 0
    gives NaN**.

    Returns
    -------
    z, p_value

    References
    ----------
    Altman DG, Bland JM (2003), BMJ 326:219 ("Interaction revisited").
    """
    named = [("estimate1", estimate1), ("se1", se1), ("estimate2", estimate2), ("se2", se2)]
    (e1, s1, e2, s2), ctx = _inputs(*named)
    _check(ctx, "finite", estimate1=e1, se1=s1, estimate2=e2, se2=s2)
    _check(ctx, "nonneg", se1=s1, se2=s2)
    se = np.sqrt(s1 * s1 + s2 * s2)
    z = (e1 - e2) / np.where(se > 0, se, np.nan)
    return ctx.floats(z), ctx.floats(2 * _st.norm.sf(np.abs(z)))


def se_from_ci(lower: Any, upper: Any, confidence: float = 0.95) -> Floats:
    """Standard error implied by a symmetric normal CI: ``(upper - lower) / (2 z_{1-a/2})``.

    Parameters
    ----------
    lower, upper : scalar, array or Series (``lower <= upper``)
    confidence : two-sided confidence level of the interval, in (0, 1)

    References
    ----------
    Altman DG, Bland JM (2011), BMJ 343:d2090.
    """
    z, _ = _z(confidence)
    (lo, up), ctx = _inputs(("lower", lower), ("upper", upper))
    _check(ctx, "finite", lower=lo, upper=up)
    _check_order(ctx, "lower", lo, "upper", up)
    return ctx.floats((up - lo) / (2 * z))


# ------------------------------------------------------- tests against counts, part-whole
def _two_sided(z: FloatArray) -> FloatArray:
    return np.asarray(2 * _st.norm.sf(np.abs(z)), dtype=np.float64)


def _check_share(ctx: _Ctx, x: FloatArray, n: FloatArray, xname: str, nname: str) -> None:
    """``0 <= x <= n`` (NaN passes)."""
    bad = (x < 0) | (x > n)
    if bad.any():
        msg = f"{xname} must be between 0 and {nname}, got {xname}={_fmt(x[bad].flat[0])}, {nname}={_fmt(n[bad].flat[0])}{ctx.pos(bad)}"
        raise StatisticsError(msg)


def z_test_proportion(successes: Any, n: Any, p0: Any) -> tuple[Floats, Floats]:
    """One-sample score test of a proportion against a fixed benchmark proportion ``p0``.

    ``z = (x/n - p0) / sqrt(p0 (1 - p0) / n)``, ``p = 2 (1 - Phi(|z|))``. This is the test
    that the Wilson interval inverts: ``p0`` lies inside the Wilson ``1 - a`` interval
    exactly when ``|z| <= z_{1-a/2}``. **n == 0, p0 in {0, 1} give NaN.**

    Parameters
    ----------
    successes, n : scalar, array or Series, ``0 <= successes <= n``
    p0 : benchmark proportion (fraction 0..1)

    References
    ----------
    Wilson EB (1927), J Am Stat Assoc 22:209-212; Agresti A, Coull BA (1998), Am Stat
    52:119-126.
    """
    (x, nn, p), ctx = _inputs(("successes", successes), ("n", n), ("p0", p0))
    _check(ctx, "finite", successes=x, n=nn, p0=p)
    _check(ctx, "nonneg", n=nn)
    _check_share(ctx, x, nn, "successes", "n")
    bad = (p < 0) | (p > 1)
    if bad.any():
        msg = f"p0 must be between 0 and 1 (a fraction), got p0={_fmt(p[bad].flat[0])}{ctx.pos(bad)}"
        raise StatisticsError(msg)
    with np.errstate(invalid="ignore", divide="ignore"):
        se = np.sqrt(p * (1 - p) / np.where(nn > 0, nn, np.nan))
        z = (x / np.where(nn > 0, nn, np.nan) - p) / np.where(se > 0, se, np.nan)
    return ctx.floats(z), ctx.floats(_two_sided(z))


def z_test_rate(count: Any, denominator: Any, rate0: Any) -> tuple[Floats, Floats]:
    """One-sample score test of a Poisson count against a benchmark rate (per unit).

    ``E = rate0 * denominator``, ``z = (count - E) / sqrt(E)``, ``p = 2 (1 - Phi(|z|))``;
    **E == 0 gives NaN**.

    References
    ----------
    Breslow NE, Day NE (1987), Statistical Methods in Cancer Research II, IARC, ch. 2
    (score test of an SMR).
    """
    (x, d, r), ctx = _inputs(("count", count), ("denominator", denominator), ("rate0", rate0))
    _check(ctx, "finite", count=x, denominator=d, rate0=r)
    _check(ctx, "nonneg", count=x, denominator=d, rate0=r)
    e = r * d
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (x - e) / np.sqrt(np.where(e > 0, e, np.nan))
    return ctx.floats(z), ctx.floats(_two_sided(z))


def z_test_proportions(x1: Any, n1: Any, x2: Any, n2: Any) -> tuple[Floats, Floats]:
    """Two-sample z test of two independent proportions with the pooled variance.

    ``p = (x1 + x2) / (n1 + n2)``, ``z = (x1/n1 - x2/n2) / sqrt(p (1 - p) (1/n1 + 1/n2))``,
    two-sided p-value. Swapping the samples flips the sign of z only. **n1 or n2 == 0, or a
    pooled proportion of 0 or 1, gives NaN.**

    References
    ----------
    Altman DG (1991), Practical Statistics for Medical Research, Chapman & Hall, §10.7.2;
    Fleiss JL, Levin B, Paik MC (2003), Statistical Methods for Rates and Proportions, §2.3.
    """
    named = [("x1", x1), ("n1", n1), ("x2", x2), ("n2", n2)]
    (a, m, b, n), ctx = _inputs(*named)
    _check(ctx, "finite", x1=a, n1=m, x2=b, n2=n)
    _check(ctx, "nonneg", n1=m, n2=n)
    _check_share(ctx, a, m, "x1", "n1")
    _check_share(ctx, b, n, "x2", "n2")
    with np.errstate(invalid="ignore", divide="ignore"):
        m_ok, n_ok = np.where(m > 0, m, np.nan), np.where(n > 0, n, np.nan)
        pooled = (a + b) / (m_ok + n_ok)
        se = np.sqrt(pooled * (1 - pooled) * (1 / m_ok + 1 / n_ok))
        z = (a / m_ok - b / n_ok) / np.where(se > 0, se, np.nan)
    return ctx.floats(z), ctx.floats(_two_sided(z))


def z_test_rates(x1: Any, t1: Any, x2: Any, t2: Any) -> tuple[Floats, Floats]:
    """Two-sample z test of two independent Poisson rates (counts per unit) with pooled rate.

    ``r = (x1 + x2) / (t1 + t2)``, ``z = (x1/t1 - x2/t2) / sqrt(r (1/t1 + 1/t2))``, two-sided
    p-value. **t1 or t2 == 0, or no events at all, gives NaN.**

    References
    ----------
    Breslow NE, Day NE (1987), Statistical Methods in Cancer Research II, IARC, §2.4.
    """
    named = [("x1", x1), ("t1", t1), ("x2", x2), ("t2", t2)]
    (a, m, b, n), ctx = _inputs(*named)
    _check(ctx, "finite", x1=a, t1=m, x2=b, t2=n)
    _check(ctx, "nonneg", x1=a, t1=m, x2=b, t2=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        m_ok, n_ok = np.where(m > 0, m, np.nan), np.where(n > 0, n, np.nan)
        pooled = (a + b) / (m_ok + n_ok)
        se = np.sqrt(pooled * (1 / m_ok + 1 / n_ok))
        z = (a / m_ok - b / n_ok) / np.where(se > 0, se, np.nan)
    return ctx.floats(z), ctx.floats(_two_sided(z))


def rest_of_whole(whole: Any, whole_se: Any, part: Any, part_se: Any, share: Any = 0.0) -> tuple[Floats, Floats]:
    """Estimate and standard error of the rest of an area when only the whole and a part are known.

    With ``whole = share * part + (1 - share) * rest`` and part and rest independent:
    ``rest = (whole - share * part) / (1 - share)`` and
    ``se_rest^2 = (whole_se^2 - share^2 part_se^2) / (1 - share)^2`` (floored at 0 when the
    published errors are inconsistent with that model). The two-sample test of part vs
    rest, :func:`z_test_two_sample` ``(part, part_se, rest, se_rest)``, is then exactly the
    part-whole test ``(part - whole) / sqrt(whole_se^2 + (1 - 2 share) part_se^2)``.
    ``share = 0`` (population share unknown) gives ``rest = whole`` and the conservative
    independent-samples test (it overstates the variance of the difference).

    Parameters
    ----------
    whole, whole_se, part, part_se : scalar, array or Series; standard errors >= 0
    share : population share of the part in the whole, ``0 <= share < 1``

    References
    ----------
    NCES, NAEP Technical Documentation, "t Test for Partly Overlapping Groups" (part-whole
    comparisons, variance ``S_i^2 + (1 - 2p) S_j^2``); Korn EL, Graubard BI (1999), Analysis
    of Health Surveys, Wiley, §3.5.
    """
    named = [("whole", whole), ("whole_se", whole_se), ("part", part), ("part_se", part_se), ("share", share)]
    (g, sg, w, sw, f), ctx = _inputs(*named)
    _check(ctx, "finite", whole=g, whole_se=sg, part=w, part_se=sw, share=f)
    _check(ctx, "nonneg", whole_se=sg, part_se=sw)
    bad = (f < 0) | (f >= 1)
    if bad.any():
        msg = f"share must be in [0, 1) (the part's population share of the whole), got share={_fmt(f[bad].flat[0])}{ctx.pos(bad)}"
        raise StatisticsError(msg)
    rest = (g - f * w) / (1 - f)
    var = np.maximum(sg * sg - f * f * sw * sw, 0.0) / ((1 - f) * (1 - f))
    return ctx.floats(rest), ctx.floats(np.sqrt(var))


def difference_ci(
    estimate1: Any, lower1: Any, upper1: Any, estimate2: Any, lower2: Any, upper2: Any
) -> tuple[Floats, Floats, Floats]:
    """Confidence interval of the difference ``estimate1 - estimate2`` of two independent
    estimates from their own (possibly asymmetric) intervals of the same level (MOVER).

    ``d = e1 - e2``, ``lower = d - sqrt((e1 - l1)^2 + (u2 - e2)^2)``,
    ``upper = d + sqrt((u1 - e1)^2 + (e2 - l2)^2)``. With symmetric normal intervals this is
    ``d -/+ z sqrt(se1^2 + se2^2)``; with Wilson intervals of two proportions it is
    Newcombe's method 10.

    References
    ----------
    Zou GY, Donner A (2008), Stat Methods Med Res 17:43-51; Newcombe RG (1998), Stat Med
    17:873-890 (method 10).
    """
    named = [("estimate1", estimate1), ("lower1", lower1), ("upper1", upper1),
             ("estimate2", estimate2), ("lower2", lower2), ("upper2", upper2)]
    (e1, l1, u1, e2, l2, u2), ctx = _inputs(*named)
    _check(ctx, "finite", **{n: a for (n, _), a in zip(named, (e1, l1, u1, e2, l2, u2), strict=True)})
    for lo_name, lo, hi_name, hi in (("lower1", l1, "estimate1", e1), ("estimate1", e1, "upper1", u1),
                                     ("lower2", l2, "estimate2", e2), ("estimate2", e2, "upper2", u2)):
        _check_order(ctx, lo_name, lo, hi_name, hi)
    d = e1 - e2
    lower = d - np.sqrt((e1 - l1) ** 2 + (u2 - e2) ** 2)
    upper = d + np.sqrt((u1 - e1) ** 2 + (e2 - l2) ** 2)
    return ctx.floats(d), ctx.floats(lower), ctx.floats(upper)
