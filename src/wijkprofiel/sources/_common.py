"""Shared parsing helpers for CBS-style sources (padding, missing markers, region codes)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from wijkprofiel.indicators import Indicator

__all__ = [
    "OBSERVATION_COLUMNS",
    "finish_observations",
    "MISSING_MARKERS",
    "LEVELS",
    "strip_suffix",
    "to_number",
    "level_from_soort",
    "parent_codes",
    "indicator_observations",
]

#: strings that CBS/StatLine use for "no value" (never 0): '.' unknown/secret, '' not applicable,
#: and 'x', '-', ',' in some KWB xlsx years (FORMATS.md §1.2)
MISSING_MARKERS = frozenset({"", ".", "x", "-", ","})

#: columns of the warehouse ``observations`` table, in order
OBSERVATION_COLUMNS = [
    "indicator_id", "region_code", "indeling_year", "period", "population_group",
    "value", "ci_lower", "ci_upper", "numerator", "denominator", "suppressed", "source_id",
]


def finish_observations(obs: pd.DataFrame, *, source_id: str, **constants: str | int) -> pd.DataFrame:
    """Fill the observation columns a source does not have (NaN intervals/counts, not
    suppressed, the given constants such as ``indeling_year``) and order them."""
    out = obs.assign(**constants, source_id=source_id)
    for col in ("ci_lower", "ci_upper", "numerator", "denominator"):
        if col not in out.columns:
            out[col] = float("nan")
    if "suppressed" not in out.columns:
        out["suppressed"] = False
    return out[OBSERVATION_COLUMNS]


#: SoortRegio text -> level
LEVELS = {"land": "land", "gemeente": "gemeente", "wijk": "wijk", "buurt": "buurt"}

_SUFFIX = re.compile(r"_\d+$")


def strip_suffix(key: str) -> str:
    """Drop the positional ``_N`` suffix of a CBS topic key (``Eenzaam_28`` → ``Eenzaam``)."""
    return _SUFFIX.sub("", key.strip())


def to_number(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Convert padded CBS strings to float64; missing markers become NaN.

    Returns
    -------
    (numbers, bad)
        ``numbers`` as float64 (NaN for missing); ``bad`` a boolean mask of cells that were
        neither a number nor a missing marker.
    """
    text = values.astype("string").str.strip()
    missing = text.isna() | text.isin(MISSING_MARKERS)
    numbers = pd.to_numeric(text.where(~missing), errors="coerce").astype("float64")
    bad = numbers.isna() & ~missing
    return numbers, bad.fillna(False).astype(bool)


def level_from_soort(soort: pd.Series) -> pd.Series:
    """Map ``SoortRegio`` text (``"Gemeente  "``) to level ('land', 'gemeente', 'wijk', 'buurt')."""
    return soort.astype("string").str.strip().str.lower().map(LEVELS).astype("string")


def parent_codes(region_code: pd.Series, level: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Derive gemeentecode and wijkcode from wijk/buurt codes (works for alphanumeric codes).

    ``WK059903`` → (``GM0599``, ``WK059903``); ``BU05990325`` → (``GM0599``, ``WK059903``);
    gemeente rows get their own code and no wijkcode; the land row gets neither.
    """
    code = region_code.astype("string")
    body = code.str.slice(2)
    gemeente = ("GM" + body.str.slice(0, 4)).where(level.isin(["gemeente", "wijk", "buurt"]))
    wijk = ("WK" + body.str.slice(0, 6)).where(level.isin(["wijk", "buurt"]))
    return gemeente.astype("string"), wijk.astype("string")



def indicator_observations(
    wide: pd.DataFrame,
    indicators: Sequence[Indicator],
    *,
    source_id: str,
    indeling_year: int,
    period: int | None = None,
    population_group: str = "totaal",
    denominators: Mapping[str, pd.Series] | None = None,
) -> pd.DataFrame:
    """Long observations of the catalogue ``indicators`` found in a wide source frame.

    Per indicator (catalogue rules, see :mod:`wijkprofiel.store`):

    * ``numerator_key`` set: value = ``per`` × numerator / denominator where the
      denominator is positive (else NULL); the denominator is the column
      ``denominator_key`` or, for ``denominator_indicator``, the series of that indicator
      in ``denominators`` (indexed by ``region_code``); numerator and denominator are kept.
    * unit ``aantal`` without numerator: value = the count, also kept as numerator.
    * otherwise: value = the column ``source_key`` as published.

    Indicators whose columns are absent (a topic the table does not have) yield no rows.

    Parameters
    ----------
    wide
        One row per region (and period): ``region_code``, optionally ``period``, and the
        source columns.
    indicators
        Catalogue indicators to look for.
    source_id, indeling_year, population_group
        Constants of the observations.
    period
        The period of every row, or None to take the ``period`` column of ``wide``.
    denominators
        Indicator id → values by region code, for ``denominator_indicator``.

    Returns
    -------
    pandas.DataFrame
        Observations with :data:`OBSERVATION_COLUMNS`.
    """
    frames = []
    codes = wide["region_code"].to_numpy()
    for ind in indicators:
        if ind.numerator_key:
            if ind.numerator_key not in wide.columns:
                continue
            count = wide[ind.numerator_key].to_numpy(dtype="float64")
            if ind.denominator_key:
                if ind.denominator_key not in wide.columns:
                    continue
                base = wide[ind.denominator_key].to_numpy(dtype="float64")
            else:
                series = (denominators or {}).get(ind.denominator_indicator)
                if series is None:
                    continue
                base = pd.Series(codes).map(series).to_numpy(dtype="float64")
            with np.errstate(divide="ignore", invalid="ignore"):
                value = np.where(base > 0, float(ind.per or 100.0) * count / base, np.nan)
            numerator, denominator = count, base
        elif ind.source_key in wide.columns:
            value = wide[ind.source_key].to_numpy(dtype="float64")
            if ind.unit == "aantal":
                numerator, denominator = value, np.full_like(value, np.nan)
            else:
                numerator = denominator = np.full_like(value, np.nan)
        else:
            continue
        frame = pd.DataFrame({"indicator_id": ind.indicator_id, "region_code": codes, "value": value,
                              "numerator": numerator, "denominator": denominator})
        if period is None:
            frame["period"] = wide["period"].to_numpy()
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=OBSERVATION_COLUMNS)
    constants: dict[str, str | int] = {"indeling_year": indeling_year, "population_group": population_group}
    if period is not None:
        constants["period"] = period
    return finish_observations(pd.concat(frames, ignore_index=True), source_id=source_id, **constants)
