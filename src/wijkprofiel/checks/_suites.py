"""Great Expectations suites for the parsed sources and the published outputs.

Suites are code, reviewed like code: one builder per suite, every expectation with
``meta={"severity": "error" | "warning", "doel": <Dutch purpose>}``. :func:`validate_frame`
(in ``_suite_runs``) runs a suite on a frame and returns rows in the row-check format
(``source, check_name, severity, passed, observed, expected, details``), so they go into the
same ``validation_results`` table and through :func:`wijkprofiel.checks.raise_on_errors`.

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

from collections.abc import Iterable
from typing import Any

from wijkprofiel.checks._gx import (
    gx_modules,
)
from wijkprofiel.checks._row_checks import CODE_PATTERNS

__all__ = [
    "KNOWN_DEVIATIONS", "VEKTIS_AGE_CLASSES", "SIGNIFICANCE_METHODS", "MAX_EMPTY_SHARE",
    "rivm_suite", "rivm_indicator_columns", "kwb_suite", "vektis_suite", "pdok_suite", "regions_suite", "comparisons_publish_suite",
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


def rivm_indicator_columns(frame: Any) -> tuple[str, ...]:
    """The indicator columns a parsed RIVM frame must have: those its table announced
    (``attrs['column_map']``, from the table's topics and the catalogue); without that record,
    every RIVM indicator of the shipped catalogue."""
    mapped = list(getattr(frame, "attrs", {}).get("column_map", {}).values())
    if not mapped:
        from wijkprofiel.store import default_catalogue

        mapped = list(default_catalogue().keys("rivm_gezondheidsmonitor").values())
    return tuple(dict.fromkeys(mapped))


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


def rivm_suite(indicators: tuple[str, ...] | None = None) -> Any:
    """Suite ``rivm`` on the wide frame of :func:`~wijkprofiel.sources.rivm.parse_rivm_csv`.

    ``indicators``: the indicator columns of the table (the catalogue's RIVM indicators that
    the table publishes; a newer table may drop or add topics); default: every RIVM
    indicator of the shipped catalogue. Counts per level are checked
    per block of (period, age group, estimate): a table with all three Marges holds every
    region once per estimate.
    """
    if indicators is None:
        from wijkprofiel.store import default_catalogue

        indicators = tuple(dict.fromkeys(default_catalogue().keys("rivm_gezondheidsmonitor").values()))
    gx, gxe, col = gx_modules()
    s = gx.ExpectationSuite(name="rivm")
    s.add_expectation(gxe.ExpectTableColumnsToMatchSet(
        column_set=[*_RIVM_KEYS, *indicators], exact_match=False,
        meta=_error("alle sleutelkolommen en de indicatoren van de catalogus die de tabel publiceert aanwezig")))
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
    _level_counts(s, "(periode, leeftijdsgroep, schatting)")
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
