"""CBS Kerncijfers wijken en buurten (KWB): parse StatLine exports resolved via DataProperties.

Topic keys carry positional ``_N`` suffixes that shift between years (``AantalInwoners_5``
in 2024), so columns are never taken by position: StatLine CSV headers
(``Bevolking/Leeftijdsgroepen/0 tot 15 jaar (aantal)``) are resolved to keys through the
table's DataProperties (title path + unit), and keys are reduced to their stable stem.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from wijkprofiel.errors import ParseError, SchemaError
from wijkprofiel.indicators import INDICATORS
from wijkprofiel.sources._common import level_from_soort, parent_codes, strip_suffix, to_number

__all__ = [
    "KWB_TABLES",
    "read_json_value",
    "data_properties_frame",
    "resolve_statline_headers",
    "parse_kwb_statline_csv",
    "parse_kwb_snapshot",
    "kwb_regions",
    "kwb_observations",
]

#: year -> CBS table id of Kerncijfers wijken en buurten (extendable)
KWB_TABLES: dict[int, str] = {
    2019: "84583NED",
    2020: "84799NED",
    2021: "85039NED",
    2022: "85318NED",
    2023: "85618NED",
    2024: "85984NED",
}

_TITLE_COLUMN = "Wijken en buurten"


def read_json_value(path: Path) -> list[dict[str, Any]]:
    """Read a cbsodata-saved collection (a JSON list, optionally gzip) or an OData page."""
    path = Path(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, EOFError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        msg = f"{path}: expected a JSON list or an OData response object, cannot read it ({exc})"
        raise ParseError(msg) from exc
    if isinstance(data, dict) and isinstance(data.get("value"), list):
        data = data["value"]
    if not isinstance(data, list):
        msg = f"{path}: expected a JSON list or an object with a 'value' list, got {type(data).__name__}"
        raise ParseError(msg)
    return data


def data_properties_frame(entries: list[dict[str, Any]]) -> pd.DataFrame:
    """DataProperties as a frame with the full title path of every entry.

    Columns: ``ID, ParentID, Type, Key, Title, Unit, stem, path``; ``path`` is the
    ``/``-joined chain of stripped titles from the top group down (the StatLine header
    without unit), ``stem`` is the key without its ``_N`` suffix.
    """
    frame = pd.DataFrame(entries)
    for col in ("ID", "ParentID", "Type", "Key", "Title", "Unit"):
        if col not in frame.columns:
            frame[col] = None
    by_id = {int(r.ID): r for r in frame.itertuples()}
    paths = []
    for r in frame.itertuples():
        parts = [str(r.Title).strip()]
        parent = r.ParentID
        while parent is not None and not pd.isna(parent) and int(parent) in by_id:
            node = by_id[int(parent)]
            parts.append(str(node.Title).strip())
            parent = node.ParentID
        paths.append("/".join(reversed(parts)))
    frame["path"] = paths
    frame["stem"] = frame["Key"].fillna("").map(strip_suffix)
    return frame[["ID", "ParentID", "Type", "Key", "Title", "Unit", "stem", "path"]]


def _split_header(header: str) -> tuple[str, str | None]:
    text = header.strip().lstrip("\ufeff")
    if text.endswith(")") and " (" in text:
        head, unit = text.rsplit(" (", 1)
        return "/".join(p.strip() for p in head.split("/")), unit[:-1].strip()
    return "/".join(p.strip() for p in text.split("/")), None


def resolve_statline_headers(headers: list[str], properties: pd.DataFrame) -> dict[str, str]:
    """Map StatLine CSV headers to DataProperties keys (``AantalInwoners_5``).

    A header ``Theme/Sub/Title (unit)`` matches the topic whose title path and unit equal it
    (titles stripped: CBS titles can end in spaces). ``Wijken en buurten`` (the region title)
    maps to ``Title``. Headers that match nothing or more than one topic raise one
    SchemaError listing all of them.
    """
    topics = properties[properties["Type"] == "Topic"]
    lookup: dict[tuple[str, str | None], list[str]] = {}
    for r in topics.itertuples():
        unit = None if r.Unit is None or pd.isna(r.Unit) else str(r.Unit).strip()
        lookup.setdefault((str(r.path), unit), []).append(str(r.Key))
    mapping: dict[str, str] = {}
    problems: list[str] = []
    for header in headers:
        clean = header.strip().lstrip("\ufeff")
        if clean == _TITLE_COLUMN:
            mapping[header] = "Title"
            continue
        keys = lookup.get(_split_header(clean), [])
        if len(keys) == 1:
            mapping[header] = keys[0]
        elif not keys:
            problems.append(f"column {header!r}: no DataProperties topic with this title path and unit")
        else:
            problems.append(f"column {header!r}: ambiguous, matches {keys}")
    if problems:
        msg = "StatLine headers could not be resolved against DataProperties:\n" + "\n".join(
            f"  - {p}" for p in problems
        )
        raise SchemaError(msg)
    return mapping


def parse_kwb_statline_csv(path: Path, properties: pd.DataFrame) -> pd.DataFrame:
    """Parse one StatLine CSV export (``;``, BOM, quoted text) into stable topic stems.

    Returns a frame with ``Title`` and one column per topic stem (``AantalInwoners``,
    ``Codering``, …): text topics stripped of padding, numeric topics float64 with CBS
    missing markers as NaN. Invalid numeric cells raise one ParseError listing them by line.
    """
    path = Path(path)
    try:
        raw = pd.read_csv(path, sep=";", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (OSError, EOFError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        msg = f"{path}: cannot read as a StatLine CSV export (';'-separated, UTF-8) ({exc})"
        raise ParseError(msg) from exc
    mapping = resolve_statline_headers(list(raw.columns), properties)
    text_units = {"naam", "omschrijving", "code"}
    units = dict(zip(properties["Key"], properties["Unit"], strict=False))
    out = pd.DataFrame(index=raw.index)
    problems: list[str] = []
    for header, key in mapping.items():
        stem = "Title" if key == "Title" else strip_suffix(key)
        if key == "Title" or units.get(key) in text_units:
            out[stem] = raw[header].str.strip().astype("string")
            continue
        numbers, bad = to_number(raw[header])
        for idx in bad[bad].index[:20]:
            problems.append(f"line {idx + 2}, column {header!r}: got {raw.at[idx, header]!r}, expected a number")
        out[stem] = numbers
    if problems:
        msg = f"{path}: {len(problems)} invalid cell(s):\n" + "\n".join(f"  - {p}" for p in problems)
        raise ParseError(msg)
    return out


def parse_kwb_snapshot(snapshot_dir: Path) -> pd.DataFrame:
    """Parse the embedded KWB 2024 snapshot (two StatLine exports + DataProperties).

    The herkomst export has no code column; its rows are in the same order as the main
    export, which is checked (title, gemeentenaam and population must agree on every row)
    before the columns are joined by position.
    """
    snapshot_dir = Path(snapshot_dir)
    properties = data_properties_frame(read_json_value(snapshot_dir / "DataProperties.json.gz"))
    main = parse_kwb_statline_csv(snapshot_dir / "statline_bevolking_geslacht_leeftijd.csv.gz", properties)
    extra_path = snapshot_dir / "statline_bevolking_herkomst.csv.gz"
    if extra_path.is_file():
        extra = parse_kwb_statline_csv(extra_path, properties)
        same = len(extra) == len(main)
        if same:
            agree = (
                (extra["Title"].to_numpy() == main["Title"].to_numpy())
                & (extra["Gemeentenaam"].to_numpy() == main["Gemeentenaam"].to_numpy())
                & np.isclose(extra["AantalInwoners"].to_numpy(), main["AantalInwoners"].to_numpy())
            )
            same = bool(agree.all())
        if not same:
            msg = (
                f"{extra_path}: rows do not line up with the main export (expected the same "
                "regions in the same order: title, gemeentenaam and population per row)"
            )
            raise SchemaError(msg)
        for col in extra.columns:
            if col not in main.columns:
                main[col] = extra[col].to_numpy()
    required = ["Codering", "SoortRegio", "Gemeentenaam", "AantalInwoners"]
    missing = [c for c in required if c not in main.columns]
    if missing:
        msg = f"{snapshot_dir}: KWB export lacks topics {missing}; expected at least {required}"
        raise SchemaError(msg)
    main["region_code"] = main["Codering"].astype("string")
    main["level"] = level_from_soort(main["SoortRegio"])
    gemeentecode, wijkcode = parent_codes(main["region_code"], main["level"])
    main["gemeentecode"] = gemeentecode
    main["wijkcode"] = wijkcode
    return main


def kwb_regions(wide: pd.DataFrame, *, indeling_year: int) -> pd.DataFrame:
    """Regions (code, name, level, parent codes) of a KWB table's indeling."""
    name = wide["Title"].where(wide["level"] != "gemeente", wide["Gemeentenaam"])
    return pd.DataFrame(
        {
            "region_code": wide["region_code"],
            "name": name.astype("string"),
            "level": wide["level"],
            "gemeentecode": wide["gemeentecode"],
            "wijkcode": wide["wijkcode"],
            "indeling_year": indeling_year,
        }
    )


