"""Great Expectations suites for the parsed sources and the published outputs.

Suites are code, reviewed like code: one builder per suite, every expectation with
``meta={"severity": "error" | "warning", "doel": <Dutch purpose>}``. :func:`validate_frame`
runs a suite on a frame and returns rows in the :mod:`wijkprofiel.validate` format
(``source, check_name, severity, passed, observed, expected, details``), so they go into the
same ``validation_results`` table and through :func:`wijkprofiel.validate.raise_on_errors`.

========================  ==============================================================
suite                     frame
========================  ==============================================================
``rivm``                  :func:`~wijkprofiel.sources.rivm.parse_rivm_csv` (wide, ≤ 140 k rows)
``kwb``                   :func:`~wijkprofiel.sources.kwb.parse_kwb_snapshot`
``vektis``                :func:`~wijkprofiel.sources.vektis.parse_vektis_zvw` (one year)
``pdok``                  :func:`~wijkprofiel.sources.pdok.parse_pdok_layer` (one layer)
``regions``               the warehouse ``regions`` table (+ ``harmonisation_report``)
``comparisons_publish``   :func:`comparisons_publish_frame` (one indeling, gemeente + wijk)
========================  ==============================================================

**Helper columns.** What GX cannot express on the rows themselves is computed in Python
first, as documented columns that the expectations then test (:func:`validate_frame` adds
them to a copy; names below): counts per level per block on one row per block
(``n_<level>_per_blok`` against ``verwacht_<level>_per_blok``; on *every* land row for
``n_land_per_blok`` so a second national row is named), the share of empty cells per block
(``aandeel_leeg_per_blok``), KWB sums (``wijksom_*``, ``mv_*``), geometry validity
(``geometrie_geldig``: GX cannot test shapely objects, so ``shapely.is_valid`` and
``is_empty`` are precomputed and the geometry column is dropped), ``geometrie_of_rapport``
(regions) and ``diff_nl_afwijking`` (comparisons). The PDOK CRS is checked in Python and
reported as one more row.

**KWB rounding.** CBS rounds wijk and buurt counts to multiples of 5 (any rounding rule:
error < 5 per cell), gemeente and NL counts are exact. Hence men + women may differ from
the total by up to 10 in wijken/buurten (real: 237 rows differ by 10, e.g. BU04840813
10 = 10 + 10) — a warning above that; and the wijken of a gemeente add up to its total
within 5 × number of wijken — an error beyond that, except the documented real deviations
in :data:`KNOWN_DEVIATIONS`, which are reported as warnings on every run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd

from wijkprofiel.checks._gx import (
    Prepared,
    empty_share,
    gx_modules,
    has_columns,
    level_counts,
    result_rows,
    run_suite,
)
from wijkprofiel.checks._row_checks import CODE_PATTERNS, EXPECTED_COUNTS
from wijkprofiel.errors import ConfigError
from wijkprofiel.indicators import RIVM_KEYS

__all__ = [
    "SUITES", "KNOWN_DEVIATIONS", "VEKTIS_AGE_CLASSES", "SIGNIFICANCE_METHODS", "MAX_EMPTY_SHARE",
    "rivm_suite", "kwb_suite", "vektis_suite", "pdok_suite", "regions_suite", "comparisons_publish_suite",
    "comparisons_publish_frame", "validate_frame", "suite_sizes",
]

LEVELS = ("land", "gemeente", "wijk", "buurt")
#: Vektis leeftijdsklasse labels as parse_vektis_zvw normalises them
VEKTIS_AGE_CLASSES: tuple[str, ...] = (*(f"{a} t/m {a + 4} jaar" for a in range(0, 90, 5)), "90+")
#: class_method values that claim significance and therefore need an interval
SIGNIFICANCE_METHODS = ("significance_95", "significance_99.8", "nested_z", "fdr_bh")
#: RIVM: share of '.' cells (no estimate) per (period, group) block above which to warn;
#: real 50090NED: 4.4–5.5 % (18+, 18-64), 10.2–12.7 % (65+: fewer respondents per buurt)
MAX_EMPTY_SHARE = 0.15
#: (check, indeling year, region) -> reason: real deviations of the source, reviewed like code;
#: excluded from the error check and reported as a failed *warning* on every run
KNOWN_DEVIATIONS: dict[tuple[str, int, str], str] = {
    ("wijksom", 2024, "GM0453"): (
        "KWB 2024 Velsen: de 10 wijken tellen samen 69.180 inwoners (de buurten 69.175), de gemeente "
        "69.241: 61 meer dan de wijken, terwijl afronding op 5 hoogstens 50 verklaart. Vermoedelijk "
        "inwoners die CBS aan geen wijk toedeelt; de oorzaak staat niet in de bron"
    ),
}
_TEXT = ["StringDtype"]  # pandas "string" (parsers use astype("string"); GX reports it as "str")
_INT = ["Int64Dtype"]  # pandas nullable "Int64"
_RIVM_KEYS = ("row_id", "region_code", "level", "gemeentenaam", "period", "population_group", "estimate",
              "gemeentecode", "wijkcode")
_KWB_TEXT = ("region_code", "level", "gemeentecode", "wijkcode", "Title", "Gemeentenaam", "SoortRegio", "Codering")
_KWB_COUNTS = ("AantalInwoners", "Mannen", "Vrouwen", "k_0Tot15Jaar", "k_15Tot25Jaar", "k_25Tot45Jaar",
               "k_45Tot65Jaar", "k_65JaarOfOuder", "Nederland", "EuropaExclusiefNederland", "BuitenEuropa")
_VEKTIS_KEYS = ("year", "gemeentenaam", "geslacht", "leeftijdsklasse", "age_lower", "age_upper", "aantal_bsn",
                "verzekerdejaren", "is_residual")


def _error(doel: str) -> dict[str, str]:
    return {"severity": "error", "doel": doel}


def _warning(doel: str) -> dict[str, str]:
    return {"severity": "warning", "doel": doel}


def _indicator_columns() -> list[str]:
    return list(dict.fromkeys(RIVM_KEYS.values()))


def _vektis_cost_columns() -> list[str]:
    from wijkprofiel.sources.vektis import COST_CATEGORIES

    return [f"kosten_{c}" for c in COST_CATEGORIES]


def _code_patterns(suite: Any, levels: Iterable[str], column: str = "region_code") -> None:
    _, gxe, col = gx_modules()
    for level in levels:
        suite.add_expectation(gxe.ExpectColumnValuesToMatchRegex(
            column=column, regex=f"^{CODE_PATTERNS[level]}$", row_condition=col("level") == level,
            meta=_error(f"{level}codes volgen het CBS-patroon {CODE_PATTERNS[level]} (ook alfanumeriek)")))


def _level_counts(suite: Any, block: str) -> None:
    _, gxe, _ = gx_modules()
    suite.add_expectation(gxe.ExpectColumnValuesToBeBetween(
        column="n_land_per_blok", min_value=1, max_value=1,
        meta=_error(f"precies één landelijke rij per {block}")))
    for level in LEVELS[1:]:
        suite.add_expectation(gxe.ExpectColumnPairValuesToBeEqual(
            column_A=f"n_{level}_per_blok", column_B=f"verwacht_{level}_per_blok",
            ignore_row_if="either_value_is_missing",
            meta=_error(f"aantal {level}en per {block} zoals gepubliceerd voor de indeling")))


def rivm_suite() -> Any:
    """Suite ``rivm`` on the wide frame of :func:`~wijkprofiel.sources.rivm.parse_rivm_csv`."""
    gx, gxe, col = gx_modules()
    s = gx.ExpectationSuite(name="rivm")
    indicators = _indicator_columns()
    s.add_expectation(gxe.ExpectTableColumnsToMatchSet(
        column_set=[*_RIVM_KEYS, *indicators], exact_match=False,
        meta=_error("alle sleutelkolommen en alle indicatoren van het register aanwezig")))
    for name in ("region_code", "level", "population_group", "estimate"):
        s.add_expectation(gxe.ExpectColumnValuesToBeInTypeList(column=name, type_list=_TEXT, meta=_error("tekstkolom")))
    s.add_expectation(gxe.ExpectColumnValuesToBeInTypeList(column="period", type_list=_INT, meta=_error("jaartal als geheel getal")))
    for name in indicators:
        s.add_expectation(gxe.ExpectColumnValuesToBeOfType(column=name, type_="float64", meta=_error("percentage als getal")))
        s.add_expectation(gxe.ExpectColumnValuesToBeBetween(
            column=name, min_value=0, max_value=100, meta=_error("percentage tussen 0 en 100")))
    s.add_expectation(gxe.ExpectColumnValuesToBeInSet(column="level", value_set=list(LEVELS), meta=_error("bekend regioniveau")))
    _code_patterns(s, LEVELS)
    s.add_expectation(gxe.ExpectColumnValuesToBeInSet(
        column="population_group", value_set=["18+", "18-64", "65+"], meta=_error("bekende leeftijdsgroep")))
    s.add_expectation(gxe.ExpectColumnValuesToBeInSet(
        column="estimate", value_set=["value", "ci_lower", "ci_upper"], meta=_error("bekende schatting (Marges)")))
    s.add_expectation(gxe.ExpectCompoundColumnsToBeUnique(
        column_list=["region_code", "period", "population_group", "estimate"],
        meta=_error("geen dubbele rij per regio, periode, leeftijdsgroep en schatting")))
    _level_counts(s, "(periode, leeftijdsgroep)")
    s.add_expectation(gxe.ExpectColumnValuesToBeBetween(
        column="aandeel_leeg_per_blok", min_value=0, max_value=MAX_EMPTY_SHARE,
        meta=_warning("aandeel '.' (geen schatting) per blok niet ongewoon hoog")))
    return s


def kwb_suite() -> Any:
    """Suite ``kwb`` on the frame of :func:`~wijkprofiel.sources.kwb.parse_kwb_snapshot`."""
    gx, gxe, col = gx_modules()
    s = gx.ExpectationSuite(name="kwb")
    s.add_expectation(gxe.ExpectTableColumnsToMatchSet(
        column_set=[*_KWB_TEXT, *_KWB_COUNTS], exact_match=False, meta=_error("alle verwachte KWB-kolommen aanwezig")))
    for name in ("region_code", "level"):
        s.add_expectation(gxe.ExpectColumnValuesToBeInTypeList(column=name, type_list=_TEXT, meta=_error("tekstkolom")))
    for name in _KWB_COUNTS:
        s.add_expectation(gxe.ExpectColumnValuesToBeOfType(column=name, type_="float64", meta=_error("aantal als getal")))
        s.add_expectation(gxe.ExpectColumnValuesToBeBetween(column=name, min_value=0, meta=_error("aantal niet negatief")))
    s.add_expectation(gxe.ExpectColumnValuesToBeInSet(column="level", value_set=list(LEVELS), meta=_error("bekend regioniveau")))
    _code_patterns(s, LEVELS)
    s.add_expectation(gxe.ExpectColumnValuesToBeUnique(column="region_code", meta=_error("geen dubbele regiocodes")))
    s.add_expectation(gxe.ExpectColumnValuesToBeInSet(
        column="region_code", value_set=["NL00"], row_condition=col("level") == "land",
        meta=_error("de landelijke rij heet NL00 (CBS-tabellen)")))
    _level_counts(s, "tabel")
    s.add_expectation(gxe.ExpectColumnPairValuesAToBeGreaterThanB(
        column_A="wijksom_tolerantie", column_B="wijksom_afwijking", or_equal=True,
        ignore_row_if="either_value_is_missing", row_condition=col("wijksom_bekende_afwijking") == False,  # noqa: E712
        meta=_error("inwoners van de wijken tellen op tot de gemeente binnen afronding op 5 (5 × aantal wijken)")))
    s.add_expectation(gxe.ExpectColumnPairValuesAToBeGreaterThanB(
        column_A="wijksom_tolerantie", column_B="wijksom_afwijking", or_equal=True,
        ignore_row_if="either_value_is_missing", row_condition=col("wijksom_bekende_afwijking") == True,  # noqa: E712
        meta=_warning("bekende, gedocumenteerde afwijking van de wijksom (KNOWN_DEVIATIONS) blijft zichtbaar")))
    s.add_expectation(gxe.ExpectColumnPairValuesAToBeGreaterThanB(
        column_A="mv_tolerantie", column_B="mv_afwijking", or_equal=True, ignore_row_if="either_value_is_missing",
        meta=_warning("mannen + vrouwen = inwoners (wijk/buurt: afronding op 5, tot 10 verschil)")))
    return s


def vektis_suite() -> Any:
    """Suite ``vektis`` on one year of :func:`~wijkprofiel.sources.vektis.parse_vektis_zvw`."""
    gx, gxe, col = gx_modules()
    s = gx.ExpectationSuite(name="vektis")
    costs = _vektis_cost_columns()
    s.add_expectation(gxe.ExpectTableColumnsToMatchSet(
        column_set=[*_VEKTIS_KEYS, *costs], exact_match=False, meta=_error("alle sleutel- en kostenkolommen aanwezig")))
    for name in ("gemeentenaam", "geslacht", "leeftijdsklasse"):
        s.add_expectation(gxe.ExpectColumnValuesToBeInTypeList(column=name, type_list=_TEXT, meta=_error("tekstkolom")))
        s.add_expectation(gxe.ExpectColumnValuesToNotBeNull(
            column=name, row_condition=col("is_residual") == False,  # noqa: E712
            meta=_error("sleutel gevuld in elke rij behalve de restrij")))
    s.add_expectation(gxe.ExpectColumnValuesToBeInTypeList(column="aantal_bsn", type_list=_INT, meta=_error("aantal als geheel getal")))
    s.add_expectation(gxe.ExpectColumnValuesToBeOfType(column="verzekerdejaren", type_="float64", meta=_error("getal")))
    s.add_expectation(gxe.ExpectColumnValuesToBeOfType(column="is_residual", type_="bool", meta=_error("waar/onwaar")))
    for name in costs:
        s.add_expectation(gxe.ExpectColumnValuesToBeOfType(column=name, type_="float64", meta=_error("kosten in euro als getal")))
    s.add_expectation(gxe.ExpectColumnUniqueValueCountToBeBetween(
        column="year", min_value=1, max_value=1, meta=_error("één gegevensjaar per bestand")))
    s.add_expectation(gxe.ExpectColumnValuesToBeInSet(column="geslacht", value_set=["M", "V"], meta=_error("geslacht M of V")))
    s.add_expectation(gxe.ExpectColumnValuesToBeInSet(
        column="leeftijdsklasse", value_set=list(VEKTIS_AGE_CLASSES), meta=_error("bekende leeftijdsklasse (0 t/m 4 … 90+)")))
    s.add_expectation(gxe.ExpectColumnSumToBeBetween(
        column="is_residual", min_value=1, max_value=1, meta=_error("precies één restrij (niet toe te delen aan een gemeente)")))
    s.add_expectation(gxe.ExpectCompoundColumnsToBeUnique(
        column_list=["gemeentenaam", "geslacht", "leeftijdsklasse"], meta=_error("één rij per gemeente, geslacht en leeftijdsklasse")))
    s.add_expectation(gxe.ExpectColumnValuesToBeBetween(
        column="verzekerdejaren", min_value=0, strict_min=True, row_condition=col("is_residual") == False,  # noqa: E712
        meta=_error("verzekerdejaren groter dan 0 (noemer van de kosten per verzekerdejaar)")))
    s.add_expectation(gxe.ExpectColumnValuesToBeBetween(
        column="aantal_bsn", min_value=10, meta=_warning("Vektis publiceert alleen groepen van minstens 10 verzekerden")))
    return s


def pdok_suite() -> Any:
    """Suite ``pdok`` on one layer of :func:`~wijkprofiel.sources.pdok.parse_pdok_layer` (+ the CRS, in Python)."""
    gx, gxe, _ = gx_modules()
    s = gx.ExpectationSuite(name="pdok")
    s.add_expectation(gxe.ExpectTableColumnsToMatchSet(
        column_set=["region_code", "name", "level", "gemeentecode", "wijkcode", "water", "geometrie_geldig"],
        exact_match=False, meta=_error("alle kolommen van de kaartlaag aanwezig")))
    s.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column="region_code", meta=_error("elk vlak heeft een code")))
    s.add_expectation(gxe.ExpectColumnValuesToBeUnique(column="region_code", meta=_error("één vlak per code")))
    s.add_expectation(gxe.ExpectColumnValuesToBeInSet(
        column="level", value_set=list(LEVELS[1:]), meta=_error("bekend kaartniveau")))
    _code_patterns(s, LEVELS[1:])
    s.add_expectation(gxe.ExpectColumnValuesToMatchRegex(
        column="gemeentecode", regex=f"^{CODE_PATTERNS['gemeente']}$", meta=_error("gemeentecode volgt het CBS-patroon")))
    s.add_expectation(gxe.ExpectColumnValuesToBeInSet(
        column="geometrie_geldig", value_set=[True], meta=_error("geometrie geldig en niet leeg (shapely, vooraf berekend)")))
    return s


def regions_suite() -> Any:
    """Suite ``regions`` on the warehouse ``regions`` table."""
    gx, gxe, _ = gx_modules()
    s = gx.ExpectationSuite(name="regions")
    s.add_expectation(gxe.ExpectTableColumnsToMatchSet(
        column_set=["region_code", "name", "level", "gemeentecode", "wijkcode", "indeling_year", "geometry_year",
                    "water", "heeft_geometrie"], exact_match=False, meta=_error("alle kolommen van de tabel regions")))
    s.add_expectation(gxe.ExpectCompoundColumnsToBeUnique(
        column_list=["region_code", "indeling_year"], meta=_error("primaire sleutel (region_code, indeling_year) uniek")))
    s.add_expectation(gxe.ExpectColumnValuesToBeInSet(column="level", value_set=list(LEVELS), meta=_error("bekend regioniveau")))
    _code_patterns(s, LEVELS)
    _level_counts(s, "indeling")
    s.add_expectation(gxe.ExpectColumnValuesToBeInSet(
        column="geometrie_of_rapport", value_set=[True],
        meta=_error("elke regio met gegevens heeft een geometrie in de doelindeling of staat in harmonisation_report")))
    return s


def comparisons_publish_suite() -> Any:
    """Suite ``comparisons_publish`` on :func:`comparisons_publish_frame` output."""
    from wijkprofiel.compare import CLASS_METHODS, COMPARISON_COLUMNS
    from wijkprofiel.publish import CLASS_ORDER

    gx, gxe, col = gx_modules()
    s = gx.ExpectationSuite(name="comparisons_publish")
    s.add_expectation(gxe.ExpectTableColumnsToMatchSet(
        column_set=[*COMPARISON_COLUMNS, "has_interval"], exact_match=False,
        meta=_error("alle kolommen van comparisons plus has_interval")))
    s.add_expectation(gxe.ExpectColumnValuesToBeInSet(
        column="level", value_set=["gemeente", "wijk"], meta=_error("alleen gemeenten en wijken worden gepubliceerd")))
    s.add_expectation(gxe.ExpectColumnUniqueValueCountToBeBetween(
        column="indeling_year", min_value=1, max_value=1, meta=_error("één indeling per publicatie")))
    for name in ("class_nl", "class_gemeente"):
        s.add_expectation(gxe.ExpectColumnValuesToBeInSet(
            column=name, value_set=list(CLASS_ORDER), meta=_error("klasse uit de vaste woordenlijst (legenda)")))
    s.add_expectation(gxe.ExpectColumnValuesToBeInSet(
        column="class_method", value_set=list(CLASS_METHODS), meta=_error("toegestane vergelijkingsmethode")))
    s.add_expectation(gxe.ExpectColumnValuesToBeBetween(
        column="diff_nl_afwijking", min_value=0, max_value=1e-9, meta=_error("diff_nl = value − nl_value")))
    s.add_expectation(gxe.ExpectColumnValuesToBeInSet(
        column="has_interval", value_set=[True], row_condition=col("class_method").is_in(list(SIGNIFICANCE_METHODS)),
        meta=_error("geen significantieklasse zonder betrouwbaarheidsinterval")))
    return s


# ------------------------------------------------------------------------ helper columns
def _constant_counts(frame: pd.DataFrame, year: int) -> Callable[[str], pd.Series]:
    counts = EXPECTED_COUNTS.get(year, {})
    return lambda level: pd.Series(float(counts.get(level, np.nan)), index=frame.index)


def _prepare_rivm(frame: pd.DataFrame, ctx: dict[str, Any]) -> Prepared:
    block = ["period", "population_group"]
    helpers = level_counts(frame, block, LEVELS, _constant_counts(frame, int(ctx.pop("indeling_year", 2020))))
    helpers["aandeel_leeg_per_blok"] = empty_share(frame, block, [c for c in _indicator_columns() if c in frame.columns])
    return Prepared(frame.assign(**helpers), ["region_code", "period", "population_group", "estimate"], list(helpers), [])


def _prepare_kwb(frame: pd.DataFrame, ctx: dict[str, Any]) -> Prepared:
    year = int(ctx.pop("indeling_year", 2024))
    helpers = level_counts(frame, [], LEVELS, _constant_counts(frame, year))
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
    helpers: dict[str, pd.Series] = {}
    if "indeling_year" in frame.columns:
        years = {y: {lvl: float(n) for lvl, n in c.items()} for y, c in EXPECTED_COUNTS.items()}
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
    "rivm": (rivm_suite, _prepare_rivm, frozenset({"indeling_year"}), 0),
    "kwb": (kwb_suite, _prepare_kwb, frozenset({"indeling_year"}), 0),
    "vektis": (vektis_suite, _prepare_vektis, frozenset(), 0),
    "pdok": (pdok_suite, _prepare_pdok, frozenset(), 1),
    "regions": (regions_suite, _prepare_regions,
                frozenset({"target_indeling", "harmonisation_report", "levels", "with_data"}), 0),
    "comparisons_publish": (comparisons_publish_suite, _prepare_comparisons, frozenset(), 0),
}
_BUILT: dict[str, Any] = {}


def _suite(name: str) -> Any:
    if name not in _BUILT:
        _BUILT[name] = SUITES[name][0]()
    return _BUILT[name]


def comparisons_publish_frame(comparisons: pd.DataFrame, observations: pd.DataFrame, *, indeling_year: int,
                              levels: tuple[str, ...] = ("gemeente", "wijk")) -> pd.DataFrame:
    """The comparisons rows to publish for one indeling, with ``has_interval`` for the suite.

    Parameters
    ----------
    comparisons
        The ``comparisons`` table (:func:`wijkprofiel.build.compare_loaded`).
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
    obs = observations[observations["indeling_year"] == indeling_year]
    with_ci = obs.loc[obs["ci_lower"].notna() & obs["ci_upper"].notna(), keys]
    if with_ci.empty:
        return rows.assign(has_interval=False)
    marked = with_ci.astype({k: str for k in keys}).drop_duplicates().assign(has_interval=True)
    joined = rows[keys].astype({k: str for k in keys}).merge(marked, on=keys, how="left")
    return rows.assign(has_interval=joined["has_interval"].fillna(False).astype(bool).to_numpy())


def validate_frame(suite_name: str, frame: pd.DataFrame, *, source: str, **context: Any) -> list[dict[str, object]]:
    """Run one suite on a frame; return rows in the :mod:`wijkprofiel.validate` format.

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
    results = run_suite(_suite(suite_name), prepared.frame, prepared.ids)
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
    return {name: len(_suite(name).expectations) + spec[3] for name, spec in SUITES.items()}
