"""Move indicator values from one indeling to another along a crosswalk."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final, Literal, get_args

import numpy as np
import pandas as pd

from wijkprofiel.errors import HarmonisationError
from wijkprofiel.indeling._crosswalk import (
    REPORT_COLUMNS,
    UNMATCHED_COLUMNS,
    WEIGHT_TOLERANCE,
    validate_crosswalk,
)
from wijkprofiel.indeling._crosswalk_checks import _listing, _raise_problems, _year_problems

__all__ = ["Kind", "HARMONISED_COLUMNS", "harmonise", "harmonisation_report"]

Kind = Literal["extensive", "intensive"]

HARMONISED_COLUMNS: Final = ("harmonised_from", "quality", "coverage")
"""Columns that :func:`harmonise` adds after the key and value columns."""

_RESERVED: Final = frozenset({"region_code", "to_code", "from_code", "weight", *HARMONISED_COLUMNS})


def _input_problems(
    values: pd.DataFrame,
    crosswalk: pd.DataFrame,
    kind: object,
    by: list[str],
    value_columns: list[str],
    weights: pd.Series | None,
) -> list[str]:
    """Every problem with the arguments of :func:`harmonise`."""
    problems: list[str] = []
    if kind not in get_args(Kind):
        problems.append(f"kind must be 'extensive' or 'intensive'; received {kind!r}")
    missing = [c for c in ["region_code", *by, *value_columns] if c not in values.columns]
    if missing:
        problems.append(
            f"values lacks column(s) {', '.join(missing)}; received "
            f"{', '.join(map(str, values.columns))}"
        )
        return problems
    if not value_columns:
        problems.append("values has no value columns (pass value_columns=)")
    clash = sorted(_RESERVED.intersection([*by, *value_columns]) | ({*by} & {*value_columns}))
    if clash:
        problems.append(f"column names reserved or used twice in by/value_columns: {clash}")
    for column in value_columns:
        dtype = values[column].dtype
        if not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
            problems.append(f"value column {column!r} must be numeric; received dtype {dtype}")
    if values["region_code"].isna().any():
        problems.append(
            f"values.region_code is empty in {int(values['region_code'].isna().sum())} row(s)"
        )
    dup = values.duplicated(["region_code", *by])
    if dup.any():
        keys = values.loc[dup, ["region_code", *by]].astype(str).agg("/".join, axis=1)
        problems.append(
            f"rows not unique per region_code{'+' if by else ''}{'+'.join(by)}: "
            f"{_listing(sorted(set(keys)))}"
        )
    unknown = sorted(set(values["region_code"].dropna().astype(str)) - set(crosswalk["from_code"]))
    if unknown:
        problems.append(
            f"{len(unknown)} region_code(s) are not a from_code of the crosswalk (complete it "
            f"with complete_crosswalk and drop its unmatched codes): {_listing(unknown)}"
        )
    if weights is not None:
        problems += _weight_problems(values, crosswalk, kind, weights)
    return problems


def _weight_problems(
    values: pd.DataFrame, crosswalk: pd.DataFrame, kind: object, weights: pd.Series
) -> list[str]:
    if kind != "intensive":
        return ["weights apply to kind='intensive' only; extensive values are split by weight"]
    if not isinstance(weights, pd.Series) or not pd.api.types.is_numeric_dtype(weights.dtype):
        return ["weights must be a numeric pandas Series indexed by source region code"]
    problems: list[str] = []
    if not weights.index.is_unique:
        problems.append(
            f"weights index has duplicate codes: "
            f"{_listing(sorted(map(str, weights.index[weights.index.duplicated()])))}"
        )
    bad = weights[(weights < 0) | ~np.isfinite(weights)]
    if len(bad):
        problems.append(
            f"weights must be finite and ≥ 0; not so for {_listing(list(map(str, bad.index)))}"
        )
    reached = crosswalk.loc[crosswalk["from_code"].isin(values["region_code"]), "to_code"]
    needed = set(crosswalk.loc[crosswalk["to_code"].isin(reached), "from_code"])
    lacking = sorted(needed - set(map(str, weights.index)))
    if lacking:
        problems.append(
            f"weights lack {len(lacking)} source code(s) that feed the targets reached: "
            f"{_listing(lacking)}"
        )
    return problems


def harmonise(
    values: pd.DataFrame,
    crosswalk: pd.DataFrame,
    *,
    kind: Kind,
    by: Sequence[str] = (),
    value_columns: Sequence[str] | None = None,
    weights: pd.Series | None = None,
) -> pd.DataFrame:
    """Move values from the source to the target indeling of ``crosswalk``.

    * ``kind='extensive'`` (counts, costs): each source value is split over its targets
      by the crosswalk weight and summed per target, so totals are conserved.
    * ``kind='intensive'`` (percentages, rates, means): per target, the mean of its source
      values weighted by ``weight × population`` (population from ``weights``) or by
      ``weight`` alone when ``weights`` is ``None``. Targets whose sources all have zero
      population fall back to ``weight`` alone.

    Missing (NaN) values are left out of both numerator and denominator. ``coverage`` is
    the share of a target's contributing weight (the summed weight, × population for
    intensive values with ``weights``, of all crosswalk sources of the target) whose
    source value is present; with several value columns it is the smallest over the
    columns that have a value for the target (0 when none has).
    ``quality`` is ``exact`` when one source with weight 1 is the target's only
    crosswalk source and its value is present (coverage 1), else ``approximate``.

    Parameters
    ----------
    values : pandas.DataFrame
        ``region_code`` (source indeling), the ``by`` key columns and numeric value
        columns; one row per ``region_code`` and key.
    crosswalk : pandas.DataFrame
        Valid crosswalk whose ``from_code`` covers every ``region_code``.
    kind : {'extensive', 'intensive'}
        How values combine (see above).
    by : sequence of str
        Key columns kept as they are (``indicator_id``, ``period``, ``population_group``).
    value_columns : sequence of str, optional
        Columns to harmonise; default every column other than ``region_code`` and ``by``.
    weights : pandas.Series, optional
        Source populations indexed by source region code (intensive only); must cover
        every source of each target reached.

    Returns
    -------
    pandas.DataFrame
        ``region_code`` (target), ``by`` columns, value columns (float64),
        ``harmonised_from`` (sorted ``|``-joined source codes present in ``values``),
        ``quality`` and ``coverage``; sorted by ``by`` and ``region_code``.

    Raises
    ------
    HarmonisationError
        Every problem at once: missing/non-numeric columns, duplicate rows, codes absent
        from the crosswalk, invalid crosswalk, invalid ``kind`` or ``weights``.
    """
    by = list(by)
    if value_columns is None:
        value_columns = [c for c in values.columns if c != "region_code" and c not in by]
    value_columns = list(value_columns)
    validate_crosswalk(crosswalk)
    problems = _input_problems(values, crosswalk, kind, by, value_columns, weights)
    _raise_problems(HarmonisationError, f"harmonise ({kind}): invalid input", problems)

    cw = crosswalk[["from_code", "to_code", "weight"]].copy()
    cw["_ew"] = cw["weight"]
    if weights is not None:
        population = weights.rename(index=str).astype("float64")
        pop_weight = cw["weight"] * cw["from_code"].map(population).fillna(0.0)
        peopled = pop_weight.groupby(cw["to_code"]).transform("sum") > 0
        cw["_ew"] = pop_weight.where(peopled, cw["weight"])
    full = cw.groupby("to_code")["_ew"].sum()
    n_sources = cw.groupby("to_code").size()

    m = values[["region_code", *by, *value_columns]].merge(
        cw, left_on="region_code", right_on="from_code", how="inner"
    )
    m = m.sort_values("from_code", kind="stable")
    num_cols = [f"_num{i}" for i in range(len(value_columns))]
    den_cols = [f"_den{i}" for i in range(len(value_columns))]
    factor = m["weight"] if kind == "extensive" else m["_ew"]
    parts: dict[str, pd.Series] = {}
    for column, num, den in zip(value_columns, num_cols, den_cols, strict=True):
        x = m[column].astype("float64")
        present = x.notna()
        parts[num] = (x * factor).where(present, 0.0)
        parts[den] = m["_ew"].where(present, 0.0)
    parts["_src"] = m["from_code"].astype(str) + "|"
    m = pd.concat([m[[*by, "to_code", "weight"]], pd.DataFrame(parts)], axis=1)
    grouped = m.groupby([*by, "to_code"], sort=True, dropna=False)
    out = grouped[[*num_cols, *den_cols]].sum()
    out["_n"] = grouped.size()
    out["_wmax"] = grouped["weight"].max()
    out["harmonised_from"] = grouped["_src"].sum().str[:-1]
    out = out.reset_index()

    target_full = out["to_code"].map(full).to_numpy(dtype="float64")
    result: dict[str, object] = {"region_code": out["to_code"], **{c: out[c] for c in by}}
    coverage = np.full(len(out), np.inf)
    for column, num, den in zip(value_columns, num_cols, den_cols, strict=True):
        d = out[den].to_numpy(dtype="float64")
        nval = out[num].to_numpy(dtype="float64")
        with np.errstate(invalid="ignore", divide="ignore"):
            result[column] = np.where(d > 0, nval if kind == "extensive" else nval / d, np.nan)
            share = np.where((target_full > 0) & (d > 0), d / target_full, np.inf)
        coverage = np.minimum(coverage, share)
    coverage = np.where(np.isinf(coverage), 0.0, np.clip(coverage, 0.0, 1.0))
    coverage = np.where(np.abs(coverage - 1.0) <= WEIGHT_TOLERANCE, 1.0, coverage)
    exact = (
        (out["_n"].to_numpy() == 1)
        & (np.abs(out["_wmax"].to_numpy(dtype="float64") - 1.0) <= WEIGHT_TOLERANCE)
        & (out["to_code"].map(n_sources).to_numpy() == 1)
        & (coverage == 1.0)
    )
    result["harmonised_from"] = out["harmonised_from"].astype("str")
    result["quality"] = pd.Series(np.where(exact, "exact", "approximate"), dtype="str")
    result["coverage"] = coverage
    harmonised = pd.DataFrame(result)
    return harmonised.sort_values([*by, "region_code"], kind="stable").reset_index(drop=True)


def harmonisation_report(
    unmatched: pd.DataFrame | Iterable[pd.DataFrame], *, from_year: int, to_year: int
) -> pd.DataFrame:
    """Tidy rows for the DuckDB table ``harmonisation_report``.

    Parameters
    ----------
    unmatched : pandas.DataFrame or iterable of DataFrame
        One or more ``unmatched`` tables from :func:`complete_crosswalk` (columns
        ``code, level, reason``), e.g. one per level.
    from_year, to_year : int
        The indelingen the rows were harmonised between.

    Returns
    -------
    pandas.DataFrame
        Columns ``code, level, from_year, to_year, reason`` (str, str, int64, int64, str),
        de-duplicated and sorted by level and code; matches
        ``CREATE TABLE harmonisation_report(code VARCHAR, level VARCHAR,
        from_year BIGINT, to_year BIGINT, reason VARCHAR)``.

    Raises
    ------
    HarmonisationError
        A table lacks a column, holds empty values, or the years are invalid.
    """
    frames = [unmatched] if isinstance(unmatched, pd.DataFrame) else list(unmatched)
    problems = _year_problems(from_year, to_year)
    for i, frame in enumerate(frames):
        missing = [c for c in UNMATCHED_COLUMNS if c not in frame.columns]
        if missing:
            problems.append(
                f"table {i}: missing column(s) {', '.join(missing)}; expected "
                f"{', '.join(UNMATCHED_COLUMNS)}; received {', '.join(map(str, frame.columns))}"
            )
        elif frame[list(UNMATCHED_COLUMNS)].isna().any().any():
            problems.append(f"table {i}: empty values in {', '.join(UNMATCHED_COLUMNS)}")
    _raise_problems(HarmonisationError, "harmonisation_report: invalid input", problems)
    rows = pd.concat(
        [f[list(UNMATCHED_COLUMNS)] for f in frames]
        or [pd.DataFrame(columns=list(UNMATCHED_COLUMNS))],
        ignore_index=True,
    ).astype("str")
    rows["from_year"] = np.int64(from_year)
    rows["to_year"] = np.int64(to_year)
    rows = rows.drop_duplicates().sort_values(["level", "code"], kind="stable")
    return rows[list(REPORT_COLUMNS)].reset_index(drop=True)