def kwb_observations(wide: pd.DataFrame, *, indeling_year: int, period: int, source_id: str) -> pd.DataFrame:
    """KWB indicators of the registry as long observations with numerator and denominator.

    Counts (``aantal``) are stored as value; shares are derived as 100 × count / inwoners
    with the count as numerator and the population as denominator.
    """
    frames = []
    population = wide["AantalInwoners"].to_numpy(dtype="float64")
    for ind in INDICATORS:
        if ind.source != "cbs_kwb" or ind.source_key not in wide.columns:
            continue
        count = wide[ind.source_key].to_numpy(dtype="float64")
        if ind.unit == "aantal":
            value, numerator, denominator = count, count, np.full_like(count, np.nan)
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                value = np.where(population > 0, 100.0 * count / population, np.nan)
            numerator, denominator = count, population
        frames.append(
            pd.DataFrame(
                {
                    "indicator_id": ind.indicator_id,
                    "region_code": wide["region_code"].to_numpy(),
                    "value": value,
                    "numerator": numerator,
                    "denominator": denominator,
                }
            )
        )
    obs = pd.concat(frames, ignore_index=True)
    obs["indeling_year"] = indeling_year
    obs["period"] = period
    obs["population_group"] = "totaal"
    obs["ci_lower"] = np.nan
    obs["ci_upper"] = np.nan
    obs["suppressed"] = False
    obs["source_id"] = source_id
    return obs[
        [
            "indicator_id", "region_code", "indeling_year", "period", "population_group",
            "value", "ci_lower", "ci_upper", "numerator", "denominator", "suppressed", "source_id",
        ]
    ]
