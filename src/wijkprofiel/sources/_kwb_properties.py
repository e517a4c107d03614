"""KWB DataProperties: topic keys and titles, StatLine CSV headers resolved to keys (title path + unit)."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Any

import pandas as pd

from wijkprofiel.errors import ParseError, SchemaError
from wijkprofiel.sources._common import (
    strip_suffix,
    to_number,
)

#: the StatLine CSV column with the region title
_TITLE_COLUMN = "Wijken en buurten"


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
    records: list[dict[str, Any]] = [{str(k): v for k, v in r.items()} for r in frame.to_dict("records")]
    by_id = {int(r["ID"]): r for r in records}
    paths = []
    for r in records:
        parts = [str(r["Title"]).strip()]
        parent = r["ParentID"]
        while parent is not None and not pd.isna(parent) and int(parent) in by_id:
            node = by_id[int(parent)]
            parts.append(str(node["Title"]).strip())
            parent = node["ParentID"]
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
    for key, path, raw_unit in zip(topics["Key"].tolist(), topics["path"].tolist(), topics["Unit"].tolist(), strict=True):
        unit = None if raw_unit is None or pd.isna(raw_unit) else str(raw_unit).strip()
        lookup.setdefault((str(path), unit), []).append(str(key))
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


def _camel(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return "".join(w[:1].upper() + w[1:] for w in re.split(r"[^A-Za-z0-9]+", ascii_text) if w)


def topic_names(properties: pd.DataFrame) -> dict[str, str]:
    """DataProperties topic key → stable column name, unique per table.

    The name is the key's stem (``AantalInwoners_5`` → ``AantalInwoners``). Where stems
    repeat (85984NED: ``EuropaExclusiefNederland`` under Herkomstland, Geboren in Nederland
    and Geboren buiten Nederland), the first topic in DataProperties order keeps the stem and
    the others get the title(s) of the groups in which they differ from it:
    ``EuropaExclusiefNederland__GeborenInNederland``.
    """
    names: dict[str, str] = {}
    first_path: dict[str, list[str]] = {}
    used: set[str] = set()
    for r in properties[properties["Type"] == "Topic"].itertuples():
        key, stem, parts = str(r.Key), str(r.stem), str(r.path).split("/")[:-1]
        if stem not in first_path:
            first_path[stem] = parts
            name = stem
        else:
            differ = [p for p in parts if p not in first_path[stem]] or parts[-1:]
            name = f"{stem}__{_camel(' '.join(differ))}"
        if name in used:
            name = f"{name}_{key.rsplit('_', 1)[-1]}"
        used.add(name)
        names[key] = name
    return names
