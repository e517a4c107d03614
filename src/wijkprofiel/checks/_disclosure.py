"""Disclosure control: no published count or rate based on fewer than a threshold.

Applied to observations before anything reaches the warehouse or an output file.

* :func:`suppress_small_cells` — primary suppression (a rate on fewer than ``threshold``
  people, or a count below it).
* :func:`secondary_suppression` — primary plus complementary suppression, so a suppressed
  cell cannot be recovered by subtraction from its total and its published siblings
  (Nederland = Σ gemeenten, gemeente = Σ wijken, wijk = Σ buurten), and optional rounding
  of the published counts.
* :func:`find_small_cells` — a scan for published counts/rates based on fewer than the
  threshold in any table (warehouse tables, output CSVs).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from wijkprofiel.errors import ConfigError

__all__ = ["DEFAULT_THRESHOLD", "COUNT_COLUMN_NAMES", "suppress_small_cells", "secondary_suppression",
           "find_small_cells"]

DEFAULT_THRESHOLD = 10
_KEYS = ["indicator_id", "indeling_year", "period", "population_group"]
_NULLED = ("value", "numerator", "denominator", "ci_lower", "ci_upper")


def _check_threshold(threshold: object) -> int:
    ok = isinstance(threshold, int | float | np.integer | np.floating) and not isinstance(threshold, bool)
    number = float(threshold) if ok else float("nan")  # type: ignore[arg-type]
    if not (number >= 1 and number.is_integer()):
        msg = f"disclosure threshold must be a whole number ≥ 1, got {threshold!r}"
        raise ConfigError(msg)
    return int(number)


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
    out = observations.copy(deep=False)  # copy-on-write (pandas ≥ 3): a real copy of what changes only
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


def _parent_rows(observations: pd.DataFrame, regions: pd.DataFrame) -> npt.NDArray[np.int64]:
    """Per observation row: the row of its parent area (land > gemeente > wijk > buurt) in the
    same indicator/indeling/period/group cell, -1 when there is none."""
    reg = regions.drop_duplicates(["region_code", "indeling_year"])
    land = reg[reg["level"] == "land"].drop_duplicates("indeling_year").set_index("indeling_year")["region_code"]
    level = reg["level"].astype(str).to_numpy()
    parent_code = np.full(len(reg), None, dtype=object)
    for lv, column in (("buurt", reg["wijkcode"]), ("wijk", reg["gemeentecode"]),
                       ("gemeente", reg["indeling_year"].map(land))):
        parent_code[level == lv] = column.astype(object).to_numpy(dtype=object)[level == lv]
    parent_of = pd.Series(parent_code, index=pd.MultiIndex.from_arrays(
        [reg["region_code"].astype(str).to_numpy(), reg["indeling_year"].to_numpy()]))
    code = observations["region_code"].astype(str).to_numpy()
    year = observations["indeling_year"].to_numpy()
    parent = parent_of.reindex(pd.MultiIndex.from_arrays([code, year])).to_numpy(dtype=object)
    # one integer per (cell, region); the parent key uses the same coding
    cell = np.zeros(len(observations), dtype="int64")
    for col in _KEYS:
        c, u = pd.factorize(observations[col], sort=False)
        cell = cell * (len(u) + 1) + c.astype("int64")
    names, uniq = pd.factorize(pd.Series(np.concatenate([code, parent.astype(str)])), sort=False)
    own = cell * (len(uniq) + 1) + names[: len(code)].astype("int64")
    want = cell * (len(uniq) + 1) + names[len(code):].astype("int64")
    if len(own) == 0:
        return np.zeros(0, dtype="int64")
    order = np.argsort(own, kind="stable")
    pos = np.clip(np.searchsorted(own[order], want), 0, len(own) - 1)
    hit = pd.notna(parent) & (own[order][pos] == want)
    return np.where(hit, order[pos], -1).astype("int64")


def secondary_suppression(
    observations: pd.DataFrame, regions: pd.DataFrame, threshold: int = DEFAULT_THRESHOLD,
    *, round_to: int | None = None,
) -> pd.DataFrame:
    """Primary and complementary (secondary) suppression, optionally rounding counts.

    Every parent area with its child rows in the same indicator/indeling/period/group cell
    forms an additive constraint (Nederland = Σ gemeenten, gemeente = Σ wijken,
    wijk = Σ buurten, for numerator and denominator). A constraint with exactly one hidden
    member reveals it by subtraction, so the next-smallest published child (smallest
    denominator, else numerator) is suppressed too; when no child is left, the parent is
    (e.g. a gemeente with a single wijk). New suppressions can expose another constraint
    (a suppressed wijk is the total of its buurten), so this repeats until every constraint
    has zero or at least two hidden members — in a hierarchy (a tree of constraints) no
    hidden cell can then be derived exactly.

    Only count rows take part (rows with a numerator or denominator, or already
    suppressed); model estimates without counts are untouched. Rows that are absent or
    published without counts are conservatively ignored (treated as known). Not protected:
    additivity across population groups (e.g. 18+ = 18-64 + 65+) — suppress those with an
    extra pass per group hierarchy if counts by group are ever published.

    Parameters
    ----------
    observations
        Long observations (contract columns).
    regions
        ``region_code, indeling_year, level, gemeentecode, wijkcode``.
    threshold
        Smallest publishable count (primary rule of :func:`suppress_small_cells`).
    round_to
        Round published numerators and denominators to a multiple of this (e.g. 5, CBS
        practice) after suppression, half away from zero; ``value`` is rescaled to the
        rounded counts (``value * (num_r/den_r) / (num/den)``; a count row by
        ``num_r/num``). ``None`` (default) leaves counts unrounded.

    Returns
    -------
    pandas.DataFrame
        A copy; every suppressed row has ``suppressed = True`` and NULL ``value``,
        ``numerator``, ``denominator``, ``ci_lower``, ``ci_upper``.
    """
    threshold = _check_threshold(threshold)
    if round_to is not None and (isinstance(round_to, bool) or not isinstance(round_to, int) or round_to < 1):
        msg = f"round_to must be a whole number ≥ 1 or None, got {round_to!r}"
        raise ConfigError(msg)
    out = suppress_small_cells(observations, threshold)
    num = out["numerator"].to_numpy(dtype="float64", na_value=np.nan)
    den = out["denominator"].to_numpy(dtype="float64", na_value=np.nan)
    hidden = out["suppressed"].to_numpy(dtype=bool).copy()
    member = hidden | ~np.isnan(num) | ~np.isnan(den)
    rows = np.flatnonzero(member)  # only count rows take part
    parent = np.full(len(out), -1, dtype="int64")
    within = _parent_rows(out.iloc[rows], regions)
    parent[rows] = np.where(within >= 0, rows[np.maximum(within, 0)], -1)
    size = np.where(~np.isnan(den), den, num)
    child = np.flatnonzero(parent >= 0)
    n = len(out)
    while True:
        n_hidden = np.bincount(parent[child], weights=hidden[child], minlength=n) + hidden
        n_children = np.bincount(parent[child], minlength=n)
        exposed = (n_children > 0) & (n_hidden == 1)
        if not exposed.any():
            break
        # smallest published child of each exposed constraint
        cand = child[exposed[parent[child]] & ~hidden[child]]
        order = np.lexsort((size[cand], parent[cand]))
        cand = cand[order]
        first = np.ones(len(cand), dtype=bool)
        first[1:] = parent[cand][1:] != parent[cand][:-1]
        pick = cand[first]
        covered = np.zeros(n, dtype=bool)
        covered[parent[pick]] = True
        fallback = np.flatnonzero(exposed & ~covered & ~hidden)  # no published child: the parent
        hidden[pick] = True
        hidden[fallback] = True
    new = hidden & ~out["suppressed"].to_numpy(dtype=bool)
    if new.any():
        for col in _NULLED:
            if col in out.columns:
                out.loc[new, col] = np.nan
        out["suppressed"] = hidden
    if round_to is not None:
        out = _round_counts(out, round_to)
    return out


def _round_counts(out: pd.DataFrame, base: int) -> pd.DataFrame:
    num = out["numerator"].to_numpy(dtype="float64", na_value=np.nan)
    den = out["denominator"].to_numpy(dtype="float64", na_value=np.nan)
    value = out["value"].to_numpy(dtype="float64", na_value=np.nan)

    def rnd(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.asarray(np.sign(x) * np.floor(np.abs(x) / base + 0.5) * base, dtype="float64")

    rn, rd = rnd(num), rnd(den)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = ~np.isnan(den)
        factor = np.where(rate, (rn / rd) / (num / den), rn / num)
        new_value = np.where(np.isfinite(factor), value * factor, np.where(rn == 0, 0.0 * value, value))
    has = ~np.isnan(num) | ~np.isnan(den)
    out = out.copy()
    out["numerator"] = np.where(has, rn, num)
    out["denominator"] = np.where(has, rd, den)
    out["value"] = np.where(has, new_value, value)
    return out


#: column names treated as counts by :func:`find_small_cells` (plus ``aantal_*``, ``*_count``)
COUNT_COLUMN_NAMES = ("numerator", "denominator", "teller", "noemer", "count", "n", "aantal",
                      "aantal_bsn", "verzekerdejaren", "aantal_verzekerdejaren")
_COUNT_PATTERN = re.compile(r"^(aantal_.+|.+_count)$")


def find_small_cells(frame: pd.DataFrame, threshold: int = DEFAULT_THRESHOLD,
                     *, count_columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Published counts or rates based on fewer than ``threshold`` in any table.

    The rule of :func:`suppress_small_cells`: with a denominator column (``denominator`` or
    ``noemer``) a row is small when its denominator is below the threshold, and its
    numerator (``numerator``/``teller``) only counts where the denominator is missing (a
    plain count). Every other count column (:data:`COUNT_COLUMN_NAMES`, ``aantal_*``,
    ``*_count`` — case-insensitive — or ``count_columns``) is small below the threshold.
    Rows flagged ``suppressed`` and missing values are never small (nothing is published).
    Non-numeric columns are skipped.

    Returns
    -------
    pandas.DataFrame
        One row per small cell: ``row`` (position in ``frame``), ``column``, ``count``, and
        the key columns of ``frame`` that exist (``indicator_id, region_code,
        indeling_year, period, population_group``). Empty when nothing is small.
    """
    threshold = _check_threshold(threshold)
    lower = {str(c).lower(): c for c in frame.columns}
    if count_columns is None:
        names = [c for key, c in lower.items() if key in COUNT_COLUMN_NAMES or _COUNT_PATTERN.match(key)]
    else:
        missing = [c for c in count_columns if c not in frame.columns]
        if missing:
            msg = f"count_columns not in frame: {', '.join(map(str, missing))}; frame has {', '.join(map(str, frame.columns))}"
            raise ConfigError(msg)
        names = list(count_columns)
    names = [c for c in names if pd.api.types.is_numeric_dtype(frame[c])]
    published = np.ones(len(frame), dtype=bool)
    if "suppressed" in frame.columns:
        published = ~frame["suppressed"].fillna(False).to_numpy(dtype=bool)
    den_col = next((lower[k] for k in ("denominator", "noemer") if k in lower and lower[k] in names), None)
    den = frame[den_col].to_numpy(dtype="float64", na_value=np.nan) if den_col is not None else None
    keys = [c for c in ("indicator_id", "region_code", "indeling_year", "period", "population_group") if c in frame.columns]
    parts = []
    for col in names:
        x = frame[col].to_numpy(dtype="float64", na_value=np.nan)
        small = published & ~np.isnan(x) & (x < threshold)
        if den is not None and str(col).lower() in ("numerator", "teller"):
            small &= np.isnan(den)
        rows = np.flatnonzero(small)
        if len(rows):
            part = pd.DataFrame({"row": rows, "column": str(col), "count": x[rows]})
            for k in keys:
                part[k] = frame[k].to_numpy()[rows]
            parts.append(part)
    if not parts:
        return pd.DataFrame({"row": pd.Series(dtype="int64"), "column": pd.Series(dtype=object),
                             "count": pd.Series(dtype="float64"), **{k: pd.Series(dtype=object) for k in keys}})
    return pd.concat(parts, ignore_index=True).sort_values(["row", "column"], ignore_index=True)
