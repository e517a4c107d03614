"""RIVM/GGD Gezondheidsmonitor small-area estimates (CBS *dataderden* catalogue, catalog RIVM).

Tables 50090NED (2012/2016/2020, indeling 2020), 50120NED (… 2022, indeling 2022) and
50150NED (… 2024, indeling 2024). This module parses the UntypedDataSet as exported to CSV
(padded strings, ``"       ."`` = no estimate, empty = not applicable) into a wide frame,
and melts it into long observations.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from wijkprofiel import __version__
from wijkprofiel.config import validate_gemeentecodes
from wijkprofiel.errors import ConfigError, FetchError, ParseError, SchemaError
from wijkprofiel.sources._common import (
    finish_observations,
)
from wijkprofiel.sources._http import (
    InvalidResponse,
    RetryPolicy,
    client_version,
    json_gz,
    new_session,
    subset_dataset,
)
from wijkprofiel.sources._json_lists import JsonListWriter, read_json_value
from wijkprofiel.sources._odata import (
    DIMENSION_TYPES,
    any_eq,
    cbs_feed_url,
    get_collection,
    iter_pages,
    region_filter,
    row_key_problems,
)
from wijkprofiel.sources._rivm_cells import (
    DIMENSIONS,
    LEEFTIJD_KEYS,
    MARGES_KEYS,
    parse_untyped,
    text_frame,
)
from wijkprofiel.store import Snapshot, default_catalogue, write_snapshot

__all__ = [
    "RIVM_TABLES",
    "RIVM_FAMILY",
    "LEEFTIJD_KEYS",
    "MARGES_KEYS",
    "parse_rivm_csv",
    "rivm_observations",
    "RIVM_SOURCE",
    "RIVM_CATALOG",
    "RIVM_LICENCE",
    "RIVM_JSON_FILE",
    "RIVM_CSV_FILE",
    "parse_rivm_json",
    "parse_rivm_snapshot",
    "fetch_rivm",
]

#: known table ids -> (title, indeling year); any other table id can be fetched and loaded when
#: the dataset catalogue names it with its indeling
RIVM_TABLES: dict[str, tuple[str, int]] = {
    "50090NED": ("Gezondheid per wijk en buurt; 2012/2016/2020 (indeling 2020)", 2020),
    "50120NED": ("Gezondheid per wijk en buurt; 2012/2016/2020/2022 (indeling 2022)", 2022),
    "50150NED": ("Gezondheid per wijk en buurt; 2012/2016/2020/2022/2024 (indeling 2024)", 2024),
}

#: indicator family of the Gezondheidsmonitor in the dataset catalogue
RIVM_FAMILY = "rivm_gezondheidsmonitor"

def _default_keys() -> Mapping[str, str]:
    return default_catalogue().keys(RIVM_FAMILY)


def parse_rivm_csv(path: Path, keys: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Parse an RIVM Gezondheidsmonitor UntypedDataSet CSV export into a wide frame.

    Parameters
    ----------
    path
        CSV (optionally gzip) with the OData columns ``ID, Leeftijd, Marges,
        WijkenEnBuurten, Perioden, Gemeentenaam_N, SoortRegio_N, Codering_N`` and topic
        columns ``<Key>_N``.
    keys
        Topic stem → indicator id (the catalogue's RIVM indicators; default: those of the
        shipped catalogue). Topics not in ``keys`` are listed in ``attrs['unmapped']``.

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
    return parse_untyped(raw, path, lambda idx: f"line {idx + 2}", keys or _default_keys())


def rivm_observations(wide: pd.DataFrame, *, indeling_year: int, source_id: str) -> pd.DataFrame:
    """Melt a parsed RIVM frame into long observations (one row per non-empty cell).

    Point estimates (``estimate == 'value'``) become ``value``; where the table also holds the
    95 % bounds (``Marges`` MOG0095/MBG0095) they become ``ci_lower``/``ci_upper`` of the same
    observation. Cells RIVM publishes as '.' are kept as NULL values (the region had too few
    respondents); columns that do not exist for a period/age group (empty) are dropped.
    """
    mapped = set(wide.attrs.get("column_map", {}).values()) or set(_default_keys().values())
    indicator_cols = [c for c in wide.columns if c in mapped]
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
    obs = pd.DataFrame(parts)
    # a column that is entirely empty for a (period, group) block does not apply there:
    # drop it; cells published as '.' inside an applicable block stay as NULL values
    index = obs.index
    assert isinstance(index, pd.MultiIndex)  # (region, period, group, indicator), from the stacks
    applies = _applies(index, obs["value"].notna().to_numpy())
    obs = obs.reset_index()[applies].reset_index(drop=True)
    return finish_observations(obs, source_id=source_id, indeling_year=indeling_year)


def _applies(index: pd.MultiIndex, has_value: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """Per row of ``index`` (region, period, group, indicator): whether its (indicator,
    period, group) cell has a value in any region — what ``groupby(...).transform("count") > 0``
    gives, from the index codes (rows with a missing key never apply, as in ``groupby``)."""
    codes = [np.asarray(index.codes[i], dtype=np.int64) for i in (1, 2, 3)]
    sizes = [len(index.levels[i]) for i in (1, 2, 3)]
    valid = (codes[0] >= 0) & (codes[1] >= 0) & (codes[2] >= 0)
    cell = np.where(valid, (codes[0] * sizes[1] + codes[1]) * sizes[2] + codes[2], 0)
    counts = np.bincount(cell[valid & has_value], minlength=sizes[0] * sizes[1] * sizes[2])
    return np.asarray(valid & (counts[cell] > 0), dtype=bool)


# --- live fetch from the dataderden catalogue, and the JSON snapshot it writes -------------

RIVM_SOURCE = "rivm"
RIVM_CATALOG = "dataderden.cbs.nl"
RIVM_LICENCE = "CC BY 4.0 (bron: RIVM, GGD'en en CBS, Gezondheidsmonitor Volwassenen en Ouderen)"
#: file of a fetched snapshot (OData UntypedDataSet rows, all Marges) ...
RIVM_JSON_FILE = "UntypedDataSet.json.gz"
#: ... and of the embedded snapshot (StatLine xlsx export as CSV, Marges MW00000 only)
RIVM_CSV_FILE = "UntypedDataSet_MW00000.csv.gz"
_NATIONAL = "NL01"
_TABLE_ID = re.compile(r"[0-9]{5}[A-Z]{3}")
_PERIOD_KEY = re.compile(r"((?:19|20)[0-9]{2})(?:JJ00)?")


def parse_rivm_json(snapshot_dir: Path, keys: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Parse a fetched RIVM snapshot (``UntypedDataSet.json.gz``) like :func:`parse_rivm_csv`.

    Parameters
    ----------
    snapshot_dir
        The snapshot directory, or the ``UntypedDataSet.json.gz`` file itself (a JSON list of
        UntypedDataSet rows as written by :func:`fetch_rivm`, or an OData page object).

    Returns
    -------
    pandas.DataFrame
        Exactly the frame :func:`parse_rivm_csv` returns for the same rows (same columns,
        dtypes, values and ``attrs``): null cells are read as the CSV export's empty cells.
        Rows keep the order of the file (the OData feed serves them in ``ID`` order).

    Raises
    ------
    SchemaError
        No rows, or rows with different column sets (all differences listed).
    ParseError
        As :func:`parse_rivm_csv`, with errors located by ``row N`` (1-based).
    """
    path = Path(snapshot_dir)
    if path.is_dir():
        path = path / RIVM_JSON_FILE
    rows = read_json_value(path)
    if not rows:
        msg = f"{path}: expected UntypedDataSet rows, found an empty list"
        raise SchemaError(msg)
    columns = list(rows[0])
    problems = row_key_problems(rows, columns)
    if problems:
        msg = f"{path}: rows differ in their columns from the first row {columns[:6]}…:\n" + "\n".join(
            f"  - {p}" for p in problems
        )
        raise SchemaError(msg)
    return parse_untyped(text_frame(rows, columns), path, lambda idx: f"row {idx + 1}", keys or _default_keys())


