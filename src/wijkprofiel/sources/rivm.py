"""RIVM/GGD Gezondheidsmonitor small-area estimates (CBS *dataderden* catalogue, catalog RIVM).

Tables 50090NED (2012/2016/2020, indeling 2020), 50120NED (… 2022, indeling 2022) and
50150NED (… 2024, indeling 2024). This module parses the UntypedDataSet as exported to CSV
(padded strings, ``"       ."`` = no estimate, empty = not applicable) into a wide frame,
and melts it into long observations.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from wijkprofiel.errors import ParseError, SchemaError
from wijkprofiel.indicators import RIVM_KEYS
from wijkprofiel.sources._common import level_from_soort, parent_codes, strip_suffix, to_number

__all__ = [
    "RIVM_TABLES",
    "LEEFTIJD_KEYS",
    "MARGES_KEYS",
    "parse_rivm_csv",
    "rivm_observations",
]

#: table id -> (title, indeling year)
RIVM_TABLES: dict[str, tuple[str, int]] = {
    "50090NED": ("Gezondheid per wijk en buurt; 2012/2016/2020 (indeling 2020)", 2020),
    "50120NED": ("Gezondheid per wijk en buurt; 2012/2016/2020/2022 (indeling 2022)", 2022),
    "50150NED": ("Gezondheid per wijk en buurt; 2012/2016/2020/2022/2024 (indeling 2024)", 2024),
}

#: Leeftijd dimension key -> population group id
LEEFTIJD_KEYS: dict[str, str] = {"20300": "18+", "53115": "18-64", "80200": "65+"}

#: Marges dimension key -> estimate kind
MARGES_KEYS: dict[str, str] = {"MW00000": "value", "MOG0095": "ci_lower", "MBG0095": "ci_upper"}

_DIMENSIONS = ("Leeftijd", "Marges", "WijkenEnBuurten", "Perioden")
_REGION_TOPICS = ("Gemeentenaam", "SoortRegio", "Codering")


def parse_rivm_csv(path: Path) -> pd.DataFrame:
    """Parse an RIVM Gezondheidsmonitor UntypedDataSet CSV export into a wide frame.

    Parameters
    ----------
    path
        CSV (optionally gzip) with the OData columns ``ID, Leeftijd, Marges,
        WijkenEnBuurten, Perioden, Gemeentenaam_N, SoortRegio_N, Codering_N`` and topic
        columns ``<Key>_N``.

    Returns
    -------
    pandas.DataFrame
        One row per input row: ``region_code`` (stripped), ``level``, ``gemeentecode``,
        ``wijkcode``, ``gemeentenaam``, ``period`` (int year), ``population_group``
        ('18+', '18-64', '65+'), ``estimate`` ('value', 'ci_lower', 'ci_upper'), ``row_id``,
        then one float64 column per indicator id (NaN where RIVM publishes '.' or nothing).
        ``attrs['column_map']`` maps raw column → indicator id; ``attrs['unmapped']`` lists
        topic columns that are not in the indicator registry.

    Raises
    ------
    SchemaError
        When dimension columns are missing.
    ParseError
        Listing every cell that is neither a number nor a CBS missing marker, and every
        unknown dimension key, by line and column.
    """
    path = Path(path)
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, compression="infer")
    except (OSError, EOFError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        msg = f"{path}: cannot read as CSV ({exc}); expected an RIVM UntypedDataSet CSV export"
        raise ParseError(msg) from exc
    columns = {strip_suffix(c): c for c in raw.columns}
    missing = [c for c in ("ID", *_DIMENSIONS, *_REGION_TOPICS) if c not in columns]
    if missing:
        msg = (
            f"{path}: missing columns {missing}; expected the OData dimensions "
            f"{list(_DIMENSIONS)} and topics {list(_REGION_TOPICS)} (with _N suffixes); "
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
            problems.append(f"line {idx + 2}, column {column}: got {raw.at[idx, column]!r}, expected {valid}")
    gemeentecode, wijkcode = parent_codes(out["region_code"], out["level"])
    out["gemeentecode"] = gemeentecode
    out["wijkcode"] = wijkcode
    column_map: dict[str, str] = {}
    unmapped: list[str] = []
    for raw_col in raw.columns:
        key = strip_suffix(raw_col)
        if key in ("ID", *_DIMENSIONS, *_REGION_TOPICS):
            continue
        indicator_id = RIVM_KEYS.get(key)
        if indicator_id is None:
            unmapped.append(raw_col)
            continue
        numbers, bad = to_number(raw[raw_col])
        for idx in bad[bad].index[:20]:
            problems.append(f"line {idx + 2}, column {raw_col}: got {raw.at[idx, raw_col]!r}, expected a number or '.'")
        column_map[raw_col] = indicator_id
        out[indicator_id] = numbers
    if problems:
        shown = "\n".join(f"  - {p}" for p in problems[:50])
        msg = f"{path}: {len(problems)} invalid cell(s):\n{shown}"
        raise ParseError(msg)
    out.attrs["column_map"] = column_map
    out.attrs["unmapped"] = unmapped
    return out


def rivm_observations(wide: pd.DataFrame, *, indeling_year: int, source_id: str) -> pd.DataFrame:
    """Melt a parsed RIVM frame into long observations (one row per non-empty cell).

    Point estimates (``estimate == 'value'``) become ``value``; where the table also holds the
    95 % bounds (``Marges`` MOG0095/MBG0095) they become ``ci_lower``/``ci_upper`` of the same
    observation. Cells RIVM publishes as '.' are kept as NULL values (the region had too few
    respondents); columns that do not exist for a period/age group (empty) are dropped.
    """
    indicator_cols = [c for c in wide.columns if c in set(RIVM_KEYS.values())]
    keys = ["region_code", "period", "population_group"]
    parts = {}
    for estimate in ("value", "ci_lower", "ci_upper"):
        block = wide[wide["estimate"] == estimate]
        if block.empty:
            continue
        block = block.drop_duplicates(keys).set_index(keys)[indicator_cols]
        stacked = block.stack(future_stack=True)
        stacked.index = stacked.index.set_names([*keys, "indicator_id"])
        parts[estimate] = stacked
    if "value" not in parts:
        msg = "RIVM frame holds no point estimates (Marges MW00000); cannot build observations"
        raise ParseError(msg)
    obs = pd.DataFrame(parts).reset_index()
    # a column that is entirely empty for a (period, group) block does not apply there:
    # drop it; cells published as '.' inside an applicable block stay as NULL values
    applies = obs.groupby(["indicator_id", "period", "population_group"])["value"].transform("count") > 0
    obs = obs[applies.to_numpy()].reset_index(drop=True)
    for col in ("ci_lower", "ci_upper"):
        if col not in obs.columns:
            obs[col] = float("nan")
    obs["indeling_year"] = indeling_year
    obs["numerator"] = float("nan")
    obs["denominator"] = float("nan")
    obs["suppressed"] = False
    obs["source_id"] = source_id
    return obs[
        [
            "indicator_id", "region_code", "indeling_year", "period", "population_group",
            "value", "ci_lower", "ci_upper", "numerator", "denominator", "suppressed", "source_id",
        ]
    ]
