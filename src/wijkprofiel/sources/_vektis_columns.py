"""The Vektis Zvw file layout: cost categories and their renamings between years, the header
mapping and its problems, age classes, the data year in a file name."""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType

import pandas as pd
from pandas.api.extensions import ExtensionArray

from wijkprofiel.errors import ConfigError, ParseError, SchemaError

#: Stable cost category id → Dutch label. The order is the order of the output columns.
COST_CATEGORIES: Mapping[str, str] = MappingProxyType(
    {
        "medisch_specialistische_zorg": "Medisch-specialistische zorg",
        "farmacie": "Farmacie",
        "huisarts_inschrijftarief": "Huisartsenzorg: inschrijftarief",
        "huisarts_consult": "Huisartsenzorg: consulten",
        "huisarts_mdz": "Huisartsenzorg: multidisciplinaire zorg (mdz)",
        "huisarts_overig": "Huisartsenzorg: overig",
        "hulpmiddelen": "Hulpmiddelen",
        "mondzorg": "Mondzorg",
        "paramedische_zorg_fysiotherapie": "Paramedische zorg: fysiotherapie",
        "paramedische_zorg_overig": "Paramedische zorg: overig",
        "ziekenvervoer_zittend": "Ziekenvervoer: zittend",
        "ziekenvervoer_liggend": "Ziekenvervoer: liggend",
        "kraamzorg": "Kraamzorg",
        "verloskundige_zorg": "Verloskundige zorg",
        "ggz": "Geestelijke gezondheidszorg (ggz), totaal; vergelijkbaar over de jaren",
        "specialistische_ggz": "Specialistische ggz (tot en met 2021)",
        "generalistische_basis_ggz": "Generalistische basis-ggz (tot en met 2021)",
        "langdurige_ggz": "Langdurige ggz (tot en met 2021)",
        "consulten_ggz": "Ggz: consulten (vanaf 2022)",
        "intramuraal_verblijf_ggz": "Ggz: intramuraal verblijf (vanaf 2022)",
        "overige_prestaties_ggz": "Ggz: overige prestaties (vanaf 2022)",
        "grensoverschrijdende_zorg": "Grensoverschrijdende zorg",
        "eerstelijns_ondersteuning": "Eerstelijnsondersteuning",
        "geriatrische_revalidatiezorg": "Geriatrische revalidatiezorg",
        "eerstelijnsverblijf": "Eerstelijnsverblijf",
        "verpleging_en_verzorging": "Verpleging en verzorging (wijkverpleging)",
        "gzsp": "Geneeskundige zorg voor specifieke patiëntgroepen (gzsp)",
        "integrale_geboortezorg": "Integrale geboortezorg",
        "innovatiegelden_ggz": "Innovatiegelden ggz",
        "overig": "Overig",
    }
)

_AGE_RANGE = re.compile(r"([0-9]+) t/m ([0-9]+) jaar")
_AGE_OPEN = re.compile(r"([0-9]+)\+")
_YEAR_IN_NAME = re.compile(r"(?<![0-9])((?:19|20)[0-9]{2})(?![0-9])")

#: level -> the name Vektis uses in the file name, and the region column of the file
VEKTIS_LEVELS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {"gemeente": ("gemeente", "gemeentenaam"), "postcode3": ("postcode3", "postcode_3")}
)



#: The detailed ggz categories that make up the derived ``ggz`` category
#: (the first three up to 2021, the last three from 2022).
GGZ_DETAIL_CATEGORIES: tuple[str, ...] = (
    "specialistische_ggz",
    "generalistische_basis_ggz",
    "langdurige_ggz",
    "consulten_ggz",
    "intramuraal_verblijf_ggz",
    "overige_prestaties_ggz",
)


#: Categories that are not a raw column but the sum of other categories.
DERIVED_CATEGORIES: Mapping[str, tuple[str, ...]] = MappingProxyType({"ggz": GGZ_DETAIL_CATEGORIES})


#: Full lower-case raw header → category id; the raw name is ``"kosten_" + id``.
RAW_COST_COLUMNS: Mapping[str, str] = MappingProxyType(
    {f"kosten_{cat}": cat for cat in COST_CATEGORIES if cat not in DERIVED_CATEGORIES}
)


#: Key columns (lower case); all three are empty in the residual row.
KEY_COLUMNS: tuple[str, ...] = ("geslacht", "leeftijdsklasse", "gemeentenaam")


#: Count columns (lower case) and their output names.
COUNT_COLUMNS: Mapping[str, str] = MappingProxyType(
    {"aantal_bsn": "aantal_bsn", "aantal_verzekerdejaren": "verzekerdejaren"}
)


#: Vektis truncates column names to this many characters (seen in the 2023 file).
TRUNCATION_LENGTH = 32

_REQUIRED = KEY_COLUMNS + tuple(COUNT_COLUMNS)


def total_cost_categories() -> tuple[str, ...]:
    """Return the categories whose sum is the total Zvw cost, without double counting.

    The derived ``ggz`` category is included and its detailed columns
    (:data:`GGZ_DETAIL_CATEGORIES`) are left out, so the total is comparable over the
    2022 change of ggz financing. Sum with ``NaN`` as 0 (categories absent in a year).

    Returns
    -------
    tuple of str
        Category ids in registry order.
    """
    return tuple(cat for cat in COST_CATEGORIES if cat not in GGZ_DETAIL_CATEGORIES)


