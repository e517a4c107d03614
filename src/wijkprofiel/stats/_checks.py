"""Input checks and shared numerics of the :mod:`wijkprofiel.stats` methods (private).

Input conversion and broadcasting (scalars, numpy arrays or pandas Series; Series must
share one index), validation with error messages naming the argument and the first
offending position (:class:`~wijkprofiel.errors.StatisticsError`), the result-shape
context (scalar in, float out; Series in, Series out), confidence levels and the exact /
Byar Poisson limits used by the interval methods. Formulas follow the R package
PHEindicatormethods.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats as _st

from wijkprofiel.errors import StatisticsError

__all__ = [
    "FloatArray", "Floats", "Classes",
]

FloatArray: TypeAlias = npt.NDArray[np.float64]
Floats: TypeAlias = "float | FloatArray | pd.Series[float]"  # float for scalar input
Classes: TypeAlias = "str | npt.NDArray[np.object_] | pd.Series[Any]"  # str for scalar input


# --------------------------------------------------------------------------- helpers
class _Ctx:
    """Shape bookkeeping: were all inputs scalars, and the Series index (if any)."""

    def __init__(self, scalar: bool, index: pd.Index | None) -> None:
        self.scalar, self.index = scalar, index

    def pos(self, mask: npt.NDArray[np.bool_]) -> str:
        """Describe the first True position of ``mask`` (empty for scalar input)."""
        if self.scalar:
            return ""
        flat = int(np.flatnonzero(mask.ravel())[0])
        if mask.ndim > 1:
            return f" at position {tuple(int(i) for i in np.unravel_index(flat, mask.shape))}"
        label = f" (index label {self.index[flat]!r})" if self.index is not None else ""
        return f" at position {flat}{label}"

    def floats(self, arr: FloatArray) -> Floats:
        """``arr`` as float (scalar input), ndarray, or Series with the input's index."""
        if self.scalar:
            return float(arr.reshape(())[()])
        return arr if self.index is None else pd.Series(arr, index=self.index, dtype=np.float64)

    def classes(self, arr: npt.NDArray[np.object_]) -> Classes:
        """Class keys as str (scalar input), object ndarray, or object Series."""
        if self.scalar:
            return str(arr.reshape(())[()])
        return arr if self.index is None else pd.Series(arr, index=self.index, dtype=object)


def _fmt(v: Any) -> str:
    """A number for an error message (integers without a trailing ``.0``)."""
    f = float(v)
    return str(int(f)) if f.is_integer() and abs(f) < 1e15 else repr(f)


def _to_float(x: Any, name: str) -> tuple[FloatArray, pd.Index | None]:
    """One input as a float64 array (pandas NA -> NaN) plus its index; numbers only."""
    if isinstance(x, pd.DataFrame | pd.Series):
        dtypes = [x.dtype] if isinstance(x, pd.Series) else list(x.dtypes)
        if not all(pd.api.types.is_numeric_dtype(t) for t in dtypes):
            got = ", ".join(sorted({str(t) for t in dtypes}))
            msg = f"{name} must be numeric (numbers, NaN for missing), got dtype {got}"
            raise StatisticsError(msg)
        return x.to_numpy(dtype=np.float64, na_value=np.nan), x.index
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        msg = f"{name} must be numeric (numbers, NaN for missing), got dtype {arr.dtype}: {x!r:.50}"
        raise StatisticsError(msg)
    return arr.astype(np.float64, copy=False), None


def _inputs(*named: tuple[str, Any]) -> tuple[list[FloatArray], _Ctx]:
    """Convert and broadcast numeric inputs (at least 1-D); Series must share one index."""
    arrays: list[FloatArray] = []
    index: pd.Index | None = None
    for name, x in named:
        arr, idx = _to_float(x, name)
        if idx is not None and index is not None and not idx.equals(index):
            msg = f"Series inputs must share one index, got a different index for {name}"
            raise StatisticsError(msg)
        index = idx if index is None else index
        arrays.append(arr)
    try:
        out = [np.atleast_1d(a) for a in np.broadcast_arrays(*arrays)]
    except ValueError:
        shapes = ", ".join(f"{n} {a.shape}" for (n, _), a in zip(named, arrays, strict=True))
        msg = f"inputs must have broadcastable shapes, got {shapes}"
        raise StatisticsError(msg) from None
    if index is not None and out[0].shape != (len(index),):
        msg = f"inputs must broadcast to the Series length {len(index)}, got shape {out[0].shape}"
        raise StatisticsError(msg)
    return out, _Ctx(all(a.ndim == 0 for a in arrays), index)


