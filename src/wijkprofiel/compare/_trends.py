"""Trends between two waves (nulmeting → nameting) per area, indicator and population group.

For every (indicator, region, indeling, population group) observed in both periods:
``change = value(to_period) - value(from_period)``.

* **With uncertainty** (both estimates carry a 95 % interval): the interval of the
  difference of two independent estimates by MOVER (Zou & Donner 2008; Newcombe's method
  10 for Wilson intervals; ``d -/+ 1.96 sqrt(se1^2 + se2^2)`` for symmetric ones), see
  :func:`wijkprofiel.stats.difference_ci`. Class by whether the interval excludes 0,
  ``class_method = 'significance_95'``. ``z = change / sqrt(se1^2 + se2^2)`` with standard
  errors from the intervals. Independence holds for repeated cross-sectional surveys (a new
  sample per wave, as the Gezondheidsmonitor).
* **Without uncertainty** (point estimates only, e.g. the embedded RIVM file): descriptive,
  ``class_method = 'descriptive'``: ``z = change / sd`` with ``sd`` the spread (ddof=1) of
  the changes of the same-level areas in the same indicator/indeling/group; ``|z| <= 1``
  is 'similar'. This is not a significance test.

Classes are polarity-aware: 'improved', 'similar', 'worsened' (neutral indicators:
'increased', 'similar', 'decreased'); 'not_compared' when the class cannot be formed.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from wijkprofiel.compare._comparisons import grouped_sd
from wijkprofiel.errors import ConfigError
from wijkprofiel.stats import compare_to_benchmark, difference_ci, se_from_ci, zscore_class

__all__ = ["TREND_COLUMNS", "TREND_CLASSES", "trend", "trends"]

TREND_COLUMNS = [
    "indicator_id", "region_code", "indeling_year", "level", "population_group",
    "from_period", "to_period", "from_value", "to_value", "change", "change_lower", "change_upper",
    "z", "class", "class_method",
]
#: class of a comparison with the earlier value -> trend class
TREND_CLASSES = {
    "much_better": "improved", "better": "improved", "similar": "similar", "worse": "worsened",
    "much_worse": "worsened", "much_lower": "decreased", "lower": "decreased", "higher": "increased",
    "much_higher": "increased", "not_compared": "not_compared",
}
_KEYS = ["indicator_id", "region_code", "indeling_year", "population_group"]


def _period(value: object, name: str, available: list[int]) -> int:
    ok = isinstance(value, int | np.integer) and not isinstance(value, bool)
    if not ok:
        msg = f"{name} must be a whole year such as 2016, got {value!r}"
        raise ConfigError(msg)
    year: int = int(value)  # type: ignore[call-overload]
    if year not in available:
        msg = f"{name} {value} does not occur in observations; available periods: {', '.join(map(str, available))}"
        raise ConfigError(msg)
    return year


def trend(
    observations: pd.DataFrame, regions: pd.DataFrame, indicators: pd.DataFrame,
    from_period: int, to_period: int,
) -> pd.DataFrame:
    """Change per area between ``from_period`` (nulmeting) and ``to_period`` (nameting).

    Parameters
    ----------
    observations
        The ``observations`` table (``ci_lower``/``ci_upper`` optional).
    regions
        ``region_code, indeling_year, level`` (areas not in it get level NULL).
    indicators
        ``indicator_id, polarity`` for every indicator in the two periods.
    from_period, to_period
        The two waves, e.g. 2016 and 2020; must differ and occur in ``observations``.

    Returns
    -------
    pandas.DataFrame
        :data:`TREND_COLUMNS`, one row per key observed (non-missing) in both periods.
        ``change_lower``/``change_upper`` are NaN without uncertainty.

    Raises
    ------
    ConfigError
        Invalid periods, missing columns, unknown indicators or duplicate keys.
    """
    return trends(observations, regions, indicators, [(from_period, to_period)])


def trends(
    observations: pd.DataFrame, regions: pd.DataFrame, indicators: pd.DataFrame,
    pairs: list[tuple[int, int]],
) -> pd.DataFrame:
    """:func:`trend` for several wave pairs, concatenated in the order of ``pairs``; the key
    columns of ``observations`` are coded once for all pairs (they dominate the cost)."""
    needed = [*_KEYS, "period", "value"]
    missing = [c for c in needed if c not in observations.columns]
    if missing:
        msg = f"observations is missing required column(s) {', '.join(missing)}; expected at least {', '.join(needed)}"
        raise ConfigError(msg)
    periods = sorted(int(p) for p in pd.unique(observations["period"].dropna()))
    checked = []
    for from_period, to_period in pairs:
        p0 = _period(from_period, "from_period", periods)
        p1 = _period(to_period, "to_period", periods)
        if p0 == p1:
            msg = f"from_period and to_period must differ, got {p0} for both"
            raise ConfigError(msg)
        checked.append((p0, p1))
    table = _CodedTable(observations)
    frames = [_trend(table, regions, indicators, p0, p1) for p0, p1 in checked]
    if not frames:
        return _empty()
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def _trend_classes(classes: npt.NDArray[np.object_]) -> pd.Categorical[str]:
    """:data:`TREND_CLASSES` of comparison ``classes`` as a categorical (sorted categories;
    a class without a trend class is missing), mapped once per distinct class."""
    codes, names = pd.factorize(classes)
    mapped = [TREND_CLASSES.get(str(c)) for c in names]
    categories = sorted({m for m in mapped if m is not None})
    position = {c: i for i, c in enumerate(categories)}
    lookup = np.array([-1 if m is None else position[m] for m in mapped] + [-1], dtype="int64")
    return pd.Categorical.from_codes(lookup[codes], categories=pd.Index(categories))


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: [] for c in TREND_COLUMNS})


class _CodedTable:
    """The observations as numbers: period, value, intervals and integer codes of the keys."""

    def __init__(self, observations: pd.DataFrame) -> None:
        self.period = observations["period"].to_numpy(dtype="float64", na_value=np.nan)
        self.value = observations["value"].to_numpy(dtype="float64", na_value=np.nan)
        self.ci = {name: observations[name].to_numpy(dtype="float64", na_value=np.nan)
                   for name in ("ci_lower", "ci_upper") if name in observations.columns}
        # integer codes of the key columns over the whole table, subset per pair
        self.codes: dict[str, npt.NDArray[np.int64]] = {}
        self.uniques: dict[str, pd.Index] = {}
        for name in _KEYS:
            c, u = pd.factorize(observations[name], sort=False)
            self.codes[name], self.uniques[name] = c.astype("int64"), pd.Index(u)
        self.key = np.zeros(len(observations), dtype="int64")
        for name in _KEYS:
            self.key = self.key * (len(self.uniques[name]) + 1) + self.codes[name]


def _trend(table: _CodedTable, regions: pd.DataFrame, indicators: pd.DataFrame, p0: int, p1: int) -> pd.DataFrame:
    """The trend table of one checked pair of periods (see :func:`trend`)."""
    period, value, codes, uniques, key = table.period, table.value, table.codes, table.uniques, table.key
    ok = ~np.isnan(value)
    f_all, t_all = np.flatnonzero(ok & (period == p0)), np.flatnonzero(ok & (period == p1))
    for name, rows in (("from_period", f_all), ("to_period", t_all)):
        if not pd.Index(key[rows]).is_unique:
            msg = f"observations has duplicate keys ({', '.join(_KEYS)}) in {name}; expected one row per key and period"
            raise ConfigError(msg)
    where = pd.Index(key[f_all]).get_indexer(pd.Index(key[t_all]))
    hit = where >= 0
    fr, tr = f_all[where[hit]], t_all[hit]
    n = len(tr)

    ind_ids = uniques["indicator_id"].astype(str)
    pol_table = indicators.drop_duplicates("indicator_id").set_index("indicator_id")["polarity"]
    used = np.unique(codes["indicator_id"][tr])
    unknown = sorted(set(ind_ids[used]) - set(pol_table.index.astype(str)))
    if unknown:
        msg = f"indicators has no polarity for indicator(s) {', '.join(unknown)}; add them to the indicators table"
        raise ConfigError(msg)
    pol_uni = pol_table.reindex(ind_ids).to_numpy(dtype=object)
    polarity = pd.Series(pd.Categorical(pol_uni).take(codes["indicator_id"][tr]) if n else pd.Categorical([]))

    # level per row through the (code, indeling) pairs actually used
    rc, yc = codes["region_code"][tr], codes["indeling_year"][tr]
    pair, pair_uni = pd.factorize(rc * (len(uniques["indeling_year"]) + 1) + yc)
    n_years = len(uniques["indeling_year"]) + 1
    lookup = regions.drop_duplicates(["region_code", "indeling_year"]).set_index(["region_code", "indeling_year"])["level"]
    pair_level = lookup.reindex(pd.MultiIndex.from_arrays([
        np.asarray(uniques["region_code"].astype(str))[pair_uni // n_years],
        np.asarray(uniques["indeling_year"])[pair_uni % n_years]])).to_numpy(dtype=object)
    level_cat = pd.Categorical(pair_level).take(pair) if n else pd.Categorical([])

    def column(name: str, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        if name not in table.ci:
            return np.full(len(rows), np.nan)
        return np.asarray(table.ci[name][rows], dtype="float64")

    v0, v1 = value[fr], value[tr]
    l0, u0 = column("ci_lower", fr), column("ci_upper", fr)
    l1, u1 = column("ci_lower", tr), column("ci_upper", tr)
    change = v1 - v0
    lower, upper, z = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    cls = np.full(n, "not_compared", dtype=object)
    sig = ~(np.isnan(l0) | np.isnan(u0) | np.isnan(l1) | np.isnan(u1))
    if sig.any():
        _, lo, up = difference_ci(v1[sig], l1[sig], u1[sig], v0[sig], l0[sig], u0[sig])
        lower[sig], upper[sig] = lo, up
        se = np.sqrt(np.asarray(se_from_ci(l1[sig], u1[sig])) ** 2 + np.asarray(se_from_ci(l0[sig], u0[sig])) ** 2)
        with np.errstate(invalid="ignore", divide="ignore"):
            z[sig] = change[sig] / np.where(se > 0, se, np.nan)
        cls[sig] = compare_to_benchmark(change[sig], lower[sig], upper[sig], np.zeros(int(sig.sum())),
                                        polarity[sig].reset_index(drop=True))
    desc = ~sig
    if desc.any():
        # spread of the changes of same-level areas per indicator, indeling and group
        level_code = np.asarray(level_cat.codes, dtype="int64") + 1 if n else np.zeros(0, dtype="int64")
        group = codes["indicator_id"][tr]
        for c, size in ((codes["indeling_year"][tr], n_years), (codes["population_group"][tr],
                        len(uniques["population_group"]) + 1), (level_code, len(level_cat.categories) + 2)):
            group = group * size + c
        g_codes, g_uni = pd.factorize(group)
        sd = grouped_sd(g_codes.astype("int64"), np.where(desc, change, np.nan), len(g_uni))
        with np.errstate(invalid="ignore", divide="ignore"):
            zd = np.where(sd > 0, change / sd, np.nan)
        z[desc] = zd[desc]
        cls[desc] = zscore_class(zd[desc], polarity[desc].reset_index(drop=True))
    trend_class = _trend_classes(cls)

    def keys(name: str, rows: npt.NDArray[np.int64]) -> pd.Categorical:
        return pd.Categorical.from_codes(codes[name][rows], categories=pd.Index(uniques[name].astype(str)))

    out = pd.DataFrame({
        "indicator_id": keys("indicator_id", tr),
        "region_code": keys("region_code", tr),
        "indeling_year": np.asarray(uniques["indeling_year"])[codes["indeling_year"][tr]].astype("int64"),
        "level": level_cat,
        "population_group": keys("population_group", tr),
        "from_period": np.full(n, p0, dtype="int64"),
        "to_period": np.full(n, p1, dtype="int64"),
        "from_value": v0, "to_value": v1, "change": change,
        "change_lower": lower, "change_upper": upper, "z": z,
        "class": trend_class,
        "class_method": pd.Categorical(np.where(sig, "significance_95", "descriptive"),
                                       categories=["descriptive", "significance_95"]),
    })
    return out[TREND_COLUMNS]
