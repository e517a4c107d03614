"""The cells of a CBS TypedDataSet: dimension keys, region levels, period keys and topics.

Each function converts one raw column (JSON values: padded text, numbers, ``null``) and adds
a message per bad cell (``row N, column K: got …, expected …``; rows 1-based, at most 20 per
column) to ``problems``, so the caller can report every bad cell of the file at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from wijkprofiel.sources._common import level_from_soort, to_number

__all__ = ["PREFIX_LEVELS", "dimension_column", "level_column", "period_column", "topic_column"]

#: region code prefix -> level (codes can be alphanumeric: ``WK0363MB``)
PREFIX_LEVELS = {"NL": "land", "GM": "gemeente", "WK": "wijk", "BU": "buurt"}
_TEXT_UNITS = frozenset({"naam", "omschrijving", "code"})
_PER_COLUMN = 20


def _report(mask: pd.Series, values: pd.Series, column: str, expected: str, problems: list[str]) -> None:
    for i in mask.index[mask.to_numpy(dtype=bool)][:_PER_COLUMN]:
        problems.append(f"row {i + 1}, column {column}: got {values.at[i]!r}, expected {expected}")


def dimension_column(raw: pd.DataFrame, name: str, members: Mapping[str, str] | None, problems: list[str]) -> pd.Series:
    """The stripped keys of dimension ``name``; keys must be text (and members, when known)."""
    values = raw[name]
    is_text = values.map(lambda v: isinstance(v, str)).astype(bool)
    _report(~is_text, values, name, "a dimension key (text)", problems)
    keys = values.where(is_text).astype("string").str.strip()
    if members is not None:
        unknown = keys.notna() & ~keys.isin(list(members))
        _report(unknown, values, name, f"a member of the {name} dimension", problems)
    return keys


def level_column(codes: pd.Series, soort: pd.Series | None, soort_key: str | None, problems: list[str]) -> pd.Series:
    """'land'/'gemeente'/'wijk'/'buurt' from SoortRegio when given, else from the code prefix.

    Where SoortRegio is null the prefix decides; where both are known they must agree.
    """
    by_prefix = codes.str.slice(0, 2).map(PREFIX_LEVELS).astype("string")
    level = by_prefix
    if soort is not None and soort_key is not None:
        text = soort.where(soort.map(lambda v: isinstance(v, str)).astype(bool))
        stated = level_from_soort(text)
        given = text.astype("string").str.strip().fillna("") != ""
        _report(given & stated.isna(), soort, soort_key, "Land, Gemeente, Wijk or Buurt", problems)
        differ = (stated.notna() & by_prefix.notna() & (stated != by_prefix)).fillna(False).astype(bool)
        for i in codes.index[differ.to_numpy()][:_PER_COLUMN]:
            problems.append(f"row {i + 1}, column {soort_key}: {soort.at[i]!r} does not fit region code {codes.at[i]!r}")
        level = stated.fillna(by_prefix)
    unknown = (codes.notna() & level.isna()).astype(bool)
    _report(unknown, codes, "WijkenEnBuurten", "a code starting with NL, GM, WK or BU", problems)
    return level.astype("string")


def period_column(keys: pd.Series, problems: list[str]) -> pd.Series:
    """The Int64 year of ``YYYYJJ00`` keys; any other key is a bad cell."""
    ok = keys.str.fullmatch(r"[0-9]{4}JJ00").fillna(False).astype(bool)
    _report(keys.notna() & ~ok, keys, "Perioden", "a year key YYYYJJ00 (e.g. 2024JJ00)", problems)
    return pd.to_numeric(keys.str.slice(0, 4).where(ok), errors="coerce").astype("Int64")


def _is_number(value: Any) -> bool:
    return value is None or (isinstance(value, int | float | str | np.integer | np.floating)
                             and not isinstance(value, bool | np.bool_))


def topic_column(raw: pd.DataFrame, key: str, entry: Mapping[str, Any], problems: list[str]) -> pd.Series:
    """A topic: stripped text for String topics, else float64 (``null``/``'.'``/blank → NaN)."""
    values = raw[key]
    datatype = entry.get("Datatype")
    if datatype == "String" or (not datatype and entry.get("Unit") in _TEXT_UNITS):
        ok = values.map(lambda v: v is None or isinstance(v, str)).astype(bool)
        _report(~ok, values, key, "text or null", problems)
        return values.where(ok).astype("string").str.strip()
    plain = values.map(lambda v: v is None or (isinstance(v, int | float) and not isinstance(v, bool))).astype(bool)
    if plain.all():  # JSON numbers and nulls, as a TypedDataSet holds them
        return values.astype("float64")
    ok = values.map(_is_number).astype(bool)
    numbers, bad = to_number(values.where(ok).astype(object))
    _report(bad | ~ok, values, key, "a number or null", problems)
    return numbers