_NEED = {"finite": "a finite number or NaN (missing)", "nonneg": "non-negative (>= 0)",
         "positive": "a finite number > 0"}


def _check(ctx: _Ctx, rule: str, **arrays: FloatArray) -> None:
    """Raise for the first value breaking ``rule`` (NaN passes 'finite' and 'nonneg')."""
    need = _NEED[rule]
    for name, a in arrays.items():
        if rule == "finite":
            bad = np.isinf(a)
        else:
            bad = a < 0 if rule == "nonneg" else ~((a > 0) & np.isfinite(a))
        if bad.any():
            msg = f"{name} must be {need}, got {name}={_fmt(a[bad].flat[0])}{ctx.pos(bad)}"
            raise StatisticsError(msg)


def _check_order(ctx: _Ctx, lo_name: str, lo: FloatArray, hi_name: str, hi: FloatArray) -> None:
    """Raise when ``lo > hi`` anywhere (NaN passes)."""
    bad = lo > hi
    if bad.any():
        a, b = _fmt(lo[bad].flat[0]), _fmt(hi[bad].flat[0])
        msg = f"{lo_name} must be <= {hi_name}, got {lo_name}={a} > {hi_name}={b}{ctx.pos(bad)}"
        raise StatisticsError(msg)


def _unit_interval(value: Any, name: str) -> float:
    """A scalar in the open interval (0, 1) (confidence, alpha)."""
    ok = isinstance(value, int | float | np.floating | np.integer) and not isinstance(value, bool)
    if not ok or not 0.0 < float(value) < 1.0:
        msg = f"{name} must be between 0 and 1 (exclusive), got {repr(float(value)) if ok else repr(value)}"
        raise StatisticsError(msg)
    return float(value)


def _z(confidence: Any) -> tuple[float, float]:
    """``(z_{1-a/2}, a)`` for a two-sided ``confidence`` level ``1 - a``."""
    a = 1.0 - _unit_interval(confidence, "confidence")
    return float(_st.norm.isf(a / 2)), a


def _byar_lower(x: FloatArray, z: float) -> FloatArray:
    """Byar's lower limit ``x (1 - 1/(9x) - z/(3 sqrt x))^3`` (PHEindicatormethods ``byars_lower``)."""
    return np.maximum(x * (1 - 1 / (9 * x) - z / (3 * np.sqrt(x))) ** 3, 0.0)


def _byar_upper(x: FloatArray, z: float) -> FloatArray:
    """Byar's upper limit ``(x+1) (1 - 1/(9(x+1)) + z/(3 sqrt(x+1)))^3`` (``byars_upper``)."""
    return (x + 1) * (1 - 1 / (9 * (x + 1)) + z / (3 * np.sqrt(x + 1))) ** 3


def _poisson_limits(x: FloatArray, z: float, a: float) -> tuple[FloatArray, FloatArray]:
    """Exact (chi-square) limits for x < 10, Byar's for x >= 10; NaN stays NaN."""
    flat = x.ravel()
    lower, upper = np.full(flat.shape, np.nan), np.full(flat.shape, np.nan)
    small, big = flat < 10, flat >= 10
    xs = flat[small]
    low_small = np.zeros(xs.shape)  # count 0 (or subnormal): lower limit 0; chi2 needs df > 0
    pos = xs > np.finfo(np.float64).tiny
    low_small[pos] = _st.chi2.ppf(a / 2, 2 * xs[pos]) / 2
    lower[small], upper[small] = low_small, _st.chi2.ppf(1 - a / 2, 2 * xs + 2) / 2
    lower[big], upper[big] = _byar_lower(flat[big], z), _byar_upper(flat[big], z)
    return lower.reshape(x.shape), upper.reshape(x.shape)
