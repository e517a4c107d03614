"""Running the suites: each frame prepared for its suite (helper columns, block ids), then
validated; results as ``validation_results`` rows.

:func:`validate_frame` runs a suite of :mod:`._suites` on a frame and returns rows in the
row-check format (``source, check_name, severity, passed, observed, expected, details``),
so they go into the same table and through ``raise_on_errors``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from wijkprofiel.checks._gx import (
    Prepared,
    empty_share,
    has_columns,
    level_counts,
    result_rows,
    run_suite,
)
from wijkprofiel.checks._row_checks import EXPECTED_COUNTS
from wijkprofiel.checks._suites import (
    KNOWN_DEVIATIONS,
    LEVELS,
    comparisons_publish_suite,
    kwb_suite,
    pdok_suite,
    regions_suite,
    rivm_indicator_columns,
    rivm_suite,
    vektis_suite,
)
from wijkprofiel.errors import ConfigError

__all__ = ["SUITES", "comparisons_publish_frame", "validate_frame", "suite_sizes"]


# ------------------------------------------------------------------------ helper columns
def _constant_counts(frame: pd.DataFrame, year: int) -> Callable[[str], pd.Series]:
    counts = EXPECTED_COUNTS.get(year, {})
    return lambda level: pd.Series(float(counts.get(level, np.nan)), index=frame.index)


def _prepare_rivm(frame: pd.DataFrame, ctx: dict[str, Any]) -> Prepared:
    block = ["period", "population_group", "estimate"]
    year = int(ctx.pop("indeling_year", 2020))
    # a selection of gemeenten (subset snapshot) has its own counts: only one land row is expected
    counts = (_constant_counts(frame, year) if not ctx.pop("subset", False)
              else (lambda level: pd.Series(np.nan, index=frame.index)))
    helpers = level_counts(frame, block, LEVELS, counts)
    helpers["aandeel_leeg_per_blok"] = empty_share(frame, block, [c for c in rivm_indicator_columns(frame)
                                                                  if c in frame.columns])
    return Prepared(frame.assign(**helpers), ["region_code", "period", "population_group", "estimate"], list(helpers), [])


def _prepare_kwb(frame: pd.DataFrame, ctx: dict[str, Any]) -> Prepared:
    year = int(ctx.pop("indeling_year", 2024))
    counts = (_constant_counts(frame, year) if not ctx.pop("subset", False)
              else (lambda level: pd.Series(np.nan, index=frame.index)))
    helpers = level_counts(frame, [], LEVELS, counts)
    if has_columns(frame, ["level", "region_code", "gemeentecode", "AantalInwoners"]):
        wijk = frame[frame["level"] == "wijk"].groupby("gemeentecode")["AantalInwoners"].agg(["sum", "size"])
        is_gm = (frame["level"] == "gemeente").fillna(False).to_numpy(dtype=bool)
        code = frame["region_code"].astype("string")
        total = frame["AantalInwoners"].where(is_gm)
        helpers["wijksom_afwijking"] = (code.map(wijk["sum"]).astype("float64") - total).abs()
        helpers["wijksom_tolerantie"] = (5.0 * code.map(wijk["size"]).astype("float64")).where(is_gm)
        known = {c for (check, y, c) in KNOWN_DEVIATIONS if check == "wijksom" and y == year}
        helpers["wijksom_bekende_afwijking"] = code.isin(known).fillna(False).astype(bool)
    if has_columns(frame, ["level", "Mannen", "Vrouwen", "AantalInwoners"]):
        helpers["mv_afwijking"] = (frame["Mannen"] + frame["Vrouwen"] - frame["AantalInwoners"]).abs()
        helpers["mv_tolerantie"] = frame["level"].map({"land": 0.0, "gemeente": 0.0, "wijk": 10.0, "buurt": 10.0}).astype("float64")
    return Prepared(frame.assign(**helpers), ["region_code"], list(helpers), [])


def _prepare_vektis(frame: pd.DataFrame, ctx: dict[str, Any]) -> Prepared:
    return Prepared(frame, ["gemeentenaam", "geslacht", "leeftijdsklasse"], [], [])


def _prepare_pdok(frame: pd.DataFrame, ctx: dict[str, Any]) -> Prepared:
    import shapely

    geometry_name = getattr(frame, "_geometry_column_name", None) or "geometry"
    crs = getattr(frame, "crs", None)
    if geometry_name in frame.columns:
        geoms = np.asarray(frame[geometry_name].to_numpy(), dtype=object)
        valid = shapely.is_valid(geoms) & ~shapely.is_empty(geoms) & ~shapely.is_missing(geoms)
        plain = pd.DataFrame(frame.drop(columns=geometry_name))
    else:
        valid, plain = np.zeros(len(frame), dtype=bool), pd.DataFrame(frame)
    epsg = crs.to_epsg() if crs is not None else None
    row: dict[str, object] = {
        "source": "", "check_name": "crs_is_epsg_28992 (Python)", "severity": "error", "passed": epsg == 28992,
        "observed": str(crs.to_string() if crs is not None else "geen CRS"), "expected": "EPSG:28992 (RD New)",
        "details": "" if epsg == 28992 else "parse_pdok_layer levert RD New; een andere CRS maakt oppervlakken en kaartoverlay fout",
    }
    return Prepared(plain.assign(geometrie_geldig=valid), ["region_code"], ["geometrie_geldig"], [row])


def _prepare_regions(frame: pd.DataFrame, ctx: dict[str, Any]) -> Prepared:
    target = int(ctx.pop("target_indeling", 2020))
    report = ctx.pop("harmonisation_report", None)
    levels = tuple(ctx.pop("levels", ("gemeente", "wijk")))
    with_data = ctx.pop("with_data", None)
    selection = bool(ctx.pop("selection", False))  # a selection of gemeenten has no national counts
    helpers: dict[str, pd.Series] = {}
    if "indeling_year" in frame.columns:
        years = {y: {lvl: (np.nan if selection else float(n)) for lvl, n in c.items()}
                 for y, c in EXPECTED_COUNTS.items()}
        helpers = level_counts(frame, ["indeling_year"], LEVELS, lambda lvl: frame["indeling_year"].map(
            {y: c[lvl] for y, c in years.items()}).astype("float64"))
    has_geometry = frame["geometry"].notna() if "geometry" in frame.columns else pd.Series(False, index=frame.index)
    helpers["heeft_geometrie"] = has_geometry.astype(bool)
    if has_columns(frame, ["region_code", "level", "indeling_year"]):
        scope = (frame["indeling_year"] == target) & frame["level"].isin(levels)
        if with_data is not None:
            scope &= frame["region_code"].isin(set(with_data))
        listed = pd.Series(False, index=frame.index)
        if report is not None and len(report):
            rep = pd.DataFrame(report)
            keys = set(zip(rep["code"].astype(str), rep["level"].astype(str), rep["from_year"].astype(int), strict=True))
            listed = pd.Series([k in keys for k in zip(frame["region_code"].astype(str), frame["level"].astype(str),
                                                       frame["indeling_year"].astype(int), strict=True)], index=frame.index)
        ok = pd.array(np.asarray(has_geometry | listed, dtype=bool), dtype="boolean")
        helpers["geometrie_of_rapport"] = pd.Series(ok, index=frame.index).where(scope.fillna(False).astype(bool))
    plain = frame.drop(columns=[c for c in ("geometry",) if c in frame.columns])
    return Prepared(plain.assign(**helpers), ["region_code", "indeling_year", "level"], list(helpers), [])


def _prepare_comparisons(frame: pd.DataFrame, ctx: dict[str, Any]) -> Prepared:
    helpers: dict[str, pd.Series] = {}
    if has_columns(frame, ["diff_nl", "value", "nl_value"]):
        recomputed = frame["value"].to_numpy(dtype="float64") - frame["nl_value"].to_numpy(dtype="float64")
        stored = frame["diff_nl"].to_numpy(dtype="float64")
        gap = np.abs(stored - recomputed)
        gap[np.isnan(stored) != np.isnan(recomputed)] = np.inf  # one of them missing is a mismatch too
        helpers["diff_nl_afwijking"] = pd.Series(gap, index=frame.index)
    if "has_interval" not in frame.columns and has_columns(frame, ["ci_lower", "ci_upper"]):
        helpers["has_interval"] = frame["ci_lower"].notna() & frame["ci_upper"].notna()
    return Prepared(frame.assign(**helpers), ["indicator_id", "region_code", "period", "population_group"], list(helpers), [])


#: suite name -> (builder, prepare step, accepted context keys, number of Python checks)
SUITES: dict[str, tuple[Callable[[], Any], Callable[[pd.DataFrame, dict[str, Any]], Prepared], frozenset[str], int]] = {
    "rivm": (rivm_suite, _prepare_rivm, frozenset({"indeling_year", "subset"}), 0),
    "kwb": (kwb_suite, _prepare_kwb, frozenset({"indeling_year", "subset"}), 0),
    "vektis": (vektis_suite, _prepare_vektis, frozenset(), 0),
    "pdok": (pdok_suite, _prepare_pdok, frozenset(), 1),
    "regions": (regions_suite, _prepare_regions,
                frozenset({"target_indeling", "harmonisation_report", "levels", "with_data", "selection"}), 0),
    "comparisons_publish": (comparisons_publish_suite, _prepare_comparisons, frozenset(), 0),
}


_BUILT: dict[tuple[str, tuple[str, ...]], Any] = {}


def _suite(name: str, columns: tuple[str, ...] = ()) -> Any:
    """The suite, built once per name (and, for ``rivm``, per set of indicator columns)."""
    key = (name, columns)
    if key not in _BUILT:
        _BUILT[key] = rivm_suite(columns) if name == "rivm" else SUITES[name][0]()
    return _BUILT[key]


def comparisons_publish_frame(comparisons: pd.DataFrame, observations: pd.DataFrame, *, indeling_year: int,
                              levels: tuple[str, ...] = ("gemeente", "wijk")) -> pd.DataFrame:
    """The comparisons rows to publish for one indeling, with ``has_interval`` for the suite.

    Parameters
    ----------
    comparisons
        The ``comparisons`` table (:func:`wijkprofiel.compare.compare_loaded`).
    observations
        The observations behind it (``ci_lower``/``ci_upper``).
    indeling_year
        The indeling to publish.
    levels
        Levels that are published (maps and profiles: gemeente and wijk).

    Returns
    -------
    pandas.DataFrame
        The selected comparison rows plus ``has_interval``: true where the observation behind
        the row has both ``ci_lower`` and ``ci_upper`` (joined on indicator, region, indeling,
        period and population group).
    """
    keys = ["indicator_id", "region_code", "indeling_year", "period", "population_group"]
    rows = comparisons[(comparisons["indeling_year"] == indeling_year) & comparisons["level"].isin(levels)]
    # the mask first, then only the key columns (a take of every column costs seconds nationally)
    has_ci = (observations["indeling_year"] == indeling_year) & observations["ci_lower"].notna() & observations["ci_upper"].notna()
    with_ci = observations.loc[has_ci.to_numpy(), keys]
    if with_ci.empty:
        return rows.assign(has_interval=False)
    marked = with_ci.astype({k: str for k in keys}).drop_duplicates().assign(has_interval=True)
    joined = rows[keys].astype({k: str for k in keys}).merge(marked, on=keys, how="left")
    return rows.assign(has_interval=joined["has_interval"].fillna(False).astype(bool).to_numpy())


def validate_frame(suite_name: str, frame: pd.DataFrame, *, source: str, **context: Any) -> list[dict[str, object]]:
    """Run one suite on a frame; return rows in the the row checks (``checks._row_checks``) format.

    Parameters
    ----------
    suite_name
        A key of :data:`SUITES`.
    frame
        The frame the suite is written for (see the module docstring); not modified.
    source
        The ``source`` value of the result rows (e.g. ``"rivm"``, ``"pdok/wijken_2024"``).
    **context
        ``rivm``/``kwb``: ``indeling_year`` (default 2020 / 2024) for the expected counts;
        ``rivm``/``kwb``: ``subset`` (a selection of gemeenten: no expected counts per level);
        ``regions``: ``target_indeling`` (default 2020), ``harmonisation_report`` (frame),
        ``levels`` (default gemeente, wijk), ``with_data`` (region codes with data; default
        all regions of those levels).

    Returns
    -------
    list of dict
        ``source, check_name, severity, passed, observed, expected, details`` per check, in
        suite order: ``check_name`` like ``expect_column_values_to_be_between(roker)``,
        ``observed`` the unexpected count (or observed value), ``details`` up to 10
        unexpected values with the row's ids.

    Raises
    ------
    ConfigError
        Unknown suite or context key.
    """
    if suite_name not in SUITES:
        msg = f"unknown suite {suite_name!r}; valid suites: {', '.join(SUITES)}"
        raise ConfigError(msg)
    _, prepare, accepted, _ = SUITES[suite_name]
    unknown = sorted(set(context) - accepted)
    if unknown:
        msg = f"suite {suite_name!r}: unknown context {unknown}; accepted: {sorted(accepted) or 'none'}"
        raise ConfigError(msg)
    prepared = prepare(frame, dict(context))
    columns = rivm_indicator_columns(frame) if suite_name == "rivm" else ()
    results = run_suite(_suite(suite_name, columns), prepared.frame, prepared.ids)
    extra = [{**row, "source": source} for row in prepared.extra]
    dtypes = {str(c): str(t) for c, t in prepared.frame.dtypes.items()}
    return result_rows(results, source, prepared.helpers, dtypes) + extra


def suite_sizes() -> dict[str, int]:
    """Number of checks per suite.

    Returns
    -------
    dict of str to int
        Suite name → GX expectations plus checks done in Python (pdok: the CRS); equal to the
        number of rows :func:`validate_frame` returns for that suite.
    """
    return {name: len(SUITES[name][0]().expectations) + spec[3] for name, spec in SUITES.items()}
