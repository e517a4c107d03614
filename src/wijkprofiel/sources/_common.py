"""Shared parsing helpers for CBS-style sources (padding, missing markers, region codes)."""

from __future__ import annotations

import re

import pandas as pd

__all__ = [
    "OBSERVATION_COLUMNS",
    "finish_observations",
    "MISSING_MARKERS",
    "LEVELS",
    "strip_suffix",
    "to_number",
    "level_from_soort",
    "parent_codes",
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

