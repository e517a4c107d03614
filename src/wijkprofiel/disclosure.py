"""Disclosure control: no published count or rate based on fewer than a threshold.

Applied to observations before anything reaches the warehouse or an output file.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from wijkprofiel.errors import ConfigError

__all__ = ["DEFAULT_THRESHOLD", "suppress_small_cells"]

DEFAULT_THRESHOLD = 10


def suppress_small_cells(observations: pd.DataFrame, threshold: int = DEFAULT_THRESHOLD) -> pd.DataFrame:
    """Primary suppression of small cells (Statistics Netherlands / Vektis practice: n < 10).

    A row is suppressed when its denominator is below ``threshold`` (a rate based on too
    few people), or when it is a count (no denominator) whose numerator is below the
    threshold. Suppressed rows keep their keys, get ``suppressed = True`` and NULL
    ``value``, ``numerator``, ``denominator``, ``ci_lower`` and ``ci_upper``.
    Model estimates without counts (RIVM small-area estimates) are not affected: RIVM
    already withholds them ('.') where too few respondents live.

    Parameters
    ----------
    observations
        Long observations (contract columns).
    threshold
        Smallest publishable count (default 10).

    Returns
    -------
    pandas.DataFrame
        A copy with suppression applied.
    """
    if int(threshold) != threshold or threshold < 1:
        msg = f"disclosure threshold must be a whole number ≥ 1, got {threshold!r}"
        raise ConfigError(msg)
    out = observations.copy()
    den = out["denominator"].to_numpy(dtype="float64")
    num = out["numerator"].to_numpy(dtype="float64")
    small_rate = ~np.isnan(den) & (den < threshold)
    small_count = np.isnan(den) & ~np.isnan(num) & (num < threshold)
    small = small_rate | small_count
    if small.any():
        for col in ("value", "numerator", "denominator", "ci_lower", "ci_upper"):
            out.loc[small, col] = np.nan
        out["suppressed"] = out["suppressed"].to_numpy(dtype=bool) | small
    return out
