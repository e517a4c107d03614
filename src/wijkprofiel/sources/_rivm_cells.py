"""RIVM UntypedDataSet cells (all text, padded, '.' = no estimate) → the wide frame of the parsers.

Shared by the CSV export parser and the fetched-JSON parser of :mod:`wijkprofiel.sources.rivm`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from wijkprofiel.errors import ParseError, SchemaError
from wijkprofiel.sources._common import level_from_soort, parent_codes, strip_suffix, to_number

__all__ = ["LEEFTIJD_KEYS", "MARGES_KEYS", "DIMENSIONS", "REGION_TOPICS", "parse_untyped", "text_frame"]

#: Leeftijd dimension key -> population group id
LEEFTIJD_KEYS: dict[str, str] = {"20300": "18+", "53115": "18-64", "80200": "65+"}

#: Marges dimension key -> estimate kind
MARGES_KEYS: dict[str, str] = {"MW00000": "value", "MOG0095": "ci_lower", "MBG0095": "ci_upper"}

DIMENSIONS = ("Leeftijd", "Marges", "WijkenEnBuurten", "Perioden")
REGION_TOPICS = ("Gemeentenaam", "SoortRegio", "Codering")



def parse_untyped(raw: pd.DataFrame, path: Path, where: Callable[[int], str], keys: Mapping[str, str]) -> pd.DataFrame:
    """The body of :func:`parse_rivm_csv` for any all-text UntypedDataSet frame.

    ``raw`` holds every cell as text ('' for empty); ``where`` names row ``idx`` in errors.
    """
    columns = {strip_suffix(c): c for c in raw.columns}
    missing = [c for c in ("ID", *DIMENSIONS, *REGION_TOPICS) if c not in columns]
    if missing:
        msg = (
            f"{path}: missing columns {missing}; expected the OData dimensions "
            f"{list(DIMENSIONS)} and topics {list(REGION_TOPICS)} (with _N suffixes); "
            f"got {list(raw.columns)[:12]}"
        )
        raise SchemaError(msg)
    problems: list[str] = []
    out = pd.DataFrame(index=raw.index)
    out["row_id"] = pd.to_numeric(raw[columns["ID"]], errors="coerce").astype("Int64")
    out["region_code"] = raw[columns["WijkenEnBuurten"]].str.strip().astype("string")
    out["level"] = level_from_soort(raw[columns["SoortRegio"]])
    out["gemeentenaam"] = raw[columns["Gemeentenaam"]].str.strip().astype("string")
    periods = raw[columns["Perioden"]].str.strip()
    out["period"] = pd.to_numeric(periods.str.slice(0, 4), errors="coerce").astype("Int64")
    out["population_group"] = raw[columns["Leeftijd"]].str.strip().map(LEEFTIJD_KEYS).astype("string")
    out["estimate"] = raw[columns["Marges"]].str.strip().map(MARGES_KEYS).astype("string")
    checks = {
        "SoortRegio": (out["level"].isna(), columns["SoortRegio"], "Land/Gemeente/Wijk/Buurt"),
        "Perioden": (out["period"].isna() | ~periods.str.fullmatch(r"\d{4}JJ00"), columns["Perioden"], "YYYYJJ00"),
        "Leeftijd": (out["population_group"].isna(), columns["Leeftijd"], "/".join(LEEFTIJD_KEYS)),
        "Marges": (out["estimate"].isna(), columns["Marges"], "/".join(MARGES_KEYS)),
    }
    for bad, column, valid in checks.values():
        for idx in bad[bad].index[:20]:
            problems.append(f"{where(idx)}, column {column}: got {raw.at[idx, column]!r}, expected {valid}")
    gemeentecode, wijkcode = parent_codes(out["region_code"], out["level"])
    out["gemeentecode"] = gemeentecode
    out["wijkcode"] = wijkcode
    column_map: dict[str, str] = {}
    unmapped: list[str] = []
    for raw_col in raw.columns:
        key = strip_suffix(raw_col)
        if key in ("ID", *DIMENSIONS, *REGION_TOPICS):
            continue
        indicator_id = keys.get(key)
        if indicator_id is None:
            unmapped.append(raw_col)
            continue
        numbers, bad = to_number(raw[raw_col])
        for idx in bad[bad].index[:20]:
            problems.append(f"{where(idx)}, column {raw_col}: got {raw.at[idx, raw_col]!r}, expected a number or '.'")
        column_map[raw_col] = indicator_id
        out[indicator_id] = numbers
    if problems:
        shown = "\n".join(f"  - {p}" for p in problems[:50])
        msg = f"{path}: {len(problems)} invalid cell(s):\n{shown}"
        raise ParseError(msg)
    out.attrs["column_map"] = column_map
    out.attrs["unmapped"] = unmapped
    return out


def _text_cell(value: object) -> str:
    """A JSON cell as the CSV export writes it: '' for null, numbers as their text."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return repr(value)
    return str(value)


def text_frame(rows: list[dict[str, object]], columns: list[str]) -> pd.DataFrame:
    """Rows as an all-text frame of the dtype ``read_csv(dtype=str)`` gives ('' for null)."""
    try:
        table = pa.Table.from_pylist(rows)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed types in a column: convert cell by cell
        cells = [pa.array([_text_cell(r[c]) for r in rows], type=pa.string()) for c in columns]
        table = pa.Table.from_arrays(cells, names=columns)
    out: dict[str, pd.Series] = {}
    for name in columns:
        column = table[name]
        if pa.types.is_floating(column.type):
            column = pa.chunked_array([pa.array([_text_cell(v) for v in column.to_pylist()], type=pa.string())])
        elif not pa.types.is_string(column.type):
            column = pc.cast(column, pa.string())  # the ID: 20300 -> "20300", as in the CSV export
        out[name] = pd.Series(pd.array(pc.fill_null(column, ""), dtype="str"))
    return pd.DataFrame(out)
