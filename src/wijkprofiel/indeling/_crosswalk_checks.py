"""Checks of crosswalk inputs: region codes per level, years, the columns of a crosswalk file;
every problem listed, then raised once."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Final, Literal, get_args

import numpy as np
import pandas as pd

_PREFIX: Final[dict[str, str]] = {"gemeente": "GM", "wijk": "WK", "buurt": "BU"}

Level = Literal["gemeente", "wijk", "buurt"]



_PATTERN: Final[dict[str, re.Pattern[str]]] = {
    "gemeente": re.compile(r"GM\d{4}"),
    "wijk": re.compile(r"WK\d{4}[0-9A-Z]{2}"),  # Amsterdam 2023+: WK0363AF
    "buurt": re.compile(r"BU\d{4}[0-9A-Z]{4}"),
}


_EXAMPLE: Final[dict[str, str]] = {"gemeente": "GM0599", "wijk": "WK059904", "buurt": "BU05990325"}


_MAX_LISTED: Final = 40


def _listing(items: Sequence[str], limit: int = _MAX_LISTED) -> str:
    """Comma-joined items, cut off after ``limit`` with the total count."""
    shown = ", ".join(items[:limit])
    return shown if len(items) <= limit else f"{shown}, … ({len(items)} in total)"


def _raise_problems(error: type[Exception], header: str, problems: Sequence[str]) -> None:
    """Raise ``error`` once with every problem listed, or do nothing when there are none."""
    if problems:
        msg = header + "\n" + "\n".join(f"  - {p}" for p in problems)
        raise error(msg)


def _level_problems(level: object) -> list[str]:
    if level not in get_args(Level):
        return [f"level must be one of {', '.join(get_args(Level))}; received {level!r}"]
    return []


def _year_problems(from_year: object, to_year: object) -> list[str]:
    problems = [
        f"{name} must be an int year; received {value!r}"
        for name, value in (("from_year", from_year), ("to_year", to_year))
        if isinstance(value, bool) or not isinstance(value, int | np.integer)
    ]
    if not problems and from_year == to_year:
        problems.append(f"from_year and to_year must differ; both are {from_year}")
    return problems


def _bad_codes(codes: Iterable[object], level: str) -> list[str]:
    """Codes (repr'd, sorted, unique) that are not well-formed codes of ``level``."""
    pattern = _PATTERN[level]
    bad = {repr(c) for c in codes if not (isinstance(c, str) and pattern.fullmatch(c))}
    return sorted(bad)


def _code_problems(codes: Iterable[object], level: str, what: str) -> list[str]:
    bad = _bad_codes(codes, level)
    if not bad:
        return []
    return [
        f"{what}: {len(bad)} value(s) are not {level} codes (expected e.g. "
        f"{_EXAMPLE[level]}, unpadded): {_listing(bad)}"
    ]


def _with_prefix(codes: pd.Series, level: str) -> pd.Series:
    """Add ``GM``/``WK``/``BU`` to unprefixed codes of the right length (``059904``)."""
    prefix = _PREFIX[level]
    length = len(_EXAMPLE[level]) - 2
    stripped = codes.str.strip()
    add = ~stripped.str.startswith(prefix) & (stripped.str.len() == length)
    return stripped.where(~add, prefix + stripped)


def _crosswalk_format(
    columns: list[str], *, level: str, from_year: int, to_year: int, weight_column: str | None
) -> tuple[str, str, str] | str:
    """The (from, to, weight) column names, or a message saying what is missing."""
    noun = f"{level}code"
    vng = (f"{noun}_{from_year}", f"{noun}_{to_year}")
    if {"from_code", "to_code"} <= set(columns):
        pair = ("from_code", "to_code")
        weight = weight_column or "weight"
    elif set(vng) <= set(columns):
        pair = vng
        others = [c for c in columns if c not in vng]
        weight = weight_column or (others[0] if len(others) == 1 else "")
    else:
        return (
            f"expected columns from_code,to_code,weight (generic) or "
            f"{vng[0]},{vng[1]},<count> (VNG grenswijzigen, e.g. aantal_adressen) for "
            f"{level} {from_year}→{to_year}; received {','.join(columns)}"
        )
    if weight not in columns:
        return (
            f"weight column {weight or '<one count column>'!r} not found next to "
            f"{pair[0]},{pair[1]}; received {','.join(columns)} (pass weight_column=)"
        )
    return pair[0], pair[1], weight
