"""Vektis open data Zorgverzekeringswet (Zvw) per gemeente: cost categories and parser.

Vektis publishes, per year, the Zvw claims of all Dutch health insurers aggregated by
gemeente × geslacht × leeftijdsklasse ("Vektis Open Databestand Zorgverzekeringswet
{year} - gemeente.csv"; attribution "bron: Vektis"). The files are ``;``-separated with
``.`` as decimal separator, but their headers drift between years:

* 2018 headers are UPPERCASE, later years lowercase;
* ``kosten_gzsp`` appears in 2020, ``kosten_integrale_geboortezorg`` and
  ``kosten_innovatiegelden_ggz`` in 2021;
* 2023 truncates column names to 32 characters (``kosten_medisch_specialistische_z``);
* the ggz columns change in 2022 (see below).

**GGZ.** On 1 January 2022 the financing of mental health care (ggz) changed from
DBC-based products to the *zorgprestatiemodel*. Up to 2021 Vektis reports
``kosten_specialistische_ggz``, ``kosten_generalistische_basis_ggz`` and
``kosten_langdurige_ggz``; from 2022 ``kosten_consulten_ggz``,
``kosten_intramuraal_verblijf_ggz`` and ``kosten_overige_prestaties_ggz``. The detailed
columns of the two periods are **not** comparable with each other; only their sum is. The
parser therefore keeps every detailed column as its own category and adds the derived
category ``ggz`` (sum of the detailed ggz columns present in the file), which is the
category to compare over years. ``kosten_innovatiegelden_ggz`` (from 2021) is a separate
category and not part of ``ggz``. Use :func:`total_cost_categories` to sum costs without
counting ggz twice.

Every file also has one row with empty ``geslacht``, ``leeftijdsklasse`` and
``gemeentenaam``: costs of insured persons that Vektis could not attribute to a
gemeente. It is **not** a national total; the parser flags it with ``is_residual``.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd

from wijkprofiel import __version__
from wijkprofiel.errors import ConfigError, ParseError, SchemaError
from wijkprofiel.sources._http import (
    InvalidResponse,
    RetryPolicy,
    client_version,
    get_bytes,
    gzip_bytes,
    new_session,
)
from wijkprofiel.sources._vektis_columns import (
    _REQUIRED,
    COST_CATEGORIES,
    COUNT_COLUMNS,
    DERIVED_CATEGORIES,
    GGZ_DETAIL_CATEGORIES,
    KEY_COLUMNS,
    RAW_COST_COLUMNS,
    TRUNCATION_LENGTH,
    VEKTIS_LEVELS,
    _age,
    _map_columns,
    _read_text,
    _string_array,
    _year,
    map_cost_columns,
    total_cost_categories,
    vektis_header_problems,
)
from wijkprofiel.store import Snapshot, write_snapshot

__all__ = [
    "COST_CATEGORIES",
    "GGZ_DETAIL_CATEGORIES",
    "DERIVED_CATEGORIES",
    "RAW_COST_COLUMNS",
    "KEY_COLUMNS",
    "COUNT_COLUMNS",
    "TRUNCATION_LENGTH",
    "total_cost_categories",
    "map_cost_columns",
    "parse_vektis_zvw",
    "VEKTIS_SOURCE",
    "VEKTIS_BASE",
    "VEKTIS_LICENCE",
    "VEKTIS_LEVELS",
    "VEKTIS_FIRST_YEAR",
    "vektis_url",
    "vektis_header_problems",
    "fetch_vektis",
]

_NUMBER = r"-?[0-9]+(?:\.[0-9]+)?"
_INTEGER = r"[0-9]+"









def parse_vektis_zvw(path: Path, year: int | None = None) -> pd.DataFrame:
    """Parse one Vektis Zvw gemeente file (gzip or plain CSV) into a tidy frame.

    A run reads each file twice (costs per gemeente and the standardised costs); the parse
    of a file whose path, size and modification time are unchanged is reused (a copy is
    returned, so callers may modify it). Raw snapshots are immutable, so this is exact.

    Parameters
    ----------
    path
        The file, e.g. ``vektis_open_data_zvw_2023_gemeente.csv.gz``. Gzip is detected
        from the content, not the suffix.
    year
        The data year; taken from the file name (``..._2023_...``) when omitted.

    Returns
    -------
    pandas.DataFrame
        One row per data row, in file order, with columns ``year`` (int64),
        ``gemeentenaam``, ``geslacht`` (``'M'``/``'V'``), ``leeftijdsklasse`` (e.g.
        ``"0 t/m 4 jaar"``, ``"90+"``) as string dtype (``<NA>`` in the residual row),
        ``age_lower`` and ``age_upper`` (Int64; upper ``<NA>`` for ``90+``),
        ``aantal_bsn`` (Int64), ``verzekerdejaren`` (float64), ``is_residual`` (bool),
        then ``kosten_<category>`` (float64, euro) for every category of
        :data:`COST_CATEGORIES`, ``NaN`` when the category does not exist in the file.
        Negative (correction) values are kept. ``df.attrs["column_map"]`` holds the raw
        header → category mapping used, ``df.attrs["source_path"]`` the path.

    Raises
    ------
    ConfigError
        The file cannot be read or the year is unknown or contradicts the file name.
    SchemaError
        Required columns are missing, or cost columns are unknown/ambiguous/duplicated
        (all listed at once).
    ParseError
        The file is not valid gzip/UTF-8, or rows have the wrong number of fields, bad
        key values or non-numeric cells (every one listed with 1-based line number,
        column and value).
    """
    path = Path(path)
    data_year = _year(path, year)
    try:
        stat = path.stat()
    except OSError:
        return _parse_vektis_zvw(path, data_year)  # reports the unreadable file
    key = (str(path.resolve()), data_year, stat.st_size, stat.st_mtime_ns)
    if key not in _PARSED:
        if len(_PARSED) >= 8:
            _PARSED.pop(next(iter(_PARSED)))
        _PARSED[key] = _parse_vektis_zvw(path, data_year)
    frame = _PARSED[key].copy()
    frame.attrs = dict(_PARSED[key].attrs)
    return frame


#: parsed files by (path, year, size, mtime): reused within a process (see parse_vektis_zvw)
_PARSED: dict[tuple[str, int, int, int], pd.DataFrame] = {}


def _parse_vektis_zvw(path: Path, data_year: int) -> pd.DataFrame:
    reader = csv.reader(io.StringIO(_read_text(path), newline=""), delimiter=";")
    header = next(reader, None)
    if header is None:
        msg = f"{path}: expected a header row, found an empty file"
        raise ParseError(msg)
    lower = [h.strip().lower() for h in header]
    column_map, problems = _map_columns(header)
    missing = [c for c in _REQUIRED if c not in lower]
    duplicates = sorted({c for c in _REQUIRED if lower.count(c) > 1})
    if missing:
        problems.insert(0, f"missing required columns: {', '.join(missing)}")
    if duplicates:
        problems.insert(0, f"duplicated required columns: {', '.join(duplicates)}")
    if problems:
        msg = f"{path}: header of Vektis Zvw file is invalid:\n" + "\n".join(
            f"  - {p}" for p in problems
        )
        raise SchemaError(msg)

    cell_problems: list[tuple[int, int, str]] = []
    lines: list[int] = []
    columns: list[list[str]] = [[] for _ in header]
    for row in reader:
        if not row or row == [""]:
            continue
        if len(row) != len(header):
            cell_problems.append(
                (reader.line_num, -1, f"expected {len(header)} fields, got {len(row)}")
            )
            continue
        lines.append(reader.line_num)
        for column_values, value in zip(columns, row, strict=True):
            column_values.append(value)
    index = {name: i for i, name in enumerate(lower)}
    raw = {name: pd.Series(columns[i], dtype="str") for name, i in index.items()}

    def bad(column: str, pattern: str, expected: str) -> None:
        values = raw[column]
        mask = ~values.str.fullmatch(pattern).to_numpy(dtype=bool)
        for pos in (int(p) for p in np.flatnonzero(mask)):
            cell_problems.append(
                (
                    lines[pos],
                    index[column],
                    f"column {header[index[column]]!r}: expected {expected}, got {values.iat[pos]!r}",
                )
            )

    bad("aantal_bsn", _INTEGER, "a non-negative integer")
    for name in lower:
        if name == "aantal_verzekerdejaren" or (name not in _REQUIRED):
            bad(name, _NUMBER, "a number with '.' as decimal separator")

    sexes = raw["geslacht"].str.strip().tolist()
    labels = [" ".join(v.split()) for v in raw["leeftijdsklasse"].tolist()]
    names = raw["gemeentenaam"].str.strip().tolist()
    ages = {label: _age(label) for label in set(labels) if label}
    residual = np.zeros(len(lines), dtype=bool)
    for pos, (sex, label, name) in enumerate(zip(sexes, labels, names, strict=True)):
        keys = (sex, label, name)
        if not any(keys):
            residual[pos] = True
            continue
        if not all(keys):
            cell_problems.append(
                (
                    lines[pos],
                    index["geslacht"],
                    f"key columns partly empty (geslacht={sex!r}, leeftijdsklasse={label!r}, "
                    f"gemeentenaam={name!r}); expected all three filled, or all three empty "
                    "in the residual row",
                )
            )
            continue
        if sex not in ("M", "V"):
            cell_problems.append(
                (
                    lines[pos],
                    index["geslacht"],
                    f"column {header[index['geslacht']]!r}: expected 'M' or 'V', got {sex!r}",
                )
            )
        if ages[label] is None:
            cell_problems.append(
                (
                    lines[pos],
                    index["leeftijdsklasse"],
                    f"column {header[index['leeftijdsklasse']]!r}: expected a label like "
                    f"' 0 t/m  4 jaar' or '90+', got {raw['leeftijdsklasse'].iat[pos]!r}",
                )
            )

    if cell_problems:
        cell_problems.sort(key=lambda p: (p[0], p[1]))
        msg = f"{path}: {len(cell_problems)} invalid row(s) in Vektis Zvw file:\n" + "\n".join(
            f"  - line {line}, {text}" if col >= 0 else f"  - line {line}: {text}"
            for line, col, text in cell_problems
        )
        raise ParseError(msg)

    parsed = [ages.get(label) for label in labels]
    out = pd.DataFrame(
        {
            "year": np.full(len(lines), data_year, dtype=np.int64),
            "gemeentenaam": _string_array(names),
            "geslacht": _string_array(sexes),
            "leeftijdsklasse": _string_array(labels),
            "age_lower": pd.array([p[1] if p else pd.NA for p in parsed], dtype="Int64"),
            "age_upper": pd.array(
                [p[2] if p and p[2] is not None else pd.NA for p in parsed], dtype="Int64"
            ),
            "aantal_bsn": pd.array(
                np.asarray(raw["aantal_bsn"].to_numpy(dtype=object), dtype=np.int64), dtype="Int64"
            ),
            "verzekerdejaren": np.asarray(
                raw["aantal_verzekerdejaren"].to_numpy(dtype=object), dtype=np.float64
            ),
            "is_residual": residual,
        }
    )
    by_category = {cat: raw_name for raw_name, cat in column_map.items()}
    costs: dict[str, np.ndarray] = {}
    for cat in COST_CATEGORIES:
        if cat in by_category:
            cells = raw[by_category[cat].strip().lower()].to_numpy(dtype=object)
            costs[cat] = np.asarray(cells, dtype=np.float64)
        elif cat not in DERIVED_CATEGORIES:
            costs[cat] = np.full(len(lines), np.nan, dtype=np.float64)
    for cat, parts in DERIVED_CATEGORIES.items():
        frame = pd.DataFrame({p: costs[p] for p in parts})
        costs[cat] = frame.sum(axis=1, min_count=1).to_numpy(dtype=np.float64)
    for cat in COST_CATEGORIES:
        out[f"kosten_{cat}"] = costs[cat]
    out.attrs["column_map"] = dict(column_map)
    out.attrs["source_path"] = str(path)
    return out


# --- live fetch: the open data CSV per year and level ------------------------------------

VEKTIS_SOURCE = "vektis"
VEKTIS_BASE = "https://www.vektis.nl"
VEKTIS_LICENCE = "Vektis open data (bron: Vektis); groepen < 10 verzekerden niet gepubliceerd"
#: first data year with the ``Open Data Bestanden/{year}/`` URL pattern (2011–2016 differ)
VEKTIS_FIRST_YEAR = 2017


def vektis_url(year: int, level: str, base_url: str = VEKTIS_BASE) -> str:
    """The download URL (FORMATS.md §4); 2020 files carry the suffix ``_versie2``."""
    suffix = "_versie2" if year == 2020 else ""
    name = f"Vektis Open Databestand Zorgverzekeringswet {year} - {VEKTIS_LEVELS[level][0]}{suffix}.csv"
    return f"{base_url.rstrip('/')}/uploads/Docs per pagina/Open Data Bestanden/{year}/{name}".replace(" ", "%20")



def fetch_vektis(
    year: int,
    level: str,
    raw_root: Path,
    *,
    base_url: str = VEKTIS_BASE,
    policy: RetryPolicy | None = None,
) -> Snapshot:
    """Download one Vektis Zvw open data file into ``vektis/zvw_{level}_{year}/``.

    The body is stored as received (gzipped, ``zvw_{level}.csv.gz``) after a check of its
    header and field counts; :func:`parse_vektis_zvw` (gemeente files, pass ``year``)
    parses it.

    Parameters
    ----------
    year
        Data year, 2017 or later.
    level
        'gemeente' or 'postcode3'.
    raw_root
        The raw store root.
    base_url
        Site root, ``https://www.vektis.nl``.
    policy
        Timeouts and retries.

    Raises
    ------
    ConfigError
        Invalid year or level.
    FetchError
        After the last retry, or when the body is not a Vektis CSV of that level.
    """
    problems = []
    if level not in VEKTIS_LEVELS:
        problems.append(f"level {level!r}: expected one of {sorted(VEKTIS_LEVELS)}")
    if isinstance(year, bool) or not isinstance(year, int) or not VEKTIS_FIRST_YEAR <= year <= 2100:
        problems.append(
            f"year {year!r}: expected {VEKTIS_FIRST_YEAR} or later (2011–2016 are published under other paths)"
        )
    if problems:
        msg = "fetch_vektis: invalid parameters:\n" + "\n".join(f"  - {p}" for p in problems)
        raise ConfigError(msg)
    url = vektis_url(year, level, base_url)

    def check(body: bytes) -> None:
        found = vektis_header_problems(body, level)
        if found:
            raise InvalidResponse("; ".join(found))

    body = get_bytes(
        new_session(), url, source=VEKTIS_SOURCE, table=f"zvw_{level}_{year}", policy=policy or RetryPolicy(),
        validate=check, expected=f"a ';'-separated Vektis Zvw {level} CSV",
    )
    rows = sum(1 for line in body.splitlines()[1:] if line.strip())
    name = f"zvw_{level}.csv.gz"
    return write_snapshot(
        raw_root, VEKTIS_SOURCE, f"zvw_{level}_{year}", {name: gzip_bytes(body)},
        url=url, licence=VEKTIS_LICENCE, params={"year": year, "level": level},
        client=f"wijkprofiel {__version__} ({client_version('requests')})",
        rows={name: rows}, extra={"title": f"Vektis Open Databestand Zorgverzekeringswet {year} - {level}"},
    )