def parse_rivm_snapshot(snapshot_dir: Path, keys: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Parse whichever RIVM file a snapshot holds: fetched JSON, else the embedded CSV."""
    snapshot_dir = Path(snapshot_dir)
    if (snapshot_dir / RIVM_JSON_FILE).is_file():
        return parse_rivm_json(snapshot_dir, keys)
    if (snapshot_dir / RIVM_CSV_FILE).is_file():
        return parse_rivm_csv(snapshot_dir / RIVM_CSV_FILE, keys)
    msg = f"{snapshot_dir}: expected {RIVM_JSON_FILE} or {RIVM_CSV_FILE} in the RIVM snapshot, found neither"
    raise SchemaError(msg)


def _period_keys(periods: Sequence[int | str] | None, problems: list[str]) -> list[str]:
    keys: list[str] = []
    for period in periods or []:
        match = _PERIOD_KEY.fullmatch(str(period).strip())
        if match is None or isinstance(period, bool):
            problems.append(f"period {period!r}: expected a year such as 2022 or a key such as '2022JJ00'")
            continue
        keys.append(f"{match.group(1)}JJ00")
    return list(dict.fromkeys(keys))


def fetch_rivm(
    table_id: str,
    raw_root: Path,
    *,
    catalog_url: str = RIVM_CATALOG,
    periods: Sequence[int | str] | None = None,
    gemeenten: Sequence[str] | None = None,
    indeling: int | None = None,
    policy: RetryPolicy | None = None,
) -> Snapshot:
    """Download an RIVM Gezondheidsmonitor table into the raw store (network only).

    Pages through ``ODataFeed/odata/{table}/UntypedDataSet`` (all ``Marges``: MW00000,
    MOG0095, MBG0095) following ``odata.nextLink``, each page with its own retries, and
    streams the rows to ``UntypedDataSet.json.gz``; also saves ``DataProperties`` and
    ``TableInfos``. Every row must have exactly the columns DataProperties announces.

    Parameters
    ----------
    table_id
        A dataderden table id such as ``50090NED``, ``50120NED``, ``50150NED`` or a later
        one (any ``NNNNNXXX``; the table must have the dimensions Leeftijd, Marges,
        WijkenEnBuurten and Perioden).
    raw_root
        The raw store root.
    catalog_url
        CBS catalogue host (``dataderden.cbs.nl``); the scheme follows
        ``cbsodata.options.use_https``.
    periods
        Years (``2022`` or ``'2022JJ00'``) to fetch; all when None.
    gemeenten
        Gemeentecodes (``GM0599``): each with its wijken and buurten, plus the national row
        ``NL01``. All regions when None. A selection is stored as its own dataset
        (``50090NED_2020_GM0599``) so it never replaces the national table.
    indeling
        The indeling year of the table's regions, recorded in the manifest (the dataset
        catalogue gives it; known tables default to :data:`RIVM_TABLES`).
    policy
        Timeouts and retries (defaults: 4 tries, 10 s connect / 60 s read timeout).

    Returns
    -------
    Snapshot
        The new snapshot, or the existing one when the content is unchanged.

    Raises
    ------
    ConfigError
        Malformed table id, bad period or gemeentecode (all listed at once).
    FetchError
        A request failed after its retries, the columns do not match DataProperties, or a
        requested gemeente/period returned no rows.
    """
    problems: list[str] = []
    if not isinstance(table_id, str) or not _TABLE_ID.fullmatch(table_id):
        problems.append(f"table {table_id!r} is not a CBS table id (5 digits and 3 capitals, e.g. "
                        f"{', '.join(RIVM_TABLES)})")
    if indeling is not None and (isinstance(indeling, bool) or not isinstance(indeling, int) or not 1990 <= indeling <= 2100):
        problems.append(f"indeling {indeling!r}: expected a year such as 2024")
    period_keys = _period_keys(periods, problems)
    try:
        codes = validate_gemeentecodes(list(gemeenten or []))
    except ConfigError as exc:
        problems.append(str(exc))
        codes = []
    try:
        base = cbs_feed_url(catalog_url, table_id)
    except ConfigError as exc:
        problems.append(str(exc))
    if problems:
        msg = "fetch_rivm: invalid parameters:\n" + "\n".join(f"  - {p}" for p in problems)
        raise ConfigError(msg)
    policy = policy or RetryPolicy()
    session = new_session()
    fmt = {"$format": "json"}
    props, _ = get_collection(session, base + "DataProperties", source="rivm", table=table_id, policy=policy, params=fmt)
    infos, _ = get_collection(session, base + "TableInfos", source="rivm", table=table_id, policy=policy, params=fmt)
    dims = [str(e.get("Key")) for e in props if e.get("Type") in DIMENSION_TYPES]
    expected = ["ID", *dims, *(str(e.get("Key")) for e in props if e.get("Type") == "Topic")]
    lacking = [d for d in DIMENSIONS if d not in dims]
    if lacking:
        msg = (
            f"rivm {table_id}: DataProperties at {base}DataProperties lack the dimensions {lacking}; "
            f"expected {list(DIMENSIONS)}, got {dims}"
        )
        raise FetchError(msg)
    clauses = []
    if period_keys:
        clauses.append(any_eq("Perioden", period_keys))
    if codes:
        clauses.append(region_filter(codes, national=_NATIONAL))
    params = dict(fmt)
    if clauses:
        params["$filter"] = " and ".join(clauses)

    def check(rows: list[dict[str, object]]) -> None:
        bad = row_key_problems(rows, expected)
        if bad:
            msg = f"rows do not have the columns of DataProperties ({len(expected)} expected): " + "; ".join(bad)
            raise InvalidResponse(msg)

    url = base + "UntypedDataSet"
    seen_regions: set[str] = set()
    seen_periods: set[str] = set()
    pages = 0
    with tempfile.TemporaryDirectory(prefix="wijkprofiel-rivm-") as tmp:
        target = Path(tmp) / RIVM_JSON_FILE
        with JsonListWriter(target) as writer:
            for rows in iter_pages(
                session, url, source="rivm", table=table_id, policy=policy, params=params, validate_rows=check
            ):
                writer.write(rows)
                pages += 1
                seen_regions.update(str(r.get("WijkenEnBuurten", "")).strip() for r in rows)
                seen_periods.update(str(r.get("Perioden", "")).strip() for r in rows)
        absent = [f"gemeente {c}" for c in codes if c not in seen_regions]
        absent += [f"period {p}" for p in period_keys if p not in seen_periods]
        if writer.rows == 0 or absent:
            what = ", ".join(absent) if absent else "any row"
            msg = (
                f"rivm {table_id}: {url} with $filter={params.get('$filter', '(none)')!r} returned "
                f"{writer.rows} rows but not {what}; valid gemeenten are those of the table's indeling "
                f"({indeling or RIVM_TABLES.get(table_id, ('', '?'))[1]})"
            )
            raise FetchError(msg)
        title, known_indeling = RIVM_TABLES.get(table_id, (f"RIVM-tabel {table_id}", None))
        indeling = indeling if indeling is not None else known_indeling
        return write_snapshot(
            raw_root,
            RIVM_SOURCE,
            subset_dataset(table_id, [p[:4] for p in period_keys], codes),
            {RIVM_JSON_FILE: target, "DataProperties.json.gz": json_gz(props), "TableInfos.json.gz": json_gz(infos)},
            url=url,
            licence=RIVM_LICENCE,
            params={"catalog_url": catalog_url, "table_id": table_id, "periods": period_keys, "gemeenten": codes, **params},
            client=f"wijkprofiel {__version__} OData v3 pager ({client_version('requests')})",
            rows={RIVM_JSON_FILE: writer.rows, "DataProperties.json.gz": len(props), "TableInfos.json.gz": len(infos)},
            extra={
                "title": (infos[0].get("Title") if infos else None) or title,
                "indeling_year": indeling,
                "pages": pages,
                "format": "OData UntypedDataSet rows (padded strings, '.' = missing) as a JSON list; all Marges",
            },
        )
