"""Crosswalk tables between two indelingen: schema, validation, reading and completion.

A crosswalk is a DataFrame with one row per (source region, target region) pair:

========== =========================================================================
column     meaning
========== =========================================================================
from_code  region code in the source indeling (``GM0003``, ``WK059904``)
to_code    region code in the target indeling (``GM1979``, ``WK0363AF``)
weight     share of the source region that goes to the target; sums to 1 per
           ``from_code``
method     how the weight was made: ``area``, ``population``, ``identity`` or
           ``published:<file name>``
quality    ``exact`` when the whole source goes to one target (weight 1), else
           ``approximate``
from_year  year of the source indeling (int)
to_year    year of the target indeling (int)
level      ``gemeente``, ``wijk`` or ``buurt``
========== =========================================================================
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd

from wijkprofiel.errors import ConfigError, HarmonisationError, ParseError, SchemaError
from wijkprofiel.indeling._crosswalk_checks import (
    _EXAMPLE,
    _MAX_LISTED,
    _PATTERN,
    Level,
    _code_problems,
    _crosswalk_format,
    _level_problems,
    _listing,
    _raise_problems,
    _with_prefix,
    _year_problems,
)

__all__ = [
    "Level",
    "CROSSWALK_COLUMNS",
    "UNMATCHED_COLUMNS",
    "REPORT_COLUMNS",
    "WEIGHT_TOLERANCE",
    "validate_crosswalk",
    "read_crosswalk_csv",
    "complete_crosswalk",
]


CROSSWALK_COLUMNS: Final = (
    "from_code",
    "to_code",
    "weight",
    "method",
    "quality",
    "from_year",
    "to_year",
    "level",
)
UNMATCHED_COLUMNS: Final = ("code", "level", "reason")
REPORT_COLUMNS: Final = ("code", "level", "from_year", "to_year", "reason")
WEIGHT_TOLERANCE: Final = 1e-9
"""Largest allowed deviation from 1 of the summed weights of one ``from_code``."""









def _finish_crosswalk(
    pairs: pd.DataFrame, *, from_year: int, to_year: int, level: str
) -> pd.DataFrame:
    """Typed, ordered, sorted crosswalk from ``from_code, to_code, weight, method`` rows.

    ``quality`` is derived: ``exact`` for weight 1, else ``approximate``.
    """
    out = pd.DataFrame(
        {
            "from_code": pairs["from_code"].astype("str"),
            "to_code": pairs["to_code"].astype("str"),
            "weight": pairs["weight"].astype("float64"),
            "method": pairs["method"].astype("str"),
        }
    )
    exact = (out["weight"] - 1.0).abs() <= WEIGHT_TOLERANCE
    out["quality"] = np.where(exact, "exact", "approximate")
    out["quality"] = out["quality"].astype("str")
    out["from_year"] = np.int64(from_year)
    out["to_year"] = np.int64(to_year)
    out["level"] = level
    out["level"] = out["level"].astype("str")
    out = out.sort_values(["from_code", "to_code"], kind="stable").reset_index(drop=True)
    return out[list(CROSSWALK_COLUMNS)]


def validate_crosswalk(crosswalk: pd.DataFrame, *, name: str = "crosswalk") -> None:
    """Check a crosswalk completely and raise once listing every problem.

    Parameters
    ----------
    crosswalk : pandas.DataFrame
        Table with the columns of :data:`CROSSWALK_COLUMNS`.
    name : str
        How the crosswalk is named in the error message (e.g. its file name).

    Raises
    ------
    HarmonisationError
        Missing columns, codes that do not fit ``level``, weights outside (0, 1] or not
        summing to 1 per ``from_code`` (within :data:`WEIGHT_TOLERANCE`), duplicate pairs,
        unknown quality values, or more than one ``from_year``/``to_year``/``level``.
    """
    missing = [c for c in CROSSWALK_COLUMNS if c not in crosswalk.columns]
    if missing:
        msg = (
            f"{name}: missing column(s) {', '.join(missing)}; expected "
            f"{', '.join(CROSSWALK_COLUMNS)}; received {', '.join(map(str, crosswalk.columns))}"
        )
        raise HarmonisationError(msg)
    problems: list[str] = []
    for column in ("from_year", "to_year", "level"):
        values = sorted(map(str, crosswalk[column].unique()))
        if len(values) > 1:
            problems.append(f"column {column} must hold one value; received {', '.join(values)}")
    years = crosswalk["from_year"].unique(), crosswalk["to_year"].unique()
    if len(years[0]) == 1 and len(years[1]) == 1:
        problems += _year_problems(years[0][0], years[1][0])
    levels = crosswalk["level"].unique()
    level = str(levels[0]) if len(levels) == 1 else None
    if level is not None:
        problems += _level_problems(level)
    if level in _PATTERN:
        problems += _code_problems(crosswalk["from_code"], level, "from_code")
        problems += _code_problems(crosswalk["to_code"], level, "to_code")
    weight = pd.to_numeric(crosswalk["weight"], errors="coerce")
    bad_weight = weight.isna() | (weight <= 0) | (weight > 1 + WEIGHT_TOLERANCE)
    if bad_weight.any():
        codes = crosswalk.loc[bad_weight, "from_code"].astype(str).unique().tolist()
        problems.append(
            f"weight must be a number in (0, 1]; not so for from_code {_listing(codes)}"
        )
    sums = weight.groupby(crosswalk["from_code"]).sum()
    off = sums[(sums - 1.0).abs() > WEIGHT_TOLERANCE]
    if len(off):
        shown = [f"{code} ({total:.12g})" for code, total in off.items()]
        problems.append(f"weights must sum to 1 per from_code; not so for {_listing(shown)}")
    duplicated = crosswalk.duplicated(["from_code", "to_code"])
    if duplicated.any():
        pairs = crosswalk.loc[duplicated, ["from_code", "to_code"]].astype(str)
        shown = (pairs["from_code"] + "→" + pairs["to_code"]).tolist()
        problems.append(f"duplicate (from_code, to_code) pairs: {_listing(shown)}")
    bad_quality = sorted(set(map(str, crosswalk["quality"])) - {"exact", "approximate"})
    if bad_quality:
        problems.append(f"quality must be 'exact' or 'approximate'; received {bad_quality}")
    _raise_problems(HarmonisationError, f"{name}: invalid crosswalk", problems)



def read_crosswalk_csv(
    path: str | Path,
    *,
    from_year: int,
    to_year: int,
    level: Level,
    weight_column: str | None = None,
) -> pd.DataFrame:
    """Read a published crosswalk CSV (VNG ``grenswijzigen`` long format or generic).

    Two layouts are accepted (comma-separated, header row, optionally gzipped):

    * VNG ``grenswijzigen``: ``<level>code_<from_year>, <level>code_<to_year>, <count>``,
      e.g. ``wijkcode_2020,wijkcode_2024,aantal_adressen`` with unprefixed codes
      (``059904``, ``0363AF``). The count column is the only other column unless
      ``weight_column`` names it.
    * generic: ``from_code, to_code, weight`` (or ``weight_column``).

    Codes are read as strings; unprefixed codes get ``GM``/``WK``/``BU`` by ``level``.
    Weights (counts or shares) are normalised per ``from_code`` to shares summing to 1;
    rows with weight 0 are dropped. Such files usually list changed regions only: use
    :func:`complete_crosswalk` to add the unchanged ones.

    Parameters
    ----------
    path : str or pathlib.Path
        The CSV file (``.csv`` or ``.csv.gz``).
    from_year, to_year : int
        Years of the source and target indeling.
    level : {'gemeente', 'wijk', 'buurt'}
        Regional level of both code columns.
    weight_column : str, optional
        Name of the weight/count column when it cannot be inferred.

    Returns
    -------
    pandas.DataFrame
        Crosswalk with :data:`CROSSWALK_COLUMNS`; ``method`` is ``published:<file name>``.

    Raises
    ------
    ConfigError
        ``level`` or the years are invalid.
    SchemaError
        The header lacks the expected columns (names file, line 1, expected and received).
    ParseError
        The file cannot be read, or values are invalid: every bad value is listed with
        its line and column (empty or malformed code, non-numeric or negative weight,
        duplicate pair, all-zero weights of a ``from_code``).
    """
    path = Path(path)
    _raise_problems(
        ConfigError,
        f"{path}: invalid arguments",
        _level_problems(level) + _year_problems(from_year, to_year),
    )
    try:
        raw = pd.read_csv(
            path, dtype=str, keep_default_na=False, skip_blank_lines=False, encoding="utf-8-sig"
        )
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        msg = f"{path}: cannot read crosswalk CSV ({type(exc).__name__}: {exc})"
        raise ParseError(msg) from exc
    raw = raw.fillna("")  # fields missing at the end of a short line
    raw.columns = [str(c).strip() for c in raw.columns]
    found = _crosswalk_format(
        list(raw.columns),
        level=level,
        from_year=from_year,
        to_year=to_year,
        weight_column=weight_column,
    )
    if isinstance(found, str):
        msg = f"{path}, line 1 (header): {found}"
        raise SchemaError(msg)
    from_col, to_col, weight_col = found
    raw.index = pd.RangeIndex(2, len(raw) + 2)  # file line numbers (header is line 1)
    raw = raw[(raw != "").any(axis=1)]  # blank lines
    problems: list[str] = []
    codes: dict[str, pd.Series] = {}
    pattern = _PATTERN[level]
    for column in (from_col, to_col):
        code = _with_prefix(raw[column], level)
        ok = code.map(lambda c: pattern.fullmatch(c) is not None).astype(bool)
        problems += [
            f"line {line}, column {column}: {raw.at[line, column]!r} is not a {level} code "
            f"(expected e.g. {_EXAMPLE[level]} or {_EXAMPLE[level][2:]})"
            for line in raw.index[~ok]
        ]
        codes[column] = code
    text = raw[weight_col].str.strip()
    weight = pd.to_numeric(text, errors="coerce")
    bad = weight.isna() | ~np.isfinite(weight) | (weight < 0)
    problems += [
        f"line {line}, column {weight_col}: {raw.at[line, weight_col]!r} is not a "
        f"non-negative number"
        for line in raw.index[bad]
    ]
    pairs = pd.DataFrame({"from_code": codes[from_col], "to_code": codes[to_col], "weight": weight})
    dup = pairs.duplicated(["from_code", "to_code"], keep=False)
    keyed = (pairs["from_code"] + "→" + pairs["to_code"])[dup]
    for pair, lines in keyed.groupby(keyed).groups.items():
        problems.append(f"lines {', '.join(map(str, lines))}: duplicate pair {pair}")
    totals = pairs["weight"].groupby(pairs["from_code"]).transform("sum")
    zero = (totals == 0) & ~bad
    for code in pairs.loc[zero, "from_code"].unique():
        problems.append(f"column {weight_col}: all weights of {code} are 0")
    if len(problems) > _MAX_LISTED:
        problems = [*problems[:_MAX_LISTED], f"… {len(problems) - _MAX_LISTED} more problem(s)"]
    _raise_problems(
        ParseError, f"{path}: invalid crosswalk CSV ({level} {from_year}→{to_year})", problems
    )
    pairs = pairs[pairs["weight"] > 0]
    pairs["weight"] = pairs["weight"] / pairs["weight"].groupby(pairs["from_code"]).transform("sum")
    pairs["method"] = f"published:{path.name}"
    return _finish_crosswalk(pairs, from_year=from_year, to_year=to_year, level=level)


def complete_crosswalk(
    crosswalk: pd.DataFrame | None,
    from_codes: Iterable[str],
    to_codes: Iterable[str],
    *,
    from_year: int | None = None,
    to_year: int | None = None,
    level: Level | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Complete a changes-only crosswalk with identity rows and list unmatched codes.

    Published crosswalks list only regions touched by a boundary change; a code absent
    from them is unchanged. Each code of ``from_codes`` that is not a ``from_code`` of the
    crosswalk but does occur in ``to_codes`` gets an identity row (weight 1, quality
    ``exact``, method ``identity``). The others map nowhere and are returned as unmatched.

    Parameters
    ----------
    crosswalk : pandas.DataFrame or None
        A valid crosswalk (see :func:`validate_crosswalk`). ``None`` or an empty frame
        gives an identity-only crosswalk (plain code matching).
    from_codes : iterable of str
        Every region code of the source indeling that needs a mapping (unpadded).
    to_codes : iterable of str
        Every region code of the target indeling.
    from_year, to_year, level : optional
        Required when ``crosswalk`` is ``None`` or empty; otherwise they must agree with
        the crosswalk's own values.

    Returns
    -------
    crosswalk : pandas.DataFrame
        The input rows plus the identity rows, sorted by ``from_code, to_code``.
    unmatched : pandas.DataFrame
        Columns ``code, level, reason``: ``from_codes`` that map nowhere, with the reason
        in words (e.g. "geen 2024-wijk met deze code en niet in de crosswalk").

    Raises
    ------
    HarmonisationError
        Invalid crosswalk, codes that are not codes of ``level``, missing or conflicting
        year/level arguments, or crosswalk targets absent from ``to_codes``.
    """
    given: dict[str, object] = {"from_year": from_year, "to_year": to_year, "level": level}
    cw = crosswalk if crosswalk is not None else pd.DataFrame(columns=list(CROSSWALK_COLUMNS))
    problems: list[str] = []
    if len(cw):
        validate_crosswalk(cw)
        own = {key: cw[key].iloc[0] for key in given}
        problems += [
            f"{key}={value!r} conflicts with the crosswalk's {key} {own[key]!r}"
            for key, value in given.items()
            if value is not None and value != own[key]
        ]
        given = own
    else:
        problems += [
            f"{key} is required for an empty crosswalk" for key, v in given.items() if v is None
        ]
        problems += _level_problems(level) + _year_problems(from_year, to_year)
    _raise_problems(HarmonisationError, "complete_crosswalk: invalid arguments", problems)
    year_from, year_to, lvl = (
        int(str(given["from_year"])),
        int(str(given["to_year"])),
        str(given["level"]),
    )
    sources = pd.Index(pd.unique(pd.Series(list(from_codes), dtype=object)))
    targets = pd.Index(pd.unique(pd.Series(list(to_codes), dtype=object)))
    problems += _code_problems(sources, lvl, "from_codes")
    problems += _code_problems(targets, lvl, "to_codes")
    unknown = sorted(set(cw["to_code"]) - set(targets))
    if unknown:
        problems.append(
            f"crosswalk targets not among the {len(targets)} to_codes ({year_to}-indeling?): "
            f"{_listing(unknown)}"
        )
    _raise_problems(
        HarmonisationError, f"complete_crosswalk ({lvl} {year_from}→{year_to})", problems
    )
    absent = sources[~sources.isin(cw["from_code"])]
    same = absent[absent.isin(targets)]
    identity = pd.DataFrame(
        {"from_code": same, "to_code": same, "weight": 1.0, "method": "identity"}
    )
    parts = [p for p in (cw[["from_code", "to_code", "weight", "method"]], identity) if len(p)]
    out = _finish_crosswalk(
        pd.concat(parts, ignore_index=True) if parts else identity,
        from_year=year_from,
        to_year=year_to,
        level=lvl,
    )
    lost = sorted(absent[~absent.isin(targets)].astype(str))
    reason = f"geen {year_to}-{lvl} met deze code en niet in de crosswalk"
    unmatched = pd.DataFrame(
        {
            "code": pd.Series(lost, dtype="str"),
            "level": pd.Series([lvl] * len(lost), dtype="str"),
            "reason": pd.Series([reason] * len(lost), dtype="str"),
        }
    )
    return out, unmatched