def _map_columns(header: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """Map raw cost headers to categories; return the mapping and the header problems."""
    known = sorted(RAW_COST_COLUMNS)
    mapping: dict[str, str] = {}
    problems: list[str] = []
    seen: dict[str, str] = {}
    for raw in header:
        name = raw.strip().lower()
        if name in _REQUIRED:
            continue
        if name in RAW_COST_COLUMNS:
            full = name
        elif len(name) == TRUNCATION_LENGTH and name.startswith("kosten_"):
            candidates = [k for k in known if k.startswith(name)]
            if len(candidates) != 1:
                found = ", ".join(candidates) if candidates else "none"
                problems.append(
                    f"column {raw!r} looks truncated to {TRUNCATION_LENGTH} characters but "
                    f"matches {len(candidates)} known cost columns ({found}); expected exactly one"
                )
                continue
            full = candidates[0]
        else:
            problems.append(f"unknown cost column {raw!r}; known cost columns: {', '.join(known)}")
            continue
        category = RAW_COST_COLUMNS[full]
        if category in seen:
            problems.append(
                f"columns {seen[category]!r} and {raw!r} both map to category {category!r}"
            )
            continue
        seen[category] = raw
        mapping[raw] = category
    return mapping, problems


def map_cost_columns(header: Sequence[str], *, source: str | Path = "<header>") -> dict[str, str]:
    """Map the raw cost headers of a Vektis Zvw file to cost categories.

    Headers are compared in lower case; a header of exactly :data:`TRUNCATION_LENGTH`
    characters is resolved by unique prefix match against the known full names. Key and
    count columns are skipped.

    Parameters
    ----------
    header
        The raw header fields of the file.
    source
        File name used in error messages.

    Returns
    -------
    dict of str to str
        Raw header (as given) → category id, for every cost column.

    Raises
    ------
    SchemaError
        Listing every unknown, ambiguous or duplicated cost column.
    """
    mapping, problems = _map_columns(header)
    if problems:
        msg = f"{source}: header of Vektis Zvw file is invalid:\n" + "\n".join(
            f"  - {p}" for p in problems
        )
        raise SchemaError(msg)
    return mapping


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        msg = f"{path}: cannot read Vektis Zvw file ({exc.strerror or exc})"
        raise ConfigError(msg) from exc
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            msg = f"{path}: expected a valid gzip file, decompression failed ({exc})"
            raise ParseError(msg) from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        msg = f"{path}: line {line}: expected UTF-8/ASCII text, got byte {data[exc.start]:#04x}"
        raise ParseError(msg) from exc


def _year(path: Path, year: int | None) -> int:
    found = sorted({int(m) for m in _YEAR_IN_NAME.findall(path.name)})
    if year is None:
        if len(found) != 1:
            msg = (
                f"{path}: cannot take the data year from the file name (found "
                f"{found or 'no year'}); expected one year like '..._2023_...' or pass year="
            )
            raise ConfigError(msg)
        return found[0]
    if isinstance(year, bool) or not isinstance(year, int):
        msg = f"year must be an int such as 2023, got {year!r}"
        raise ConfigError(msg)
    if len(found) == 1 and found[0] != year:
        msg = f"{path}: year={year} contradicts the year {found[0]} in the file name"
        raise ConfigError(msg)
    return year


def _age(label: str) -> tuple[str, int, int | None] | None:
    """Parse a normalised leeftijdsklasse label into (label, lower, upper)."""
    if m := _AGE_RANGE.fullmatch(label):
        lower, upper = int(m.group(1)), int(m.group(2))
        return (label, lower, upper) if lower <= upper else None
    if m := _AGE_OPEN.fullmatch(label):
        return label, int(m.group(1)), None
    return None


def _string_array(values: Sequence[str]) -> ExtensionArray:
    return pd.array([v if v else pd.NA for v in values], dtype="string")


def vektis_header_problems(body: bytes, level: str) -> list[str]:
    """Check a downloaded Vektis CSV: text, ';'-separated header with the key columns,
    every line with as many fields as the header, at least one data row."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return [f"expected ASCII/UTF-8 text, got byte {body[exc.start]:#04x} at offset {exc.start}"]
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return ["expected a header and data rows, got an empty body"]
    header = [h.strip().lower() for h in lines[0].split(";")]
    required = ["geslacht", "leeftijdsklasse", VEKTIS_LEVELS[level][1], "aantal_bsn", "aantal_verzekerdejaren"]
    problems = []
    missing = [c for c in required if c not in header]
    if missing:
        problems.append(f"header lacks {missing}; got {lines[0][:120]!r}")
    ragged = [i + 1 for i, line in enumerate(lines) if line.count(";") != len(header) - 1]
    if ragged:
        problems.append(f"{len(ragged)} line(s) with a field count other than the header's {len(header)}: lines {ragged[:5]}")
    if len(lines) < 2:
        problems.append("no data rows after the header")
    return problems
