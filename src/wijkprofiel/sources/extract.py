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
from pathlib import Path

import numpy as np
import pandas as pd

from wijkprofiel import __version__
from wijkprofiel.errors import ConfigError, ParseError, SchemaError
from wijkprofiel.indicators import POPULATION_GROUPS
from wijkprofiel.sources._common import to_number
from wijkprofiel.sources._extract_schema import (
    CSV_SUFFIXES,
    EXTRACT_SOURCE,
    OBSERVATION_COLUMNS,
    PARQUET_SUFFIXES,
    REGION_CODE,
    SCHEMA_FILE,
    ExtractSchema,
    extract_indicator,
    load_extract_schema,
)
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


def _file_kind(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    msg = f"{path}: expected a CSV ({', '.join(CSV_SUFFIXES)}) or Parquet ({', '.join(PARQUET_SUFFIXES)}) file"
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
    where(~codes.fillna("").str.fullmatch(REGION_CODE.pattern), schema.region_code_column, "a code like GM0599, WK059901, BU05990110 or NL00")
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
    suffix = next(s for s in (*CSV_SUFFIXES, *PARQUET_SUFFIXES) if name.endswith(s))
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
