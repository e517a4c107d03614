"""Comparisons: every wijk/buurt against its gemeente and the Netherlands, every gemeente
against the Netherlands, for every indicator, period and population group.

Vectorised over the whole observation table at once (no Python loop per row): keys are
factorised to integers, benchmark rows are looked up by dense cell index, spreads are
grouped sums with ``numpy.bincount``.

Two approaches, chosen per row by the data behind it (:func:`compare_all`):

* **Descriptive** (``class_method = 'descriptive_z'``), for rows without an interval (the
  embedded RIVM file holds point estimates only; KWB and Vektis publish no variance):
  z-score bands (:func:`wijkprofiel.stats.zscore_class`) of the difference against the
  spread (sample standard deviation, ddof=1) of the same-level areas — within the gemeente
  for the gemeente comparison, nationally for the Netherlands comparison. Nothing here
  claims significance. :func:`compare_descriptive` computes only this approach.
* **Significance**, wherever the row has a 95 % interval (``ci_lower``/``ci_upper``, e.g.
  RIVM tables with *Marges*, or own extracts with counts):

  - against the Netherlands with the Fingertips rule
    (:func:`wijkprofiel.stats.compare_to_benchmark`): 95 % interval,
    ``'significance_95'``; when counts allow (numerator/denominator of a ``'%'``
    indicator, or of a rate: ``'per N'`` unit or ``value = numerator / denominator *
    10^k``; never money) also the 99.8 % level (Wilson / exact-Byar Poisson limits),
    ``'significance_99.8'`` (:func:`compare_with_intervals`);
  - against the gemeente with the **nested** test (``'nested_z'``): the wijk is part of its
    gemeente, so it is tested against the *rest* of the gemeente (two-sample z test):
    with counts the rest is gemeente − wijk (pooled two-proportion / two-rate test, three
    levels); with only published 95 % margins, standard errors follow from the intervals
    (:func:`wijkprofiel.stats.se_from_ci`) and the rest is approximated by
    :func:`wijkprofiel.stats.rest_of_whole` (NCES NAEP part-whole test), using the
    population share of the wijk when known, else share 0 — the conservative
    independent-samples test (:func:`nested_gemeente_test`).

  Optional Benjamini–Hochberg control of the false discovery rate over all tests of the run
  (``fdr=True``, ``class_method = 'fdr_bh'``).

Own extracts that deliver counts without an interval get one from
:func:`intervals_from_counts` (Wilson / Poisson) before comparing; register counts (KWB)
stay descriptive.

Shared machinery (factorised table, class vocabulary, grouped spreads) lives in
:mod:`._classes`, the significance path in
:mod:`._significance`; their public names are re-exported here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from wijkprofiel.compare._classes import (
    _DOWNGRADE,
    _NOT_COMPARED,
    _SIGNIFICANT,
    _SIMILAR,
    ALL_COMPARISON_COLUMNS,
    CLASS_METHODS,
    COMPARISON_COLUMNS,
    BoolArray,
    FloatArray,
    IntArray,
    _at,
    _cat,
    _class_categorical,
    _Core,
    _core,
    _keys,
    _z_class_codes,
    grouped_sd,
)
from wijkprofiel.compare._significance import (
    _column,
    _intervals,
    _nested_test,
    _nl_test,
    compare_with_intervals,
    intervals_from_counts,
    nested_gemeente_test,
)
from wijkprofiel.errors import ConfigError
from wijkprofiel.stats import fdr_bh

__all__ = [
    "COMPARISON_COLUMNS",
    "ALL_COMPARISON_COLUMNS",
    "CLASS_METHODS",
    "compare_descriptive",
    "compare_with_intervals",
    "nested_gemeente_test",
    "compare_all",
    "intervals_from_counts",
    "grouped_sd",
]

_ALPHA = 0.05
_ALPHA_998 = 0.002


def _descriptive(core: _Core) -> dict[str, FloatArray | IntArray]:
    """Descriptive differences, z-scores and class positions for the output rows."""
    sel = core.sel
    v = core.value[sel]
    nl_value = _at(core.value, core.nl_row[sel])
    gemeente_value = _at(core.value, core.gm_row[sel])
    sd_nl, sd_gm = core.sd_nl[sel], core.sd_gm[sel]
    with np.errstate(invalid="ignore", divide="ignore"):
        diff_nl = v - nl_value
        diff_gemeente = v - gemeente_value
        index_nl = np.where(nl_value != 0, 100.0 * v / nl_value, np.nan)
        z_nl = np.where(sd_nl > 0, diff_nl / sd_nl, np.nan)
        z_gemeente = np.where(core.sub[sel] & (sd_gm > 0), diff_gemeente / sd_gm, np.nan)
    pol = core.pol_uni[core.ind[sel]]
    return {
        "value": v, "gemeente_value": gemeente_value, "nl_value": nl_value,
        "diff_gemeente": diff_gemeente, "diff_nl": diff_nl, "index_nl": index_nl,
        "z_gemeente": z_gemeente, "z_nl": z_nl,
        "class_nl": _z_class_codes(z_nl, pol), "class_gemeente": _z_class_codes(z_gemeente, pol),
    }


def compare_descriptive(
    observations: pd.DataFrame, regions: pd.DataFrame, indicators: pd.DataFrame
) -> pd.DataFrame:
    """Compute the ``comparisons`` table with descriptive classes only.

    Parameters
    ----------
    observations
        The ``observations`` table (long).
    regions
        The ``regions`` table (``region_code, indeling_year, level, gemeentecode``).
    indicators
        The ``indicators`` table (``indicator_id, polarity, comparable``).

    Returns
    -------
    pandas.DataFrame
        :data:`COMPARISON_COLUMNS`. ``diff_nl = value - nl_value`` and
        ``diff_gemeente = value - gemeente_value`` exactly; ``index_nl = 100 * value /
        nl_value``. Gemeenten have no gemeente comparison (``class_gemeente =
        'not_compared'``); missing values or spreads also give 'not_compared'.
    """
    core = _core(observations, regions, indicators)
    d = _descriptive(core)
    out = pd.DataFrame({
        **_keys(core, core.sel),
        **{k: d[k] for k in ("value", "gemeente_value", "nl_value", "diff_gemeente", "diff_nl", "index_nl",
                             "z_gemeente", "z_nl")},
        "class_nl": _class_categorical(np.asarray(d["class_nl"], dtype="int64")),
        "class_gemeente": _class_categorical(np.asarray(d["class_gemeente"], dtype="int64")),
        "class_method": _cat(np.zeros(len(core.sel), dtype="int8"), ["descriptive_z"]),
    }, copy=False)  # no consolidation copy of the float columns (fresh arrays, never mutated)
    return out[COMPARISON_COLUMNS]


def _check_fdr(fdr: object) -> bool:
    if not isinstance(fdr, bool):
        msg = f"fdr must be True or False, got {fdr!r}"
        raise ConfigError(msg)
    return fdr


def _fdr_classes(cls: IntArray, adjusted: FloatArray, three: BoolArray) -> IntArray:
    """Classes after BH: significant only where the unadjusted class was significant *and*
    the adjusted p is <= 0.05 ('much_' needs <= 0.002 and a three-level test)."""
    out = cls.copy()
    sig = _SIGNIFICANT[cls]
    keep_much = sig & three & (adjusted <= _ALPHA_998)
    keep = sig & (adjusted <= _ALPHA)
    out = np.where(keep & ~keep_much, _DOWNGRADE[cls], out)
    out = np.where(sig & ~keep, _SIMILAR, out)
    return np.asarray(out, dtype="int64")


def compare_all(
    observations: pd.DataFrame, regions: pd.DataFrame, indicators: pd.DataFrame,
    *, fdr: bool = False, population: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The ``comparisons`` table: each row by the best method its data allows.

    Rows without an interval are exactly :func:`compare_descriptive` (``'descriptive_z'``,
    ``p_nl``/``p_gemeente`` NaN). Rows with a 95 % interval are tested
    (:func:`compare_with_intervals` vs NL, :func:`nested_gemeente_test` vs the gemeente);
    there ``z_nl``/``z_gemeente`` hold the test statistics and ``class_method`` is
    ``'nested_z'`` when the gemeente comparison was tested, else ``'significance_99.8'`` or
    ``'significance_95'`` (the NL level: 99.8 % exactly when the row has usable counts).
    In a tested row a comparison that cannot be tested (e.g. the gemeente has no interval)
    is ``'not_compared'``: a class never claims significance without an interval.

    Parameters
    ----------
    fdr
        Benjamini–Hochberg control (q = 0.05) over all tests of the run, separately for the
        NL family (every ``p_nl``) and the gemeente family (every ``p_gemeente``): a class
        stays significant only where the unadjusted class was significant and the adjusted
        p-value is <= 0.05 (``'much_'`` needs <= 0.002), so FDR never adds a significant
        class. Tested rows get ``class_method = 'fdr_bh'`` and the p columns hold the
        BH-adjusted p-values.
    population
        Optional ``region_code, indeling_year, population`` for the wijk shares of the
        margins-only nested test.

    Returns
    -------
    pandas.DataFrame
        :data:`ALL_COMPARISON_COLUMNS` (:data:`COMPARISON_COLUMNS` + ``p_gemeente, p_nl``).
    """
    fdr = _check_fdr(fdr)
    core = _core(observations, regions, indicators)
    d = _descriptive(core)
    n = len(core.sel)
    method = np.zeros(n, dtype="int8")
    p_nl, p_gm = np.full(n, np.nan), np.full(n, np.nan)
    lo, up = _column(core.obs, "ci_lower"), _column(core.obs, "ci_upper")
    tested_pos = np.flatnonzero(~np.isnan(lo[core.sel]) & ~np.isnan(up[core.sel]) & ~np.isnan(core.value[core.sel]))
    if len(tested_pos):
        iv = _intervals(core)
        z_nl, z_gm = np.asarray(d["z_nl"]).copy(), np.asarray(d["z_gemeente"]).copy()
        c_nl, c_gm = np.asarray(d["class_nl"]).copy(), np.asarray(d["class_gemeente"]).copy()
        rows = core.sel[tested_pos]
        t = _nl_test(core, iv, rows)
        z_nl[tested_pos], p_nl[tested_pos] = t["z_nl"], t["p_nl"]
        c_nl[tested_pos] = t["class_nl"]
        three_nl = np.zeros(n, dtype=bool)
        three_nl[tested_pos] = np.asarray(t["levels"]) == 3
        method[tested_pos] = np.where(three_nl[tested_pos], 2, 1)
        # gemeente comparison: nested test where possible, never descriptive in a tested row
        z_gm[tested_pos], c_gm[tested_pos] = np.nan, _NOT_COMPARED
        sub_pos = tested_pos[core.sub[rows]]
        three_gm = np.zeros(n, dtype=bool)
        if len(sub_pos):
            nt = _nested_test(core, iv, core.sel[sub_pos], population)
            ok = np.asarray(nt["tested"], dtype=bool)
            pos = sub_pos[ok]
            z_gm[pos] = np.asarray(nt["z_gemeente"])[ok]
            p_gm[pos] = np.asarray(nt["p_gemeente"])[ok]
            c_gm[pos] = np.asarray(nt["class_gemeente"])[ok]
            three_gm[pos] = np.asarray(nt["basis"])[ok] == 1
            method[pos] = 3
        if fdr:
            for p, c, three in ((p_nl, c_nl, three_nl), (p_gm, c_gm, three_gm)):
                has = ~np.isnan(p)
                if has.any():
                    _, adj = fdr_bh(p[has], alpha=_ALPHA)
                    p[has] = adj
                    c[has] = _fdr_classes(c[has], np.asarray(adj, dtype="float64"), three[has])
            method[tested_pos] = 4
        d = {**d, "z_nl": np.asarray(z_nl, dtype="float64"), "z_gemeente": np.asarray(z_gm, dtype="float64"),
             "class_nl": np.asarray(c_nl, dtype="int64"), "class_gemeente": np.asarray(c_gm, dtype="int64")}
    out = pd.DataFrame({
        **_keys(core, core.sel),
        **{k: d[k] for k in ("value", "gemeente_value", "nl_value", "diff_gemeente", "diff_nl", "index_nl",
                             "z_gemeente", "z_nl")},
        "class_nl": _class_categorical(np.asarray(d["class_nl"], dtype="int64")),
        "class_gemeente": _class_categorical(np.asarray(d["class_gemeente"], dtype="int64")),
        "class_method": _cat(method, CLASS_METHODS),
        "p_gemeente": p_gm,
        "p_nl": p_nl,
    }, copy=False)  # no consolidation copy of the float columns (fresh arrays, never mutated)
    return out[ALL_COMPARISON_COLUMNS]
