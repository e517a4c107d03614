"""Own extracts: a CSV or Parquet file plus a small YAML schema become observations.

A GGD, a gemeente or a research team often has an indicator per wijk that no open source
publishes. The schema says which columns hold the region code, the period and the
population group, whether the file has a ready value or a numerator and denominator, and
the indicator's metadata. Example::

    indicator:
      id: rokers_jongeren            # snake_case, not already in the registry
      label_nl: Jongeren die roken
      unit: "%"                      # '%': value = 100 × numerator / denominator
      theme: leefstijl               # one of the catalogue's themes
      polarity: higher_is_worse      # higher_is_worse | higher_is_better | neutral
    region_code_column: wijkcode     # GM0599 / WK059901 / BU05990110 / NL00
    region_code_prefix: WK           # optional: prepended to bare codes (059901)
    indeling_year: 2024
    period: 2023                     # or period_column: jaar
    population_group: totaal         # or population_group_column: leeftijd
    numerator_column: n_rokers       # or value_column: percentage
    denominator_column: n_jongeren
    multiplier: 1000                 # optional, units other than '%': num / den × multiplier
    ci_lower_column: ondergrens      # optional, with ci_upper_column
    csv: {sep: ";", decimal: ","}    # optional reading options
    licence: "CC BY 4.0 (bron: GGD ...)"

:func:`load_extract_schema` checks the whole YAML and raises one ConfigError naming the file
and every bad key; :func:`parse_extract` checks the whole data file and raises one
SchemaError/ParseError listing every problem by line. :func:`register_extract` stores both
files as an immutable snapshot (source ``extract``) after both checks pass.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeGuard

import numpy as np
import pandas as pd
import yaml

from wijkprofiel import __version__
from wijkprofiel.errors import ConfigError, ParseError, SchemaError
from wijkprofiel.indicators import (
    POLARITIES,
    POPULATION_GROUPS,
    Indicator,
    default_indicators,
    default_themes,
)
from wijkprofiel.sources._common import to_number
from wijkprofiel.store import Snapshot, write_snapshot

__all__ = [
    "EXTRACT_SOURCE",
    "SCHEMA_FILE",
    "OBSERVATION_COLUMNS",
    "ExtractSchema",
    "load_extract_schema",
    "extract_indicator",
    "parse_extract",
    "register_extract",
    "parse_extract_snapshot",
]

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
_REGION = re.compile(r"NL[0-9]{2}|GM[0-9]{4}|WK[0-9A-Z]{6}|BU[0-9A-Z]{8}")
_CSV_SUFFIXES = (".csv", ".csv.gz", ".txt")
_PARQUET_SUFFIXES = (".parquet", ".pq")


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


def _file_kind(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(_CSV_SUFFIXES):
        return "csv"
    if name.endswith(_PARQUET_SUFFIXES):
        return "parquet"
    msg = f"{path}: expected a CSV ({', '.join(_CSV_SUFFIXES)}) or Parquet ({', '.join(_PARQUET_SUFFIXES)}) file"
    raise ConfigError(msg)


def _read(path: Path, schema: ExtractSchema) -> tuple[pd.DataFrame, str]:
    kind = _file_kind(path)
    try:
        if kind == "csv":
            frame = pd.read_csv(path, sep=schema.sep, dtype=str, keep_default_na=False, encoding=schema.encoding)
            return frame, "line"
        frame = pd.read_parquet(path)
    except (OSError, EOFError, UnicodeDecodeError, ValueError, pd.errors.ParserError) as exc:
        msg = f"{path}: cannot read as {kind} ({exc})"
        raise ParseError(msg) from exc
    return frame, "row"


def parse_extract(path: Path, schema: ExtractSchema | Path, *, source_id: str | None = None) -> pd.DataFrame:
    """Turn an extract into observations with the warehouse columns.

    Parameters
    ----------
    path
        The CSV or Parquet file.
    schema
        A validated schema or the path of its YAML.
    source_id
        Lineage id of the observations; ``extract/{dataset}`` when None.

    Returns
    -------
    pandas.DataFrame
        :data:`OBSERVATION_COLUMNS`; ``value`` is the value column, or
        ``multiplier × numerator / denominator`` (× 100 for '%'); ``suppressed`` False.

    Raises
    ------
    SchemaError
        Columns named in the schema are missing from the file (all listed).
    ParseError
        Every bad cell: region codes, periods, groups, numbers, negative counts, zero
        denominators, numerator > denominator for '%', repeated keys (by line/row).
    """
    path = Path(path)
    if not isinstance(schema, ExtractSchema):
        schema = load_extract_schema(schema)
    raw, unit_name = _read(path, schema)
    offset = 2 if unit_name == "line" else 1
    missing = [f"{key}: column {col!r}" for key, col in schema.columns.items() if col not in raw.columns]
    if missing:
        msg = (f"{path}: columns named in {schema.path.name} are missing: {'; '.join(missing)}; "
               f"the file has {list(raw.columns)[:20]}")
        raise SchemaError(msg)
    problems: list[str] = []

    def where(mask: pd.Series, column: str, expected: str) -> None:
        for idx in mask[mask].index[:20]:
            problems.append(f"{unit_name} {idx + offset}, column {column!r}: got {raw.at[idx, column]!r}, expected {expected}")

    def numbers(column: str | None) -> pd.Series:
        if column is None:
            return pd.Series(np.nan, index=raw.index, dtype="float64")
        values = raw[column]
        if schema.decimal == "," and not pd.api.types.is_numeric_dtype(values):
            values = values.astype("string").str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
        result, bad = to_number(values)
        where(bad, column, "a number")
        return result

    codes = raw[schema.region_code_column].astype("string").str.strip().str.upper()
    if schema.region_code_prefix:
        codes = codes.where(codes.str.match(r"^[A-Z]{2}") | codes.isna(), schema.region_code_prefix + codes)
    where(~codes.fillna("").str.fullmatch(_REGION.pattern), schema.region_code_column, "a code like GM0599, WK059901, BU05990110 or NL00")
    if schema.period_column:
        text = raw[schema.period_column].astype("string").str.strip()
        period = pd.to_numeric(text.where(text.str.fullmatch(r"(19|20)[0-9]{2}")), errors="coerce").astype("Int64")
        where(period.isna(), schema.period_column, "a year such as 2023")
    else:
        period = pd.Series(schema.period, index=raw.index, dtype="Int64")
    valid_groups = {**POPULATION_GROUPS, **schema.population_groups}
    if schema.population_group_column:
        group = raw[schema.population_group_column].astype("string").str.strip()
        where(~group.isin(list(valid_groups)).fillna(False), schema.population_group_column, f"one of {list(valid_groups)}")
    else:
        group = pd.Series(schema.population_group, index=raw.index, dtype="string")
    numerator, denominator = numbers(schema.numerator_column), numbers(schema.denominator_column)
    if schema.value_column:
        value = numbers(schema.value_column)
    else:
        num_col, den_col = str(schema.numerator_column), str(schema.denominator_column)
        where(numerator < 0, num_col, "a count ≥ 0")
        where(numerator.notna() & ~(denominator > 0), den_col, "a denominator > 0 where the numerator is given")
        if schema.unit == "%":
            where(numerator > denominator, num_col, "numerator ≤ denominator for a percentage")
        with np.errstate(divide="ignore", invalid="ignore"):
            value = (numerator / denominator.where(denominator > 0)) * schema.multiplier
    ci_lower, ci_upper = numbers(schema.ci_lower_column), numbers(schema.ci_upper_column)
    keys = pd.DataFrame({"region_code": codes, "period": period, "group": group})
    repeated = keys.duplicated(keep=False) & keys.notna().all(axis=1)
    where(repeated, schema.region_code_column, "one row per (region, period, population group); this key repeats")
    if problems:
        msg = f"{path}: {len(problems)} problem(s) in the extract (schema {schema.path.name}):\n" + "\n".join(
            f"  - {p}" for p in problems
        )
        raise ParseError(msg)
    out = pd.DataFrame({
        "indicator_id": schema.indicator_id,
        "region_code": codes.astype("string"),
        "indeling_year": schema.indeling_year,
        "period": period.astype("int64"),
        "population_group": group.astype("string"),
        "value": value.astype("float64"),
        "ci_lower": ci_lower,
        "ci_upper": ci_upper,
        "numerator": numerator,
        "denominator": denominator,
        "suppressed": False,
        "source_id": source_id or f"{EXTRACT_SOURCE}/{schema.dataset or path.name.split('.')[0]}",
    })
    return out[OBSERVATION_COLUMNS].reset_index(drop=True)


def _data_name(path: Path) -> str:
    name = path.name.lower()
    suffix = next(s for s in (*_CSV_SUFFIXES, *_PARQUET_SUFFIXES) if name.endswith(s))
    return f"data{suffix}"


def register_extract(path: Path, schema_path: Path, raw_root: Path) -> Snapshot:
    """Validate an extract and its schema, then snapshot both into ``extract/{dataset}/``.

    The dataset is the schema's ``dataset`` or the file's stem; the files are stored as
    ``data.<suffix>`` and ``schema.yaml``. Nothing is written when a check fails.
    """
    path, schema_path = Path(path), Path(schema_path)
    schema = load_extract_schema(schema_path)
    observations = parse_extract(path, schema)
    dataset = schema.dataset or re.sub(r"[^A-Za-z0-9_.-]+", "_", path.name.split(".")[0]).strip("_.-") or "extract"
    data_name = _data_name(path)
    return write_snapshot(
        raw_root, EXTRACT_SOURCE, dataset, {data_name: path, SCHEMA_FILE: schema_path},
        url=path.resolve().as_uri(), licence=schema.licence,
        params={"file": path.name, "schema": schema_path.name},
        client=f"wijkprofiel {__version__} register_extract",
        rows={data_name: len(observations)},
        extra={"title": schema.title or schema.label_nl, "indicator_id": schema.indicator_id},
    )


def parse_extract_snapshot(snapshot_dir: Path) -> pd.DataFrame:
    """Observations of a registered extract; ``source_id`` is ``extract/{dataset}@{snapshot}``."""
    snapshot_dir = Path(snapshot_dir)
    data = sorted(p for p in snapshot_dir.iterdir() if p.name.startswith("data."))
    if len(data) != 1 or not (snapshot_dir / SCHEMA_FILE).is_file():
        msg = f"{snapshot_dir}: expected one data.* file and {SCHEMA_FILE}, found {sorted(p.name for p in snapshot_dir.iterdir())}"
        raise SchemaError(msg)
    source_id = f"{EXTRACT_SOURCE}/{snapshot_dir.parent.name}@{snapshot_dir.name}"
    return parse_extract(data[0], snapshot_dir / SCHEMA_FILE, source_id=source_id)
