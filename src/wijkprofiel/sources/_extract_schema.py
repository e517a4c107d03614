"""The schema of an own extract (:mod:`wijkprofiel.sources.extract`): its YAML checked
completely, its indicator and the file kinds an extract may have."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeGuard

import yaml

from wijkprofiel.errors import ConfigError
from wijkprofiel.indicators import (
    POLARITIES,
    POPULATION_GROUPS,
    Indicator,
    default_indicators,
    default_themes,
)

__all__ = ["EXTRACT_SOURCE", "SCHEMA_FILE", "OBSERVATION_COLUMNS", "CSV_SUFFIXES", "PARQUET_SUFFIXES", "REGION_CODE",
           "ExtractSchema", "load_extract_schema", "extract_indicator"]

EXTRACT_SOURCE = "extract"
SCHEMA_FILE = "schema.yaml"
OBSERVATION_COLUMNS = [
    "indicator_id", "region_code", "indeling_year", "period", "population_group",
    "value", "ci_lower", "ci_upper", "numerator", "denominator", "suppressed", "source_id",
]
_TOP_KEYS = {
    "indicator", "region_code_column", "region_code_prefix", "indeling_year", "period", "period_column",
    "population_group", "population_group_column", "population_groups", "value_column", "numerator_column",
    "denominator_column", "multiplier", "ci_lower_column", "ci_upper_column", "csv", "dataset", "licence",
    "title",
}
_INDICATOR_KEYS = {"id", "label_nl", "unit", "theme", "polarity", "description_nl"}
_CSV_KEYS = {"sep", "decimal", "encoding"}
_ID = re.compile(r"[a-z][a-z0-9_]{1,62}")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,79}")
REGION_CODE = re.compile(r"NL[0-9]{2}|GM[0-9]{4}|WK[0-9A-Z]{6}|BU[0-9A-Z]{8}")
CSV_SUFFIXES = (".csv", ".csv.gz", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")


@dataclass(frozen=True)
class ExtractSchema:
    """A validated extract schema (see the module docstring for the YAML keys)."""

    path: Path
    indicator_id: str
    label_nl: str
    unit: str
    theme: str
    polarity: str
    region_code_column: str
    indeling_year: int
    description_nl: str = ""
    region_code_prefix: str = ""
    period: int | None = None
    period_column: str | None = None
    population_group: str = "totaal"
    population_group_column: str | None = None
    population_groups: Mapping[str, str] = field(default_factory=dict)
    value_column: str | None = None
    numerator_column: str | None = None
    denominator_column: str | None = None
    multiplier: float = 1.0
    ci_lower_column: str | None = None
    ci_upper_column: str | None = None
    sep: str = ","
    decimal: str = "."
    encoding: str = "utf-8-sig"
    dataset: str | None = None
    licence: str = "niet opgegeven (eigen extract)"
    title: str | None = None

    @property
    def columns(self) -> dict[str, str]:
        """Schema key → data column, for every column the schema names."""
        keys = ("region_code_column", "period_column", "population_group_column", "value_column",
                "numerator_column", "denominator_column", "ci_lower_column", "ci_upper_column")
        return {k: str(getattr(self, k)) for k in keys if getattr(self, k)}


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def load_extract_schema(path: Path, *, indicators: Sequence[Indicator] | None = None,
                        themes: Mapping[str, str] | None = None) -> ExtractSchema:
    """Read and validate an extract schema; one ConfigError lists every problem by key.

    ``indicators`` and ``themes`` are those of the dataset catalogue in use (default: the
    shipped catalogue): the extract's id must not clash with an indicator, its theme must be
    one of the themes.
    """
    path = Path(path)
    known_ids = {i.indicator_id for i in (default_indicators() if indicators is None else indicators)}
    themes = default_themes() if themes is None else themes
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        msg = f"{path}: cannot read the extract schema as YAML ({exc})"
        raise ConfigError(msg) from exc
    if not isinstance(doc, dict):
        msg = f"{path}: expected a YAML mapping with the keys {sorted(_TOP_KEYS)}, got {type(doc).__name__}"
        raise ConfigError(msg)
    problems: list[str] = []

    def text(key: str, value: Any, *, required: bool = False) -> str | None:
        if value is None:
            if required:
                problems.append(f"{key}: required, missing")
            return None
        if not isinstance(value, str) or not value.strip():
            problems.append(f"{key}: expected a non-empty string, got {value!r}")
            return None
        return value.strip()

    problems += [f"{k}: unknown key; valid keys: {', '.join(sorted(_TOP_KEYS))}" for k in doc if k not in _TOP_KEYS]
    ind = doc.get("indicator")
    if not isinstance(ind, dict):
        problems.append(f"indicator: expected a mapping with {sorted(_INDICATOR_KEYS)}, got {ind!r}")
        ind = {}
    problems += [f"indicator.{k}: unknown key; valid: {', '.join(sorted(_INDICATOR_KEYS))}" for k in ind if k not in _INDICATOR_KEYS]
    indicator_id = text("indicator.id", ind.get("id"), required=True)
    if indicator_id and not _ID.fullmatch(indicator_id):
        problems.append(f"indicator.id: expected snake_case (a-z, 0-9, _), got {indicator_id!r}")
    if indicator_id in known_ids:
        problems.append(f"indicator.id: {indicator_id!r} already exists in the dataset catalogue; choose another id")
    label = text("indicator.label_nl", ind.get("label_nl"), required=True)
    unit = text("indicator.unit", ind.get("unit"), required=True)
    theme = text("indicator.theme", ind.get("theme"), required=True)
    if theme and theme not in themes:
        problems.append(f"indicator.theme: {theme!r} is not a theme; valid: {', '.join(themes)}")
    polarity = text("indicator.polarity", ind.get("polarity"), required=True)
    if polarity and polarity not in POLARITIES:
        problems.append(f"indicator.polarity: {polarity!r}; valid: {', '.join(POLARITIES)}")
    description = text("indicator.description_nl", ind.get("description_nl")) or ""
    columns = {k: text(k, doc.get(k)) for k in (
        "region_code_column", "period_column", "population_group_column", "value_column", "numerator_column",
        "denominator_column", "ci_lower_column", "ci_upper_column")}
    if columns["region_code_column"] is None and "region_code_column" not in doc:
        problems.append("region_code_column: required, missing")
    prefix = text("region_code_prefix", doc.get("region_code_prefix")) or ""
    if prefix and prefix not in ("GM", "WK", "BU"):
        problems.append(f"region_code_prefix: expected GM, WK or BU, got {prefix!r}")
    indeling = doc.get("indeling_year")
    if not _is_int(indeling) or not 1990 <= indeling <= 2100:
        problems.append(f"indeling_year: expected a year such as 2024, got {indeling!r}")
    period = doc.get("period")
    if ("period" in doc) == ("period_column" in doc):
        problems.append("period / period_column: give exactly one (a fixed year or the column holding it)")
    elif "period" in doc and (not _is_int(period) or not 1900 <= period <= 2100):
        problems.append(f"period: expected a year such as 2023, got {period!r}")
    groups = doc.get("population_groups", {}) or {}
    if not isinstance(groups, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in groups.items()):
        problems.append(f"population_groups: expected a mapping of group id to Dutch label, got {groups!r}")
        groups = {}
    valid_groups = {**POPULATION_GROUPS, **groups}
    if "population_group" in doc and "population_group_column" in doc:
        problems.append("population_group / population_group_column: give at most one")
    group = text("population_group", doc.get("population_group", "totaal")) or "totaal"
    if group not in valid_groups:
        problems.append(f"population_group: {group!r}; valid: {', '.join(valid_groups)} (declare others under population_groups)")
    has_value = columns["value_column"] is not None
    has_ratio = columns["numerator_column"] is not None or columns["denominator_column"] is not None
    if has_value == has_ratio or (has_ratio and None in (columns["numerator_column"], columns["denominator_column"])):
        problems.append("value_column / numerator_column + denominator_column: give either value_column or both numerator and denominator columns")
    if (columns["ci_lower_column"] is None) != (columns["ci_upper_column"] is None):
        problems.append("ci_lower_column / ci_upper_column: give both or neither")
    multiplier = doc.get("multiplier", 100 if unit == "%" else 1)
    if isinstance(multiplier, bool) or not isinstance(multiplier, int | float) or not multiplier > 0:
        problems.append(f"multiplier: expected a positive number, got {multiplier!r}")
        multiplier = 1
    elif unit == "%" and multiplier != 100:
        problems.append(f"multiplier: unit '%' means × 100; got multiplier {multiplier!r} (use another unit)")
    if "multiplier" in doc and has_value:
        problems.append("multiplier: only applies with numerator_column and denominator_column")
    csv_opts = doc.get("csv", {}) or {}
    if not isinstance(csv_opts, dict):
        problems.append(f"csv: expected a mapping with {sorted(_CSV_KEYS)}, got {csv_opts!r}")
        csv_opts = {}
    problems += [f"csv.{k}: unknown key; valid: {', '.join(sorted(_CSV_KEYS))}" for k in csv_opts if k not in _CSV_KEYS]
    sep, decimal = csv_opts.get("sep", ","), csv_opts.get("decimal", ".")
    if not isinstance(sep, str) or len(sep) != 1:
        problems.append(f"csv.sep: expected one character, got {sep!r}")
    if decimal not in (".", ","):
        problems.append(f"csv.decimal: expected '.' or ',', got {decimal!r}")
    encoding = text("csv.encoding", csv_opts.get("encoding", "utf-8-sig")) or "utf-8-sig"
    dataset = text("dataset", doc.get("dataset"))
    if dataset and not _NAME.fullmatch(dataset):
        problems.append(f"dataset: expected a plain name (letters, digits, _ . -), got {dataset!r}")
    licence = text("licence", doc.get("licence")) or "niet opgegeven (eigen extract)"
    title = text("title", doc.get("title"))
    if problems:
        msg = f"{path}: invalid extract schema:\n" + "\n".join(f"  - {p}" for p in problems)
        raise ConfigError(msg)
    return ExtractSchema(
        path=path, indicator_id=str(indicator_id), label_nl=str(label), unit=str(unit), theme=str(theme),
        polarity=str(polarity), description_nl=description, region_code_column=str(columns["region_code_column"]),
        region_code_prefix=prefix, indeling_year=int(indeling) if _is_int(indeling) else 0, period=period if "period" in doc else None,
        period_column=columns["period_column"], population_group=group,
        population_group_column=columns["population_group_column"], population_groups=dict(groups),
        value_column=columns["value_column"], numerator_column=columns["numerator_column"],
        denominator_column=columns["denominator_column"], multiplier=float(multiplier),
        ci_lower_column=columns["ci_lower_column"], ci_upper_column=columns["ci_upper_column"],
        sep=str(sep), decimal=str(decimal), encoding=encoding, dataset=dataset, licence=licence, title=title,
    )


def extract_indicator(schema: ExtractSchema) -> Indicator:
    """The extract's indicator, for the ``indicators`` table."""
    return Indicator(
        schema.indicator_id, schema.label_nl, schema.unit, EXTRACT_SOURCE, schema.theme, schema.polarity,
        source_key=schema.value_column or str(schema.numerator_column), comparable=True,
        description_nl=schema.description_nl,
    )
